"""Layer 2 beyond a plain bridge: which backend serves each bridge, and the
Open vSwitch ops for the bridges that resolved to OVS.

Every bridge (and a switch node's ``br0``) has ``backend: linux | ovs | auto``.
``auto`` takes the Linux bridge when the running kernel has what the bridge
needs (VLAN filtering, bonding, 802.1Q devices) and Open vSwitch's userspace
datapath otherwise; a bridge with ``flows`` or a ``controller`` is always OVS.
Compiling stays pure: the kernel's features come in as a :class:`KernelFeatures`
value (``executors/capabilities.py`` detects them at ``up``; ``plan`` without
root assumes :data:`ASSUMED`, a kernel that has everything).

The bridge and switch compilers (``compile/interfaces.py``, ``compile/nodes.py``)
make every bridge a Linux bridge; :func:`compile_l2` runs once all nodes and
links are compiled and, per node, hands the Linux bridges' VLANs and bonds to
``compile/linux_l2.py`` and *replaces* the Linux ops of the OVS bridges (the
bridge, its ``SetMaster`` ports, the link-up of a bond that on OVS is a port,
not a device) with OVS ops: the node's own ``ovsdb-server``/``ovs-vswitchd``
(:class:`StartOvs`), the bridge, its ports with ``tag``/``trunks``, bonds,
internal ports for ``type: vlan`` interfaces, the flows, a controller, and TX
checksum offload off on every veth end of an OVS port and its peer.
"""

from __future__ import annotations

import os

from vnetlab.compile.builder import Phase, PlanBuilder
from vnetlab.compile.linux_l2 import compile_linux_l2
from vnetlab.compile.registry import interface_type
from vnetlab.model.bridges import (
    ASSUMED, FEATURE_TEXT, BridgeView, KernelFeatures, bridge_needs, bridge_settings, bridges_of, resolve_backend,
)
from vnetlab.model.l2names import vlan_device_parts
from vnetlab.model.schema import Interface, LabSpec, Node, link_ends
from vnetlab.model.validate import OSKEN_INSTALL, UNAPPLIED_SETTINGS
from vnetlab.plan import (
    AddAddress, CreateBridge, OvsAddBond, OvsAddBridge, OvsAddPort, OvsReplaceFlows, RunService,
    SetLinkState, SetMaster, SetSysctl, SetTxChecksum, StartOvs,
)

BUILTIN_CONTROLLER = "tcp:127.0.0.1:6653"
BUILTIN_CONTROLLER_COMMAND = ("python3", "-m", "vnetlab.agents.controller", "--listen", "tcp:127.0.0.1:6653")
NORMAL_FLOW = "priority=0,actions=NORMAL"
# Linux bond modes on OVS: 802.3ad is LACP, which OVS does as balance-tcp.
OVS_BOND_MODES = {"active-backup": "active-backup", "balance-slb": "balance-slb",
                  "balance-tcp": "balance-tcp", "802.3ad": "balance-tcp"}
APT_OVS = "apt-get install openvswitch-switch"


DEFAULT_PVID = 1  # the VLAN a Linux VLAN-aware bridge gives untagged frames


def ovs_rundir(lab_run_dir: str, node: str) -> str:
    """Where a node's OVS keeps its database, sockets, pidfiles and logs
    (inside the lab's run directory ``lab_run_dir``)."""
    return os.path.join(lab_run_dir, "ovs", node)


# -- bond and vlan interfaces -------------------------------------------------
@interface_type("bond")
@interface_type("vlan")
def compile_l2_interface(builder: PlanBuilder, node: str, ifname: str, iface: Interface) -> None:
    """Bonds and VLAN interfaces are made by :func:`compile_l2`, once the
    backend of the bridge they belong to is known (a Linux bond or 802.1Q
    device, or an OVS bond port or internal port)."""


def assumed_backends(spec: LabSpec, features: KernelFeatures = ASSUMED) -> list[str]:
    """One line per bridge that has a choice: 'node:bridge -> backend (why)'."""
    lines = []
    for node_name, node in spec.nodes.items():
        for bridge in bridges_of(spec, node_name, node):
            backend = resolve_backend(node, bridge, features)
            needs = bridge_needs(node, bridge)
            if bridge.backend == "auto" and not needs and backend == "linux":
                continue  # a plain bridge: nothing to choose
            if bridge.backend != "auto":
                why = "as the file says"
            elif backend == "ovs" and not all(getattr(features, n) for n in needs):
                missing = [FEATURE_TEXT[n] for n in sorted(needs) if not getattr(features, n)]
                why = "auto: the kernel lacks " + ", ".join(missing)
            elif backend == "ovs":
                why = "auto: flows, a controller or an OVS-only bond mode need Open vSwitch"
            else:
                how = "detected" if features.detected else "assumed"
                why = f"auto: the kernel has what it needs ({how})"
            lines.append(f"{node_name}:{bridge.name} -> {backend} ({why})")
    return lines


def unmet_needs(spec: LabSpec, features: KernelFeatures) -> list[str]:
    """Why this machine cannot build the lab's layer 2 (empty: it can).

    Each message names the missing kernel feature or package and what to do."""
    problems: list[str] = []
    uses_ovs = False
    for node_name, node in spec.nodes.items():
        bridges = {b.name: b for b in bridges_of(spec, node_name, node)}
        backends = {name: resolve_backend(node, b, features) for name, b in bridges.items()}
        uses_ovs |= "ovs" in backends.values()
        on_ovs = _ovs_owned(node, bridges, backends)
        for name, bridge in bridges.items():
            if backends[name] != "linux":
                problems += _ovs_bridge_unmet(node_name, node, bridge, features)
                continue
            missing = [n for n in sorted(bridge_needs(node, bridge)) if not getattr(features, n)]
            if missing:
                problems.append(
                    f"bridge {name} on node {node_name} has backend: linux, but this kernel has no "
                    f"{' and no '.join(FEATURE_TEXT[n] for n in missing)} — set backend: ovs "
                    "(or auto) to use Open vSwitch's userspace datapath instead")
        for ifname, iface in node.interfaces.items():
            if ifname in on_ovs:
                if iface.type == "bond" and iface.mode == "balance-rr":
                    problems.append(
                        f"bond {ifname} on node {node_name} is on an Open vSwitch bridge here, and OVS "
                        "has no balance-rr — use active-backup, balance-slb or balance-tcp (LACP)")
                continue
            if iface.type == "bond" and not features.bonding:
                problems.append(
                    f"bond {ifname} on node {node_name} is a Linux bond, but this kernel has no "
                    f"{FEATURE_TEXT['bonding']} — make it a port of a bridge with backend: ovs (or auto)")
            if iface.type == "vlan" and not features.vlan_devices:
                problems.append(
                    f"{ifname} on node {node_name} is an 802.1Q device, but this kernel has no "
                    f"{FEATURE_TEXT['vlan_devices']} — put it on a bridge with backend: ovs (or auto), "
                    "where it becomes an internal port")
    if uses_ovs and not features.ovs_userspace:
        problems.append("this lab uses Open vSwitch, but ovsdb-server/ovs-vswitchd are not installed — "
                        f"{APT_OVS} (the host's own OVS service is never used)")
    return problems


def _ovs_bridge_unmet(node_name: str, node: Node, bridge: BridgeView, features: KernelFeatures) -> list[str]:
    """What an OVS bridge of this machine asks for in vain: mtu/mac (on a
    bridge that ``auto`` made OVS here; validation refuses them where OVS is
    sure), a built-in controller without os-ken."""
    problems = []
    declared = node.interfaces.get(bridge.name) or Interface()
    missing = [FEATURE_TEXT[n] for n in sorted(bridge_needs(node, bridge)) if not getattr(features, n)]
    for key in (k for k in UNAPPLIED_SETTINGS if getattr(declared, k) is not None and bridge.backend == "auto"):
        problems.append(
            f"bridge {bridge.name} on node {node_name} has {key}, but backend: auto makes it an Open vSwitch "
            f"bridge here (this kernel has no {' and no '.join(missing)}), and vnetlab builds those without "
            f"{key} — remove {key}, or set backend: linux on a kernel that has what it needs")
    if bridge_settings(node, bridge)[1] == "builtin" and not features.osken:
        problems.append(
            f"bridge {bridge.name} on node {node_name} has controller: builtin, which runs on the Python "
            f"package os-ken, and it is not installed — {OSKEN_INSTALL}")
    return problems


def _ovs_owned(node: Node, bridges: dict[str, BridgeView], backends: dict[str, str]) -> set[str]:
    """Interfaces served by OVS: its bridges, their bond ports, VLAN interfaces on them."""
    owned = {name for name, backend in backends.items() if backend == "ovs"}
    for name in list(owned):
        owned |= {p for p in bridges[name].ports if (node.interfaces.get(p) or Interface()).type == "bond"}
    for ifname, iface in node.interfaces.items():
        parts = vlan_device_parts(ifname, iface) if iface.type == "vlan" else None
        if parts is not None and parts[0] in owned:
            owned.add(ifname)
    return owned


# -- compiling ----------------------------------------------------------------
def compile_l2(builder: PlanBuilder, features: KernelFeatures = ASSUMED) -> None:
    """Resolves every bridge's backend and adds the L2 ops of every node.

    Runs after the node and link compilers (it replaces their Linux-bridge ops
    for bridges that resolved to OVS, and needs the links for veth peers)."""
    spec = builder.spec
    peers = _link_peers(spec)
    offloaded: set[tuple[str, str]] = set()
    for node_name, node in spec.nodes.items():
        bridges = {b.name: b for b in bridges_of(spec, node_name, node)}
        backends = {name: resolve_backend(node, b, features) for name, b in bridges.items()}
        compile_linux_l2(builder, node_name, node,
                         linux_bridges={n for n, backend in backends.items() if backend == "linux"})
        ovs = [bridges[n] for n, backend in backends.items() if backend == "ovs"]
        if not ovs:
            continue
        ns, rundir = builder.ns(node_name), ovs_rundir(builder.lab_run_dir, node_name)
        _drop_linux_ops(builder, ns, node, {b.name for b in ovs}, _ovs_owned(node, bridges, backends))
        builder.add(Phase.DEVICES, StartOvs(ns, node=node_name, rundir=rundir))
        for bridge in ovs:
            _compile_ovs_bridge(builder, node_name, node, bridge, rundir, peers, offloaded)
        _spare_nics(builder, node_name, node, peers, offloaded)


def _spare_nics(builder: PlanBuilder, node_name: str, node: Node,
                peers: dict[tuple[str, str], tuple[str, str]], offloaded: set[tuple[str, str]]) -> None:
    """TX checksum offload off on the node's other cables too: a NIC its OVS
    does not hold yet may join it by hand (a bond made in the course's
    bonding exercise), and TCP across the userspace datapath needs it off."""
    for owner, ifname in list(peers):
        if owner == node_name:
            for op in _offload_off(builder, node_name, ifname, peers, offloaded):
                builder.add(Phase.PORTS, op)


def _offload_off(builder: PlanBuilder, node_name: str, ifname: str,
                 peers: dict[tuple[str, str], tuple[str, str]], offloaded: set[tuple[str, str]]) -> list[SetTxChecksum]:
    """TX checksum offload off on both ends of ``ifname``'s cable, each once
    (``offloaded``). Only veth ends: a TAP's frames come from the lab's pump,
    whole, so a cable with a TAP end (a VM's) is left alone."""
    peer = peers.get((node_name, ifname))
    if peer is None:
        return []
    ends = ((node_name, ifname), peer)
    if any((builder.spec.nodes[n].interfaces.get(i) or Interface()).type == "tap" for n, i in ends):
        return []
    ops = []
    for end in ends:
        if end not in offloaded:
            offloaded.add(end)
            ops.append(SetTxChecksum(builder.ns(end[0]), ifname=end[1]))
    return ops


def _link_peers(spec: LabSpec) -> dict[tuple[str, str], tuple[str, str]]:
    peers: dict[tuple[str, str], tuple[str, str]] = {}
    for end_a, end_b in (link_ends(link) for link in spec.links):
        a, b = tuple(end_a.partition(":")[::2]), tuple(end_b.partition(":")[::2])
        peers[a], peers[b] = b, a
    return peers


def _drop_linux_ops(builder: PlanBuilder, ns: str, node: Node, bridges: set[str], owned: set[str]) -> None:
    """Removes the Linux-bridge ops of bridges OVS serves, and link-up and
    addresses of OVS bond ports (on OVS a bond is a port, not a device)."""
    bonds = {name for name in owned if (node.interfaces.get(name) or Interface()).type == "bond"}

    def linux_only(op) -> bool:
        if op.netns != ns:
            return False
        if isinstance(op, CreateBridge):
            return op.ifname in bridges
        if isinstance(op, SetMaster):
            return op.master in bridges
        if isinstance(op, (SetLinkState, AddAddress)):
            return op.ifname in bonds
        return False

    for phase, ops in builder.phases.items():
        builder.phases[phase] = [op for op in ops if not linux_only(op)]


def _compile_ovs_bridge(builder: PlanBuilder, node_name: str, node: Node, bridge: BridgeView, rundir: str,
                        peers: dict[tuple[str, str], tuple[str, str]],
                        offloaded: set[tuple[str, str]]) -> None:
    ns = builder.ns(node_name)
    flows, controller = bridge_settings(node, bridge)
    target = BUILTIN_CONTROLLER if controller == "builtin" else controller
    builder.add(Phase.DEVICES, OvsAddBridge(ns, rundir=rundir, bridge=bridge.name, controller=target))
    for ifname, iface in node.interfaces.items():
        parts = vlan_device_parts(ifname, iface) if iface.type == "vlan" else None
        if parts is not None and parts[0] == bridge.name:
            builder.add(Phase.DEVICES, OvsAddPort(ns, rundir=rundir, bridge=bridge.name, port=ifname,
                                                  tag=parts[1], internal=True))

    offloads: list[SetTxChecksum] = []

    def no_offload(ifname: str) -> None:
        offloads.extend(_offload_off(builder, node_name, ifname, peers, offloaded))

    # A VLAN-aware Linux bridge puts untagged frames in VLAN 1 (its default
    # pvid), on every port and on the bridge's own interface. OVS without a
    # tag treats them as VLAN 0 and sends VLAN 1 tagged to its local port, so
    # a host address on a VLAN-aware vmbr0 whose uplink carries VLAN 1
    # natively (Proxmox's usual layout) would be unreachable. Only where the
    # bridge holds an address: other labs keep OVS's plain behaviour.
    linux_pvid = bridge.vlan_aware and bool((node.interfaces.get(bridge.name) or Interface()).all_addresses())
    if linux_pvid:
        builder.add(Phase.PORTS, OvsAddPort(ns, rundir=rundir, bridge=bridge.name, port=bridge.name,
                                            tag=DEFAULT_PVID))
    for port in bridge.ports:
        iface = node.interfaces.get(port) or Interface()
        trunks = tuple(iface.trunk or ())
        if iface.type == "bond":
            mode = OVS_BOND_MODES.get(iface.mode or "active-backup", iface.mode or "active-backup")
            cables = [(node_name, m) for m in iface.members] + [peers[(node_name, m)] for m in iface.members
                                                                 if (node_name, m) in peers]
            _up_before_bond(builder, [(builder.ns(n), i) for n, i in cables])
            builder.add(Phase.PORTS, OvsAddBond(
                ns, rundir=rundir, bridge=bridge.name, bond=port, members=tuple(iface.members), mode=mode,
                lacp=mode == "balance-tcp", tag=iface.vlan, trunks=trunks))
            for member in iface.members:
                no_offload(member)
            continue
        tag = DEFAULT_PVID if linux_pvid and iface.vlan is None and not trunks else iface.vlan
        builder.add(Phase.PORTS, OvsAddPort(ns, rundir=rundir, bridge=bridge.name, port=port,
                                            tag=tag, trunks=trunks))
        no_offload(port)
    for op in offloads:
        builder.add(Phase.PORTS, op)
    if any(i.all_addresses() for i in node.interfaces.values()):
        _silence_ports(builder, ns, node, bridge)
    if flows:
        table = list(flows)
        if controller is None and not any(_is_priority_zero(flow) for flow in flows):
            table.append(NORMAL_FLOW)  # what a new bridge has: the file's flows come on top of it
        builder.add(Phase.PORTS, OvsReplaceFlows(ns, rundir=rundir, bridge=bridge.name, flows=tuple(table)))
    if controller == "builtin":
        builder.add(Phase.PROCESSES, RunService(ns, node=node_name, command=BUILTIN_CONTROLLER_COMMAND))


def _up_before_bond(builder: PlanBuilder, ends: list[tuple[str, str]]) -> None:
    """Moves the link-up of a bond's members and of their cables' far ends
    (``(netns, ifname)``) from the link-up phase to right here, before the
    bond is added to OVS.

    OVS marks a member that gains carrier after it joined the bond as
    LACP-expired, and then waits for the partner's next periodic LACPDU — a
    second at the fast rate — before it enables the member: added while
    down, a bond dropped every packet for up to 1 s after ``up`` (3 runs in
    12). Added with carrier, the members negotiate in the first exchange."""
    wanted = set(ends)
    link_up = builder.phases[Phase.LINK_UP]
    raised = [op for op in link_up if isinstance(op, SetLinkState) and op.up and (op.netns, op.ifname) in wanted]
    builder.phases[Phase.LINK_UP] = [op for op in link_up if op not in raised]
    for op in raised:
        builder.add(Phase.PORTS, op)


def _silence_ports(builder: PlanBuilder, ns: str, node: Node, bridge: BridgeView) -> None:
    """Keeps the node's own IP stack off its OVS ports.

    The userspace datapath reads a port's frames with a packet socket, so the
    kernel still sees them too, and would answer ARP for the node's addresses
    (on vmbr0 or vmbr0.20) from the port itself, with the port's MAC: a peer
    that believes that answer talks past the bridge. ``arp_ignore=8`` makes
    the port answer no ARP at all; without IPv6 in the file the node has
    none anywhere (compile/nodes.py), with it the port gets none."""
    from vnetlab.compile.nodes import node_has_ipv6

    ports = []
    for port in bridge.ports:
        iface = node.interfaces.get(port) or Interface()
        ports += list(iface.members) if iface.type == "bond" else [port]
    for port in ports:
        builder.add(Phase.PORTS, SetSysctl(ns, key=f"net.ipv4.conf.{port}.arp_ignore", value="8"))
        if node_has_ipv6(node):
            builder.add(Phase.PORTS, SetSysctl(ns, key=f"net.ipv6.conf.{port}.disable_ipv6", value="1"))


def _is_priority_zero(flow: str) -> bool:
    fields = flow.replace(" ", ",").split(",")
    return "priority=0" in fields
