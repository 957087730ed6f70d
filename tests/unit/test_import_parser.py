"""The interfaces-file reader and the host model: each syntax feature (issue 11)."""

from __future__ import annotations

import os
import textwrap

import pytest

from vnetlab.io.hostnet import host_network
from vnetlab.io.interfaces import read_interfaces
from vnetlab.io.report import NOT_IMPORTED, PROBLEM, SourceFileError


def write(tmp_path, text: str, name: str = "etc/network/interfaces") -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(path)


def net_of(tmp_path, text: str):
    return host_network(read_interfaces(write(tmp_path, text)))


def test_auto_with_several_names_and_allow_classes(tmp_path):
    parsed = read_interfaces(write(tmp_path, """
        auto lo eno1 vmbr0
        allow-hotplug eno2
        allow-ovs vmbr1
        allow-vmbr1 eno3
    """))
    assert [(m.name, m.what, m.line) for m in parsed.marks] == [
        ("lo", "auto", 1), ("eno1", "auto", 1), ("vmbr0", "auto", 1), ("eno2", "allow-hotplug", 2),
        ("vmbr1", "allow-ovs", 3), ("eno3", "allow-vmbr1", 4)]


def test_methodless_ifupdown2_form_and_two_families(tmp_path):
    net = net_of(tmp_path, """
        iface br0
            address 10.0.0.1/24
        iface vmbr0 inet static
            address 192.0.2.10/24
            bridge-ports none
        iface vmbr0 inet6 static
            address 2001:db8::10/64
    """)
    assert net.interfaces["br0"].stanzas[0].family is None and net.interfaces["br0"].stanzas[0].method is None
    vmbr0 = net.interfaces["vmbr0"]
    assert [s.family for s in vmbr0.stanzas] == ["inet", "inet6"]
    assert [(a.cidr, a.where[1]) for a in vmbr0.addresses] == [("192.0.2.10/24", 4), ("2001:db8::10/64", 7)]


def test_underscore_and_dash_spellings_tabs_missing_indentation_and_trailing_space(tmp_path):
    net = net_of(tmp_path, "iface vmbr0 inet static\naddress 10.1.0.2/24   \n\tbridge_ports eno1 eno2\n"
                           "  bridge-stp off\n# a comment inside\n\n  bridge_fd 0\n")
    vmbr0 = net.interfaces["vmbr0"]
    assert vmbr0.kind == "bridge"
    assert [p for p, _ in vmbr0.ports] == ["eno1", "eno2"]
    assert vmbr0.addresses[0].cidr == "10.1.0.2/24"
    assert [o.key for o in vmbr0.stanzas[0].options] == ["address", "bridge-ports", "bridge-stp", "bridge-fd"]
    assert not [r for r in net.reports if r.kind == NOT_IMPORTED]


def test_netmask_dotted_or_prefix_and_repeated_address_lines(tmp_path):
    net = net_of(tmp_path, """
        iface eno1 inet static
            address 198.51.100.5
            netmask 255.255.255.0
            address 198.51.100.6
        iface eno2 inet static
            address 203.0.113.17
            netmask 29
    """)
    assert [a.cidr for a in net.interfaces["eno1"].addresses] == ["198.51.100.5/24", "198.51.100.6/24"]
    assert net.interfaces["eno2"].addresses[0].cidr == "203.0.113.17/29"


def test_backslash_continuation_joins_lines(tmp_path):
    net = net_of(tmp_path, "iface eno1 inet manual\n    post-up iptables -t nat -A POSTROUTING \\\n"
                           "        -s 10.0.0.0/24 -o eno1 -j MASQUERADE\n")
    assert len(net.facts) == 1 and net.facts[0][2] == (net.facts[0][2][0], 2)


def test_source_glob_is_resolved_inside_root_and_escape_refused(tmp_path):
    main = write(tmp_path, """
        source /etc/network/interfaces.d/*
        source ../../../outside
    """)
    write(tmp_path, "iface vmbr9 inet static\n    address 10.9.0.1/24\n    bridge-ports none\n",
          "etc/network/interfaces.d/vmbr9")
    (tmp_path.parent / "outside").write_text("iface evil inet manual\n")
    parsed = read_interfaces(main, root=str(tmp_path), shown="etc/network/interfaces")
    assert parsed.names() == ["vmbr9"]
    assert parsed.stanzas[0].file == os.path.join("etc", "network", "interfaces.d", "vmbr9")
    refused = [r for r in parsed.reports if "leads out of ROOT" in r.text]
    assert refused and refused[0].line == 2 and refused[0].kind == PROBLEM


def test_source_directory_reads_run_parts_names_only(tmp_path):
    main = write(tmp_path, "source-directory interfaces.d\n")
    write(tmp_path, "iface a1 inet manual\n", "etc/network/interfaces.d/a1")
    write(tmp_path, "iface skipped inet manual\n", "etc/network/interfaces.d/b.bak")
    assert read_interfaces(main, root=str(tmp_path)).names() == ["a1"]


def test_mapping_and_option_outside_a_stanza_are_reported(tmp_path):
    parsed = read_interfaces(write(tmp_path, """
        address 10.0.0.1/24
        mapping eth0
            script /usr/local/sbin/map-scheme
            map HOME eth0-home
    """))
    lines = {r.line: r.text for r in parsed.reports if r.kind == NOT_IMPORTED}
    assert set(lines) == {1, 2, 3, 4}
    assert "outside any `iface` stanza" in lines[1] and "mapping" in lines[2]


def test_missing_file_is_an_error_with_its_name(tmp_path):
    with pytest.raises(SourceFileError) as caught:
        read_interfaces(str(tmp_path / "nope"))
    assert str(caught.value).startswith(f"{tmp_path / 'nope'}:0: no such file")


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "interfaces"
    path.write_bytes(b"auto lo\n\0\0")
    with pytest.raises(SourceFileError, match="binary"):
        read_interfaces(str(path))


def test_bonds_vlans_and_ovs(tmp_path):
    net = net_of(tmp_path, """
        iface bond0 inet manual
            bond-slaves eno1 eno2
            bond-mode 4
        iface bond1 inet manual
            slaves eno3 eno4
            bond_mode 6
        iface vlan30 inet manual
            vlan-raw-device bond0
        iface vmbr0 inet manual
            bridge-ports bond0.42
        iface ovsbr inet manual
            ovs_type OVSBridge
            ovs_ports eno5 int10
        iface eno5 inet manual
            ovs_type OVSPort
            ovs_bridge ovsbr
            ovs_options trunks=10,20 vlan_mode=trunk
        iface int10 inet static
            ovs_type OVSIntPort
            ovs_bridge ovsbr
            ovs_options tag=10
            address 10.10.0.2/24
    """)
    assert net.interfaces["bond0"].bond_mode[0] == "802.3ad"
    assert net.interfaces["bond1"].bond_mode[0] == "active-backup"  # balance-alb: nearest, reported
    assert any("balance-alb" in r.text and r.line == 6 for r in net.reports)
    assert (net.interfaces["vlan30"].vlan_parent, net.interfaces["vlan30"].vlan_id) == ("bond0", 30)
    implicit = net.interfaces["bond0.42"]
    assert (implicit.kind, implicit.vlan_parent, implicit.vlan_id, implicit.declared) == ("vlan", "bond0", 42, False)
    assert net.interfaces["ovsbr"].kind == "ovs-bridge"
    assert net.interfaces["eno5"].ovs_trunks == [10, 20]
    assert (net.interfaces["int10"].kind, net.interfaces["int10"].ovs_tag) == ("ovs-intport", 10)


def test_unknown_option_is_reported_with_its_line(tmp_path):
    net = net_of(tmp_path, "iface eno1 inet static\n    address 10.0.0.1/24\n    metric 5\n"
                           "    dns-nameservers 1.1.1.1\n")
    reports = {r.line: r.text for r in net.reports if r.kind == NOT_IMPORTED}
    assert reports[3].startswith("not imported: `metric 5` — ")
    assert "resolver" in reports[4]


def test_a_fifo_among_sourced_files_is_refused_not_read(tmp_path):
    main = write(tmp_path, "source /etc/network/interfaces.d/*\n")
    os.makedirs(tmp_path / "etc/network/interfaces.d")
    os.mkfifo(tmp_path / "etc/network/interfaces.d/pipe")
    parsed = read_interfaces(main, root=str(tmp_path))
    assert any("not a regular file" in r.text and r.line == 1 for r in parsed.reports)


def test_symlink_out_of_root_is_refused(tmp_path):
    main = write(tmp_path, "source /etc/network/interfaces.d/*\n")
    os.makedirs(tmp_path / "etc/network/interfaces.d")
    outside = tmp_path.parent / "secret-interfaces"
    outside.write_text("iface stolen inet manual\n")
    os.symlink(outside, tmp_path / "etc/network/interfaces.d/link")
    parsed = read_interfaces(main, root=str(tmp_path))
    assert parsed.names() == [] and any("leads out of ROOT" in r.text for r in parsed.reports)
