"""Hook lines (never executed) and the boot-problem linter (issue 11)."""

from __future__ import annotations

import textwrap

import pytest

from vnetlab.io import hooks
from vnetlab.io.hostnet import host_network
from vnetlab.io.interfaces import read_interfaces
from vnetlab.io.lint import lint
from vnetlab.io.report import PROBLEM


@pytest.mark.parametrize("line, fact", [
    ("echo 1 > /proc/sys/net/ipv4/ip_forward", hooks.Sysctl("net.ipv4.ip_forward", "1")),
    ("echo 1 >/proc/sys/net/ipv4/conf/eno1/proxy_arp", hooks.Sysctl("net.ipv4.conf.eno1.proxy_arp", "1")),
    ("sysctl -w net.ipv6.conf.all.forwarding=1", hooks.Sysctl("net.ipv6.conf.all.forwarding", "1")),
    ("iptables -t nat -A POSTROUTING -s '10.10.10.0/24' -o vmbr0 -j MASQUERADE",
     hooks.Masquerade("10.10.10.0/24", "vmbr0")),
    ("iptables -t nat -A POSTROUTING -s 10.0.0.0/8 -o eno1 -j SNAT --to-source 198.51.100.5",
     hooks.Snat("10.0.0.0/8", "eno1", "198.51.100.5")),
    ("iptables -t nat -A PREROUTING -i vmbr0 -p tcp --dport 2222 -j DNAT --to 10.10.10.100:22",
     hooks.Dnat("vmbr0", "tcp", 2222, "10.10.10.100", 22)),
    ("iptables -t nat -A PREROUTING -i eno1 -p udp --dport 53 -j DNAT --to-destination 10.0.0.53",
     hooks.Dnat("eno1", "udp", 53, "10.0.0.53", 53)),
    ("ip route add 192.168.50.0/24 via 10.0.0.254", hooks.RouteAdd("192.168.50.0/24", "10.0.0.254", None)),
    ("ip -4 route add default via 10.0.0.1 dev vmbr0", hooks.RouteAdd("default", "10.0.0.1", "vmbr0")),
    ("route add -net 10.8.0.0 netmask 255.255.0.0 gw 10.0.0.2", hooks.RouteAdd("10.8.0.0/16", "10.0.0.2", None)),
    ("route add -net 10.9.0.0/24 gw 10.0.0.3 dev eno1", hooks.RouteAdd("10.9.0.0/24", "10.0.0.3", "eno1")),
    ("iptables -t raw -I PREROUTING -i fwbr+ -j CT --zone 1", hooks.ConntrackZone("1")),
    ("iptables -t nat -D POSTROUTING -s '10.10.10.0/24' -o vmbr0 -j MASQUERADE || true", hooks.Undo(
        "-t nat -A POSTROUTING -s 10.10.10.0/24 -o vmbr0 -j MASQUERADE")),
])
def test_known_hooks_become_facts(line, fact):
    assert hooks.parse_hook(line) == fact


@pytest.mark.parametrize("line, cut_off", [
    ("iptables -t nat -A POSTROUTING -s 10.0.0.0/24 -o", True),
    ("echo 'unterminated", True),
    ("sysctl -w net.ipv4.ip_forward=", True),
    ("/usr/local/bin/my-script.sh", False),
    ("iptables -A INPUT -p tcp --dport 22 -j ACCEPT", False),
    ("ip link set eno1 promisc on", False),
    ("ifup vmbr1; ifup vmbr2", False),
])
def test_other_hooks_are_unknown_with_a_reason(line, cut_off):
    fact = hooks.parse_hook(line)
    assert isinstance(fact, hooks.Unknown) and fact.why and fact.cut_off is cut_off


def lint_of(tmp_path, text: str):
    path = tmp_path / "interfaces"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    net = host_network(read_interfaces(str(path)))
    return sorted((r.line, r.text) for r in net.reports + lint(net) if r.kind == PROBLEM)


def test_duplicate_address(tmp_path):
    found = lint_of(tmp_path, """
        iface vmbr0 inet static
            address 10.0.0.1/24
        iface vmbr1 inet static
            address 10.0.0.1/24
    """)
    assert found == [(4, "10.0.0.1 is also the address of vmbr0 — two interfaces with one address: "
                         "the second fails to come up")]


def test_bridge_port_that_exists_nowhere(tmp_path):
    found = lint_of(tmp_path, """
        iface vmbr0 inet manual
            bridge-ports eno1 bond7 eno1.5
    """)
    assert len(found) == 1 and found[0][0] == 2 and "port bond7 exists nowhere" in found[0][1]


def test_gateway_outside_every_subnet(tmp_path):
    found = lint_of(tmp_path, """
        iface vmbr0 inet static
            address 192.168.1.10/24
            gateway 192.168.2.1
    """)
    assert found == [(3, "gateway 192.168.2.1 is outside every subnet of the host (vmbr0 has 192.168.1.0/24) — "
                         "the default route fails at boot")]


def test_gateway_of_a_pointopoint_peer_is_fine(tmp_path):
    assert lint_of(tmp_path, """
        iface eno1 inet static
            address 198.51.100.5/32
            pointopoint 198.51.100.1
            gateway 198.51.100.1
    """) == []


def test_allow_line_without_stanza(tmp_path):
    found = lint_of(tmp_path, """
        auto lo
        iface lo inet loopback
        allow-hotplug eno2
    """)
    assert found == [(3, "`allow-hotplug eno2` has no `iface eno2` stanza — ifup fails on eno2 at boot")]


@pytest.mark.parametrize("value", ["<Gateway-IP>", "x.x.x.x", "$PVE_GW", "YOUR_GATEWAY"])
def test_placeholders(tmp_path, value):
    found = lint_of(tmp_path, f"""
        iface vmbr0 inet static
            address 10.0.0.2/24
            gateway {value}
    """)
    assert len(found) == 1 and found[0][0] == 3 and "placeholder" in found[0][1]


def test_placeholder_in_a_stanza_line(tmp_path):
    found = lint_of(tmp_path, "iface <your-nic> inet manual\n")
    assert found and found[0][0] == 1 and "placeholder" in found[0][1]


def test_line_cut_off_mid_command(tmp_path):
    found = lint_of(tmp_path, """
        iface vmbr1 inet static
            address 10.1.0.1/24
            post-up iptables -t nat -A POSTROUTING -s 10.1.0.0/24 -o
            up ip route add 10.2.0.0/24 via \\
    """)
    assert {line for line, _ in found} == {3, 4}
    assert all("cut off" in text for _, text in found)


def test_option_without_value(tmp_path):
    found = lint_of(tmp_path, "iface vmbr0 inet static\n    address\n")
    assert found == [(2, "`address` has no value — the line is cut off")]


def test_clean_file_has_no_problems(tmp_path):
    assert lint_of(tmp_path, """
        auto lo
        iface lo inet loopback
        iface eno1 inet manual
        auto vmbr0
        iface vmbr0 inet static
            address 192.168.1.10/24
            gateway 192.168.1.1
            bridge-ports eno1
            bridge-stp off
            bridge-fd 0
    """) == []
