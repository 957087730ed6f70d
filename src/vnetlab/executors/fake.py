"""An in-memory backend for unit tests of apply and rollback (no kernel).

It handles every op type of ``vnetlab.plan`` (a unit test walks the package
to prove it) and models just enough — namespaces, links, masters, up state,
addresses, routes, sysctls, pumps, services, nftables tables, Open vSwitch
daemons, bridges, ports and flows, TX checksum offload — to give the same
"ensure" answers as the real backends. What undoes an op is the op's own
``inverse``; the fake only says what was there before. It can fail at step N
to exercise rollback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from vnetlab.errors import OperationFailed
from vnetlab.plan import (
    AddAddress, AddRoute, ApplyRuleset, BridgeVlan, ClearImpairment, CreateBond, CreateBridge, CreateMacvlan,
    CreateNamespace, CreateTap, CreateVeth, CreateVlan, DeleteAddress, DeleteBridgeVlan, DeleteLink, DeleteNamespace,
    DeleteRoute, DeleteRuleset, Op, OvsAddBond, OvsAddBridge, OvsAddPort, OvsDeleteBridge, OvsDeletePort,
    OvsReplaceFlows, PumpFrames, RemoveRunFile, RunService, SetBondMember, SetBridgeVlanFiltering, SetImpairment,
    SetLinkState, SetMaster, SetMtu, SetSysctl, SetTxChecksum, StartOvs, StopOvs, StopPump, StopService, WriteRunFile,
)

DEFAULT_SYSCTL = "0"  # what an unset sysctl reads as here
DEFAULT_MTU = 1500  # what a new interface has here


class InjectedFailure(OperationFailed, RuntimeError):
    """The failure a FakeBackend raises on purpose."""


@dataclass
class FakeNamespace:
    """One namespace's state."""

    links: dict[str, dict] = field(default_factory=lambda: {"lo": {"up": False, "master": None}})
    addresses: set[tuple[str, str]] = field(default_factory=set)
    routes: set[tuple] = field(default_factory=set)
    sysctls: dict[str, str] = field(default_factory=dict)
    # (ifname, vid) -> (pvid, untagged) of VLAN-aware bridges and their ports
    bridge_vlans: dict[tuple[str, int], tuple[bool, bool]] = field(default_factory=dict)
    rulesets: dict[tuple[str, str], ApplyRuleset] = field(default_factory=dict)  # (family, table) -> table
    tx_checksum: dict[str, bool] = field(default_factory=dict)  # ifname -> offload (absent: on)
    ovs_running: bool = False
    ovs_bridges: dict[str, OvsAddBridge] = field(default_factory=dict)
    ovs_ports: dict[tuple[str, str], Op] = field(default_factory=dict)  # (bridge, port) -> OvsAddPort/OvsAddBond
    ovs_flows: dict[str, tuple[str, ...]] = field(default_factory=dict)
    impairments: dict[str, SetImpairment] = field(default_factory=dict)  # ifname -> what it sends through


class FakeBackend:
    """Applies ops to an in-memory model; ``fail_at`` makes the Nth apply raise."""

    def __init__(self, fail_at: Optional[int] = None):
        self.spaces: dict[str, FakeNamespace] = {}
        self.pumps: set[tuple[str, str, str, str]] = set()
        self.services: set[tuple] = set()
        self.files: dict[str, str] = {}  # run-directory files: path -> text
        self.fail_at = fail_at
        self.calls = 0

    def handles(self, op: Op) -> bool:
        """Every op type (each has a ``_NAME`` method here)."""
        return hasattr(self, "_" + op.name)

    def apply(self, op: Op) -> Optional[Op]:
        """Applies ``op``; returns its inverse or None."""
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise InjectedFailure(f"injected failure at call {self.calls}")
        return getattr(self, "_" + op.name)(op)

    def _create_netns(self, op: CreateNamespace) -> Optional[Op]:
        if op.netns in self.spaces:
            return None
        self.spaces[op.netns] = FakeNamespace()
        return op.inverse()

    def _delete_netns(self, op: DeleteNamespace) -> Optional[Op]:
        if self.spaces.pop(op.netns, None) is None:
            return None
        self.pumps = {p for p in self.pumps if op.netns not in (p[0], p[2])}
        self.services = {s for s in self.services if s[0] != op.netns}
        return op.inverse()

    def _sysctl(self, op: SetSysctl) -> Optional[Op]:
        sysctls = self.spaces[op.netns].sysctls
        old = sysctls.get(op.key, DEFAULT_SYSCTL)
        if old == op.value:
            return None
        if op.value == DEFAULT_SYSCTL:
            sysctls.pop(op.key, None)  # back as it was made
        else:
            sysctls[op.key] = op.value
        return op.inverse(old)

    def _new_link(self, netns: str, ifname: str) -> bool:
        links = self.spaces[netns].links
        if ifname in links:
            return False
        links[ifname] = {"up": False, "master": None}
        return True

    def _create_veth(self, op: CreateVeth) -> Optional[Op]:
        if op.ifname in self.spaces[op.netns].links:
            return None
        if op.peer_ifname in self.spaces[op.peer_netns].links:
            raise FileExistsError(f"{op.peer_ifname} exists in {op.peer_netns}")
        self._new_link(op.netns, op.ifname)
        self._new_link(op.peer_netns, op.peer_ifname)
        self.spaces[op.netns].links[op.ifname]["peer"] = (op.peer_netns, op.peer_ifname)
        return op.inverse()

    def _create_bridge(self, op: CreateBridge) -> Optional[Op]:
        if not self._new_link(op.netns, op.ifname):
            return None
        self.spaces[op.netns].links[op.ifname]["vlan_filtering"] = False  # as the kernel makes one
        return op.inverse()

    def _create_macvlan(self, op: CreateMacvlan) -> Optional[Op]:
        if op.parent not in self.spaces[op.netns].links:
            raise LookupError(op.parent)
        return op.inverse() if self._new_link(op.netns, op.ifname) else None

    def _create_tap(self, op: CreateTap) -> Optional[Op]:
        return op.inverse() if self._new_link(op.netns, op.ifname) else None

    def _delete_link(self, op: DeleteLink) -> Optional[Op]:
        link = self.spaces[op.netns].links.pop(op.ifname, None)
        self.spaces[op.netns].impairments.pop(op.ifname, None)  # its qdiscs go with it
        if link and "peer" in link:
            peer_ns, peer_if = link["peer"]
            self.spaces.get(peer_ns, FakeNamespace()).links.pop(peer_if, None)
            self.spaces.get(peer_ns, FakeNamespace()).impairments.pop(peer_if, None)
        return op.inverse()

    def _set_master(self, op: SetMaster) -> Optional[Op]:
        link = self.spaces[op.netns].links[op.ifname]
        if op.master is not None and op.master not in self.spaces[op.netns].links:
            raise LookupError(op.master)
        if link["master"] == op.master:
            return None
        previous, link["master"] = link["master"], op.master
        space = self.spaces[op.netns]
        if op.master is not None and space.links[op.master].get("vlan_filtering"):
            space.bridge_vlans.setdefault((op.ifname, 1), (True, True))  # the kernel's default_pvid
        return op.inverse(previous)

    def _link_state(self, op: SetLinkState) -> Optional[Op]:
        link = self.spaces[op.netns].links[op.ifname]
        if link["up"] == op.up:
            return None
        link["up"] = op.up
        return op.inverse()

    def _set_mtu(self, op: SetMtu) -> Optional[Op]:
        link = self.spaces[op.netns].links[op.ifname]
        previous = link.get("mtu", DEFAULT_MTU)
        if previous == op.mtu:
            return None
        if op.mtu == DEFAULT_MTU:
            link.pop("mtu", None)  # back as it was made
        else:
            link["mtu"] = op.mtu
        return op.inverse(previous)

    def _add_address(self, op: AddAddress) -> Optional[Op]:
        key = (op.ifname, op.address)
        space = self.spaces[op.netns]
        if op.ifname not in space.links:
            raise LookupError(op.ifname)
        if key in space.addresses:
            return None
        space.addresses.add(key)
        return op.inverse()

    def _delete_address(self, op: DeleteAddress) -> Optional[Op]:
        space = self.spaces[op.netns]
        if (op.ifname, op.address) not in space.addresses:
            return None
        space.addresses.discard((op.ifname, op.address))
        return op.inverse()

    def _add_route(self, op: AddRoute) -> Optional[Op]:
        key = (op.to, op.via, op.dev, op.family)
        if key in self.spaces[op.netns].routes:
            return None
        self.spaces[op.netns].routes.add(key)
        return op.inverse()

    def _delete_route(self, op: DeleteRoute) -> Optional[Op]:
        key = (op.to, op.via, op.dev, op.family)
        if key not in self.spaces[op.netns].routes:
            return None
        self.spaces[op.netns].routes.discard(key)
        return op.inverse()

    def _pump_frames(self, op: PumpFrames) -> Optional[Op]:
        key = (op.netns, op.ifname, op.peer_netns, op.peer_ifname)
        if key in self.pumps:
            return None
        self.pumps.add(key)
        return op.inverse()

    def _stop_pump(self, op: StopPump) -> Optional[Op]:
        key = (op.netns, op.ifname, op.peer_netns, op.peer_ifname)
        if key not in self.pumps:
            return None
        self.pumps.discard(key)
        return op.inverse()

    def _run_service(self, op: RunService) -> Optional[Op]:
        key = (op.netns, op.node, op.listen, op.command)
        if key in self.services:
            return None
        self.services.add(key)
        return op.inverse()

    def _stop_service(self, op: StopService) -> Optional[Op]:
        key = (op.netns, op.node, op.listen, op.command)
        if key not in self.services:
            return None
        self.services.discard(key)
        return op.inverse()

    _run_dhcp_server = _run_service
    _run_dhcp_client = _run_service

    def _write_run_file(self, op: WriteRunFile) -> Optional[Op]:
        old = self.files.get(op.path)
        if old == op.text:
            return None
        self.files[op.path] = op.text
        return op.inverse(old)

    def _remove_run_file(self, op: RemoveRunFile) -> Optional[Op]:
        old = self.files.pop(op.path, None)
        return None if old is None else op.inverse(old)

    # -- Linux L2 (issue 4) -----------------------------------------------
    def _create_vlan(self, op: CreateVlan) -> Optional[Op]:
        if op.parent not in self.spaces[op.netns].links:
            raise LookupError(op.parent)
        return op.inverse() if self._new_link(op.netns, op.ifname) else None

    def _create_bond(self, op: CreateBond) -> Optional[Op]:
        return op.inverse() if self._new_link(op.netns, op.ifname) else None

    def _set_bond_member(self, op: SetBondMember) -> Optional[Op]:
        links = self.spaces[op.netns].links
        link = links[op.ifname]
        if op.bond is not None and op.bond not in links:
            raise LookupError(op.bond)
        if link["master"] == op.bond:
            return None
        if op.bond is not None:
            link["up"] = False
        previous, link["master"] = link["master"], op.bond
        return op.inverse(previous)

    def _bridge_vlan_filtering(self, op: SetBridgeVlanFiltering) -> Optional[Op]:
        link = self.spaces[op.netns].links[op.bridge]
        if link.get("vlan_filtering", False) == op.on:
            return None
        link["vlan_filtering"] = op.on
        return op.inverse()

    def _bridge_vlan(self, op: BridgeVlan) -> Optional[Op]:
        space = self.spaces[op.netns]
        if op.ifname not in space.links:
            raise LookupError(op.ifname)
        key, want = (op.ifname, op.vid), (op.pvid, op.untagged)
        before = space.bridge_vlans.get(key)
        if before == want:
            return None
        space.bridge_vlans[key] = want
        return op.inverse(before)

    def _delete_bridge_vlan(self, op: DeleteBridgeVlan) -> Optional[Op]:
        before = self.spaces[op.netns].bridge_vlans.pop((op.ifname, op.vid), None)
        return None if before is None else op.inverse(before)

    # -- nftables ---------------------------------------------------------
    def _apply_ruleset(self, op: ApplyRuleset) -> Optional[Op]:
        tables = self.spaces[op.netns].rulesets
        before = tables.get((op.family, op.table))
        if before is not None and op.digest and before.digest == op.digest:
            return None
        tables[(op.family, op.table)] = op
        return op.inverse(before)

    def _delete_ruleset(self, op: DeleteRuleset) -> Optional[Op]:
        before = self.spaces[op.netns].rulesets.pop((op.family, op.table), None)
        return None if before is None else op.inverse(before)

    # -- Open vSwitch -----------------------------------------------------
    def _switch(self, netns: str, bridge: Optional[str] = None) -> FakeNamespace:
        """The namespace of a running OVS (and, given ``bridge``, one that has it)."""
        space = self.spaces[netns]
        if not space.ovs_running:
            raise LookupError(f"no Open vSwitch runs in {netns}")
        if bridge is not None and bridge not in space.ovs_bridges:
            raise LookupError(f"no OVS bridge {bridge} in {netns}")
        return space

    def _start_ovs(self, op: StartOvs) -> Optional[Op]:
        space = self.spaces[op.netns]
        if space.ovs_running:
            return None
        space.ovs_running = True
        return op.inverse()

    def _stop_ovs(self, op: StopOvs) -> Optional[Op]:
        space = self.spaces[op.netns]
        if not space.ovs_running:
            return None
        space.ovs_running = False  # its database (bridges, ports, flows) stays
        return op.inverse()

    def _ovs_add_bridge(self, op: OvsAddBridge) -> Optional[Op]:
        space = self._switch(op.netns)
        before = space.ovs_bridges.get(op.bridge)
        if before == op:
            return None
        space.ovs_bridges[op.bridge] = op
        return op.inverse(before)

    def _ovs_del_bridge(self, op: OvsDeleteBridge) -> Optional[Op]:
        space = self.spaces[op.netns]
        if space.ovs_bridges.pop(op.bridge, None) is None:
            return None
        space.ovs_ports = {key: port for key, port in space.ovs_ports.items() if key[0] != op.bridge}
        space.ovs_flows.pop(op.bridge, None)
        return op.inverse()

    def _ovs_add_port(self, op: OvsAddPort) -> Optional[Op]:
        ports = self._switch(op.netns, op.bridge).ovs_ports
        before = ports.get((op.bridge, op.port))
        if before == op:
            return None
        ports[(op.bridge, op.port)] = op
        return op.inverse(before)

    def _ovs_del_port(self, op: OvsDeletePort) -> Optional[Op]:
        if self.spaces[op.netns].ovs_ports.pop((op.bridge, op.port), None) is None:
            return None
        return op.inverse()

    def _ovs_add_bond(self, op: OvsAddBond) -> Optional[Op]:
        ports = self._switch(op.netns, op.bridge).ovs_ports
        if ports.get((op.bridge, op.bond)) == op:
            return None
        ports[(op.bridge, op.bond)] = op  # a different bond there is re-made, as the OVS backend does
        return op.inverse()

    def _ovs_replace_flows(self, op: OvsReplaceFlows) -> Optional[Op]:
        flows = self._switch(op.netns, op.bridge).ovs_flows
        before = flows.get(op.bridge, ())
        if before == op.flows:
            return None
        flows[op.bridge] = op.flows
        return op.inverse(OvsReplaceFlows(op.netns, rundir=op.rundir, bridge=op.bridge, flows=before))

    def _tx_checksum(self, op: SetTxChecksum) -> Optional[Op]:
        space = self.spaces[op.netns]
        if op.ifname not in space.links:
            raise LookupError(op.ifname)
        if space.tx_checksum.get(op.ifname, True) == op.on:
            return None
        if op.on:
            space.tx_checksum.pop(op.ifname, None)  # back as it was made
        else:
            space.tx_checksum[op.ifname] = op.on
        return op.inverse()

    # -- impairments (issue 15) -------------------------------------------
    def _set_impairment(self, op: SetImpairment) -> Optional[Op]:
        space = self.spaces[op.netns]
        if op.ifname not in space.links:
            raise LookupError(op.ifname)
        before = space.impairments.get(op.ifname)
        if before == op:
            return None
        space.impairments[op.ifname] = op  # another mechanism's parts are replaced, as the real backend does
        return op.inverse(before)

    def _clear_impairment(self, op: ClearImpairment) -> Optional[Op]:
        before = self.spaces[op.netns].impairments.pop(op.ifname, None)
        return None if before is None else op.inverse(before)
