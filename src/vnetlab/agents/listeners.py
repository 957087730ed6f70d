"""The built-in listeners' sockets and connections (``listen: tcp/80``, ``udp/53``).

The sockets are opened inside the node's namespace and driven by the
supervisor's epoll loop (:class:`vnetlab.agents.services.Services`).
"""

from __future__ import annotations

import dataclasses
import errno
import socket

from vnetlab.agents.service_config import ServiceSpec
from vnetlab.agents.service_report import report_line
from vnetlab.host import netns


def _ipv6_enabled() -> bool:
    """Whether the current thread's namespace has IPv6 on."""
    try:
        return netns.read_sysctl("net.ipv6.conf.all.disable_ipv6") == "0"
    except OSError:
        return False


def open_listener(spec: ServiceSpec) -> socket.socket:
    """A bound, non-blocking socket for a built-in listener, opened inside its namespace.

    Dual-stack (AF_INET6, IPV6_V6ONLY off) when the namespace has IPv6 on,
    else AF_INET on 0.0.0.0.
    """
    proto, port = spec.proto_port
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    try:
        with netns.entered(spec.netns):
            families = [socket.AF_INET6, socket.AF_INET] if _ipv6_enabled() else [socket.AF_INET]
            for family in families:
                sock = socket.socket(family, kind)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    if family == socket.AF_INET6:
                        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                    sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
                    if kind == socket.SOCK_STREAM:
                        sock.listen(128)
                    sock.setblocking(False)
                    return sock
                except OSError as exc:
                    sock.close()
                    if family == socket.AF_INET6 and exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                        continue
                    raise OSError(exc.errno, f"{spec}: cannot listen: {exc.strerror}") from None
            raise OSError(errno.EAFNOSUPPORT, f"{spec}: no address family to listen on")
    except FileNotFoundError as exc:
        raise OSError(errno.ENOENT, f"namespace {spec.netns!r} does not exist") from exc


@dataclasses.dataclass
class Listener:
    spec: ServiceSpec
    sock: socket.socket

    @property
    def address(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclasses.dataclass
class Connection:
    """One accepted TCP connection: read the request, answer, close cleanly."""

    spec: ServiceSpec
    sock: socket.socket
    client: tuple[str, int]
    deadline: float
    phase: str = "read"  # read -> write -> linger
    request: bytearray = dataclasses.field(default_factory=bytearray)
    pending: bytes = b""


def http_response(spec: ServiceSpec, client: tuple[str, int]) -> bytes:
    """The built-in TCP service's whole answer."""
    body = report_line(spec.node, spec.listen or "", client)
    head = (
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body
