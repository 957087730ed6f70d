"""Linux L2 ops (issue 4): 802.1Q devices, bonds, VLAN-aware bridges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from vnetlab.plan.base import Op, _ip_n
from vnetlab.plan.links import DeleteLink


# -- Linux L2: 802.1Q devices, bonds, VLAN-aware bridges (issue 4) ----------
@dataclass(frozen=True)
class CreateVlan(Op):
    """An 802.1Q device IFNAME on PARENT: frames it sends carry tag VLAN_ID."""

    name: ClassVar[str] = "create_vlan"
    ifname: str = ""
    parent: str = ""
    vlan_id: int = 0

    def commands(self) -> list[list[str]]:
        return [_ip_n(self.netns) + ["link", "add", "link", self.parent, "name", self.ifname,
                                     "type", "vlan", "id", str(self.vlan_id)]]

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return DeleteLink(self.netns, ifname=self.ifname)


@dataclass(frozen=True)
class CreateBond(Op):
    """A Linux bond (link aggregation), its links checked every MIIMON ms.

    A cut cable fails over within MIIMON ms; ``lacp_rate`` only for 802.3ad."""

    name: ClassVar[str] = "create_bond"
    ifname: str = ""
    mode: str = "active-backup"
    miimon: int = 100
    lacp_rate: Optional[str] = None

    def commands(self) -> list[list[str]]:
        cmd = _ip_n(self.netns) + ["link", "add", self.ifname, "type", "bond",
                                   "mode", self.mode, "miimon", str(self.miimon)]
        if self.lacp_rate:
            cmd += ["lacp_rate", self.lacp_rate]
        return [cmd]

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return DeleteLink(self.netns, ifname=self.ifname)


@dataclass(frozen=True)
class SetBondMember(Op):
    """Makes IFNAME a member of bond BOND, down first (or frees it when BOND is None).

    The bonding driver refuses a member that is up; the bond brings it up."""

    name: ClassVar[str] = "set_bond_member"
    ifname: str = ""
    bond: Optional[str] = None

    def commands(self) -> list[list[str]]:
        if self.bond is None:
            return [_ip_n(self.netns) + ["link", "set", self.ifname, "nomaster"]]
        return [_ip_n(self.netns) + ["link", "set", self.ifname, "down"],
                _ip_n(self.netns) + ["link", "set", self.ifname, "master", self.bond]]

    def inverse(self, previous: Any = None) -> Optional[Op]:
        """``previous``: the bond IFNAME was a member of (None: none)."""
        return SetBondMember(self.netns, ifname=self.ifname, bond=previous)


@dataclass(frozen=True)
class SetBridgeVlanFiltering(Op):
    """Turns VLAN filtering of a Linux bridge on (a VLAN-aware bridge) or off."""

    name: ClassVar[str] = "bridge_vlan_filtering"
    bridge: str = ""
    on: bool = True

    def commands(self) -> list[list[str]]:
        return [_ip_n(self.netns) + ["link", "set", self.bridge, "type", "bridge",
                                     "vlan_filtering", "1" if self.on else "0"]]

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return SetBridgeVlanFiltering(self.netns, bridge=self.bridge, on=not self.on)


@dataclass(frozen=True)
class BridgeVlan(Op):
    """A VLAN on a port of a VLAN-aware bridge (or, with self, on the bridge itself).

    Tagged by default; ``pvid``/``untagged`` make it the port's untagged
    (access) VLAN; ``self`` lets the bridge device, and so BRIDGE.VID, in."""

    name: ClassVar[str] = "bridge_vlan"
    ifname: str = ""
    vid: int = 0
    pvid: bool = False
    untagged: bool = False
    self: bool = False

    def _spec(self) -> list[str]:
        spec = ["dev", self.ifname, "vid", str(self.vid)]
        if self.pvid:
            spec.append("pvid")
        if self.untagged:
            spec.append("untagged")
        if self.self:
            spec.append("self")
        return spec

    def commands(self) -> list[list[str]]:
        return [["bridge", "-n", self.netns, "vlan", "add", *self._spec()]]

    def inverse(self, previous: Any = None) -> Optional[Op]:
        """``previous``: the entry's ``(pvid, untagged)`` before; None: there was none."""
        if previous is None:
            return DeleteBridgeVlan(self.netns, ifname=self.ifname, vid=self.vid, self=self.self)
        return BridgeVlan(self.netns, ifname=self.ifname, vid=self.vid, pvid=previous[0], untagged=previous[1],
                          self=self.self)


@dataclass(frozen=True)
class DeleteBridgeVlan(BridgeVlan):
    """Removes VLAN VID from a bridge port (or, with self, from the bridge)."""

    name: ClassVar[str] = "delete_bridge_vlan"

    def _spec(self) -> list[str]:
        return ["dev", self.ifname, "vid", str(self.vid)] + (["self"] if self.self else [])

    def commands(self) -> list[list[str]]:
        return [["bridge", "-n", self.netns, "vlan", "del", *self._spec()]]

    def inverse(self, previous: Any = None) -> Optional[Op]:
        """``previous``: the removed entry's ``(pvid, untagged)``; None: there was none."""
        if previous is None:
            return None
        return BridgeVlan(self.netns, ifname=self.ifname, vid=self.vid, pvid=previous[0], untagged=previous[1],
                          self=self.self)
