"""An in-memory backend for unit tests of apply and rollback (no kernel).

It models just enough — namespaces, links, masters, up state, addresses,
routes, sysctls, pumps — to give the same "ensure" answers as the kernel
backend, and can fail at step N to exercise rollback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from vnetlab.errors import OperationFailed
from vnetlab.plan import (
    AddAddress, AddRoute, CreateBridge, CreateNamespace, CreateTap, CreateVeth, DeleteAddress,
    DeleteLink, DeleteNamespace, DeleteRoute, Op, PumpFrames, RunService, SetLinkState, SetMaster, SetSysctl,
    StopPump, StopService,
)
from vnetlab.plan import (
    BridgeVlan, CreateBond, CreateVlan, DeleteBridgeVlan, SetBondMember, SetBridgeVlanFiltering,
)


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


class FakeBackend:
    """Applies ops to an in-memory model; ``fail_at`` makes the Nth apply raise."""

    def __init__(self, fail_at: Optional[int] = None):
        self.spaces: dict[str, FakeNamespace] = {}
        self.pumps: set[tuple[str, str, str, str]] = set()
        self.services: set[tuple] = set()
        self.fail_at = fail_at
        self.calls = 0

    def handles(self, op: Op) -> bool:
        """Every op type the kernel and supervisor backends know."""
        return True

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
        return DeleteNamespace(op.netns)

    def _delete_netns(self, op: DeleteNamespace) -> Optional[Op]:
        if self.spaces.pop(op.netns, None) is None:
            return None
        self.pumps = {p for p in self.pumps if op.netns not in (p[0], p[2])}
        self.services = {s for s in self.services if s[0] != op.netns}
        return CreateNamespace(op.netns)

    def _sysctl(self, op: SetSysctl) -> Optional[Op]:
        sysctls = self.spaces[op.netns].sysctls
        old = sysctls.get(op.key, "0")
        if old == op.value:
            return None
        sysctls[op.key] = op.value
        return SetSysctl(op.netns, key=op.key, value=old)

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
        return DeleteLink(op.netns, ifname=op.ifname)

    def _create_bridge(self, op: CreateBridge) -> Optional[Op]:
        return DeleteLink(op.netns, ifname=op.ifname) if self._new_link(op.netns, op.ifname) else None

    def _create_tap(self, op: CreateTap) -> Optional[Op]:
        return DeleteLink(op.netns, ifname=op.ifname) if self._new_link(op.netns, op.ifname) else None

    def _delete_link(self, op: DeleteLink) -> Optional[Op]:
        link = self.spaces[op.netns].links.pop(op.ifname, None)
        if link and "peer" in link:
            peer_ns, peer_if = link["peer"]
            self.spaces.get(peer_ns, FakeNamespace()).links.pop(peer_if, None)
        return None

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
        return SetMaster(op.netns, ifname=op.ifname, master=previous)

    def _link_state(self, op: SetLinkState) -> Optional[Op]:
        link = self.spaces[op.netns].links[op.ifname]
        if link["up"] == op.up:
            return None
        link["up"] = op.up
        return SetLinkState(op.netns, ifname=op.ifname, up=not op.up)

    def _add_address(self, op: AddAddress) -> Optional[Op]:
        key = (op.ifname, op.address)
        space = self.spaces[op.netns]
        if op.ifname not in space.links:
            raise LookupError(op.ifname)
        if key in space.addresses:
            return None
        space.addresses.add(key)
        return DeleteAddress(op.netns, ifname=op.ifname, address=op.address)

    def _delete_address(self, op: DeleteAddress) -> Optional[Op]:
        space = self.spaces[op.netns]
        if (op.ifname, op.address) not in space.addresses:
            return None
        space.addresses.discard((op.ifname, op.address))
        return AddAddress(op.netns, ifname=op.ifname, address=op.address)

    def _add_route(self, op: AddRoute) -> Optional[Op]:
        key = (op.to, op.via, op.dev, op.family)
        if key in self.spaces[op.netns].routes:
            return None
        self.spaces[op.netns].routes.add(key)
        return DeleteRoute(op.netns, to=op.to, via=op.via, dev=op.dev, family=op.family)

    def _delete_route(self, op: DeleteRoute) -> Optional[Op]:
        key = (op.to, op.via, op.dev, op.family)
        if key not in self.spaces[op.netns].routes:
            return None
        self.spaces[op.netns].routes.discard(key)
        return AddRoute(op.netns, to=op.to, via=op.via, dev=op.dev, family=op.family)

    def _pump_frames(self, op: PumpFrames) -> Optional[Op]:
        key = (op.netns, op.ifname, op.peer_netns, op.peer_ifname)
        if key in self.pumps:
            return None
        self.pumps.add(key)
        return StopPump(op.netns, ifname=op.ifname, peer_netns=op.peer_netns, peer_ifname=op.peer_ifname)

    def _stop_pump(self, op: StopPump) -> Optional[Op]:
        key = (op.netns, op.ifname, op.peer_netns, op.peer_ifname)
        if key not in self.pumps:
            return None
        self.pumps.discard(key)
        return PumpFrames(op.netns, ifname=op.ifname, peer_netns=op.peer_netns, peer_ifname=op.peer_ifname)

    def _run_service(self, op: RunService) -> Optional[Op]:
        key = (op.netns, op.node, op.listen, op.command)
        if key in self.services:
            return None
        self.services.add(key)
        return StopService(op.netns, node=op.node, listen=op.listen, command=op.command, oneshot=op.oneshot)

    def _stop_service(self, op: StopService) -> Optional[Op]:
        key = (op.netns, op.node, op.listen, op.command)
        if key not in self.services:
            return None
        self.services.discard(key)
        return RunService(op.netns, node=op.node, listen=op.listen, command=op.command, oneshot=op.oneshot)

    # -- Linux L2 (issue 4) -----------------------------------------------
    def _create_vlan(self, op: CreateVlan) -> Optional[Op]:
        if op.parent not in self.spaces[op.netns].links:
            raise LookupError(op.parent)
        return DeleteLink(op.netns, ifname=op.ifname) if self._new_link(op.netns, op.ifname) else None

    def _create_bond(self, op: CreateBond) -> Optional[Op]:
        return DeleteLink(op.netns, ifname=op.ifname) if self._new_link(op.netns, op.ifname) else None

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
        return SetBondMember(op.netns, ifname=op.ifname, bond=previous)

    def _bridge_vlan_filtering(self, op: SetBridgeVlanFiltering) -> Optional[Op]:
        link = self.spaces[op.netns].links[op.bridge]
        if link.get("vlan_filtering", False) == op.on:
            return None
        link["vlan_filtering"] = op.on
        return SetBridgeVlanFiltering(op.netns, bridge=op.bridge, on=not op.on)

    def _bridge_vlan(self, op: BridgeVlan) -> Optional[Op]:
        space = self.spaces[op.netns]
        if op.ifname not in space.links:
            raise LookupError(op.ifname)
        key, want = (op.ifname, op.vid), (op.pvid, op.untagged)
        before = space.bridge_vlans.get(key)
        if before == want:
            return None
        space.bridge_vlans[key] = want
        if before is None:
            return DeleteBridgeVlan(op.netns, ifname=op.ifname, vid=op.vid, self=op.self)
        return BridgeVlan(op.netns, ifname=op.ifname, vid=op.vid, pvid=before[0], untagged=before[1], self=op.self)

    def _delete_bridge_vlan(self, op: DeleteBridgeVlan) -> Optional[Op]:
        before = self.spaces[op.netns].bridge_vlans.pop((op.ifname, op.vid), None)
        if before is None:
            return None
        return BridgeVlan(op.netns, ifname=op.ifname, vid=op.vid, pvid=before[0], untagged=before[1], self=op.self)
