"""Linux-kernel L2 for bridges that resolved to ``backend: linux``: VLAN-aware
bridges (``bridge vlan``), 802.1Q devices (``type: vlan``) and bonds.

The bridge itself and its ports are made by the bridge and switch compilers;
this module adds what VLANs and bonds need on top, as Proxmox does with
ifupdown2: ``vlan_filtering 1`` on a VLAN-aware bridge, each access port
untagged in its VLAN, each trunk tagged in its VLANs, the bridge device in
the VLAN of every host address on ``BRIDGE.VID``. Unlike Proxmox's
``bridge-vids 2-4094`` only the VLANs the file names are configured, and a
port with ``vlan``/``trunk`` leaves the bridge's default VLAN 1 (so an
access port in VLAN 10 hears nothing of VLAN 1, as on Open vSwitch).

Placement in the plan, independent of which compiler runs first:

* bonds in DEVICES, their members enslaved in PORTS (members are link ends,
  made in DEVICES);
* ``vlan_filtering`` and 802.1Q devices first in PORTS: after every device
  (a parent may be a veth, made last in DEVICES) and before the ports are
  enslaved (an 802.1Q device may itself be a bridge port);
* ``bridge vlan`` entries first in ADDRESSES: after every port is enslaved
  (an entry needs its port on the bridge), before anything goes up;
* an 802.1Q device's link-up right after its parent's (the kernel refuses
  to bring it up while the parent is down).
"""

from __future__ import annotations

from typing import Collection, Optional

from vnetlab.compile.builder import Phase, PlanBuilder
from vnetlab.model.bridges import bridges_of
from vnetlab.model.l2names import linux_bond_mode_problem, vlan_device_parts
from vnetlab.model.schema import Interface, Node
from vnetlab.plan import (
    BridgeVlan, CreateBond, CreateVlan, DeleteBridgeVlan, Op, SetBondMember, SetBridgeVlanFiltering,
    SetLinkState,
)

DEFAULT_BOND_MODE = "active-backup"
BOND_MIIMON_MS = 100  # link checked every 100 ms: a cut cable fails over at once
DEFAULT_VLAN = 1      # every port of a VLAN-aware Linux bridge starts in VLAN 1


def compile_linux_l2(builder: PlanBuilder, node_name: str, node: Node,
                     linux_bridges: Optional[Collection[str]] = None) -> None:
    """Adds the Linux VLAN and bond ops of one node.

    Args:
        builder: the lab's plan builder.
        node_name: the node.
        node: its model.
        linux_bridges: names of the node's bridges that resolved to the Linux
            backend (``compile/l2.py`` decides ``auto``); None means those
            that say ``backend: linux``. Bonds on the other (OVS) bridges,
            and 802.1Q devices on them, are left to the OVS compiler; bonds
            and 802.1Q devices on no bridge at all are always Linux ones.

    Raises:
        ValueError: a Linux bond with an OVS-only mode (see
            :func:`linux_bond_mode_problem`).
    """
    ns = builder.ns(node_name)
    bridges = bridges_of(builder.spec, node_name, node)
    if linux_bridges is None:
        linux_bridges = {b.name for b in bridges if b.backend == "linux"}
    linux = [b for b in bridges if b.name in linux_bridges]
    ovs_owned = {b.name for b in bridges if b.name not in linux_bridges}
    ovs_owned |= {port for b in bridges if b.name in ovs_owned for port in b.ports
                  if (node.interfaces.get(port) or Interface()).type == "bond"}

    for ifname, iface in node.interfaces.items():
        if iface.type != "bond" or ifname in ovs_owned:
            continue
        problem = linux_bond_mode_problem(iface.mode)
        if problem:
            raise ValueError(f"node {node_name}, interface {ifname}: {problem}")
        mode = iface.mode or DEFAULT_BOND_MODE
        builder.add(Phase.DEVICES, CreateBond(
            ns, ifname=ifname, mode=mode, miimon=BOND_MIIMON_MS,
            lacp_rate="fast" if mode == "802.3ad" else None))
        for member in iface.members:
            builder.add(Phase.PORTS, SetBondMember(ns, ifname=member, bond=ifname))

    early_ports: list[Op] = [SetBridgeVlanFiltering(ns, bridge=b.name) for b in linux if b.vlan_aware]
    entries: list[Op] = []
    for bridge in (b for b in linux if b.vlan_aware):
        for port in bridge.ports:
            entries += _port_vlans(ns, port, node.interfaces.get(port) or Interface())
    aware = {b.name for b in linux if b.vlan_aware}
    stacked: dict[str, str] = {}  # 802.1Q device -> parent
    for ifname, parent, vid in _vlan_devices_parents_first(node):
        if parent in ovs_owned:
            continue
        early_ports.append(CreateVlan(ns, ifname=ifname, parent=parent, vlan_id=vid))
        if parent in aware:
            entries.append(BridgeVlan(ns, ifname=parent, vid=vid, self=True))
        stacked[ifname] = parent
    _add_first(builder, Phase.PORTS, early_ports, (SetBridgeVlanFiltering, CreateVlan))
    _add_first(builder, Phase.ADDRESSES, entries, (BridgeVlan,))
    _ups_after_parents(builder, ns, stacked)


def _port_vlans(ns: str, port: str, iface: Interface) -> list[Op]:
    """The ``bridge vlan`` entries of one port of a VLAN-aware bridge."""
    tagged = list(iface.trunk or ())
    named = set(tagged) | ({iface.vlan} if iface.vlan is not None else set())
    if not named:
        return []  # a plain port stays in the default VLAN 1, untagged
    ops: list[Op] = []
    if DEFAULT_VLAN not in named:
        ops.append(DeleteBridgeVlan(ns, ifname=port, vid=DEFAULT_VLAN))
    ops += [BridgeVlan(ns, ifname=port, vid=vid) for vid in tagged if vid != iface.vlan]
    if iface.vlan is not None:
        ops.append(BridgeVlan(ns, ifname=port, vid=iface.vlan, pvid=True, untagged=True))
    return ops


def _vlan_devices_parents_first(node: Node) -> list[tuple[str, str, int]]:
    """(ifname, parent, vid) of the node's 802.1Q devices, each after its
    parent when the parent is one too (Q-in-Q)."""
    found = {name: parts for name, iface in node.interfaces.items()
             if iface.type == "vlan" and (parts := vlan_device_parts(name, iface)) is not None}
    ordered: list[tuple[str, str, int]] = []
    placed: set[str] = set()

    def place(name: str, seen: frozenset[str]) -> None:
        if name in placed or name in seen:
            return
        parent, vid = found[name]
        if parent in found:
            place(parent, seen | {name})
        placed.add(name)
        ordered.append((name, parent, vid))

    for name in found:
        place(name, frozenset())
    return ordered


def _add_first(builder: PlanBuilder, phase: Phase, ops: list[Op], kinds: tuple[type, ...]) -> None:
    """Puts ``ops`` at the start of ``phase``, after ops of ``kinds`` already there."""
    queue = builder.phases[phase]
    at = 0
    while at < len(queue) and isinstance(queue[at], kinds):
        at += 1
    queue[at:at] = ops


def _ups_after_parents(builder: PlanBuilder, ns: str, stacked: dict[str, str]) -> None:
    """Puts each 802.1Q device's link-up right after its parent's: the kernel
    refuses to bring one up while its parent is down (ENETDOWN)."""
    if not stacked:
        return
    queue = builder.phases[Phase.LINK_UP]
    ups = {op.ifname: op for op in queue if isinstance(op, SetLinkState) and op.netns == ns}
    children: dict[str, list[SetLinkState]] = {}
    moved: set[str] = set()
    for child, parent in stacked.items():  # parents first, so chains keep their order
        if child in ups and parent in ups:
            children.setdefault(parent, []).append(ups[child])
            moved.add(child)
    if not moved:
        return
    ordered: list[Op] = []

    def place(op: Op) -> None:
        ordered.append(op)
        if isinstance(op, SetLinkState) and op.netns == ns:
            for child in children.get(op.ifname, ()):
                place(child)

    for op in queue:
        if not (isinstance(op, SetLinkState) and op.netns == ns and op.ifname in moved):
            place(op)
    queue[:] = ordered
