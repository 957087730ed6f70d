"""Every real-world fixture imports into a valid lab, or fails naming file and line (issue 11)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from vnetlab.io.importer import import_interfaces, import_proxmox
from vnetlab.io.report import SourceFileError
from vnetlab.model import load_lab_text

HERE = os.path.dirname(__file__)
FIXTURES = os.path.join(HERE, "fixtures", "interfaces")
ROOTS = os.path.join(HERE, "fixtures", "proxmox-roots")
ALL = sorted(os.listdir(FIXTURES))


def test_enough_fixtures_each_with_a_source_line():
    assert len(ALL) >= 20
    for name in ALL:
        with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
            assert handle.readline().startswith("# source: "), name


@pytest.mark.parametrize("name", ALL)
def test_fixture_imports_and_validates_or_names_file_and_line(name):
    path = os.path.join(FIXTURES, name)
    try:
        imported = import_interfaces(path)
    except SourceFileError as exc:
        assert exc.reports
        for report in exc.reports:
            assert re.match(rf"{re.escape(path)}:\d+: ", str(report)), str(report)
            assert report.line > 0
        return
    spec = load_lab_text(imported.text, name)
    assert "pve" in spec.nodes
    for report in imported.reports:
        assert report.line >= 0 and report.file


def imported(name: str):
    return import_interfaces(os.path.join(FIXTURES, name))


def comment_of(text: str, needle: str) -> str:
    line = next(line for line in text.splitlines() if needle in line)
    return line.rsplit("# ", 1)[1]


def test_bridged_default_setup():  # pve-docs: the default bridged configuration
    result = imported("pve-docs-network-01")
    pve = result.lab["nodes"]["pve"]
    assert pve["interfaces"]["vmbr0"] == {"type": "bridge", "ports": ["eno1"], "address": "192.168.10.2/24"}
    assert pve["routes"] == [{"to": "default", "via": "192.168.10.1"}]
    assert comment_of(result.text, "vmbr0: {").endswith("pve-docs-network-01:8")
    assert result.lab["nodes"]["gw"]["interfaces"]["eth0"]["address"] == "192.168.10.1/24"
    checks = {c["to"] for c in result.lab["checks"]}
    assert checks == {"192.168.10.2", "192.168.10.2:22", "192.168.10.2:8006"}


def test_routed_setup_reports_proxy_arp():
    result = imported("pve-docs-network-02")
    pve = result.lab["nodes"]["pve"]
    assert pve["forwarding"] is True
    assert pve["interfaces"]["vmbr0"]["ports"] == []
    assert [(r.line, "proxy_arp" in r.text) for r in result.not_imported] == [(10, True)]
    # the generated router routes the guests' block back through the host
    assert {"to": "203.0.113.16/28", "via": "198.51.100.5"} in result.lab["nodes"]["gw"]["routes"]


def test_masquerade_setup():
    result = imported("pve-docs-network-03")
    assert result.lab["nodes"]["pve"]["nat"] == {"masquerade": [{"source": "10.10.10.0/24", "out": "eno1"}]}
    assert comment_of(result.text, "- {source:").endswith(":20")
    assert result.not_imported == []  # post-down lines undo post-up ones


def test_bond_with_fixed_address_and_lacp_peer():
    result = imported("pve-docs-network-04")
    pve = result.lab["nodes"]["pve"]["interfaces"]
    assert pve["bond0"] == {"type": "bond", "members": ["eno1", "eno2"], "mode": "802.3ad",
                            "address": "192.168.1.2/24"}
    upstream = result.lab["nodes"]["upstream"]["interfaces"]
    bonds = [i for i in upstream.values() if i.get("type") == "bond"]
    assert len(bonds) == 1 and len(bonds[0]["members"]) == 2  # both members on one switch, LACP facing LACP
    assert [r.line for r in result.not_imported] == [17]  # bond-xmit-hash-policy


def test_traditional_vlan_bridge():
    result = imported("pve-docs-network-06")
    pve = result.lab["nodes"]["pve"]["interfaces"]
    assert pve["eno1.5"] == {"type": "vlan"}
    assert pve["vmbr0v5"]["ports"] == ["eno1.5"]
    assert result.lab["nodes"]["upstream"]["interfaces"]["p1"] == {"trunk": [5], "vlan": 1}


def test_vlan_aware_bridge_with_host_vlan():
    result = imported("pve-docs-network-07")
    pve = result.lab["nodes"]["pve"]["interfaces"]
    assert pve["vmbr0"]["vlan_aware"] is True
    assert pve["vmbr0.5"] == {"type": "vlan", "address": "10.10.10.2/24"}
    assert pve["eno1"]["trunk"] == [5]
    admin_port = result.lab["links"][-1][1].split(":")[1]
    assert result.lab["nodes"]["upstream"]["interfaces"][admin_port] == {"vlan": 5}


def test_ovs_bridge_with_internal_vlan_port():
    result = imported("handwritten-ovs-vlan")
    pve = result.lab["nodes"]["pve"]["interfaces"]
    assert pve["vmbr0"]["backend"] == "ovs" and pve["vmbr0"]["ports"] == ["eno1"]
    assert pve["vlan50"] == {"type": "vlan", "parent": "vmbr0", "id": 50, "address": "10.50.10.44/24"}
    assert pve["eno1"]["vlan"] == 1


def test_dhcp_bridge_is_reported():
    result = imported("github-home-server-dhcp")
    assert [(r.line, "dhcp" in r.text) for r in result.not_imported] == [(8, True)]
    assert "address" not in result.lab["nodes"]["pve"]["interfaces"]["vmbr0"]


def test_ifupdown2_multiple_bridge_ports_lines():
    result = imported("ifupdown2-bridge6-multiple-bridge-ports-lines")
    ports = next(i["ports"] for i in result.lab["nodes"]["pve"]["interfaces"].values() if i.get("type") == "bridge")
    assert len(ports) >= 2


def test_broken_forum_file_lints():
    result = imported("handwritten-forum-broken")
    problems = {(r.line, r.text.split(" ")[0]) for r in result.problems}
    lines = {line for line, _ in problems}
    assert lines == {11, 12, 18, 20, 22}  # placeholder, missing port, duplicate address, cut off, allow- without stanza


def test_template_with_shell_variables_fails_naming_lines():
    with pytest.raises(SourceFileError) as caught:
        imported("github-jollerprutt-template-placeholders")
    assert all(r.file.endswith("github-jollerprutt-template-placeholders") and r.line > 0
               for r in caught.value.reports)


def test_proxmox_root_with_sourced_file_and_hostname():
    result = import_proxmox(os.path.join(ROOTS, "nat"))
    host = result.lab["nodes"]["pve-nat01"]
    assert {"to": "10.20.0.0/24", "via": "10.10.10.254"} in host["routes"]
    assert comment_of(result.text, "10.20.0.0/24").startswith(os.path.join("etc", "network", "interfaces.d", "routes")
                                                              + ":3")
    assert result.lab["lab"] == "nat"


def test_cli_check_and_strict_exit_codes(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "vnetlab.cli", "import", *args], capture_output=True, text=True)

    broken = run("interfaces", os.path.join(FIXTURES, "handwritten-forum-broken"), "--check")
    assert broken.returncode == 1 and broken.stdout.count("\n") == 5
    clean = run("interfaces", os.path.join(FIXTURES, "pve-docs-network-01"), "--check")
    assert clean.returncode == 0 and clean.stdout == ""
    strict = run("interfaces", os.path.join(FIXTURES, "pve-docs-network-02"), "--strict")
    assert strict.returncode == 2 and "not imported: `" in strict.stderr and strict.stdout == ""
    out = tmp_path / "lab.yaml"
    written = run("interfaces", os.path.join(FIXTURES, "pve-docs-network-02"), "-o", str(out), "--name", "routed")
    assert written.returncode == 0 and "proxy_arp" in written.stderr
    assert load_lab_text(out.read_text(), "lab.yaml").lab == "routed"
    missing = run("proxmox", str(tmp_path / "none"))
    assert missing.returncode == 2 and "is not a directory" in missing.stderr


def test_pointopoint_gateway_is_no_problem_but_not_imported():
    result = imported("hetzner-wiki-pointopoint")
    assert result.problems == []
    assert [r.line for r in result.not_imported] == [15, 16]
    assert result.lab["nodes"]["pve"]["interfaces"]["eth0"] == {"address": "192.168.0.250/32"}
    assert "routes" not in result.lab["nodes"]["pve"]


def test_ifupdown2_vlan_device_named_only_as_a_bridge_port_gets_its_nic():
    result = imported("ifupdown2-interfaces-bridge-igmp-mstp")
    pve = result.lab["nodes"]["pve"]["interfaces"]
    assert pve["swp13.300"] == {"type": "vlan"} and pve["swp13"] == {}
    assert any(link[0] == "pve:swp13" and link[1].startswith("upstream:") for link in result.lab["links"])


def test_ovs_bond_and_internal_port():
    result = imported("handwritten-ovs-bond")
    pve = result.lab["nodes"]["pve"]["interfaces"]
    assert pve["bond0"] == {"type": "bond", "members": ["eno1", "eno2"], "mode": "balance-slb", "vlan": 1,
                            "trunk": [10]}
    assert pve["mgmt"] == {"type": "vlan", "parent": "vmbr0", "id": 10, "address": "192.168.0.5/24"}
    assert [(r.line, "mtu" in r.text) for r in result.not_imported] == [(25, True)]
