"""``vnetlab sockets``: what ``ss -tuapn`` shows inside a node, from sock_diag.

The TCP and UDP sockets (IPv4 and IPv6) of a namespace come from one
sock_diag netlink socket opened with the calling thread inside that
namespace — the kernel answers for the namespace the netlink socket lives
in. Each socket's owner is found as ``ss -p`` does, by matching the socket's
inode against the ``/proc/PID/fd`` links of processes: first those whose
``/proc/PID/ns/net`` is the node's namespace, then ``extra_pids`` (a lab's
supervisor holds its listeners from outside the node), then every other
process, for sockets still unowned (a socket may be passed to, or opened by,
a process in another namespace).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import socket
from typing import Iterable, Optional

from vnetlab.host import netns

# Kernel TCP states (include/net/tcp_states.h), named as ss names them.
TCP_STATES = {
    1: "ESTAB", 2: "SYN-SENT", 3: "SYN-RECV", 4: "FIN-WAIT-1", 5: "FIN-WAIT-2", 6: "TIME-WAIT",
    7: "UNCONN", 8: "CLOSE-WAIT", 9: "LAST-ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW-SYN-RECV",
}
ALL_STATES = 0xFFF


@dataclasses.dataclass(frozen=True)
class Owner:
    """A process holding a socket: its pid, command name and descriptor."""

    pid: int
    command: str
    fd: int

    def __str__(self) -> str:
        return f'("{self.command}",pid={self.pid},fd={self.fd})'


@dataclasses.dataclass(frozen=True)
class SocketInfo:
    """One socket as ``ss`` shows it."""

    proto: str  # tcp | udp
    family: int  # 4 | 6
    state: str
    local: str
    local_port: int
    peer: str
    peer_port: int
    recv_q: int
    send_q: int
    inode: int
    uid: int
    owners: tuple[Owner, ...] = ()

    @property
    def listening(self) -> bool:
        """A TCP listener or an unconnected UDP socket."""
        return self.state in ("LISTEN", "UNCONN")

    @staticmethod
    def endpoint(address: str, port: int) -> str:
        """``ip:port``, ``[v6]:port``, ``*:port`` for the wildcard address."""
        if address in ("0.0.0.0", "::"):
            host = "*"
        elif ":" in address:
            host = f"[{address}]"
        else:
            host = address
        return f"{host}:{port if port else '*'}"

    def to_dict(self) -> dict:
        """Plain data for ``--json``."""
        data = dataclasses.asdict(self)
        data["owners"] = [dataclasses.asdict(o) for o in self.owners]
        return data


def _from_message(msg, proto: str) -> SocketInfo:
    family = 6 if msg["idiag_family"] == socket.AF_INET6 else 4
    local, peer = msg["idiag_src"], msg["idiag_dst"]
    if family == 6:  # a dual-stack socket's v4-mapped peer reads better as v4
        local, peer = (_unmap(a) for a in (local, peer))
    return SocketInfo(
        proto=proto, family=family, state=TCP_STATES.get(msg["idiag_state"], str(msg["idiag_state"])),
        local=local, local_port=msg["idiag_sport"], peer=peer, peer_port=msg["idiag_dport"],
        recv_q=msg["idiag_rqueue"], send_q=msg["idiag_wqueue"], inode=msg["idiag_inode"], uid=msg["idiag_uid"],
    )


def _unmap(address: str) -> str:
    try:
        mapped = ipaddress.IPv6Address(address).ipv4_mapped
    except ValueError:
        return address
    return str(mapped) if mapped is not None else address


def read_sockets(netns_name: Optional[str]) -> list[SocketInfo]:
    """Every TCP and UDP socket (v4 and v6) of a namespace (None: our own), without owners.

    Raises:
        OSError: the namespace does not exist.
    """
    from pyroute2.netlink.diag import DiagSocket

    if netns_name is None:
        diag = DiagSocket()
    else:
        with netns.entered(netns_name):
            diag = DiagSocket()
    try:
        diag.bind()
        found = []
        for proto, number in (("tcp", socket.IPPROTO_TCP), ("udp", socket.IPPROTO_UDP)):
            for family in (socket.AF_INET, socket.AF_INET6):
                for msg in diag.get_sock_stats(family=family, protocol=number, states=ALL_STATES):
                    found.append(_from_message(msg, proto))
    finally:
        diag.close()
    order = {"LISTEN": 0, "UNCONN": 0}
    return sorted(found, key=lambda s: (s.proto, order.get(s.state, 1), s.local_port, s.family, s.local,
                                        s.peer, s.peer_port))


def _namespace_inode(pid: int) -> Optional[int]:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def all_pids() -> list[int]:
    """Every process's pid, from /proc."""
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def pids_in_namespace(namespace_inode: Optional[int], pids: Optional[list[int]] = None) -> list[int]:
    """The pids (of ``pids``, default every process) whose network namespace has this inode."""
    if namespace_inode is None:
        return []
    return [p for p in (all_pids() if pids is None else pids) if _namespace_inode(p) == namespace_inode]


def _command(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except OSError:
        return "?"


def _socket_fds(pid: int) -> Iterable[tuple[int, int]]:
    """(fd, socket inode) for every socket a process holds."""
    base = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(base)
    except OSError:
        return
    for fd in fds:
        try:
            target = os.readlink(f"{base}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            yield int(fd), int(target[8:-1])


def find_owners(inodes: set[int], namespace_inode: Optional[int],
                extra_pids: Iterable[int] = ()) -> dict[int, list[Owner]]:
    """Socket inode -> the processes holding it (see the module docstring for the order searched)."""
    owners: dict[int, list[Owner]] = {}
    pids = all_pids()
    inside = pids_in_namespace(namespace_inode, pids)
    extra = [p for p in extra_pids if p not in inside]
    searched = set(inside) | set(extra)
    for group in (inside, extra, [p for p in pids if p not in searched]):
        if inodes <= owners.keys():
            break
        for pid in group:
            for fd, inode in _socket_fds(pid):
                if inode in inodes:
                    owners.setdefault(inode, []).append(Owner(pid, _command(pid), fd))
    return owners


def node_sockets(netns_name: str, extra_pids: Iterable[int] = ()) -> list[SocketInfo]:
    """The namespace's TCP and UDP sockets with their owning processes.

    Args:
        netns_name: the node's namespace.
        extra_pids: processes outside the namespace that may hold its
            sockets, searched before all others (e.g. the lab's supervisor).
    """
    found = read_sockets(netns_name)
    namespace_inode = os.stat(netns.netns_path(netns_name)).st_ino
    owners = find_owners({s.inode for s in found if s.inode}, namespace_inode, extra_pids)
    return [dataclasses.replace(s, owners=tuple(sorted(owners.get(s.inode, []), key=lambda o: (o.pid, o.fd))))
            for s in found]
