"""rtnetlink on the wire: the messages, one raw socket per namespace, errors.

The kernel backend (``executors/kernel.py``) packs its requests with the
structs and helpers here and sends them through a :class:`Namespace`: one raw
``NETLINK_ROUTE`` socket opened from inside the namespace (``setns`` on this
thread, then back; never ``IPRoute(netns=...)``, which forks a helper per
socket and silently creates missing namespaces), with a cache of the
namespace's links. Nothing here knows about plans or ops.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from dataclasses import dataclass
from typing import Callable, Optional

from vnetlab.errors import OperationFailed
from vnetlab.host import netns, nlmsg

IFF_UP = 0x1
IFA_F_NODAD = 0x02

# netlink / rtnetlink constants (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h)
NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x200, 0x400, 0x300
NLM_F_ACK_TLVS = 0x200  # in an NLMSG_ERROR: extended-ACK attributes follow
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLMSGERR_ATTR_MSG = 1
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR = 20, 21
RTM_NEWROUTE, RTM_DELROUTE = 24, 25
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 4, 5, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFLA_BR_STP_STATE = 5
IFLA_MACVLAN_MODE = 1
MACVLAN_MODES = {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8}  # linux/if_link.h MACVLAN_MODE_*
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
RTA_DST, RTA_OIF, RTA_GATEWAY = 1, 4, 5
RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST = 254, 3, 1
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_NOWHERE = 0, 253, 255
NLA_F_NESTED = 0x8000
SO_RCVBUFFORCE = 33  # (not exported by the socket module)

_HDR = struct.Struct("=IHHII")      # nlmsghdr
_IFI = struct.Struct("=BxHiII")     # ifinfomsg
_IFA = struct.Struct("=BBBBI")      # ifaddrmsg
_RTM = struct.Struct("=BBBBBBBBI")  # rtmsg
_RTA = struct.Struct("=HH")         # rtattr
_U32 = struct.Struct("=I")

CHUNK = 256           # messages per send at most (their ACKs must fit the receive buffer)
RCVBUF = 8 << 20      # bytes; SO_RCVBUFFORCE as root
RECV_SIZE = 1 << 18


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return _RTA.pack(length, kind) + payload + b"\0" * (-length % 4)


def _name(value: str) -> bytes:
    return value.encode() + b"\0"


def _mac(value: str) -> bytes:
    return bytes(int(part, 16) for part in value.split(":"))


class NetlinkError(OperationFailed, OSError):
    """The kernel refused a request (errno and, when it says, why)."""

    def __init__(self, code: int, message: str = ""):
        text = os.strerror(code) + (f" ({message})" if message else "")
        super().__init__(code, text)
        self.code = code


@dataclass
class LinkInfo:
    """What we know of one interface; ``index`` None means 'look it up'."""

    index: Optional[int]
    up: bool = False
    master: Optional[int] = None


class Namespace:
    """A raw netlink socket inside one namespace, plus a cache of its links.

    The socket and the namespace fd are opened on first use and may be
    released between uses (:meth:`release`): a lab of 10,000 namespaces
    cannot keep two descriptors open for each. The link cache stays."""

    def __init__(self, name: str, fresh: bool, sock: Optional[socket.socket] = None):
        """``sock``: a netlink socket already opened inside the namespace."""
        self.name = name
        self._sock: Optional[socket.socket] = None
        if sock is not None:
            self._sock = _configured(sock)
        self.fd: Optional[int] = None  # the namespace itself, for IFLA_NET_NS_FD
        # A namespace we just made holds only a down loopback: skip the dump.
        self._links: Optional[dict[str, LinkInfo]] = {"lo": LinkInfo(1)} if fresh else None
        self._next_index = 2 if fresh else 0
        self.auto_index = False  # True once others make devices here: the kernel picks indexes
        self._ipr = None
        self.before_request: Callable[[], None] = lambda: None  # sends what is queued first
        self.fd_count: Callable[[int], None] = lambda delta: None  # namespace fds opened (+1) / closed (-1)

    @property
    def ipr(self):  # noqa: ANN201 — pyroute2.IPRoute, imported only when used
        """A pyroute2 IPRoute in this namespace, for backends that use the
        library (made on first use). Devices it creates get indexes the
        kernel picks, so from then on this namespace lets the kernel pick."""
        if self._ipr is None:
            from pyroute2 import IPRoute

            self.before_request()
            with netns.entered(self.name):
                self._ipr = IPRoute(groups=0)  # no multicast groups: we never read events
        self._next_index = 0
        self.auto_index = True
        return self._ipr

    @property
    def sock(self) -> socket.socket:
        """The namespace's netlink socket (opened inside it when released)."""
        if self._sock is None:
            if self.fd is not None:
                with netns.entered_fd(self.fd):
                    sock = _netlink_socket()
            else:
                with netns.entered(self.name):
                    sock = _netlink_socket()
            self._sock = _configured(sock)
        return self._sock

    def release(self) -> None:
        """Closes the netlink socket and the namespace fd; the next use reopens them."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            self.fd_count(-1)

    def close(self) -> None:
        """Closes the sockets (the namespace lives on)."""
        self.release()
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    def ns_fd(self) -> int:
        """An fd of the namespace (kept open until release)."""
        if self.fd is None:
            self.fd = _move_high(netns.open_fd(self.name))
            self.fd_count(1)
        return self.fd

    def forget(self) -> None:
        """Drops the cache (after a failure it may be wrong); the next use dumps."""
        self._links = None
        self._next_index = 0

    # -- synchronous requests (dumps, lookups) ----------------------------
    def request(self, msg_type: int, flags: int, body: bytes, seq: int) -> list[tuple[int, bytes]]:
        """Sends one request and returns the (type, message) replies until the
        ACK or NLMSG_DONE; raises NetlinkError on an error reply."""
        self.before_request()
        self.sock.send(_HDR.pack(16 + len(body), msg_type, flags | NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body)
        replies: list[tuple[int, bytes]] = []
        while True:
            data = self.sock.recv(RECV_SIZE)
            for kind, mseq, start, end in nlmsg.walk(data):
                msg = data[start:end]
                if mseq != seq:
                    continue  # a late ACK of something else: not ours to read here
                if kind == NLMSG_DONE:
                    return replies
                if kind == NLMSG_ERROR:
                    code, message = _parse_error(msg)
                    if code:
                        raise NetlinkError(code, message)
                    return replies
                replies.append((kind, msg))

    @property
    def links(self) -> dict[str, LinkInfo]:
        """Interfaces by name, dumped once on first use."""
        if self._links is None:
            self._links = {}
            top = 1
            for kind, msg in self.request(RTM_GETLINK, NLM_F_DUMP, _IFI.pack(0, 0, 0, 0, 0), _next_seq()):
                if kind != RTM_NEWLINK:
                    continue
                _, _, index, flags, _ = _IFI.unpack_from(msg, 16)
                attrs = nlmsg.attributes(msg, 32)
                name = attrs.get(IFLA_IFNAME, b"").rstrip(b"\0").decode()
                master = _U32.unpack(attrs[IFLA_MASTER])[0] if IFLA_MASTER in attrs else None
                self._links[name] = LinkInfo(index=index, up=bool(flags & IFF_UP), master=master or None)
                top = max(top, index)
            self._next_index = 0 if self.auto_index else top + 1
        return self._links

    def new_index(self) -> int:
        """An interface index free in this namespace (0: let the kernel pick)."""
        if self._next_index <= 0:
            return 0
        index = self._next_index
        self._next_index += 1
        return index

    def index(self, ifname: str) -> int:
        """The ifindex of ``ifname``; raises LookupError if absent."""
        info = self.links.get(ifname)
        if info is None:
            raise LookupError(f"no interface {ifname!r} in namespace {self.name}")
        if info.index is None:
            try:
                replies = self.request(RTM_GETLINK, 0, _IFI.pack(0, 0, 0, 0, 0) + _attr(IFLA_IFNAME, _name(ifname)),
                                       _next_seq())
            except NetlinkError as exc:
                raise LookupError(f"no interface {ifname!r} in namespace {self.name}") from exc
            _, _, info.index, _, _ = _IFI.unpack_from(replies[0][1], 16)
        return info.index

    def name_of(self, index: Optional[int]) -> Optional[str]:
        """The name of the interface with ``index``, if cached."""
        if index is None:
            return None
        for name, info in self.links.items():
            if self.index(name) == index:
                return name
        return None


HIGH_FD = 1024


def _move_high(fd: int) -> int:
    """``fd`` moved to a number >= HIGH_FD when the limit allows. The
    sessions' many descriptors are held here; kept above 1,023 they
    leave the low numbers to code that still uses select() (libnftables,
    which aborts on a higher fd, and our own supervisor start-up)."""
    try:
        moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, HIGH_FD)
    except OSError:
        return fd  # the limit is too low: stay where we are
    os.close(fd)
    return moved


def _netlink_socket() -> socket.socket:
    """A NETLINK_ROUTE socket in the calling thread's namespace (at a high fd)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE, fileno=_move_high(sock.detach()))


def _configured(sock: socket.socket) -> socket.socket:
    """``sock`` bound, with extended ACKs and a receive buffer big enough for
    the ACKs of a CHUNK; closed if that fails."""
    try:
        sock.bind((0, 0))
        for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):
            try:
                sock.setsockopt(SOL_NETLINK, option, 1)
            except OSError:
                pass
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    except BaseException:
        sock.close()
        raise
    return sock


_seq = 0


def _next_seq() -> int:
    global _seq
    _seq = (_seq + 1) & 0xFFFFFFFF or 1
    return _seq


def _parse_error(msg: bytes) -> tuple[int, str]:
    """(errno, extended-ACK message) of an NLMSG_ERROR message."""
    (error,) = struct.unpack_from("=i", msg, 16)
    code = -error
    if not code:
        return 0, ""
    _, _, flags, _, _ = _HDR.unpack_from(msg, 0)
    text = ""
    if flags & NLM_F_ACK_TLVS:
        orig_len = _HDR.unpack_from(msg, 20)[0]
        capped = flags & 0x100  # NLM_F_CAPPED: the original payload was left out
        offset = 20 + (16 if capped else (orig_len + 3) & ~3)
        raw = nlmsg.attributes(msg, offset).get(NLMSGERR_ATTR_MSG)
        if raw:
            text = raw.rstrip(b"\0").decode(errors="replace")
    return code, text
