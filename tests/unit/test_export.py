"""vnetlab export: a node as /etc/network/interfaces, nmcli commands or ip commands."""

from __future__ import annotations

import os
import shlex

import pytest

from vnetlab.io.export import ExportError, export_node
from vnetlab.io.importer import import_interfaces
from vnetlab.model import load_lab, load_lab_text

from test_export_roundtrip import _routes_without_dev, describe

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")

OVS_LAB = """
lab: ovsx
nodes:
  pve:
    interfaces:
      eno1: {}
      eno2: {}
      eno3: {trunk: [10, 20]}
      bond0: {type: bond, members: [eno1, eno2], mode: balance-slb, trunk: [10, 20]}
      vmbr0: {type: bridge, backend: ovs, vlan_aware: true, ports: [bond0, eno3, tap100i0]}
      vlan20: {type: vlan, parent: vmbr0, id: 20, address: 10.0.20.2/24}
      tap100i0: {type: tap, vlan: 10}
    routes:
      - {to: default, via: 10.0.20.1}
      - {to: 10.9.0.0/16, via: 10.0.20.254}
  vm100:
    kind: vm
    interfaces: {eth0: {address: 10.0.10.100/24}}
  sw: {kind: switch}
links:
  - [pve:tap100i0, vm100:eth0]
  - [pve:eno1, sw:p1]
  - [pve:eno2, sw:p2]
  - [pve:eno3, sw:p3]
"""


def _example(name):
    return load_lab(os.path.join(EXAMPLES, name))


def test_interfaces_format_proxmox_nat_uses_the_documented_post_up_lines():
    text = export_node(_example("proxmox-nat.yaml"), "pve", "interfaces")
    assert "auto vmbr1\niface vmbr1 inet static\n\taddress 10.10.10.1/24\n\tbridge-ports none\n" \
           "\tbridge-stp off\n\tbridge-fd 0\n" in text
    assert "\tgateway 203.0.113.1\n" in text
    assert "post-up echo 1 > /proc/sys/net/ipv4/ip_forward" in text
    assert "post-up   iptables -t nat -A POSTROUTING -s 10.10.10.0/24 -o vmbr0 -j MASQUERADE" in text
    assert "post-down iptables -t nat -D POSTROUTING -s 10.10.10.0/24 -o vmbr0 -j MASQUERADE" in text
    assert "-t nat -A PREROUTING -i vmbr0 -p tcp --dport 8080 -j DNAT --to 10.10.10.100:80" in text  # vm100 resolved
    assert "tap100i0" not in text.split("\n", 2)[2].replace("# left out", "")  # guest devices: only the comment


def test_interfaces_format_vlan_aware_bridge_and_bond():
    vlan = export_node(_example("proxmox-vlan.yaml"), "pve", "interfaces")
    assert "\tbridge-vlan-aware yes\n\tbridge-vids 10 20\n" in vlan
    assert "iface eno1 inet manual\n\tbridge-vids 10 20\n" in vlan
    assert "iface vmbr0.20 inet static\n\taddress 10.0.0.2/24\n" in vlan
    bond = export_node(_example("proxmox-bridged.yaml"), "pve", "interfaces")
    assert "iface bond0 inet manual\n\tbond-slaves eno1 eno2\n\tbond-miimon 100\n\tbond-mode active-backup\n" in bond
    assert bond.index("auto bond0") < bond.index("auto vmbr0")  # a bond before the bridge it is a port of


def test_interfaces_format_ovs_stanzas():
    spec = load_lab_text(OVS_LAB)
    text = export_node(spec, "pve", "interfaces")
    assert "iface vmbr0 inet manual\n\tovs_type OVSBridge\n\tovs_ports bond0 eno3 vlan20\n" in text
    assert "\tovs_type OVSBond\n\tovs_bridge vmbr0\n\tovs_bonds eno1 eno2\n\tovs_options bond_mode=balance-slb trunks=10,20\n" in text
    assert "iface eno3 inet manual\n\tovs_type OVSPort\n\tovs_bridge vmbr0\n\tovs_options trunks=10,20\n" in text
    assert "iface vlan20 inet static\n\taddress 10.0.20.2/24\n\tgateway 10.0.20.1\n\tovs_type OVSIntPort\n" \
           "\tovs_bridge vmbr0\n\tovs_options tag=20\n" in text
    assert "post-up   ip route add 10.9.0.0/16 via 10.0.20.254 dev vlan20" in text
    assert "pre-down  ip route del 10.9.0.0/16 via 10.0.20.254 dev vlan20" in text


def test_ovs_node_round_trips(tmp_path):
    spec = load_lab_text(OVS_LAB)
    path = tmp_path / "interfaces"
    path.write_text(export_node(spec, "pve", "interfaces"))
    imported = import_interfaces(str(path))
    assert not imported.not_imported, [str(r) for r in imported.not_imported]
    again = load_lab_text(imported.text)
    want = describe(spec, spec.nodes["pve"])
    got = describe(again, again.nodes[next(iter(again.nodes))])
    assert _routes_without_dev(got) == _routes_without_dev(want)


def _commands(text):
    return [shlex.split(line) for line in text.splitlines() if line and not line.startswith("#")]


def test_nmcli_format():
    commands = _commands(export_node(_example("proxmox-bridged.yaml"), "pve", "nmcli"))
    assert all(c[:3] == ["nmcli", "connection", "add"] for c in commands)
    bridge = next(c for c in commands if "bridge" in c[c.index("type") + 1:c.index("type") + 2])
    assert ["bridge.stp", "no"] == bridge[bridge.index("bridge.stp"):bridge.index("bridge.stp") + 2]
    assert bridge[bridge.index("ipv4.addresses") + 1] == "192.168.1.10/24"
    assert bridge[bridge.index("ipv4.gateway") + 1] == "192.168.1.1"
    bond = next(c for c in commands if c[c.index("type") + 1] == "bond")
    assert bond[bond.index("bond.options") + 1] == "mode=active-backup,miimon=100"
    assert bond[bond.index("master") + 1] == "vmbr0"
    members = [c for c in commands if "slave-type" in c and c[c.index("slave-type") + 1] == "bond"]
    assert sorted(c[c.index("ifname") + 1] for c in members) == ["eno1", "eno2"]
    vlan = _commands(export_node(_example("proxmox-vlan.yaml"), "pve", "nmcli"))
    port = next(c for c in vlan if "eno1" in c)
    assert port[port.index("bridge-port.vlans") + 1] == "10, 20"
    sub = next(c for c in vlan if c[c.index("type") + 1] == "vlan")
    assert sub[sub.index("dev") + 1:sub.index("dev") + 4] == ["vmbr0", "id", "20"]
    nat = export_node(_example("proxmox-nat.yaml"), "pve", "nmcli")
    assert "sysctl -w net.ipv4.ip_forward=1" in nat and "-j MASQUERADE" in nat  # NM keeps no NAT: said and given


def test_nmcli_format_ovs():
    commands = _commands(export_node(load_lab_text(OVS_LAB), "pve", "nmcli"))
    types = [c[c.index("type") + 1] for c in commands]
    assert "ovs-bridge" in types and "ovs-interface" in types
    bond_port = next(c for c in commands if "ovs-port.bond-mode" in c)
    assert bond_port[bond_port.index("ovs-port.bond-mode") + 1] == "balance-slb"
    intport = next(c for c in commands if "ovs-port.tag" in c and "vlan20" in c)
    assert intport[intport.index("ovs-port.tag") + 1] == "20"


def test_ip_format():
    lines = export_node(_example("proxmox-vlan.yaml"), "pve", "ip").splitlines()
    assert "ip link add vmbr0 type bridge stp_state 0 forward_delay 0 vlan_filtering 1" in lines
    assert "ip link add link vmbr0 name vmbr0.20 type vlan id 20" in lines
    assert "bridge vlan add dev vmbr0 vid 20 self" in lines
    assert "ip addr add 10.0.0.2/24 dev vmbr0.20" in lines
    assert lines.index("ip link add vmbr0 type bridge stp_state 0 forward_delay 0 vlan_filtering 1") < \
        lines.index("ip link set eno1 master vmbr0")
    nat = export_node(_example("proxmox-nat.yaml"), "pve", "ip").splitlines()
    assert "ip route add default via 203.0.113.1 dev vmbr0" in nat
    assert "sysctl -w net.ipv4.ip_forward=1" in nat
    ovs = export_node(load_lab_text(OVS_LAB), "pve", "ip").splitlines()
    assert "ovs-vsctl --may-exist add-bond vmbr0 bond0 eno1 eno2 bond_mode=balance-slb trunks=10,20" in ovs
    assert "ovs-vsctl --may-exist add-port vmbr0 vlan20 tag=20 -- set interface vlan20 type=internal" in ovs


@pytest.mark.parametrize("fmt", ["interfaces", "nmcli", "ip"])
def test_a_firewall_and_guest_devices_are_named_as_left_out(fmt):
    text = export_node(_example("secure-host.yaml"), "server", fmt)
    assert "left out: the node's firewall" in text
    text = export_node(_example("proxmox-tap.yaml"), "pve", fmt)
    assert "left out: tap100i0, tap101i0" in text


def test_errors():
    spec = _example("proxmox-nat.yaml")
    with pytest.raises(ExportError, match="no node 'nope'"):
        export_node(spec, "nope", "interfaces")
    with pytest.raises(ExportError, match="unknown format"):
        export_node(spec, "pve", "netplan")
