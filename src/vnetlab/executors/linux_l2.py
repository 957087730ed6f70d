"""Applies the Linux L2 ops (802.1Q devices, bonds, VLAN-aware bridges) by netlink.

It shares the kernel backend's per-namespace netlink sessions, so a device
made here is known to the ops that follow (enslave, up, address) without
another dump. A kernel built without the feature answers EOPNOTSUPP; that
becomes an EnvironmentProblem (exit 3) naming the missing kernel feature and
what to do instead.
"""

from __future__ import annotations

import errno
from typing import Any, Callable, Optional


from vnetlab.errors import EnvironmentProblem
from vnetlab.executors.kernel import KernelBackend
from vnetlab.host.rtnetlink import LinkInfo, Namespace
from vnetlab.plan import (
    BridgeVlan, CreateBond, CreateVlan, DeleteBridgeVlan, DeleteLink, Op, SetBondMember,
    SetBridgeVlanFiltering,
)

BOND_MODE_NUMBERS = {"balance-rr": 0, "active-backup": 1, "802.3ad": 4}
LACP_RATES = {"slow": 0, "fast": 1}
BRIDGE_VLAN_INFO_PVID = 0x2
BRIDGE_VLAN_INFO_UNTAGGED = 0x4
BRIDGE_FLAGS_SELF = 0x2
UNSUPPORTED = (errno.EOPNOTSUPP, errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT)

MISSING_8021Q = (
    "this kernel cannot make 802.1Q VLAN devices (module 8021q, CONFIG_VLAN_8021Q) — "
    "load it with 'modprobe 8021q', or use backend: ovs (or auto) for this bridge so "
    "Open vSwitch's userspace datapath tags the frames")
MISSING_BONDING = (
    "this kernel has no bonding driver (module bonding, CONFIG_BONDING) — load it with "
    "'modprobe bonding', or put the bond on a bridge with backend: ovs (or auto)")
MISSING_VLAN_FILTERING = (
    "this kernel's Linux bridge has no VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING) — "
    "use a kernel built with it, or give the VLAN-aware bridge backend: ovs (or auto)")


def _environment_problem(message: str, exc: BaseException) -> Exception:
    return EnvironmentProblem(f"{message} (kernel said: {exc})")


def _feature(message: str, call: Callable[[], Any]) -> Any:
    """Runs a netlink ``call``; 'not supported' becomes an EnvironmentProblem."""
    # Imported here: only labs that really use Linux VLANs or bonds pay for
    # loading pyroute2 (about 0.2 s of every `vnetlab up` otherwise).
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        return call()
    except NetlinkError as exc:
        if exc.code in UNSUPPORTED:
            raise _environment_problem(message, exc) from exc
        raise


class LinuxL2Backend:
    """Applies CreateVlan, CreateBond, SetBondMember, SetBridgeVlanFiltering,
    BridgeVlan and DeleteBridgeVlan through the kernel backend's sessions."""

    def __init__(self, kernel: KernelBackend):
        self.kernel = kernel
        self._handlers: dict[type, Callable[[Any], Optional[Op]]] = {
            CreateVlan: self._create_vlan,
            CreateBond: self._create_bond,
            SetBondMember: self._set_bond_member,
            SetBridgeVlanFiltering: self._vlan_filtering,
            BridgeVlan: self._bridge_vlan,
            DeleteBridgeVlan: self._delete_bridge_vlan,
        }

    def handles(self, op: Op) -> bool:
        """Whether this backend applies ``op``."""
        return type(op) in self._handlers

    def apply(self, op: Op) -> Optional[Op]:
        """Applies one op; returns its inverse, or None if nothing changed."""
        return self._handlers[type(op)](op)

    # -- devices ----------------------------------------------------------
    def _create_vlan(self, op: CreateVlan) -> Optional[Op]:
        space = self.kernel.space(op.netns)
        if op.ifname in space.links:
            return None
        parent = space.index(op.parent)
        _feature(MISSING_8021Q, lambda: space.ipr.link(
            "add", ifname=op.ifname, kind="vlan", link=parent, vlan_id=op.vlan_id))
        space.links[op.ifname] = LinkInfo(None)
        return DeleteLink(op.netns, ifname=op.ifname)

    def _create_bond(self, op: CreateBond) -> Optional[Op]:
        space = self.kernel.space(op.netns)
        if op.ifname in space.links:
            return None
        if op.mode not in BOND_MODE_NUMBERS:
            raise ValueError(f"a Linux bond cannot have mode {op.mode!r} — "
                             f"use one of {', '.join(BOND_MODE_NUMBERS)}")
        attrs: dict = {"bond_mode": BOND_MODE_NUMBERS[op.mode], "bond_miimon": op.miimon}
        if op.lacp_rate:
            attrs["bond_ad_lacp_rate"] = LACP_RATES[op.lacp_rate]
        _feature(MISSING_BONDING, lambda: space.ipr.link("add", ifname=op.ifname, kind="bond", **attrs))
        space.links[op.ifname] = LinkInfo(None)
        return DeleteLink(op.netns, ifname=op.ifname)

    def _set_bond_member(self, op: SetBondMember) -> Optional[Op]:
        space = self.kernel.space(op.netns)
        info = space.links.get(op.ifname)
        if info is None:
            raise LookupError(f"no interface {op.ifname!r} in namespace {op.netns}")
        want = space.index(op.bond) if op.bond else None
        if info.master == want:
            return None
        previous = space.name_of(info.master)
        index = space.index(op.ifname)
        if want is not None and info.up:
            space.ipr.link("set", index=index, state="down")  # the bonding driver refuses an up member
            info.up = False
        space.ipr.link("set", index=index, master=want or 0)
        info.master = want
        return SetBondMember(op.netns, ifname=op.ifname, bond=previous)

    # -- VLAN-aware bridges -----------------------------------------------
    def _vlan_filtering(self, op: SetBridgeVlanFiltering) -> Optional[Op]:
        space = self.kernel.space(op.netns)
        index = space.index(op.bridge)
        (msg,) = space.ipr.get_links(index)
        current = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA", "IFLA_BR_VLAN_FILTERING")
        if current is not None and bool(current) == op.on:
            return None
        _feature(MISSING_VLAN_FILTERING, lambda: space.ipr.link(
            "set", index=index, kind="bridge", br_vlan_filtering=1 if op.on else 0))
        return SetBridgeVlanFiltering(op.netns, bridge=op.bridge, on=not op.on)

    def _bridge_vlan(self, op: BridgeVlan) -> Optional[Op]:
        space = self.kernel.space(op.netns)
        index = space.index(op.ifname)
        want = (BRIDGE_VLAN_INFO_PVID if op.pvid else 0) | (BRIDGE_VLAN_INFO_UNTAGGED if op.untagged else 0)
        before = _vlan_flags(space, index).get(op.vid)
        if before is not None and before & (BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED) == want:
            return None
        self._vlan_call(space, "add", index, op.vid, want, op.self)
        if before is None:
            return DeleteBridgeVlan(op.netns, ifname=op.ifname, vid=op.vid, self=op.self)
        return _entry(op, before)

    def _delete_bridge_vlan(self, op: DeleteBridgeVlan) -> Optional[Op]:
        space = self.kernel.space(op.netns)
        index = space.index(op.ifname)
        before = _vlan_flags(space, index).get(op.vid)
        if before is None:
            return None
        self._vlan_call(space, "del", index, op.vid, 0, op.self)
        return _entry(op, before)

    @staticmethod
    def _vlan_call(space: Namespace, command: str, index: int, vid: int, flags: int, self_: bool) -> None:
        kwargs: dict = {"index": index, "vlan_info": {"vid": vid, "flags": flags}}
        if self_:
            kwargs["vlan_flags"] = BRIDGE_FLAGS_SELF
        _feature(MISSING_VLAN_FILTERING, lambda: space.ipr.vlan_filter(command, **kwargs))


def _entry(op: BridgeVlan, flags: int) -> BridgeVlan:
    """The BridgeVlan that restores an entry with kernel ``flags``."""
    return BridgeVlan(op.netns, ifname=op.ifname, vid=op.vid, self=op.self,
                      pvid=bool(flags & BRIDGE_VLAN_INFO_PVID),
                      untagged=bool(flags & BRIDGE_VLAN_INFO_UNTAGGED))


def _vlan_flags(space: Namespace, index: int) -> dict[int, int]:
    """VLAN id -> flags of the entries of interface ``index`` (a port's, or
    a bridge's own): what ``bridge vlan show dev IF`` lists."""
    found: dict[int, int] = {}
    for msg in space.ipr.get_vlans():
        if msg["index"] != index:
            continue
        spec = msg.get("IFLA_AF_SPEC")
        if spec is None:
            continue
        for info in spec.get_attrs("IFLA_BRIDGE_VLAN_INFO"):
            found[info["vid"]] = info["flags"]
    return found
