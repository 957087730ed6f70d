"""Which bridges a node has and which backend serves each (pure rules of the model).

A bridge is declared (``type: bridge``) or is a switch node's implicit
``br0``; ``backend: auto`` resolves to a Linux bridge when the kernel has
every feature the bridge needs (VLAN filtering, bonding, 802.1Q devices)
and to Open vSwitch otherwise. Validation (what a file may ask of a bridge)
and the compiler (which ops build it) both read the rules here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from vnetlab.model.l2names import linux_bond_mode_problem, vlan_device_parts
from vnetlab.model.schema import Interface, LabSpec, Link, Node, link_ends

SWITCH_BRIDGE = "br0"  # the bridge a switch node holds implicitly


@dataclass(frozen=True)
class KernelFeatures:
    """What the running machine offers for layer 2."""

    vlan_devices: bool = True      # 802.1Q devices (ip link add ... type vlan)
    bonding: bool = True           # the bonding driver
    vlan_filtering: bool = True    # Linux bridge VLAN filtering
    ovs_kernel: bool = True        # the openvswitch kernel datapath (unused: OVS runs in userspace)
    ovs_userspace: bool = True     # ovsdb-server and ovs-vswitchd are installed
    osken: bool = True             # the Python package the built-in controller runs on
    netem: bool = True             # the netem qdisc (delay, loss …); without it impairments go through userspace
    tbf: bool = True               # the tbf qdisc (a rate alone)
    detected: bool = False         # False: assumed, not probed


ASSUMED = KernelFeatures()  # what ``vnetlab plan`` assumes without probing
# A kernel with none of the optional L2 features: where ``auto`` picks OVS
# whenever a bridge needs anything beyond a plain Linux bridge.
NOTHING = KernelFeatures(vlan_devices=False, bonding=False, vlan_filtering=False, ovs_kernel=False)

FEATURE_TEXT = {
    "vlan_devices": "802.1Q VLAN devices (kernel module 8021q)",
    "bonding": "bonding (kernel module bonding)",
    "vlan_filtering": "Linux bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)",
}


@dataclass(frozen=True)
class BridgeView:
    """A bridge of a node as the L2 compilers see it (declared or a switch's br0)."""

    name: str
    vlan_aware: bool
    backend: str
    ports: tuple[str, ...]


_linked_cache: list = [None, {}]  # [spec, its linked interfaces]: the spec being compiled


def _linked_interfaces(spec: LabSpec) -> dict[str, tuple[str, ...]]:
    """Node -> its interfaces that are link ends, in link order (one pass
    over the links per spec, not one per switch node)."""
    if _linked_cache[0] is not spec:
        linked: dict[str, list[str]] = {}
        for link in spec.links:
            for end in link_ends(link):
                owner, _, ifname = end.partition(":")
                linked.setdefault(owner, []).append(ifname)
        _linked_cache[:] = [spec, {owner: tuple(names) for owner, names in linked.items()}]
    return _linked_cache[1]


def bridges_of(spec: LabSpec, node_name: str, node: Node) -> list[BridgeView]:
    """The node's bridges with their ports; a switch's br0 takes the node's
    ``vlan_aware``/``backend`` and every linked interface as a port."""
    bridges = [BridgeView(name, iface.vlan_aware, iface.backend, tuple(iface.ports))
               for name, iface in node.interfaces.items() if iface.type == "bridge"]
    if node.kind == "switch":
        linked = _linked_interfaces(spec).get(node_name, ())
        declared = next((b for b in bridges if b.name == SWITCH_BRIDGE), None)
        if declared is None:
            bridges.append(BridgeView(SWITCH_BRIDGE, node.vlan_aware, node.backend, linked))
        else:
            extra = tuple(p for p in linked if p not in declared.ports)
            bridges[bridges.index(declared)] = BridgeView(
                SWITCH_BRIDGE, declared.vlan_aware or node.vlan_aware,
                declared.backend if declared.backend != "auto" else node.backend,
                declared.ports + extra)
    return bridges


def bridge_settings(node: Node, bridge: BridgeView) -> tuple[tuple[str, ...], Optional[str]]:
    """(flows, controller) of a bridge; a switch's br0 takes the node's."""
    declared = node.interfaces.get(bridge.name) or Interface()
    flows = tuple(declared.flows) or (tuple(node.flows) if node.kind == "switch" else ())
    controller = declared.controller or (node.controller if node.kind == "switch" else None)
    return flows, controller


def bridge_needs(node: Node, bridge: BridgeView) -> set[str]:
    """The kernel features a Linux bridge would need to serve ``bridge``."""
    needs: set[str] = set()
    if bridge.vlan_aware:
        needs.add("vlan_filtering")
    for port in bridge.ports:
        iface = node.interfaces.get(port) or Interface()
        if iface.vlan is not None or iface.trunk:
            needs.add("vlan_filtering")
        if iface.type == "bond":
            needs.add("bonding")
    for ifname, iface in node.interfaces.items():
        parts = vlan_device_parts(ifname, iface) if iface.type == "vlan" else None
        if parts is not None and parts[0] == bridge.name:
            needs.add("vlan_devices")
    return needs


def resolve_backend(node: Node, bridge: BridgeView, features: KernelFeatures) -> str:
    """'linux' or 'ovs' for one bridge (an explicit choice is kept as is)."""
    if bridge.backend != "auto":
        return bridge.backend
    flows, controller = bridge_settings(node, bridge)
    if flows or controller:
        return "ovs"
    if any(linux_bond_mode_problem((node.interfaces.get(p) or Interface()).mode) for p in bridge.ports):
        return "ovs"  # a bond port in balance-slb/balance-tcp: only OVS has those modes
    needs = bridge_needs(node, bridge)
    return "linux" if all(getattr(features, need) for need in needs) else "ovs"


def node_backends(spec: LabSpec, node_name: str, features: KernelFeatures) -> dict[str, str]:
    """Bridge name -> resolved backend, for every bridge of the node."""
    node = spec.nodes[node_name]
    return {b.name: resolve_backend(node, b, features) for b in bridges_of(spec, node_name, node)}


def lab_needs_probe(spec: LabSpec) -> bool:
    """Whether the lab uses anything beyond plain bridges (VLANs, bonds, OVS),
    so its bridges' backends depend on this machine — or impaired links, whose
    mechanism does (netem or not)."""
    if any(isinstance(link, Link) and (link.model_extra or not link.parsed().empty) for link in spec.links):
        return True
    for node_name, node in spec.nodes.items():
        for iface in node.interfaces.values():
            if iface.type in ("bond", "vlan") or iface.vlan is not None or iface.trunk:
                return True
        for bridge in bridges_of(spec, node_name, node):
            declared = node.interfaces.get(bridge.name)
            if bridge.vlan_aware or bridge.backend != "auto" or node.flows or node.controller \
                    or (declared is not None and (declared.flows or declared.controller)):
                return True
    return False
