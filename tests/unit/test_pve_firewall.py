"""The Proxmox firewall format → lab-file firewall sections."""

from __future__ import annotations

import os

import pytest

from vnetlab.io.pve_firewall import HOST, MACROS, read_firewall
from vnetlab.io.pve_guests import read_guests
from vnetlab.io.report import NOT_IMPORTED
from vnetlab.model.schema import Firewall

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "pve")


def _root(tmp_path, cluster: str, host: str = "", guests: dict | None = None):
    fw = tmp_path / "etc/pve/firewall"
    fw.mkdir(parents=True)
    (fw / "cluster.fw").write_text(cluster)
    if host:
        node = tmp_path / "etc/pve/nodes/pve"
        node.mkdir(parents=True)
        (node / "host.fw").write_text(host)
    for vmid, text in (guests or {}).items():
        (fw / f"{vmid}.fw").write_text(text)
    return str(tmp_path)


def _user_rules(firewall: dict, chain: str = "input") -> list[dict]:
    """The rules of a chain without Proxmox's built-in management rules."""
    return [r for r in firewall.get(chain, {}).get("rules", []) if not r["comment"].startswith("Proxmox built-in")]


def _strip(rules):
    return [{k: v for k, v in r.items() if k != "comment"} for r in rules]


def test_every_result_is_a_valid_lab_firewall():
    for name in ("docs-firewall", "real-firewall"):
        result, _ = read_firewall(os.path.join(FIXTURES, name), local_network="192.168.1.0/24")
        assert result
        for firewall in result.values():
            Firewall.model_validate(firewall)


def test_datacenter_off_means_nothing_applies(tmp_path):
    root = _root(tmp_path, "[OPTIONS]\nenable: 0\n[RULES]\nIN DROP\n", host="[RULES]\nIN DROP\n")
    result, reports = read_firewall(root, local_network="10.0.0.0/24")
    assert result == {}
    assert {r.file for r in reports if r.kind == NOT_IMPORTED} == {"etc/pve/firewall/cluster.fw",
                                                                   "etc/pve/nodes/pve/host.fw"}


def test_host_policies_and_the_built_in_management_rule_come_first(tmp_path):
    root = _root(tmp_path, "[OPTIONS]\nenable: 1\n[RULES]\nIN DROP -p tcp -dport 22\n")
    result, _ = read_firewall(root, local_network="192.168.1.0/24")
    host = result[HOST]
    assert host["input"]["policy"] == "drop"  # policy_in defaults to DROP
    assert "output" not in host  # policy_out ACCEPT and no OUT rules: nothing to filter
    first = host["input"]["rules"][:4]
    assert [(r["proto"], r["port"], r["from"]) for r in first] == [
        ("tcp", 22, "192.168.1.0/24"), ("tcp", 8006, "192.168.1.0/24"),
        ("tcp", "5900-5999", "192.168.1.0/24"), ("tcp", 3128, "192.168.1.0/24")]
    assert _strip(_user_rules(host)) == [{"action": "drop", "proto": "tcp", "port": 22}]
    assert _user_rules(host)[0]["comment"] == "cluster.fw:4"


def test_local_network_alias_and_management_ipset(tmp_path):
    root = _root(tmp_path, "[OPTIONS]\nenable: 1\n[ALIASES]\nlocal_network 10.9.0.0/16\n"
                           "[IPSET management]\n192.0.2.7\n")
    result, _ = read_firewall(root, local_network="192.168.1.0/24")
    sources = {r["from"] for r in result[HOST]["input"]["rules"]}
    assert sources == {"10.9.0.0/16", "192.0.2.7"}


def test_without_local_network_the_management_rule_is_reported(tmp_path):
    root = _root(tmp_path, "[OPTIONS]\nenable: 1\n")
    result, reports = read_firewall(root)
    assert result[HOST]["input"]["rules"] == []
    assert any("management rule" in r.text for r in reports)


def test_host_rules_before_cluster_rules_and_host_off(tmp_path):
    root = _root(tmp_path, "[OPTIONS]\nenable: 1\npolicy_out: DROP\n[RULES]\nOUT ACCEPT -p udp -dport 53\n",
                 host="[RULES]\nOUT DROP -dest 198.51.100.0/24\n")
    result, _ = read_firewall(root)
    assert _strip(result[HOST]["output"]["rules"]) == [
        {"action": "drop", "to": "198.51.100.0/24"}, {"action": "accept", "proto": "udp", "port": 53}]
    assert result[HOST]["output"]["policy"] == "drop"
    root2 = _root(tmp_path / "off", "[OPTIONS]\nenable: 1\n", host="[OPTIONS]\nenable: 0\n")
    assert HOST not in read_firewall(root2)[0]


@pytest.mark.parametrize("macro", sorted(MACROS))
def test_every_macro_expands_to_its_services(tmp_path, macro):
    root = _root(tmp_path, f"[OPTIONS]\nenable: 1\n[RULES]\nIN {macro}(ACCEPT) -source 10.0.0.5\n")
    result, reports = read_firewall(root)
    rules = _user_rules(result[HOST])
    assert [(r.get("proto"), r.get("port")) for r in rules] == [
        (proto, (int(port) if port.isdigit() else port.replace(":", "-")) if port else None) for proto, port in MACROS[macro]]
    assert all(r["action"] == "accept" and r["from"] == "10.0.0.5" for r in rules)
    assert not [r for r in reports if r.kind == NOT_IMPORTED]


@pytest.mark.parametrize("rule, expected", [
    ("IN ACCEPT -p tcp -dport 80", [{"action": "accept", "proto": "tcp", "port": 80}]),
    ("IN REJECT -p udp -dport 1000:2000", [{"action": "reject", "proto": "udp", "port": "1000-2000"}]),
    ("IN ACCEPT -p tcp -dport 80,443", [{"action": "accept", "proto": "tcp", "port": 80},
                                        {"action": "accept", "proto": "tcp", "port": 443}]),
    ("IN DROP -source 10.0.0.1,10.0.0.2", [{"action": "drop", "from": "10.0.0.1"},
                                           {"action": "drop", "from": "10.0.0.2"}]),
    ("IN DROP -source 10.0.0.0-10.0.0.7", [{"action": "drop", "from": "10.0.0.0/29"}]),
    ("IN ACCEPT -dest 10.1.0.0/16 -i vmbr1", [{"action": "accept", "to": "10.1.0.0/16", "in": "vmbr1"}]),
    ("OUT ACCEPT -i vmbr0 -p icmp", []),  # output chain, checked below
    ("IN ACCEPT -p icmp -icmp-type echo-request", [{"action": "accept", "proto": "icmp"}]),
    ("IN ACCEPT -source web", [{"action": "accept", "from": "10.0.0.80"}]),
    ("IN ACCEPT -source dc/web", [{"action": "accept", "from": "10.0.0.80"}]),
    ("IN ACCEPT -source +admins -p tcp -dport 22", [{"action": "accept", "proto": "tcp", "port": 22,
                                                     "from": "192.168.50.0/24"},
                                                    {"action": "accept", "proto": "tcp", "port": 22,
                                                     "from": "10.0.0.80"}]),
    ("GROUP web", [{"action": "accept", "proto": "tcp", "port": 80}]),
    ("GROUP web -i vmbr0", [{"action": "accept", "proto": "tcp", "port": 80, "in": "vmbr0"}]),
    ("IN ACCEPT -p ipv6-icmp", [{"action": "accept", "proto": "icmp"}]),
])
def test_rule_forms(tmp_path, rule, expected):
    cluster = ("[OPTIONS]\nenable: 1\n[ALIASES]\nweb 10.0.0.80\n[IPSET admins]\n192.168.50.0/24\nweb\n"
               f"[RULES]\n{rule}\n[group web]\nIN ACCEPT -p tcp -dport 80\n")
    result, reports = read_firewall(_root(tmp_path, cluster))
    assert _strip(_user_rules(result[HOST])) == expected
    assert not [r for r in reports if r.kind == NOT_IMPORTED], [str(r) for r in reports]
    if rule.startswith("OUT"):
        assert _strip(result[HOST]["output"]["rules"]) == [{"action": "accept", "proto": "icmp", "out": "vmbr0"}]


@pytest.mark.parametrize("rule, why", [
    ("IN ACCEPT -p tcp -sport 53", "-sport"),
    ("IN ACCEPT -p gre", "protocol 'gre'"),
    ("IN ACCEPT -p icmp -icmp-type destination-unreachable", "-icmp-type"),
    ("IN ACCEPT -source +nosuch", "defined nowhere"),
    ("IN ACCEPT -source +neg", "negated entry"),
    ("IN ACCEPT -source nosuchalias", "no address, range, alias"),
    ("IN Nosuch(ACCEPT)", "macro 'Nosuch'"),
    ("IN SSH(ACCEPT) -dport 2222", "macro with its own"),
    ("IN ACCEPT - - tcp 22 -", "old positional"),
    ("IN FROB", "not ACCEPT, DROP, REJECT"),
    ("GROUP nosuch", "no [group nosuch]"),
    ("IN ACCEPT -p tcp -dport ssh", "not a number"),
    ("IN ACCEPT -p icmp -dport 5", "-dport needs"),
    ("IN ACCEPT -weird 1", "-weird"),
    ("FORWARD ACCEPT", "FORWARD"),
    ("hello there", "not a rule"),
])
def test_rules_that_cannot_be_expressed_are_reported_with_their_line(tmp_path, rule, why):
    cluster = f"[OPTIONS]\nenable: 1\n[IPSET neg]\n!10.0.0.0/8\n[RULES]\n{rule}\n"
    result, reports = read_firewall(_root(tmp_path, cluster))
    assert _user_rules(result[HOST]) == []
    hits = [r for r in reports if r.kind == NOT_IMPORTED and r.line == 6]
    assert hits and why in hits[0].text and rule.strip() in hits[0].text


def test_disabled_rule_and_unknown_section_and_options(tmp_path):
    cluster = "[OPTIONS]\nenable: 1\nnosmurfs: 1\nlog_level_in: info\n[RULES]\n|IN DROP\n[WEIRD]\nfoo\n"
    result, reports = read_firewall(_root(tmp_path, cluster))
    assert _user_rules(result[HOST]) == []
    by_line = {r.line: r for r in reports}
    assert by_line[3].kind == NOT_IMPORTED and "nosmurfs" in by_line[3].text
    assert by_line[4].kind != NOT_IMPORTED  # logging is no loss
    assert "disabled" in by_line[6].text and by_line[6].kind != NOT_IMPORTED
    assert by_line[7].kind == NOT_IMPORTED and "[WEIRD]" in by_line[7].text


def test_policy_reject_becomes_drop_with_a_final_reject(tmp_path):
    root = _root(tmp_path, "[OPTIONS]\nenable: 1\npolicy_in: REJECT\n[RULES]\nIN ACCEPT -p tcp -dport 80\n")
    result, _ = read_firewall(root)
    chain = result[HOST]["input"]
    assert chain["policy"] == "drop"
    assert _strip(chain["rules"][-2:]) == [{"action": "accept", "proto": "tcp", "port": 80}, {"action": "reject"}]


def test_guest_firewall_needs_datacenter_guest_enable_and_a_firewalled_nic(tmp_path):
    root = FIXTURES + "/docs-firewall"
    guests_dir = tmp_path / "etc/pve/qemu-server"
    guests_dir.mkdir(parents=True)
    (guests_dir / "100.conf").write_text("net0: virtio=02:00:00:00:01:00,bridge=vmbr0,firewall=1\n"
                                         "net1: virtio=02:00:00:00:01:01,bridge=vmbr1\n")
    (guests_dir / "101.conf").write_text("net0: virtio=02:00:00:00:01:01,bridge=vmbr0,firewall=1\n")
    guests, _ = read_guests(str(tmp_path))
    result, reports = read_firewall(root, guests=guests)
    assert set(result) == {HOST, 100}  # 101.fw has enable: 0
    vm = result[100]["input"]
    assert vm["policy"] == "drop" and vm["rules"][-1]["action"] == "reject"  # policy_in: REJECT
    assert _strip(vm["rules"][:4]) == [
        {"action": "accept", "proto": "tcp", "port": 80, "in": "eth0"},             # HTTP(ACCEPT) -i net0
        {"action": "accept", "proto": "tcp", "port": "8000-8080", "from": "10.0.0.0/24"},  # dc/alias
        {"action": "accept", "proto": "tcp", "port": 80, "in": "eth0"},             # GROUP webserver -i net0
        {"action": "accept", "proto": "tcp", "port": 443, "in": "eth0"}]
    assert "output" not in result[100]
    texts = [str(r) for r in reports]
    assert any("100.fw:5: not imported: `ipfilter: 1`" in t for t in texts)
    assert any("100.fw:13: not imported:" in t and "-sport" in t for t in texts)
    assert any("100.fw:0: note: guest 100 has NICs without firewall=1" in t for t in texts)
    # the same guest without firewall=1 on any NIC: its file does nothing
    (guests_dir / "100.conf").write_text("net0: virtio=02:00:00:00:01:00,bridge=vmbr0\n")
    guests, _ = read_guests(str(tmp_path))
    result, reports = read_firewall(root, guests=guests)
    assert 100 not in result
    assert any("100.fw:0" in str(r) and "firewall=1" in r.text for r in reports)


def test_real_datacenter_file(tmp_path):
    result, reports = read_firewall(FIXTURES + "/real-firewall", local_network="192.168.1.0/24")
    rules = _user_rules(result[HOST])
    # "-dport 22,8006" from the admin set to the 5 cluster networks: 2 ports x 1 source x 5 dests
    admin = [r for r in rules if r["comment"].startswith("cluster.fw:31")]
    assert len(admin) == 10 and {r["port"] for r in admin} == {22, 8006}
    assert all(r["from"] == "192.168.1.0/24" for r in admin)
    lines = {r.line for r in reports if r.kind == NOT_IMPORTED}
    assert lines == {26, 29}  # -sport 111 and -p igmp


def test_local_network_is_found_as_proxmox_finds_it(tmp_path):
    root = _root(tmp_path, "[OPTIONS]\nenable: 1\n")
    (tmp_path / "etc/network").mkdir(parents=True)
    (tmp_path / "etc/network/interfaces").write_text(
        "auto vmbr0\niface vmbr0 inet static\n  address 192.168.1.10/24\n  gateway 192.168.1.1\n"
        "  bridge-ports eno1\n\nauto vmbr1\niface vmbr1 inet static\n  address 10.10.10.1/24\n"
        "  bridge-ports none\n")
    result, _ = read_firewall(root)  # no /etc/hosts: the gateway's interface
    assert {r["from"] for r in result[HOST]["input"]["rules"]} == {"192.168.1.0/24"}
    (tmp_path / "etc/hostname").write_text("pve1\n")
    (tmp_path / "etc/hosts").write_text("127.0.0.1 localhost\n10.10.10.1 pve1.example.com pve1\n")
    result, _ = read_firewall(root)  # the hostname's address wins
    assert {r["from"] for r in result[HOST]["input"]["rules"]} == {"10.10.10.0/24"}


def test_definitions_no_rule_uses_are_said(tmp_path):
    cluster = ("[OPTIONS]\nenable: 1\n[ALIASES]\nspare 10.0.0.9\nweb 10.0.0.80\n[IPSET idle]\n10.0.0.1\n"
               "[RULES]\nIN ACCEPT -source web\n[group unused]\nIN DROP\n")
    result, reports = read_firewall(_root(tmp_path, cluster, guests={100: "[OPTIONS]\nenable: 1\n"
                                                                          "[IPSET ipfilter-net0]\n10.0.0.100\n"}))
    texts = {str(r) for r in reports}
    assert "etc/pve/firewall/cluster.fw:4: note: alias spare is used by no rule that applies" in texts
    assert "etc/pve/firewall/cluster.fw:6: note: IP set idle is used by no rule that applies" in texts
    assert "etc/pve/firewall/cluster.fw:10: note: security group unused is used by no rule that applies" in texts
    assert not any("alias web" in t for t in texts)
    assert any(t.startswith("etc/pve/firewall/100.fw:3: not imported: `[IPSET ipfilter-net0]`") for t in texts)
