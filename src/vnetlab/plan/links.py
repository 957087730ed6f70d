"""Ops on interfaces: veth pairs, bridges, TAPs, deletion, bridge ports, up/down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from vnetlab.plan.base import Key, Op, _ip_n


def _settings(mac: Optional[str], mtu: Optional[int]) -> list[str]:
    """``address MAC mtu N`` of ``ip link add``, each only when given."""
    return (["address", mac] if mac else []) + (["mtu", str(mtu)] if mtu else [])


@dataclass(frozen=True)
class CreateVeth(Op):
    """A veth pair made inside NETNS, its peer moved into PEER_NETNS."""

    name: ClassVar[str] = "create_veth"
    observed: ClassVar[bool] = True
    ifname: str = ""
    peer_netns: str = ""
    peer_ifname: str = ""
    mtu: Optional[int] = None
    mac: Optional[str] = None
    peer_mac: Optional[str] = None

    def commands(self) -> list[list[str]]:
        return [_ip_n(self.netns) + ["link", "add", self.ifname, *_settings(self.mac, self.mtu),
                                     "type", "veth", "peer", "name", self.peer_ifname,
                                     *_settings(self.peer_mac, self.mtu), "netns", self.peer_netns]]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("link", self.netns, self.ifname), f"veth to {self.peer_netns}:{self.peer_ifname}"),
                (("link", self.peer_netns, self.peer_ifname), f"veth to {self.netns}:{self.ifname}"))

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return DeleteLink(self.netns, ifname=self.ifname)  # takes the peer along


@dataclass(frozen=True)
class CreateBridge(Op):
    """A Linux bridge (STP off, so ports forward at once)."""

    name: ClassVar[str] = "create_bridge"
    observed: ClassVar[bool] = True
    ifname: str = ""
    mtu: Optional[int] = None
    mac: Optional[str] = None

    def commands(self) -> list[list[str]]:
        return [_ip_n(self.netns) + ["link", "add", self.ifname, *_settings(self.mac, self.mtu),
                                     "type", "bridge", "stp_state", "0"]]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("link", self.netns, self.ifname), "bridge"),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return DeleteLink(self.netns, ifname=self.ifname)


@dataclass(frozen=True)
class CreateTap(Op):
    """A persistent TAP device, like Proxmox's tap100i0 for a VM NIC."""

    name: ClassVar[str] = "create_tap"
    observed: ClassVar[bool] = True
    ifname: str = ""
    mtu: Optional[int] = None
    mac: Optional[str] = None

    def commands(self) -> list[list[str]]:
        cmds = [_ip_n(self.netns) + ["tuntap", "add", "dev", self.ifname, "mode", "tap"]]
        if self.mac:
            cmds.append(_ip_n(self.netns) + ["link", "set", self.ifname, "address", self.mac])
        if self.mtu:
            cmds.append(_ip_n(self.netns) + ["link", "set", self.ifname, "mtu", str(self.mtu)])
        return cmds

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("link", self.netns, self.ifname), "tap"),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return DeleteLink(self.netns, ifname=self.ifname)


@dataclass(frozen=True)
class CreateMacvlan(Op):
    """A macvlan device on PARENT: its own MAC address on the parent's wire (Docker's macvlan network).

    In ``bridge`` mode macvlans on one parent reach each other directly, but
    never the parent itself; ``private`` isolates them, ``vepa`` sends all
    through the switch outside, ``passthru`` gives one the parent wholesale."""

    name: ClassVar[str] = "create_macvlan"
    observed: ClassVar[bool] = True
    ifname: str = ""
    parent: str = ""
    mode: str = "bridge"
    mtu: Optional[int] = None
    mac: Optional[str] = None

    def commands(self) -> list[list[str]]:
        return [_ip_n(self.netns) + ["link", "add", self.ifname, "link", self.parent,
                                     *_settings(self.mac, self.mtu), "type", "macvlan", "mode", self.mode]]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("link", self.netns, self.ifname), f"macvlan on {self.parent}, mode {self.mode}"),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return DeleteLink(self.netns, ifname=self.ifname)


@dataclass(frozen=True)
class DeleteLink(Op):
    """Removes an interface (a veth takes its peer with it)."""

    name: ClassVar[str] = "delete_link"
    removes: ClassVar[bool] = True
    ifname: str = ""

    def commands(self) -> list[list[str]]:
        return [_ip_n(self.netns) + ["link", "del", self.ifname]]

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return None  # re-creating a deleted device is not an undo we offer


@dataclass(frozen=True)
class SetMaster(Op):
    """Makes IFNAME a port of bridge MASTER (or frees it when MASTER is None)."""

    name: ClassVar[str] = "set_master"
    observed: ClassVar[bool] = True
    ifname: str = ""
    master: Optional[str] = None

    def commands(self) -> list[list[str]]:
        if self.master is None:
            return [_ip_n(self.netns) + ["link", "set", self.ifname, "nomaster"]]
        return [_ip_n(self.netns) + ["link", "set", self.ifname, "master", self.master]]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("master", self.netns, self.ifname), self.master),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        """``previous``: the bridge IFNAME was a port of (None: none)."""
        return SetMaster(self.netns, ifname=self.ifname, master=previous)

    def is_removal(self) -> bool:
        return self.master is None  # freeing a port


@dataclass(frozen=True)
class SetLinkState(Op):
    """Brings an interface up (or down)."""

    name: ClassVar[str] = "link_state"
    observed: ClassVar[bool] = True
    ifname: str = ""
    up: bool = True

    def commands(self) -> list[list[str]]:
        return [_ip_n(self.netns) + ["link", "set", self.ifname, "up" if self.up else "down"]]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("link-state", self.netns, self.ifname), "up" if self.up else "down"),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return SetLinkState(self.netns, ifname=self.ifname, up=not self.up)


@dataclass(frozen=True)
class SetMtu(Op):
    """Sets an existing interface's MTU (``mtu`` of an interfaces file, applied at boot)."""

    name: ClassVar[str] = "set_mtu"
    observed: ClassVar[bool] = True
    ifname: str = ""
    mtu: int = 1500

    def commands(self) -> list[list[str]]:
        return [_ip_n(self.netns) + ["link", "set", self.ifname, "mtu", str(self.mtu)]]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("mtu", self.netns, self.ifname), self.mtu),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        """``previous``: the MTU before (None: unknown, no undo)."""
        return None if previous is None else SetMtu(self.netns, ifname=self.ifname, mtu=previous)
