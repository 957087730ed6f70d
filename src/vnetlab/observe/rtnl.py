"""Fast read-only rtnetlink dumps: links, addresses and routes of one namespace.

Drift detection and converging ``up`` read every namespace of a lab; with
pyroute2 that costs about 8 ms a namespace (its asyncio core), here about
0.5 ms: three dump requests on one raw NETLINK_ROUTE socket opened inside
the namespace, parsed with ``struct``. The result has the shape of
:func:`vnetlab.observe.snapshot.read_links` / ``read_routes``.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from typing import Any, Iterator

from vnetlab.host import netns, nlmsg
from vnetlab.errors import OperationFailed

NETLINK_ROUTE = 0
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR, RTM_NEWROUTE, RTM_GETROUTE = 16, 18, 20, 22, 24, 26
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_OPERSTATE, IFLA_LINKINFO = 1, 3, 4, 10, 16, 18
IFLA_CARRIER, IFLA_INFO_KIND = 33, 1
OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")
IFA_ADDRESS = 1
IFA_F_PERMANENT = 0x80
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
RT_TABLE_MAIN, RTN_UNICAST = 254, 1
IFF_UP = 0x1

_HDR = struct.Struct("=IHHII")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
RECV_SIZE = 1 << 20


class DumpError(OperationFailed, OSError):
    """The kernel answered a dump with an error."""


# rtnetlink's route protocols, as `ip route` names them.
ROUTE_PROTOS = {2: "kernel", 3: "boot", 4: "static", 16: "dhcp", 9: "ra", 99: "ra"}


def route_text(route: dict[str, Any], with_proto: bool = False) -> str:
    """A route read here as ``ip route`` prints it: ``default via 10.0.0.1 dev eth0``
    (and ``proto static`` with ``with_proto``; boot, the default, is not named)."""
    parts = [route["to"]]
    if route.get("via"):
        parts += ["via", route["via"]]
    if route.get("dev"):
        parts += ["dev", route["dev"]]
    proto = ROUTE_PROTOS.get(route.get("proto")) if with_proto else None
    if proto and proto != "boot":
        parts += ["proto", proto]
    return " ".join(parts)


def _dump(sock: socket.socket, msg_type: int, body: bytes, seq: int) -> Iterator[tuple[int, bytes, int, int]]:
    """(type, buffer, start, end) of every message answering one dump request."""
    sock.send(_HDR.pack(16 + len(body), msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body)
    while True:
        data = sock.recv(RECV_SIZE)
        for kind, mseq, start, end in nlmsg.walk(data):
            if mseq != seq:
                continue
            if kind == NLMSG_DONE:
                return
            if kind == NLMSG_ERROR:
                code = -struct.unpack_from("=i", data, start + 16)[0]
                if code:
                    raise DumpError(code, f"netlink dump {msg_type} failed")
                return
            yield kind, data, start, end


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode(errors="replace")


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _kind(linkinfo: bytes, name: str) -> str:
    kind_raw = nlmsg.attributes(linkinfo, 0, len(linkinfo)).get(IFLA_INFO_KIND) if linkinfo else None
    if kind_raw is None:
        return "loopback" if name == "lo" else "device"
    kind = _text(kind_raw)
    return "tap" if kind == "tun" else kind  # what vnetlab (and OVS's netdev datapath) makes


class _Dumps:
    """The socket as the request interface of :func:`vnetlab.host.tc.read` (dumps only)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def request(self, msg_type: int, flags: int, body: bytes, seq: int) -> list[tuple[int, bytes]]:
        return [(kind, data[start:end]) for kind, data, start, end in _dump(self.sock, msg_type, body, seq)]


def read(name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Links (with addresses) and main-table unicast routes of namespace ``name``."""
    links, routes, _ = read_with_qdiscs(name, qdiscs=False)
    return links, routes


def read_with_qdiscs(name: str, qdiscs: bool = True, links_only: bool = False
                     ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict]:
    """:func:`read`, and (on the same socket) ifindex -> ``host.tc.Qdiscs`` of the
    interfaces with traffic control of their own (a root qdisc, a clsact). With
    ``links_only`` the links alone (no addresses, no routes: one dump, not three)."""
    with netns.entered(name):
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    found: dict = {}
    try:
        sock.bind((0, 0))
        links: dict[int, dict[str, Any]] = {}
        for kind, data, start, end in _dump(sock, RTM_GETLINK, _IFINFO.pack(0, 0, 0, 0, 0), 1):
            if kind != RTM_NEWLINK:
                continue
            _, _, index, flags, _ = _IFINFO.unpack_from(data, start + 16)
            attrs = nlmsg.attributes(data, start + 32, end)
            ifname = _text(attrs.get(IFLA_IFNAME, b""))
            links[index] = {
                "index": index, "name": ifname, "kind": _kind(attrs.get(IFLA_LINKINFO, b""), ifname),
                "up": bool(flags & IFF_UP),
                "carrier": attrs.get(IFLA_CARRIER) == b"\x01",
                "state": OPERSTATES[attrs[IFLA_OPERSTATE][0]] if IFLA_OPERSTATE in attrs
                and attrs[IFLA_OPERSTATE][0] < len(OPERSTATES) else None,
                "mac": _mac(attrs[IFLA_ADDRESS]) if IFLA_ADDRESS in attrs else None,
                "mtu": struct.unpack("=I", attrs[IFLA_MTU])[0] if IFLA_MTU in attrs else None,
                "master_index": struct.unpack("=I", attrs[IFLA_MASTER])[0] if IFLA_MASTER in attrs else None,
                "addresses": [],
                "dynamic": [],  # those of the addresses with a lifetime (DHCP, SLAAC): not the file's
            }
        routes: list[dict[str, Any]] = []
        if not links_only:  # addresses and routes: what status and drift compare
            for kind, data, start, end in _dump(sock, RTM_GETADDR, _IFADDR.pack(0, 0, 0, 0, 0), 2):
                if kind != RTM_NEWADDR:
                    continue
                family, prefixlen, flags, _, index = _IFADDR.unpack_from(data, start + 16)
                raw = nlmsg.attributes(data, start + 24, end).get(IFA_ADDRESS)
                if raw is not None and index in links:
                    text = f"{ipaddress.ip_address(raw)}/{prefixlen}"
                    links[index]["addresses"].append(text)
                    if not flags & IFA_F_PERMANENT:  # a lifetime: a DHCP lease's, or formed by SLAAC
                        links[index]["dynamic"].append(text)
            for family in (socket.AF_INET, socket.AF_INET6):
                body = _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
                for kind, data, start, end in _dump(sock, RTM_GETROUTE, body, 3 + family):
                    if kind != RTM_NEWROUTE:
                        continue
                    fam, dst_len, _, _, table, proto, _, rtype, _ = _RTMSG.unpack_from(data, start + 16)
                    attrs = nlmsg.attributes(data, start + 28, end)
                    if RTA_TABLE in attrs:
                        table = struct.unpack("=I", attrs[RTA_TABLE])[0]
                    if table != RT_TABLE_MAIN or rtype != RTN_UNICAST:
                        continue
                    to = f"{ipaddress.ip_address(attrs[RTA_DST])}/{dst_len}" if RTA_DST in attrs else "default"
                    if fam == socket.AF_INET6 and to.startswith("fe80::"):
                        continue
                    oif = struct.unpack("=I", attrs[RTA_OIF])[0] if RTA_OIF in attrs else None
                    routes.append({
                        "to": to,
                        "via": str(ipaddress.ip_address(attrs[RTA_GATEWAY])) if RTA_GATEWAY in attrs else None,
                        "dev": links[oif]["name"] if oif in links else None,
                        "family": 6 if fam == socket.AF_INET6 else 4,
                        "proto": proto,
                    })
        if qdiscs:
            from vnetlab.host import tc

            found = {index: entry for index, entry in tc.read(_Dumps(sock)).items() if not entry.empty}
    finally:
        sock.close()
    for link in links.values():
        master = links.get(link.pop("master_index"))
        link["master"] = master["name"] if master else None
    return sorted(links.values(), key=lambda link: link["index"]), routes, found
