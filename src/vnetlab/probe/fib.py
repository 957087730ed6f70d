"""The kernel's forwarding answers inside one node: routes, bridge FDB, neighbours.

A :class:`NodeView` holds one netlink socket opened inside the node's
namespace (``netns.entered`` moves only this thread; the socket stays in the
namespace). It answers what ``ip route get`` / ``ip -6 route get`` (also
``fibmatch`` and ``iif`` for forwarded packets), ``bridge fdb`` and
``ip neigh`` would, for IPv4 and IPv6 alike (the family is the address's).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from typing import Optional

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from vnetlab.host import netns

RTM_F_FIB_MATCH = 0x2000  # ip route get fibmatch: answer with the matching route itself
ROUTE_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast",
               6: "blackhole", 7: "unreachable", 8: "prohibit", 9: "throw"}
NUD_STATES = {0x01: "INCOMPLETE", 0x02: "REACHABLE", 0x04: "STALE", 0x08: "DELAY", 0x10: "PROBE",
              0x20: "FAILED", 0x40: "NOARP", 0x80: "PERMANENT"}


@dataclasses.dataclass(frozen=True)
class LinkInfo:
    """One interface of a node."""

    index: int
    name: str
    kind: str  # veth, bridge, tun, openvswitch, "" ...
    master: Optional[int]
    mac: str


@dataclasses.dataclass(frozen=True)
class RouteAnswer:
    """The kernel's FIB answer for one packet, as ``ip route get`` gives it."""

    dst: str
    ok: bool
    kind: str = "unicast"  # unicast, local, unreachable, blackhole, prohibit ...
    dev: str = ""
    via: str = ""
    prefsrc: str = ""
    matched: str = ""  # the route that matched (fibmatch): "default", "10.0.2.0/24", "fd00:2::/64"
    error: str = ""  # why there is no route (ENETUNREACH's text ...)
    iif: str = ""  # set for a forwarded packet's lookup

    forwarding_off: bool = False  # the lookup failed because the in-interface does not forward

    def describe(self) -> str:
        """``route default via 203.0.113.1 dev vmbr0`` / ``local 10.0.0.2`` / ``no route to X``."""
        if self.forwarding_off:
            family = 6 if ":" in self.dst else 4
            sysctl = "net.ipv6.conf.all.forwarding" if family == 6 else "net.ipv4.ip_forward"
            return (f"not forwarded to {self.dst}: forwarding is off on {self.iif} ({sysctl} is 0 — this node "
                    "takes in only packets for its own addresses)")
        if not self.ok:
            return f"no route to {self.dst} ({self.error})"
        if self.kind == "local":
            return f"local {self.dst} (delivered to this node)"
        if self.kind != "unicast":
            return f"route {self.matched or self.dst} is {self.kind}"
        text = f"route {self.matched or self.dst}"
        if self.via:
            text += f" via {self.via}"
        if self.dev:
            text += f" dev {self.dev}"
        return text

    def command(self, src: str = "") -> str:
        """The equivalent hand-typed ``ip route get`` (``ip -6 route get``) command."""
        parts = ["ip", "-6", "route", "get", self.dst] if _family(self.dst) == socket.AF_INET6 \
            else ["ip", "route", "get", self.dst]
        if self.iif:
            parts += ["from", src, "iif", self.iif]
        return " ".join(parts)


class NodeView:
    """Netlink queries inside one node's namespace."""

    def __init__(self, netns_name: str):
        self.netns = netns_name
        with netns.entered(netns_name):
            self._ipr = IPRoute(groups=0)
        self.links: dict[int, LinkInfo] = {}
        self.addressed: dict[int, set[int]] = {4: set(), 6: set()}  # 4 or 6 -> interfaces with such an address
        self.refresh_links()

    def close(self) -> None:
        """Closes the netlink socket."""
        self._ipr.close()

    def refresh_links(self) -> None:
        """Re-reads the node's interfaces."""
        links = {}
        for msg in self._ipr.get_links():
            kind = msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") or ""
            links[msg["index"]] = LinkInfo(msg["index"], msg.get_attr("IFLA_IFNAME"), kind,
                                           msg.get_attr("IFLA_MASTER"), msg.get_attr("IFLA_ADDRESS") or "")
        self.links = links
        addressed: dict[int, set[int]] = {4: set(), 6: set()}
        for msg in self._ipr.get_addr():  # one dump for both families
            addressed[6 if msg["family"] == socket.AF_INET6 else 4].add(msg["index"])
        self.addressed = addressed

    def by_name(self, name: str) -> Optional[LinkInfo]:
        """The interface called ``name``, if any."""
        return next((link for link in self.links.values() if link.name == name), None)

    def name_of(self, index: Optional[int]) -> str:
        """An interface's name from its index ('' when unknown)."""
        link = self.links.get(index) if index is not None else None
        return link.name if link else ""

    def bridge_of(self, ifname: str) -> Optional[LinkInfo]:
        """The Linux bridge ``ifname`` is a port of, if any."""
        link = self.by_name(ifname)
        master = self.links.get(link.master) if link and link.master else None
        return master if master is not None and master.kind == "bridge" else None

    def routes_from(self, ifname: str, family: int = 4) -> bool:
        """Whether a packet of IP version ``family`` (4 or 6) arriving on ``ifname``
        meets the IP layer of this node: the interface has an address of it (for
        IPv6 a link-local one counts: IPv6 is on there) or forwards it. A bare
        port of a switch in user space (OVS netdev) does neither; its frames
        are switched, not routed."""
        link = self.by_name(ifname)
        if link is None:
            return False
        if link.index in self.addressed[family]:
            return True
        with netns.entered(self.netns):
            try:
                return netns.read_sysctl(f"net.ipv{family}.conf.{ifname}.forwarding") == "1"
            except OSError:
                return False

    def _forwards(self, ifname: str, family: int) -> bool:
        version = 6 if family == socket.AF_INET6 else 4
        with netns.entered(self.netns):
            try:
                return netns.read_sysctl(f"net.ipv{version}.conf.{ifname}.forwarding") == "1"
            except OSError:
                return True  # unknown: do not blame forwarding

    def _routable(self, dst: str) -> bool:
        """Whether this node's own lookup (as if it sent the packet itself) finds a route to ``dst``."""
        try:
            self._ipr.route("get", dst=dst, family=_family(dst))
        except NetlinkError:
            return False
        return True

    def route_get(self, dst: str, src: str = "", iif: str = "") -> RouteAnswer:
        """The FIB answer for a packet to ``dst``; with ``iif`` (and ``src``)
        for a packet that arrived on ``iif`` (``ip route get D from S iif I``).
        An IPv6 ``dst`` asks the IPv6 FIB (``ip -6 route get``)."""
        kwargs: dict = {"dst": dst, "family": _family(dst)}
        if iif:
            link = self.by_name(iif)
            if link is None:
                return RouteAnswer(dst, False, error=f"no interface {iif}", iif=iif)
            kwargs.update(iif=link.index, src=src)
        try:
            answer = self._ipr.route("get", **kwargs)[0]
        except NetlinkError as exc:
            error = exc.args[1] if len(exc.args) > 1 else str(exc)
            # A router with forwarding off answers a forwarded packet's lookup with
            # "no route to host" although it has the route: say what really stops it.
            off = bool(iif) and not self._forwards(iif, kwargs["family"]) and self._routable(dst)
            return RouteAnswer(dst, False, kind="unreachable", error=error, iif=iif, forwarding_off=off)
        kind = ROUTE_TYPES.get(answer["type"], str(answer["type"]))
        matched = ""
        try:
            fib = self._ipr.route("get", flags=RTM_F_FIB_MATCH, **kwargs)[0]
            prefix = fib.get_attr("RTA_DST")
            matched = f"{prefix}/{fib['dst_len']}" if prefix else "default"
        except NetlinkError:
            pass
        if kind == "local":
            matched = ""
        return RouteAnswer(
            dst, kind in ("unicast", "local"), kind=kind, dev=self.name_of(answer.get_attr("RTA_OIF")),
            via=answer.get_attr("RTA_GATEWAY") or "", prefsrc=answer.get_attr("RTA_PREFSRC") or "",
            matched=matched, iif=iif, error="" if kind in ("unicast", "local") else kind,
        )

    def fdb(self, bridge: LinkInfo) -> dict[str, str]:
        """The bridge's forwarding database: MAC -> port name (``bridge fdb show br B``)."""
        table = {}
        for msg in self._ipr.get_neighbours(family=socket.AF_BRIDGE):
            mac = msg.get_attr("NDA_LLADDR")
            port = self.links.get(msg["ifindex"])
            if mac and port is not None and port.master == bridge.index and port.index != bridge.index:
                table[mac.lower()] = port.name
        return table

    def neighbour(self, ip: str) -> Optional[str]:
        """The neighbour-table state of ``ip`` (REACHABLE, FAILED, INCOMPLETE ...), None if absent."""
        for msg in self._ipr.get_neighbours(family=_family(ip)):
            if msg.get_attr("NDA_DST") == ip:
                state = msg["state"]
                return "|".join(name for bit, name in NUD_STATES.items() if state & bit) or str(state)
        return None


def _family(address: str) -> int:
    """AF_INET or AF_INET6 for an address."""
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
