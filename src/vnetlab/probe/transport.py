"""TCP and UDP reachability probes, many at once, in-process.

Each probe's socket is created inside its source namespace (sockets keep the
namespace they were opened in) and then driven, with every other probe, by
one selector in the calling thread.

- TCP: a non-blocking connect. Connected → ``open``; refused (RST) →
  ``closed``; no answer within the timeout, or an ICMP/route error →
  ``filtered`` (the detail says which).
- UDP: a connected socket sends a small datagram. Any reply → ``open`` (its
  bytes are kept: a vnetlab built-in service's echo says which source
  address it saw); an ICMP port unreachable (ECONNREFUSED) → ``closed``;
  silence → ``filtered`` ("open|filtered": a UDP service need not answer). Linux rate-limits ICMP
  errors per destination (``net.ipv4.icmp_ratelimit``), so many probes of
  closed UDP ports on one host within a second can read as ``filtered``.

A TCP probe with ``converse`` goes one step further once connected: it sends
an HTTP/1.0 request and keeps what comes back until the server closes or
another timeout passes — how a check learns, from a vnetlab built-in
service's answer, which source address the server saw.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import heapq
import ipaddress
import os
import selectors
import socket
import time
from typing import Callable, Optional

from vnetlab.host import netns
from vnetlab.agents.service_report import parse_report

OPEN = "open"
CLOSED = "closed"
FILTERED = "filtered"

# Sockets open at once; the rest of a batch queues (file-descriptor limits).
MAX_IN_FLIGHT = 512
UDP_PAYLOAD = b"vnetlab probe\n"
HTTP_REQUEST = b"GET / HTTP/1.0\r\nHost: x\r\n\r\n"
MAX_REPLY = 65536


@dataclasses.dataclass(frozen=True)
class PortProbe:
    """Probe ``dst`` (an IP address) port ``port`` from namespace ``netns``.

    With ``converse`` (TCP), an open connection is also sent an HTTP request
    and the answer kept in :attr:`PortResult.reply`.
    """

    netns: str
    dst: str
    port: int
    converse: bool = False


@dataclasses.dataclass(frozen=True)
class PortResult:
    """The outcome of one :class:`PortProbe`: ``open``, ``closed`` or ``filtered``.

    ``reply`` holds what the server sent: a UDP reply datagram, or a
    conversing TCP probe's answer (empty otherwise).
    """

    probe: PortProbe
    state: str
    detail: str
    reply: bytes = b""


def classify_error(err: int, *, during_send: bool) -> tuple[str, str]:
    """The (state, detail) a socket error means for a port probe.

    ``during_send`` is true for errors the kernel returned straight away
    (from connect/send: a routing decision or a local firewall) rather than
    later (from an ICMP error or RST that came back).
    """
    if err == errno.ECONNREFUSED:
        return CLOSED, "refused (TCP RST)" if not during_send else "refused"
    if err == errno.ENETUNREACH:
        return FILTERED, "network unreachable (no route)" if during_send else "network unreachable (ICMP)"
    if err == errno.EHOSTUNREACH:
        return FILTERED, "host unreachable (no route)" if during_send else "host unreachable (ICMP)"
    if err in (errno.EPERM, errno.EACCES):
        return FILTERED, f"blocked by a local firewall ({os.strerror(err)})"
    if err == errno.ETIMEDOUT:
        return FILTERED, "timed out"
    return FILTERED, os.strerror(err)


def _sockaddr(dst: str, port: int) -> tuple[socket.AddressFamily, tuple]:
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range — use 1 to 65535")
    family = socket.AF_INET6 if ipaddress.ip_address(dst.split("%", 1)[0]).version == 6 else socket.AF_INET
    return family, (dst, port)


class _Batch:
    """Runs port probes: opens sockets in namespaces, waits with one selector.

    ``start`` is called with a fresh non-blocking socket and returns either a
    finished (state, detail) or None with the selector event to wait for;
    ``ready`` turns that event into (state, detail, reply); ``silence`` is
    the (state, detail) of a probe whose timeout passed. An open TCP probe
    with ``converse`` then waits, with a fresh timeout, for the answer to
    its request.
    """

    def __init__(
        self,
        probes: list[PortProbe],
        timeout: float,
        sock_type: int,
        start: Callable[[socket.socket, tuple], Optional[tuple[str, str]]],
        event: int,
        ready: Callable[[socket.socket, float], tuple[str, str, bytes]],
        silence: tuple[str, str],
    ) -> None:
        self.probes = probes
        self.timeout = timeout
        self.sock_type = sock_type
        self.start = start
        self.event = event
        self.ready = ready
        self.silence = silence
        self.results: list[Optional[PortResult]] = [None] * len(probes)
        self.addresses = [_sockaddr(p.dst, p.port) for p in probes]
        self.sockets: dict[int, socket.socket] = {}
        self.started_at: dict[int, float] = {}
        self.deadlines: list[tuple[float, int]] = []
        self.deadline_of: dict[int, float] = {}
        self.conversing: dict[int, tuple[str, str, bytearray]] = {}  # index -> (state, detail, reply so far)
        # Queue sorted by namespace so each namespace is entered once per fill.
        self.queue = collections.deque(sorted(range(len(probes)), key=lambda i: probes[i].netns))

    def finish(self, selector: selectors.BaseSelector, index: int, state: str, detail: str,
               reply: bytes = b"") -> None:
        self.results[index] = PortResult(self.probes[index], state, detail, bytes(reply))
        self.conversing.pop(index, None)
        sock = self.sockets.pop(index, None)
        if sock is not None:
            try:
                selector.unregister(sock)
            except KeyError:
                pass
            _close_abortively(sock)

    def fill(self, selector: selectors.BaseSelector) -> None:
        room = MAX_IN_FLIGHT - len(self.sockets)
        batch = [self.queue.popleft() for _ in range(min(room, len(self.queue)))]
        by_namespace: dict[str, list[int]] = collections.defaultdict(list)
        for index in batch:
            by_namespace[self.probes[index].netns].append(index)
        for name, indices in by_namespace.items():
            opened = []
            with netns.entered(name):
                for index in indices:
                    family, address = self.addresses[index]
                    sock = self.sockets[index] = socket.socket(family, self.sock_type)
                    if self.sock_type == socket.SOCK_STREAM:
                        queue_icmp_errors(sock, family)
                    opened.append((index, sock, address))
            for index, sock, address in opened:
                sock.setblocking(False)
                now = time.monotonic()
                self.started_at[index] = now
                outcome = self.start(sock, address)
                if outcome is not None:
                    self.settle(selector, index, sock, *outcome, registered=False)
                    continue
                selector.register(sock, self.event, index)
                self.wait_until(index, now + self.timeout)

    def wait_until(self, index: int, deadline: float) -> None:
        self.deadline_of[index] = deadline
        heapq.heappush(self.deadlines, (deadline, index))

    def settle(self, selector: selectors.BaseSelector, index: int, sock: socket.socket, state: str, detail: str,
               reply: bytes = b"", registered: bool = True) -> None:
        """Finishes a probe, or, for an open conversing TCP probe, sends its request."""
        if not (state == OPEN and self.sock_type == socket.SOCK_STREAM and self.probes[index].converse):
            self.finish(selector, index, state, detail, reply)
            return
        try:
            sock.send(HTTP_REQUEST)
        except OSError as exc:
            self.finish(selector, index, state, f"{detail}; request not sent: {os.strerror(exc.errno or 0)}")
            return
        self.conversing[index] = (state, detail, bytearray())
        if registered:
            selector.modify(sock, selectors.EVENT_READ, index)
        else:
            selector.register(sock, selectors.EVENT_READ, index)
        self.wait_until(index, time.monotonic() + self.timeout)

    def read_reply(self, selector: selectors.BaseSelector, index: int, sock: socket.socket) -> None:
        state, detail, reply = self.conversing[index]
        try:
            data = sock.recv(MAX_REPLY)
        except BlockingIOError:
            return
        except OSError as exc:
            self.finish(selector, index, state, f"{detail}; reply cut: {os.strerror(exc.errno or 0)}", reply)
            return
        reply += data
        if not data or len(reply) >= MAX_REPLY:
            self.finish(selector, index, state, detail, reply)

    def run(self) -> list[PortResult]:
        with selectors.DefaultSelector() as selector:
            try:
                while self.queue or self.sockets:
                    self.fill(selector)
                    now = time.monotonic()
                    while self.deadlines and self.deadlines[0][0] <= now:
                        deadline, index = heapq.heappop(self.deadlines)
                        if self.results[index] is not None or deadline != self.deadline_of[index]:
                            continue  # finished, or waiting again with a later deadline
                        if index in self.conversing:
                            state, detail, reply = self.conversing[index]
                            waited = f"no complete answer within {self.timeout:g} s"
                            self.finish(selector, index, state, f"{detail}; {waited}", reply)
                        else:
                            self.finish(selector, index, *self.silence)
                    if not self.sockets:
                        continue
                    wait = max(0.0, self.deadlines[0][0] - now) if self.deadlines else self.timeout
                    for key, _ in selector.select(wait):
                        index = key.data
                        if index in self.conversing:
                            self.read_reply(selector, index, key.fileobj)
                            continue
                        elapsed_ms = (time.monotonic() - self.started_at[index]) * 1000.0
                        self.settle(selector, index, key.fileobj, *self.ready(key.fileobj, elapsed_ms))
            finally:
                for sock in self.sockets.values():
                    sock.close()
        return [r for r in self.results if r is not None]


IP_RECVERR, IPV6_RECVERR = 11, 25  # <linux/in.h>, <linux/in6.h>; not in Python's socket module


def queue_icmp_errors(sock: socket.socket, family: int) -> None:
    """Makes an ICMP error (a ``reject`` rule's port unreachable) wake the
    probe. Over veths it can come back while connect() still holds the
    socket; the kernel then keeps it only as a soft error that wakes nobody
    (TcpExtLockDroppedIcmps), and the probe would read ``filtered`` at its
    timeout. Queued on the error queue as well, it raises POLLERR, and
    SO_ERROR returns it."""
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)


def _close_abortively(sock: socket.socket) -> None:
    """Closes with an RST for TCP, so a scan leaves no TIME_WAIT behind."""
    if sock.type == socket.SOCK_STREAM:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
    sock.close()


def _tcp_start(sock: socket.socket, address: tuple) -> Optional[tuple[str, str]]:
    err = sock.connect_ex(address)
    if err == 0:
        return OPEN, "connected"
    if err in (errno.EINPROGRESS, errno.EAGAIN):
        return None
    return classify_error(err, during_send=True)


def _tcp_ready(sock: socket.socket, elapsed_ms: float) -> tuple[str, str, bytes]:
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err == 0:
        return OPEN, f"connected in {elapsed_ms:.2f} ms", b""
    return (*classify_error(err, during_send=False), b"")


def _udp_start(sock: socket.socket, address: tuple) -> Optional[tuple[str, str]]:
    err = sock.connect_ex(address)
    if err != 0:
        return classify_error(err, during_send=True)
    try:
        sock.send(UDP_PAYLOAD)
    except OSError as exc:
        return classify_error(exc.errno or 0, during_send=True)
    return None


def _udp_ready(sock: socket.socket, elapsed_ms: float) -> tuple[str, str, bytes]:
    try:
        data = sock.recv(65535)
    except ConnectionRefusedError:
        return CLOSED, "port unreachable (ICMP)", b""
    except OSError as exc:
        return (*classify_error(exc.errno or 0, during_send=False), b"")
    report = parse_report(data)
    source = f" from vnetlab service on {report.node} ({report.listen})" if report is not None else ""
    return OPEN, f"reply of {len(data)} bytes{source} in {elapsed_ms:.2f} ms", data


def tcp_probe_many(probes: list[PortProbe], timeout: float = 1.0) -> list[PortResult]:
    """Tries a TCP connection for every probe, all in parallel.

    Args:
        probes: what to connect to, from which namespace.
        timeout: seconds each connection attempt may take.

    Returns:
        One result per probe, in the order of ``probes``: ``open`` when the
        handshake completed, ``closed`` on a RST, ``filtered`` otherwise.

    Raises:
        ValueError: a destination is not an IP address.
        OSError: a namespace does not exist.
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    batch = _Batch(
        list(probes), timeout, socket.SOCK_STREAM, _tcp_start, selectors.EVENT_WRITE, _tcp_ready,
        (FILTERED, f"no answer within {timeout:g} s"),
    )
    return batch.run()


def udp_probe_many(probes: list[PortProbe], timeout: float = 1.0) -> list[PortResult]:
    """Sends one UDP datagram for every probe and waits for any answer.

    Args:
        probes: where to send, from which namespace.
        timeout: seconds to wait for a reply or an ICMP error.

    Returns:
        One result per probe, in the order of ``probes``: ``open`` on any
        reply, ``closed`` on ICMP port unreachable, ``filtered`` otherwise
        (detail ``no reply: open|filtered`` when nothing came back).

    Raises:
        ValueError: a destination is not an IP address.
        OSError: a namespace does not exist.
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    batch = _Batch(
        list(probes), timeout, socket.SOCK_DGRAM, _udp_start, selectors.EVENT_READ, _udp_ready,
        (FILTERED, "no reply: open|filtered"),
    )
    return batch.run()
