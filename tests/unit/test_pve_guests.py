"""Proxmox guest configs (qemu-server/*.conf, lxc/*.conf) → Guest objects."""

from __future__ import annotations

import os

import pytest

from vnetlab.io.pve_guests import parse_guest, read_guests, safe_node_name
from vnetlab.io.report import NOT_IMPORTED, NOTE
from vnetlab.names import NODE_NAME

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "pve")


def _texts(reports, kind=None):
    return [str(r) for r in reports if kind is None or r.kind == kind]


def test_real_vm_config_gives_its_nic_and_accounts_for_every_line():
    root = os.path.join(FIXTURES, "real-fedora")
    guests, reports = read_guests(root)
    fedora = next(g for g in guests if g.vmid == 108)
    assert (fedora.kind, fedora.name, fedora.given_name) == ("vm", "fedora", "Fedora")
    assert "Fedora workstation: audit and rebuild reference" in fedora.description  # %3A decoded
    [nic] = fedora.nics
    assert (nic.index, nic.host_ifname, nic.guest_ifname, nic.bridge) == (0, "tap108i0", "eth0", "vmbr0")
    assert (nic.mac, nic.model, nic.firewall, nic.line) == ("bc:24:11:73:80:7c", "virtio", True, 15)
    assert nic.address is None
    # every line of the file is used (description, name, net0) or reported
    path = os.path.join(root, "etc/pve/qemu-server/108.conf")
    with open(path) as handle:
        count = sum(1 for line in handle if line.strip())
    used = {1, 2, 14, 15}
    [rollup] = [r for r in reports if r.file.endswith("108.conf") and r.kind == NOTE
                and "not about networking" in r.text]  # one report names them all
    listed = rollup.text.split("(line")[1].split(":")[0].lstrip("s ")
    reported = {int(number) for number in listed.split(", ")}
    assert reported | used == set(range(1, count + 1)) and not reported & used
    assert rollup.line == min(reported) and "memory" in rollup.text


def test_vm_models_vlans_trunks_cloud_init_and_snapshot_section():
    guests, reports = read_guests(os.path.join(FIXTURES, "real-fedora"))
    vm = next(g for g in guests if g.vmid == 120)
    assert vm.name == "vjunos1"  # "vjunos1.fw" made a node name
    assert [n.host_ifname for n in vm.nics] == ["tap120i0", "tap120i1", "tap120i2"]
    net0, net1, net2 = vm.nics
    assert (net0.address, net0.gateway, net0.address_line) == ("10.1.0.20/24", "10.1.0.1", 19)
    assert (net1.model, net1.tag, net1.link_down, net1.dhcp) == ("e1000", 30, True, True)
    assert (net2.model, net2.trunks) == ("vmxnet3", [10, 20, 100, 101, 102])
    texts = _texts(reports, NOT_IMPORTED)
    assert any("120.conf:11: not imported: `rate=12.5`" in t for t in texts)
    assert any("120.conf:11: not imported: `queues=4`" in t for t in texts)
    assert any("120.conf:12: not imported: `net3: virtio=02:5A:10:00:00:04`" in t and "bridge" in t for t in texts)
    assert any("120.conf:21: not imported: `ipconfig5: ip=10.9.9.9/24`" in t for t in texts)
    snapshot = [r for r in reports if "[before-upgrade]" in r.text]
    assert len(snapshot) == 1 and snapshot[0].line == 23
    assert not any(r.line > 23 for r in reports if r.file.endswith("120.conf"))  # snapshot lines: one report only


def test_container_configs():
    guests, reports = read_guests(os.path.join(FIXTURES, "real-cts"))
    assert [(g.vmid, g.kind, g.name) for g in guests] == [(103, "ct", "poly"), (106, "ct", "prometheus")]
    poly = guests[0]
    eth0, mgmt = poly.nics
    assert (eth0.host_ifname, eth0.guest_ifname, eth0.mac) == ("veth103i0", "eth0", "bc:24:11:f1:f7:75")
    assert (eth0.address, eth0.gateway, eth0.firewall) == ("10.1.1.73/24", "10.1.1.1", True)
    assert (mgmt.host_ifname, mgmt.guest_ifname, mgmt.bridge, mgmt.tag) == ("veth103i1", "mgmt", "vmbr1", 10)
    assert (mgmt.dhcp, mgmt.address, mgmt.address6, mgmt.gateway6) == (True, None, "fd00:10::73/64", "fd00:10::1")
    assert not _texts(reports, NOT_IMPORTED)


@pytest.mark.parametrize("line, why", [
    ("net0: name=eth0,bridge=vmbr0,ip=10.0.0.5", "not an address/prefix"),
    ("net0: name=eth0,bridge=vmbr0,gw=fd00::1", "not an address"),
    ("net0: name=eth0,bridge=vmbr0,tag=5000", "1-4094"),
    ("net0: name=eth0,bridge=vmbr0,trunks=10;x", "trunks"),
    ("net0: name=eth0,bridge=vmbr0,hwaddr=zz", "not a MAC"),
    ("net0: name=eth0,bridge=vmbr0,type=phys", "only veth"),
    ("net0: name=eth0,bridge=vmbr0,weird=1", "does not know"),
    ("lxc.net.0.link: vmbr0", "raw LXC network key"),
    ("this is no setting", "not a `key: value` line"),
])
def test_container_lines_that_cannot_be_used_are_reported(line, why):
    reports = []
    parse_guest(line + "\n", 200, "ct", "etc/pve/lxc/200.conf", reports)
    assert any(r.kind == NOT_IMPORTED and why in r.text and r.line == 1 for r in reports), _texts(reports)


def test_vm_nic_model_without_mac_and_default_names():
    reports = []
    guest = parse_guest("net0: virtio,bridge=vmbr0\nnet1: rtl8139=02:00:00:00:00:09,bridge=vmbr1,firewall=0\n",
                        300, "vm", "etc/pve/qemu-server/300.conf", reports)
    assert guest.name == "vm300"
    assert [(n.model, n.mac, n.bridge, n.firewall) for n in guest.nics] == [
        ("virtio", None, "vmbr0", False), ("rtl8139", "02:00:00:00:00:09", "vmbr1", False)]
    assert not guest.firewalled


@pytest.mark.parametrize("given, expected", [
    ("Web-Server_01.example.com", "web-server-01"),
    ("123abc", "abc"),
    ("a" * 40, "a" * 15),
    ("---", None),
    ("日本", None),
    ("", None),
])
def test_safe_node_name(given, expected):
    name = safe_node_name(given)
    assert name == expected
    if name is not None:
        assert NODE_NAME.fullmatch(name)


def test_duplicate_and_clashing_names_fall_back_to_the_vmid(tmp_path):
    qemu = tmp_path / "etc/pve/qemu-server"
    lxc = tmp_path / "etc/pve/lxc"
    qemu.mkdir(parents=True)
    lxc.mkdir(parents=True)
    (qemu / "100.conf").write_text("name: web\nnet0: virtio=02:00:00:00:01:00,bridge=vmbr0\n")
    (lxc / "101.conf").write_text("hostname: web\nnet0: bridge=vmbr0\n")
    (qemu / "102.conf").write_text("name: !!!\n")
    (qemu / "notes.txt").write_text("hello\n")
    (qemu / "12.conf").write_text("name: low\n")
    guests, reports = read_guests(str(tmp_path))
    assert [(g.vmid, g.name) for g in guests] == [(100, "vm100"), (101, "ct101"), (102, "vm102")]
    assert all(NODE_NAME.fullmatch(g.name) for g in guests)
    texts = _texts(reports)
    assert any("100.conf:1: note: guest 'web' is node vm100 — another guest has the same name" in t for t in texts)
    assert any("102.conf:1: note: guest '!!!' is node vm102" in t for t in texts)
    assert any("notes.txt:0" in t for t in texts)
    assert any("12.conf:0: not imported" in t and "vmid" in t for t in texts)
    assert any("101.conf:2: note: net0 has no name=" in t for t in texts)
