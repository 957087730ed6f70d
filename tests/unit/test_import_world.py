"""The generated world around an imported host: guests, routers, admin and checks (issue 11).

Guests come from ``pve_guests.read_guests``; here they are stand-ins with the
same fields, so the world is tested without that module."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

import pytest

from vnetlab.io import importer
from vnetlab.model import load_lab_text

ROOTS = os.path.join(os.path.dirname(__file__), "fixtures", "proxmox-roots")


@dataclass
class Nic:
    index: int
    bridge: str
    file: str
    line: int
    tag: Optional[int] = None
    trunks: list = field(default_factory=list)
    mac: Optional[str] = None
    address: Optional[str] = None
    gateway: Optional[str] = None
    host_ifname: Optional[str] = None
    guest_ifname: Optional[str] = None


@dataclass
class Guest:
    vmid: int
    kind: str
    name: str
    nics: list
    given_name: Optional[str] = None


def with_guests(monkeypatch, guests):
    monkeypatch.setattr(importer, "_guests", lambda root: (guests, []))
    monkeypatch.setattr(importer, "_firewall", lambda root, found: ({}, []))


def test_nat_guests_reach_the_router_as_the_host(monkeypatch):
    with_guests(monkeypatch, [
        Guest(100, "vm", "web", [Nic(0, "vmbr0", "etc/pve/qemu-server/100.conf", 5, address="10.10.10.100/24",
                                     gateway="10.10.10.1", host_ifname="tap100i0", guest_ifname="eth0")]),
        Guest(101, "ct", "dns", [Nic(0, "vmbr0", "etc/pve/lxc/101.conf", 4, address="10.10.10.101/24",
                                     gateway="10.10.10.1", host_ifname="veth101i0", guest_ifname="eth0")]),
    ])
    result = importer.import_proxmox(os.path.join(ROOTS, "nat"))
    lab = result.lab
    host = lab["nodes"]["pve-nat01"]
    assert host["interfaces"]["vmbr0"]["ports"] == ["tap100i0", "veth101i0"]
    assert host["interfaces"]["tap100i0"] == {"type": "tap"} and host["interfaces"]["veth101i0"] == {}
    assert ["pve-nat01:tap100i0", "web:eth0"] in lab["links"]
    assert lab["nodes"]["web"]["kind"] == "vm" and "kind" not in lab["nodes"]["dns"]
    seen = [c for c in lab["checks"] if c.get("seen_as")]
    assert {(c["from"], c["to"], c["seen_as"]) for c in seen} == {
        ("web", "198.51.100.1:80", "198.51.100.5"), ("dns", "198.51.100.1:80", "198.51.100.5")}
    assert {"name": "web reaches its gateway 10.10.10.1", "from": "web", "to": "10.10.10.1",
            "expect": "reach"} in lab["checks"]
    assert "etc/pve/qemu-server/100.conf:5" in next(line for line in result.text.splitlines()
                                                   if line.startswith("  web:"))
    load_lab_text(result.text, "nat.yaml")


def test_guests_in_two_vlans_are_isolated_and_addresses_made_up(monkeypatch):
    with_guests(monkeypatch, [
        Guest(200, "vm", "app", [Nic(0, "vmbr0", "etc/pve/qemu-server/200.conf", 3, tag=5)]),
        Guest(201, "vm", "db", [Nic(0, "vmbr0", "etc/pve/qemu-server/201.conf", 3, tag=20,
                                    address="10.20.0.5/24")]),
    ])
    result = importer.import_proxmox(os.path.join(ROOTS, "vlan"))
    lab = result.lab
    host = lab["nodes"]["pve"]["interfaces"]
    assert host["tap200i0"] == {"type": "tap", "vlan": 5} and host["tap201i0"] == {"type": "tap", "vlan": 20}
    assert host["eno1"]["trunk"] == [5, 20]
    app = lab["nodes"]["app"]["interfaces"]["eth0"]["address"]
    assert app.startswith("10.10.10.") and app != "10.10.10.2/24"
    assert "address made up" in next(line for line in result.text.splitlines() if f'"{app}"' in line)
    assert {"name": "app (VLAN 5) does not reach db (VLAN 20)", "from": "app", "to": "10.20.0.5",
            "expect": "no-reach"} in lab["checks"]
    load_lab_text(result.text, "vlan.yaml")


def test_tag_on_a_bridge_that_is_not_vlan_aware_is_reported(monkeypatch):
    with_guests(monkeypatch, [
        Guest(300, "vm", "old", [Nic(0, "vmbr0", "etc/pve/qemu-server/300.conf", 2, tag=7)])])
    result = importer.import_proxmox(os.path.join(ROOTS, "nat"))
    report = next(r for r in result.not_imported if r.file.endswith("300.conf"))
    assert report.line == 2 and "not VLAN-aware" in report.text
    assert result.lab["nodes"]["pve-nat01"]["interfaces"]["tap300i0"] == {"type": "tap"}


def test_guest_on_a_missing_bridge_is_reported(monkeypatch):
    with_guests(monkeypatch, [Guest(400, "vm", "lost", [Nic(0, "vmbr7", "etc/pve/qemu-server/400.conf", 2)])])
    result = importer.import_proxmox(os.path.join(ROOTS, "nat"))
    assert any(r.line == 2 and "no bridge vmbr7" in r.text for r in result.not_imported)


@pytest.mark.parametrize("root", ["nat", "vlan"])
def test_admin_is_in_the_management_subnet_on_the_upstream_switch(root):
    lab = importer.import_proxmox(os.path.join(ROOTS, root)).lab
    admin = lab["nodes"]["admin"]["interfaces"]["eth0"]["address"]
    checks = [c for c in lab["checks"] if c["from"] == "admin"]
    target = checks[0]["to"]
    import ipaddress

    assert ipaddress.ip_address(target) in ipaddress.ip_interface(admin).network
    assert [c["to"] for c in checks[1:]] == [f"{target}:22", f"{target}:8006"]
    assert any(link[0] == "admin:eth0" and link[1].startswith("upstream:") for link in lab["links"])


def test_a_guest_named_like_a_generated_node_keeps_its_vmid_name(monkeypatch):
    with_guests(monkeypatch, [Guest(500, "ct", "admin", [Nic(0, "vmbr0", "etc/pve/lxc/500.conf", 2,
                                                             address="10.10.10.50/24")])])
    lab = importer.import_proxmox(os.path.join(ROOTS, "nat")).lab
    assert "ct500" in lab["nodes"] and lab["nodes"]["admin"]["description"].startswith("generated")


def test_mtu_mac_vlan_raw_device_and_bridge_vids(tmp_path):
    path = tmp_path / "interfaces"
    path.write_text("""auto eno1
iface eno1 inet manual
    mtu 9000
    hwaddress ether 02:AB:CD:00:00:01
iface vlan30 inet static
    vlan-raw-device eno1
    address 10.30.0.2/24
auto vmbr0
iface vmbr0 inet static
    address 10.0.0.2/24
    bridge-ports eno2
    bridge-vlan-aware yes
    bridge-vids 40 41
    bridge-pvid 7
""")
    result = importer.import_interfaces(str(path))
    pve = result.lab["nodes"]["pve"]["interfaces"]
    assert pve["eno1"] == {"mtu": 9000, "mac": "02:ab:cd:00:00:01"}
    assert pve["vlan30"] == {"type": "vlan", "parent": "eno1", "id": 30, "address": "10.30.0.2/24"}
    assert pve["eno2"] == {"trunk": [40, 41], "vlan": 1}  # the bridge's VLANs leave tagged, its own untagged
    upstream = result.lab["nodes"]["upstream"]["interfaces"]
    assert {"trunk": [30]} in upstream.values() and {"trunk": [40, 41], "vlan": 1} in upstream.values()
    assert [(r.line, "bridge-pvid" in r.text) for r in result.not_imported] == [(14, True)]
    load_lab_text(result.text, "x.yaml")


def test_guests_tagged_on_an_untagged_management_bridge_get_routers_at_their_gateways():
    """The usual Proxmox layout: the host's address untagged on a VLAN-aware
    vmbr0, guests tagged and routed beyond the trunk (real guest reader)."""
    result = importer.import_proxmox(os.path.join(ROOTS, "vlan-untagged"))
    lab = result.lab
    routers = {name: node["interfaces"]["eth0"]["address"] for name, node in lab["nodes"].items()
               if node.get("kind") == "router"}
    assert sorted(routers.values()) == ["10.20.0.1/24", "10.30.0.1/24", "192.168.1.1/24"]
    upstream = lab["nodes"]["upstream"]["interfaces"]
    by_node = {end_b.split(":")[0]: upstream[end_a.split(":")[1]] if end_a.startswith("upstream:") else None
               for end_a, end_b in (reversed(link) for link in lab["links"]) if end_a.startswith("upstream:")}
    gateway_of = {address.split("/")[0]: name for name, address in routers.items()}
    assert by_node[gateway_of["10.20.0.1"]] == {"vlan": 20}
    assert by_node[gateway_of["10.30.0.1"]] == {"vlan": 30}
    host = next(node for node in lab["nodes"].values() if node.get("description") == "the imported host")
    assert host["interfaces"]["eno1"] == {"trunk": [20, 30], "vlan": 1}
    load_lab_text(result.text, "vlan-untagged.yaml")
