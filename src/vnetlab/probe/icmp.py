"""Ping many destinations from many namespaces at once, in-process.

One raw ICMP socket per (source namespace, address family) is opened inside
that namespace and shared by every probe from it; the socket stays in its
namespace after the thread leaves, so one thread drives every namespace
with one selector. All echo requests go out at once (capped per source, see
:data:`MAX_OUTSTANDING_PER_SOURCE`), unanswered ones are re-sent, and replies
and ICMP errors are matched back to their probe by (identifier, sequence)
and address.

Packet building and parsing are pure functions (:func:`build_echo_request`,
:func:`parse_icmpv4`, :func:`parse_icmpv6`) so they are tested without root.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import errno
import heapq
import ipaddress
import itertools
import os
import random
import selectors
import socket
import struct
import time
from typing import Optional, Union

from vnetlab.host import netns

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

ICMP_ECHO_REPLY = 0
ICMP_DEST_UNREACH = 3
ICMP_ECHO_REQUEST = 8
ICMP_TIME_EXCEEDED = 11
ICMP6_DEST_UNREACH = 1
ICMP6_PACKET_TOO_BIG = 2
ICMP6_TIME_EXCEEDED = 3
ICMP6_ECHO_REQUEST = 128
ICMP6_ECHO_REPLY = 129

# Linux socket options that make the kernel drop, before they reach us,
# the ICMP types we never match (echo requests to this namespace, NDP ...).
SOL_RAW = 255
ICMP_FILTER = 1
ICMP6_FILTER = 1
SO_RCVBUFFORCE = 33
RECEIVE_BUFFER = 4 << 20

# How many probes one source namespace has in flight at a time. Every
# unresolved neighbour holds queued packets and a table entry; thousands at
# once overflow the kernel's neighbour table (see ping_many).
MAX_OUTSTANDING_PER_SOURCE = 256
# After a transient send failure (ENOBUFS, EAGAIN) a source pauses this long.
SEND_BACKOFF = 0.005
# Probes started at once, lab-wide. A first echo request usually waits for
# ARP/NDP, and on a big bridge one ARP request becomes a copy per port, all
# queued on the sending CPU's backlog (net.core.netdev_max_backlog, 1,000):
# two floods on a 1,000-port bridge at the same time overflow it and the
# kernel drops copies, the target's among them, which fails the check. So
# a new probe starts only while fewer than MAX_STARTING probes started less
# than START_WINDOW seconds ago are still unanswered: about 1 ms per probe
# on a 1,000-port bridge, and a slow (unreachable) target blocks nobody for
# longer than the window.
MAX_STARTING = 1
START_WINDOW = 0.004
# From this many probes on, ping_many runs two pingers on two CPUs.
SPLIT_AT = 64

PAYLOAD = b"vnetlab-probe\x00" + bytes(range(18))  # 32 bytes, like a short ping
_RECV_SIZE = 2048

# Destination-unreachable codes in words (also what `vnetlab trace` says).
UNREACH_V4 = {
    0: "network unreachable",
    1: "host unreachable",
    2: "protocol unreachable",
    3: "port unreachable",
    4: "fragmentation needed",
    5: "source route failed",
    6: "destination network unknown",
    7: "destination host unknown",
    9: "network administratively prohibited",
    10: "host administratively prohibited",
    13: "communication administratively prohibited",
}
UNREACH_V6 = {
    0: "no route to destination",
    1: "communication administratively prohibited",
    2: "beyond scope of source address",
    3: "address unreachable",
    4: "port unreachable",
    5: "source address failed ingress/egress policy",
    6: "reject route to destination",
}
# sendto errors that say "try again in a moment" rather than "cannot".
_TRANSIENT_SEND_ERRORS = (errno.EAGAIN, errno.ENOBUFS)


@dataclasses.dataclass(frozen=True)
class PingProbe:
    """Ping ``dst`` (an IPv4 or IPv6 address) from namespace ``netns``."""

    netns: str
    dst: str


@dataclasses.dataclass(frozen=True)
class PingResult:
    """The outcome of one :class:`PingProbe`."""

    probe: PingProbe
    ok: bool
    rtt_ms: Optional[float]
    detail: str


@dataclasses.dataclass(frozen=True)
class IcmpMessage:
    """An ICMP message that may answer one of our echo requests.

    ``kind`` is ``"reply"`` (an echo reply from ``src``) or ``"error"`` (an
    ICMP error sent by ``src`` that quotes our request to ``quoted_dst``;
    ``description`` says what went wrong). ``ident``/``seq`` are those of
    the echo request being answered.
    """

    kind: str
    src: IPAddress
    ident: int
    seq: int
    quoted_dst: Optional[IPAddress] = None
    description: str = ""


def inet_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build_echo_request(ident: int, seq: int, *, v6: bool = False, payload: bytes = PAYLOAD) -> bytes:
    """An ICMP (or ICMPv6) echo request message, without the IP header.

    The ICMPv4 checksum is filled in; for ICMPv6 it is left zero because the
    kernel computes it for raw ICMPv6 sockets (it covers a pseudo-header
    with the source address, which only the kernel knows for sure).
    """
    kind = ICMP6_ECHO_REQUEST if v6 else ICMP_ECHO_REQUEST
    header = struct.pack("!BBHHH", kind, 0, 0, ident & 0xFFFF, seq & 0xFFFF)
    if v6:
        return header + payload
    checksum = inet_checksum(header + payload)
    return struct.pack("!BBHHH", kind, 0, checksum, ident & 0xFFFF, seq & 0xFFFF) + payload


def describe_error(icmp_type: int, code: int, *, v6: bool) -> str:
    """A short human description of an ICMP error type/code."""
    if v6:
        if icmp_type == ICMP6_DEST_UNREACH:
            return "destination unreachable (" + UNREACH_V6.get(code, f"code {code}") + ")"
        if icmp_type == ICMP6_PACKET_TOO_BIG:
            return "packet too big"
        if icmp_type == ICMP6_TIME_EXCEEDED:
            return "hop limit exceeded in transit" if code == 0 else "fragment reassembly time exceeded"
        return f"ICMPv6 type {icmp_type} code {code}"
    if icmp_type == ICMP_DEST_UNREACH:
        return "destination unreachable (" + UNREACH_V4.get(code, f"code {code}") + ")"
    if icmp_type == ICMP_TIME_EXCEEDED:
        return "TTL exceeded in transit" if code == 0 else "fragment reassembly time exceeded"
    return f"ICMP type {icmp_type} code {code}"


def parse_icmpv4(packet: bytes) -> Optional[IcmpMessage]:
    """Parses what a raw IPv4 ICMP socket reads (IP header included).

    Returns an echo reply or an error quoting an echo request, else None.
    """
    if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != socket.IPPROTO_ICMP:
        return None
    ihl = (packet[0] & 0x0F) * 4
    icmp = packet[ihl:]
    if len(icmp) < 8:
        return None
    src = ipaddress.IPv4Address(packet[12:16])
    icmp_type, code = icmp[0], icmp[1]
    if icmp_type == ICMP_ECHO_REPLY:
        ident, seq = struct.unpack_from("!HH", icmp, 4)
        return IcmpMessage("reply", src, ident, seq)
    if icmp_type not in (ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED):
        return None
    quoted = icmp[8:]
    if len(quoted) < 20 or quoted[0] >> 4 != 4 or quoted[9] != socket.IPPROTO_ICMP:
        return None
    quoted_ihl = (quoted[0] & 0x0F) * 4
    quoted_icmp = quoted[quoted_ihl:quoted_ihl + 8]
    if len(quoted_icmp) < 8 or quoted_icmp[0] != ICMP_ECHO_REQUEST:
        return None
    ident, seq = struct.unpack_from("!HH", quoted_icmp, 4)
    return IcmpMessage(
        "error", src, ident, seq,
        quoted_dst=ipaddress.IPv4Address(quoted[16:20]),
        description=describe_error(icmp_type, code, v6=False),
    )


def parse_icmpv6(message: bytes, src: IPAddress) -> Optional[IcmpMessage]:
    """Parses what a raw ICMPv6 socket reads (no IP header) from ``src``.

    Returns an echo reply or an error quoting an echo request, else None.
    Quoted packets with IPv6 extension headers are not recognised.
    """
    if len(message) < 8:
        return None
    icmp_type, code = message[0], message[1]
    if icmp_type == ICMP6_ECHO_REPLY:
        ident, seq = struct.unpack_from("!HH", message, 4)
        return IcmpMessage("reply", src, ident, seq)
    if icmp_type not in (ICMP6_DEST_UNREACH, ICMP6_PACKET_TOO_BIG, ICMP6_TIME_EXCEEDED):
        return None
    quoted = message[8:]
    if len(quoted) < 48 or quoted[0] >> 4 != 6 or quoted[6] != socket.IPPROTO_ICMPV6:
        return None
    if quoted[40] != ICMP6_ECHO_REQUEST:
        return None
    ident, seq = struct.unpack_from("!HH", quoted, 44)
    return IcmpMessage(
        "error", src, ident, seq,
        quoted_dst=ipaddress.IPv6Address(quoted[24:40]),
        description=describe_error(icmp_type, code, v6=True),
    )


def describe_send_error(err: int) -> str:
    """Why sendto refused a probe, in words."""
    if err == errno.ENETUNREACH:
        return "network unreachable (no route)"
    if err == errno.EHOSTUNREACH:
        return "host unreachable (no route to host)"
    if err in (errno.EPERM, errno.EACCES):
        return f"sending not permitted ({os.strerror(err)}; a local firewall or a broadcast address?)"
    if err == errno.EINVAL:
        # ip_finish_output2 drops the packet with EINVAL when no neighbour
        # entry can be created: the kernel-wide table is full.
        return ("could not send (Invalid argument — the kernel's neighbour table may be full, "
                "see net.ipv4.neigh.default.gc_thresh3)")
    return f"could not send ({os.strerror(err)})"


def _address(text: str) -> IPAddress:
    """The address of a probe destination; a ``%scope`` suffix is dropped."""
    return ipaddress.ip_address(text.split("%", 1)[0])


_identifiers = itertools.count(random.randrange(0x10000))


class _Source:
    """One raw socket in one namespace, and the probes it carries."""

    def __init__(self, name: str, v6: bool) -> None:
        self.v6 = v6
        family, proto = (socket.AF_INET6, socket.IPPROTO_ICMPV6) if v6 else (socket.AF_INET, socket.IPPROTO_ICMP)
        with netns.entered(name):
            self.sock = socket.socket(family, socket.SOCK_RAW, proto)
        try:
            self.sock.setblocking(False)
            self._configure()
        except BaseException:
            self.sock.close()
            raise
        self.ident = next(_identifiers) & 0xFFFF
        self._seqs = itertools.count(random.randrange(0x10000))
        self.queue: collections.deque[int] = collections.deque()
        self.in_flight = 0
        self.paused_until = 0.0
        self.by_seq: dict[int, tuple[int, float]] = {}  # seq -> (probe index, sent at)

    def _configure(self) -> None:
        if self.v6:
            # ICMP6_FILTER: a set bit blocks that type.
            words = [0xFFFFFFFF] * 8
            for kind in (ICMP6_ECHO_REPLY, ICMP6_DEST_UNREACH, ICMP6_PACKET_TOO_BIG, ICMP6_TIME_EXCEEDED):
                words[kind >> 5] &= ~(1 << (kind & 31))
            self.sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("=8I", *words))
        else:
            passed = (1 << ICMP_ECHO_REPLY) | (1 << ICMP_DEST_UNREACH) | (1 << ICMP_TIME_EXCEEDED)
            self.sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("=I", ~passed & 0xFFFFFFFF))
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)

    def send(self, index: int, dst: str) -> float:
        """Sends one echo request for probe ``index``; returns when it was sent.

        Raises OSError from sendto.
        """
        seq = next(self._seqs) & 0xFFFF
        packet = build_echo_request(self.ident, seq, v6=self.v6)
        self.sock.sendto(packet, (dst, 0))
        sent_at = time.monotonic()
        self.by_seq[seq] = (index, sent_at)
        return sent_at

    def receive(self) -> list[tuple[IcmpMessage, float]]:
        """Everything readable now that may answer this socket's requests."""
        messages = []
        while True:
            try:
                data, addr = self.sock.recvfrom(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return messages
            now = time.monotonic()
            if self.v6:
                message = parse_icmpv6(data, _address(addr[0]))
            else:
                message = parse_icmpv4(data)
            if message is not None and message.ident == self.ident:
                messages.append((message, now))


class _Pinger:
    """The state of one :func:`ping_many` call."""

    def __init__(self, probes: list[PingProbe], timeout: float, attempts: int) -> None:
        self.probes = probes
        self.timeout = timeout
        self.attempts = attempts
        self.interval = timeout / attempts
        self.results: list[Optional[PingResult]] = [None] * len(probes)
        self.targets = [_address(p.dst) for p in probes]
        self.sources: dict[tuple[str, bool], _Source] = {}
        self.source_of: list[_Source] = []
        self.first_try: list[Optional[float]] = [None] * len(probes)
        self.first_sent: list[Optional[float]] = [None] * len(probes)
        self.sent: list[int] = [0] * len(probes)
        # (when, probe index): the next resend or the deadline of a probe.
        self.timers: list[tuple[float, int]] = []
        self.pending = len(probes)
        self.starting: collections.deque[tuple[float, int]] = collections.deque()  # (first send, index)
        self.start_blocked_until = 0.0

    def open_sources(self) -> None:
        for index, probe in enumerate(self.probes):
            key = (probe.netns, self.targets[index].version == 6)
            source = self.sources.get(key)
            if source is None:
                source = self.sources[key] = _Source(*key)
            source.queue.append(index)
            self.source_of.append(source)

    def close(self) -> None:
        for source in self.sources.values():
            source.sock.close()

    def finish(self, index: int, ok: bool, rtt_ms: Optional[float], detail: str) -> None:
        if self.results[index] is not None:
            return
        self.results[index] = PingResult(self.probes[index], ok, rtt_ms, detail)
        self.pending -= 1
        if self.first_sent[index] is not None:
            self.source_of[index].in_flight -= 1

    def may_start(self, now: float) -> bool:
        """Whether a new probe may start now (see MAX_STARTING)."""
        while self.starting and (self.results[self.starting[0][1]] is not None
                                 or now - self.starting[0][0] >= START_WINDOW):
            self.starting.popleft()
        if len(self.starting) < MAX_STARTING:
            return True
        self.start_blocked_until = self.starting[0][0] + START_WINDOW
        return False

    def fill(self, now: float) -> None:
        """Starts queued probes while each source has room."""
        for source in self.sources.values():
            if now < source.paused_until:
                continue
            while source.queue and source.in_flight < MAX_OUTSTANDING_PER_SOURCE:
                if self.first_sent[source.queue[0]] is None and not self.may_start(now):
                    return
                index = source.queue.popleft()
                if self.first_try[index] is None:
                    self.first_try[index] = now
                try:
                    sent_at = source.send(index, self.probes[index].dst)
                except OSError as exc:
                    if exc.errno in _TRANSIENT_SEND_ERRORS and now - self.first_try[index] < self.timeout:
                        source.queue.appendleft(index)
                        source.paused_until = now + SEND_BACKOFF
                        break
                    self.finish(index, False, None, describe_send_error(exc.errno or 0))
                    continue
                self.first_sent[index] = sent_at
                self.starting.append((sent_at, index))
                self.sent[index] = 1
                source.in_flight += 1
                heapq.heappush(self.timers, (sent_at + self.interval, index))

    def fire_timers(self, now: float) -> None:
        """Re-sends or gives up on probes whose timer is due."""
        while self.timers and self.timers[0][0] <= now:
            _, index = heapq.heappop(self.timers)
            if self.results[index] is not None:
                continue
            if self.sent[index] >= self.attempts:
                self.finish(index, False, None, f"no reply within {self.timeout:g} s")
                continue
            source = self.source_of[index]
            try:
                source.send(index, self.probes[index].dst)
            except OSError as exc:
                if exc.errno not in _TRANSIENT_SEND_ERRORS:
                    self.finish(index, False, None, describe_send_error(exc.errno or 0))
                    continue
            self.sent[index] += 1
            heapq.heappush(self.timers, (self.first_sent[index] + self.sent[index] * self.interval, index))

    def match(self, source: _Source, message: IcmpMessage, now: float) -> None:
        entry = source.by_seq.get(message.seq)
        if entry is None:
            return
        index, sent_at = entry
        if self.results[index] is not None:
            return
        target = self.targets[index]
        if message.kind == "reply":
            if message.src != target:
                return
            rtt_ms = (now - sent_at) * 1000.0
            self.finish(index, True, rtt_ms, f"reply from {message.src} in {rtt_ms:.2f} ms")
        elif message.quoted_dst == target:
            self.finish(index, False, None, f"{message.description} from {message.src}")

    def next_wakeup(self, now: float) -> float:
        wakeups = [self.timers[0][0]] if self.timers else []
        wakeups += [s.paused_until for s in self.sources.values() if s.queue and s.paused_until > now]
        if self.start_blocked_until > now and any(s.queue for s in self.sources.values()):
            wakeups.append(self.start_blocked_until)
        return max(0.0, min(wakeups) - now) if wakeups else self.interval

    def run(self) -> list[PingResult]:
        with selectors.DefaultSelector() as selector:
            for source in self.sources.values():
                selector.register(source.sock, selectors.EVENT_READ, source)
            self.fill(time.monotonic())
            while self.pending:
                now = time.monotonic()
                self.fire_timers(now)
                if not self.pending:
                    break
                for key, _ in selector.select(self.next_wakeup(now)):
                    source = key.data
                    for message, received_at in source.receive():
                        self.match(source, message, received_at)
                self.fill(time.monotonic())
        return [r for r in self.results if r is not None]


def ping_many(probes: list[PingProbe], timeout: float = 1.0, attempts: int = 2) -> list[PingResult]:
    """Pings every probe's destination from its namespace, all in parallel.

    Each probe sends up to ``attempts`` echo requests, spaced
    ``timeout / attempts`` apart, and waits at most ``timeout`` seconds from
    its first request for an echo reply from the destination (a reply to any
    of its requests counts; the first lost request is usually the one that
    waited for ARP/NDP). An ICMP error quoting a request (destination
    unreachable, TTL exceeded) or a send error (no route) ends a probe at
    once. Each source namespace has at most
    :data:`MAX_OUTSTANDING_PER_SOURCE` probes in flight; the rest queue, so
    a large batch can take longer than ``timeout``.

    Note that the kernel's neighbour (ARP/NDP) table is shared by all
    namespaces and holds ``net.ipv4.neigh.default.gc_thresh3`` (1024 by
    default) dynamic entries: pinging more distinct on-link neighbours than
    that within a few seconds fails, whatever the batching.

    Args:
        probes: what to ping, from where.
        timeout: seconds each probe waits for an answer.
        attempts: echo requests per probe (at least 1).

    Returns:
        One result per probe, in the order of ``probes``.

    Raises:
        ValueError: a destination is not an IP address, or bad arguments.
        OSError: a namespace does not exist or a raw socket cannot be opened
            (that needs CAP_NET_RAW).
    """
    if timeout <= 0 or attempts < 1:
        raise ValueError("timeout must be positive and attempts at least 1")
    if not probes:
        return []
    probes = list(probes)
    cpus = sorted(os.sched_getaffinity(0))
    if len(probes) < SPLIT_AT or len(cpus) < 2:
        return _ping(probes, timeout, attempts, None)
    # Two pingers, each in a thread pinned to its own CPU: a probe's ARP
    # flood is handled on the CPU that sent it (on that CPU's backlog), so
    # two floods at a time fit. Each source namespace stays in one pinger.
    groups: list[list[int]] = [[], []]
    side: dict[str, int] = {}
    for index, probe in enumerate(probes):
        groups[side.setdefault(probe.netns, len(side) % 2)].append(index)
    results: list[Optional[PingResult]] = [None] * len(probes)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(_ping, [probes[i] for i in group], timeout, attempts, cpu)
                   for group, cpu in zip(groups, cpus[:2])]
        for group, future in zip(groups, futures):
            for index, result in zip(group, future.result()):
                results[index] = result
    return [r for r in results if r is not None]


def _ping(probes: list[PingProbe], timeout: float, attempts: int, cpu: Optional[int]) -> list[PingResult]:
    """One pinger, on ``cpu`` (the calling thread pinned there) if given."""
    previous = None
    if cpu is not None:
        previous = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {cpu})  # pid 0: this thread only
    pinger = _Pinger(probes, timeout, attempts)
    try:
        pinger.open_sources()
        return pinger.run()
    finally:
        pinger.close()
        if previous is not None:
            os.sched_setaffinity(0, previous)
