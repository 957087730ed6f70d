"""The real backend: applies kernel ops through in-process netlink.

One pyroute2 socket per lab namespace, opened from inside the namespace
(``setns`` on this thread, then back), never ``IPRoute(netns=...)`` (it forks
a helper per socket and silently creates missing namespaces). Each op is an
"ensure": when its effect is already there it returns None; otherwise it
returns the op that undoes exactly what it did.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import resource
import socket
from dataclasses import dataclass
from typing import Callable, Optional

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from vnetlab.executors import netns, tuntap
from vnetlab.plan import (
    AddAddress, AddRoute, CreateBridge, CreateNamespace, CreateTap, CreateVeth, DeleteAddress,
    DeleteLink, DeleteNamespace, DeleteRoute, Op, SetLinkState, SetMaster, SetSysctl,
)

IFF_UP = 0x1
IFA_F_NODAD = 0x02


@dataclass
class LinkInfo:
    """What we know of one interface; ``index`` None means 'look it up'."""

    index: Optional[int]
    up: bool = False
    master: Optional[int] = None


class Namespace:
    """A netlink socket inside one namespace, plus a cache of its links."""

    def __init__(self, name: str, fresh: bool):
        self.name = name
        with netns.entered(name):
            self.ipr = IPRoute(groups=0)  # no multicast groups: we never read events
        # A namespace we just made holds only a down loopback: skip the dump.
        self._links: Optional[dict[str, LinkInfo]] = {"lo": LinkInfo(1)} if fresh else None

    def close(self) -> None:
        """Closes the socket (the namespace lives on)."""
        self.ipr.close()

    @property
    def links(self) -> dict[str, LinkInfo]:
        """Interfaces by name, dumped once on first use."""
        if self._links is None:
            self._links = {}
            for msg in self.ipr.get_links():
                self._links[msg.get("IFLA_IFNAME")] = LinkInfo(
                    index=msg["index"], up=bool(msg["flags"] & IFF_UP), master=msg.get("IFLA_MASTER"),
                )
        return self._links

    def index(self, ifname: str) -> int:
        """The ifindex of ``ifname``; raises LookupError if absent."""
        info = self.links.get(ifname)
        if info is None:
            raise LookupError(f"no interface {ifname!r} in namespace {self.name}")
        if info.index is None:
            found = self.ipr.link_lookup(ifname=ifname)
            if not found:
                raise LookupError(f"no interface {ifname!r} in namespace {self.name}")
            info.index = found[0]
        return info.index

    def name_of(self, index: Optional[int]) -> Optional[str]:
        """The name of the interface with ``index``, if cached."""
        if index is None:
            return None
        for name, info in self.links.items():
            if self.index(name) == index:
                return name
        return None


class KernelBackend:
    """Applies ops to the running kernel."""

    def __init__(self) -> None:
        self._spaces: dict[str, Namespace] = {}
        self._fresh: set[str] = set()
        self._handlers: dict[type, Callable[[Op], Optional[Op]]] = {
            CreateNamespace: self._create_namespace,
            DeleteNamespace: self._delete_namespace,
            SetSysctl: self._sysctl,
            CreateVeth: self._create_veth,
            CreateBridge: self._create_bridge,
            CreateTap: self._create_tap,
            DeleteLink: self._delete_link,
            SetMaster: self._set_master,
            SetLinkState: self._link_state,
            AddAddress: self._add_address,
            DeleteAddress: self._delete_address,
            AddRoute: self._add_route,
            DeleteRoute: self._delete_route,
        }
        _raise_fd_limit()

    def handles(self, op: Op) -> bool:
        """Whether this backend applies ``op``."""
        return type(op) in self._handlers

    def apply(self, op: Op) -> Optional[Op]:
        """Applies one op; returns its inverse, or None if nothing changed."""
        return self._handlers[type(op)](op)

    def close(self) -> None:
        """Closes every netlink socket."""
        for space in self._spaces.values():
            space.close()
        self._spaces.clear()

    def space(self, name: str) -> Namespace:
        """The (cached) netlink session of namespace ``name``."""
        space = self._spaces.get(name)
        if space is None:
            space = self._spaces[name] = Namespace(name, fresh=name in self._fresh)
        return space

    # -- namespaces -------------------------------------------------------
    def _create_namespace(self, op: CreateNamespace) -> Optional[Op]:
        if not netns.create(op.netns):
            return None
        self._fresh.add(op.netns)
        return DeleteNamespace(op.netns)

    def _delete_namespace(self, op: DeleteNamespace) -> Optional[Op]:
        space = self._spaces.pop(op.netns, None)
        if space is not None:
            space.close()
        return CreateNamespace(op.netns) if netns.delete(op.netns) else None

    def _sysctl(self, op: SetSysctl) -> Optional[Op]:
        with netns.entered(op.netns):
            old = netns.read_sysctl(op.key)
            if old == op.value:
                return None
            netns.write_sysctl(op.key, op.value)
        return SetSysctl(op.netns, key=op.key, value=old)

    # -- devices ----------------------------------------------------------
    def _create_veth(self, op: CreateVeth) -> Optional[Op]:
        space, peer = self.space(op.netns), self.space(op.peer_netns)
        if op.ifname in space.links:
            return None
        peer_spec: dict = {"ifname": op.peer_ifname}
        attrs: dict = {}
        if op.mtu:
            attrs["mtu"] = peer_spec["mtu"] = op.mtu
        if op.mac:
            attrs["address"] = op.mac
        if op.peer_mac:
            peer_spec["address"] = op.peer_mac
        fd = netns.open_fd(op.peer_netns)
        try:
            peer_spec["net_ns_fd"] = fd
            space.ipr.link("add", ifname=op.ifname, kind="veth", peer=peer_spec, **attrs)
        finally:
            os.close(fd)
        space.links[op.ifname] = LinkInfo(None)
        peer.links[op.peer_ifname] = LinkInfo(None)
        return DeleteLink(op.netns, ifname=op.ifname)

    def _create_bridge(self, op: CreateBridge) -> Optional[Op]:
        space = self.space(op.netns)
        if op.ifname in space.links:
            return None
        attrs: dict = {"br_stp_state": 0}
        if op.mtu:
            attrs["mtu"] = op.mtu
        if op.mac:
            attrs["address"] = op.mac
        space.ipr.link("add", ifname=op.ifname, kind="bridge", **attrs)
        space.links[op.ifname] = LinkInfo(None)
        return DeleteLink(op.netns, ifname=op.ifname)

    def _create_tap(self, op: CreateTap) -> Optional[Op]:
        space = self.space(op.netns)
        if op.ifname in space.links:
            return None
        with netns.entered(op.netns):
            tuntap.create_persistent_tap(op.ifname)
        space.links[op.ifname] = LinkInfo(None)
        attrs: dict = {}
        if op.mtu:
            attrs["mtu"] = op.mtu
        if op.mac:
            attrs["address"] = op.mac
        if attrs:
            space.ipr.link("set", index=space.index(op.ifname), **attrs)
        return DeleteLink(op.netns, ifname=op.ifname)

    def _delete_link(self, op: DeleteLink) -> Optional[Op]:
        space = self.space(op.netns)
        if op.ifname not in space.links:
            return None
        try:
            space.ipr.link("del", index=space.index(op.ifname))
        except (NetlinkError, LookupError) as exc:
            if getattr(exc, "code", errno.ENODEV) != errno.ENODEV:
                raise
        del space.links[op.ifname]
        return None  # re-creating a deleted device is not an undo we offer

    # -- ports, state -----------------------------------------------------
    def _set_master(self, op: SetMaster) -> Optional[Op]:
        space = self.space(op.netns)
        info = space.links.get(op.ifname)
        if info is None:
            raise LookupError(f"no interface {op.ifname!r} in namespace {op.netns}")
        want = space.index(op.master) if op.master else None
        if info.master == want:
            return None
        previous = space.name_of(info.master)
        space.ipr.link("set", index=space.index(op.ifname), master=want or 0)
        info.master = want
        return SetMaster(op.netns, ifname=op.ifname, master=previous)

    def _link_state(self, op: SetLinkState) -> Optional[Op]:
        space = self.space(op.netns)
        info = space.links.get(op.ifname)
        if info is None:
            raise LookupError(f"no interface {op.ifname!r} in namespace {op.netns}")
        if info.up == op.up:
            return None
        space.ipr.link("set", index=space.index(op.ifname), state="up" if op.up else "down")
        info.up = op.up
        return SetLinkState(op.netns, ifname=op.ifname, up=not op.up)

    # -- addresses, routes ------------------------------------------------
    def _address_call(self, command: str, op: AddAddress | DeleteAddress) -> None:
        space = self.space(op.netns)
        iface = ipaddress.ip_interface(op.address)
        kwargs: dict = {"index": space.index(op.ifname), "address": str(iface.ip),
                        "prefixlen": iface.network.prefixlen}
        if iface.version == 6:
            kwargs["family"] = socket.AF_INET6
            if command == "add":
                kwargs["flags"] = IFA_F_NODAD  # our lab, our addresses: no duplicate to detect
        space.ipr.addr(command, **kwargs)

    def _add_address(self, op: AddAddress) -> Optional[Op]:
        try:
            self._address_call("add", op)
        except NetlinkError as exc:
            if exc.code == errno.EEXIST:
                return None
            raise
        return DeleteAddress(op.netns, ifname=op.ifname, address=op.address)

    def _delete_address(self, op: DeleteAddress) -> Optional[Op]:
        try:
            self._address_call("del", op)
        except (NetlinkError, LookupError) as exc:
            if getattr(exc, "code", errno.EADDRNOTAVAIL) in (errno.EADDRNOTAVAIL, errno.ENODEV):
                return None
            raise
        return AddAddress(op.netns, ifname=op.ifname, address=op.address)

    def _route_call(self, command: str, op: AddRoute) -> None:
        space = self.space(op.netns)
        kwargs: dict = {"family": socket.AF_INET6 if op.family == 6 else socket.AF_INET}
        if op.to != "default":
            kwargs["dst"] = op.to
        else:
            kwargs["dst"] = "::/0" if op.family == 6 else "0.0.0.0/0"
        if op.via:
            kwargs["gateway"] = op.via
        if op.dev:
            kwargs["oif"] = space.index(op.dev)
        space.ipr.route(command, **kwargs)

    def _add_route(self, op: AddRoute) -> Optional[Op]:
        try:
            self._route_call("add", op)
        except NetlinkError as exc:
            if exc.code == errno.EEXIST:
                return None
            raise
        return DeleteRoute(op.netns, to=op.to, via=op.via, dev=op.dev, family=op.family)

    def _delete_route(self, op: DeleteRoute) -> Optional[Op]:
        try:
            self._route_call("del", op)
        except (NetlinkError, LookupError) as exc:
            if getattr(exc, "code", errno.ESRCH) in (errno.ESRCH, errno.ENODEV):
                return None
            raise
        return AddRoute(op.netns, to=op.to, via=op.via, dev=op.dev, family=op.family)


def _raise_fd_limit() -> None:
    """One netlink socket per namespace: a 1,000-node lab needs more than
    the usual soft limit of 1,024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
