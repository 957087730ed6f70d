"""Reads the actual kernel state of a namespace back, as plain data.

Used by ``status`` and by the tests' root-namespace guard. Everything comes
from one netlink socket opened inside the namespace, plus /proc/sys read
from a thread inside it.
"""

from __future__ import annotations

import contextlib
import socket
from typing import TYPE_CHECKING, Any, Iterator, Optional

from vnetlab.host import netns

if TYPE_CHECKING:  # pyroute2 loads only when a session is opened (not for read_sysctls)
    from pyroute2 import IPRoute

RT_TABLE_MAIN = 254
SYSCTLS = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding", "net.ipv6.conf.all.disable_ipv6")


@contextlib.contextmanager
def netlink_session(name: Optional[str]) -> Iterator[IPRoute]:
    """An IPRoute socket opened inside namespace ``name`` (None: this
    thread's own), closed when the block ends."""
    from pyroute2 import IPRoute

    if name is None:
        ipr = IPRoute(groups=0)
    else:
        with netns.entered(name):
            ipr = IPRoute(groups=0)
    try:
        yield ipr
    finally:
        ipr.close()


def _kind(msg: Any) -> str:
    info = msg.get("IFLA_LINKINFO")
    kind = info.get("IFLA_INFO_KIND") if info else None
    if kind == "tun":
        data = info.get("IFLA_INFO_DATA")
        # pyroute2 decodes tun data on newer kernels only; a tap is what we make.
        if data is not None and data.get("IFLA_TUN_TYPE") == 1:
            return "tun"
        return "tap"
    return kind or ("loopback" if msg.get("IFLA_IFNAME") == "lo" else "device")


def read_links(ipr: IPRoute) -> list[dict[str, Any]]:
    """Interfaces with kind, state, MAC, MTU, master and addresses."""
    links = {}
    for msg in ipr.get_links():
        links[msg["index"]] = {
            "index": msg["index"],
            "name": msg.get("IFLA_IFNAME"),
            "kind": _kind(msg),
            "up": bool(msg["flags"] & 1),
            "carrier": msg.get("IFLA_CARRIER") == 1,
            "state": msg.get("IFLA_OPERSTATE"),
            "mac": msg.get("IFLA_ADDRESS"),
            "mtu": msg.get("IFLA_MTU"),
            "master_index": msg.get("IFLA_MASTER"),
            "addresses": [],
        }
    for msg in ipr.get_addr():
        link = links.get(msg["index"])
        if link is not None:
            link["addresses"].append(f"{msg.get('IFA_ADDRESS')}/{msg['prefixlen']}")
    for link in links.values():
        master = links.get(link.pop("master_index"))
        link["master"] = master["name"] if master else None
    return sorted(links.values(), key=lambda link: link["index"])


def read_routes(ipr: IPRoute) -> list[dict[str, Any]]:
    """Routes of the main table, both families, as ``ip route`` shows them."""
    names = {msg["index"]: msg.get("IFLA_IFNAME") for msg in ipr.get_links()}
    routes = []
    for family in (socket.AF_INET, socket.AF_INET6):
        for msg in ipr.get_routes(family=family, table=RT_TABLE_MAIN):
            if msg["type"] != 1:  # unicast only; local/broadcast live elsewhere
                continue
            dst = msg.get("RTA_DST")
            to = f"{dst}/{msg['dst_len']}" if dst else "default"
            if family == socket.AF_INET6 and to.startswith("fe80::"):
                continue
            routes.append({
                "to": to,
                "via": msg.get("RTA_GATEWAY"),
                "dev": names.get(msg.get("RTA_OIF")),
                "family": 6 if family == socket.AF_INET6 else 4,
                "proto": msg["proto"],
            })
    return routes


def read_sysctls(name: Optional[str]) -> dict[str, str]:
    """The forwarding/IPv6 switches of the namespace."""
    values = {}
    context = netns.entered(name) if name else contextlib.nullcontext()
    with context:
        for key in SYSCTLS:
            try:
                values[key] = netns.read_sysctl(key)
            except OSError:
                values[key] = "?"
    return values


def read_namespace(name: Optional[str]) -> dict[str, Any]:
    """Links, routes and sysctls of a named namespace (None: this thread's own)."""
    with netlink_session(name) as ipr:
        return {"links": read_links(ipr), "routes": read_routes(ipr), "sysctls": read_sysctls(name)}
