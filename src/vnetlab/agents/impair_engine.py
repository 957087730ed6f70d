"""The userspace impairment engine: netem's delay, jitter, loss, duplication,
corruption, reordering, rate and queue limit, for kernels without sch_netem.

How a frame gets here: the interface IF of a node has a clsact qdisc whose
egress filter (u32 match-all, ``action mirred egress redirect``) sends
everything IF transmits into a TAP of the same namespace
(:func:`vnetlab.model.impairment.tap_name`; IPv6 off, ARP off, up, so the
TAP itself never sends a frame of its own). The engine reads each frame from
the TAP's descriptor, decides its fate, and sends what survives on IF
through an AF_PACKET socket with ``PACKET_QDISC_BYPASS``: the frame skips
IF's qdiscs and the redirect and goes straight to the veth peer. IF, its
ifindex and its connections never change; :meth:`ImpairedEnd.update`
changes the impairment of a running end in place.

Two parts:

:class:`Scheduler` (pure)
    netem's enqueue and dequeue (``net/sched/sch_netem.c``) over frames as
    bytes, with the clock handed in (integer nanoseconds) and a seeded RNG,
    so every decision is reproducible in a unit test.

:class:`ImpairedEnd` (I/O)
    One per impaired end: the TAP descriptor, the AF_PACKET socket (both
    opened inside the node's namespace), a timerfd for the next due frame,
    and the scheduler. A host loop (the lab supervisor) registers
    :meth:`ImpairedEnd.fds` for reading and calls
    :meth:`ImpairedEnd.on_readable` for each that is; :func:`serve` is such a
    loop for tests and benchmarks.

Hosting ends in an epoll loop (the supervisor's ``handlers``: fd -> handler(events))::

    end = ImpairedEnd(netns, ifname, tap, impairment).open()   # raises TapError
    for fd in end.fds():
        epoll.register(fd, select.EPOLLIN)
        handlers[fd] = lambda events, fd=fd: end.on_readable(fd)   # EndGone: unregister, close
    end.update(new_impairment)   # on a reload: same (netns, ifname, tap), other impairment
    end.close()                  # removed from the config, or exiting

The loop needs no timeout of its own: the end's timerfd is among its fds.

A capture on IF (tcpdump) sees what IF receives, but not what it sends: the
redirect and ``PACKET_QDISC_BYPASS`` both come before the kernel's capture
point. With ``mark`` the engine instead sends with ``SO_MARK`` through IF's
own transmit path and the redirect is a cls_bpf filter that lets marked
frames pass (:func:`pass_marked_bpf`; this kernel's u32 cannot match marks):
the capture then sees every frame as it leaves, after the impairment, as it
would with netem. The cost is the same (benchmarks/results/impair.md).

Frames arrive already segmented and checksummed: the TAP has no offloads,
so the kernel segments GSO frames and fills in checksums in software before
it queues them (``validate_xmit_skb``), which is what per-frame loss, rate
and corruption need. When an end has nothing to do per frame — no
impairment, or a fixed delay alone — the engine turns the TAP's offloads
on (``TUNSETOFFLOAD``), reads whole 64 KiB GSO frames with their
``virtio_net_hdr``, and hands the header on to the packet socket
(``PACKET_VNET_HDR``), so the veth carries them unsegmented as a plain link
would; the header is why the TAP is attached with ``IFF_VNET_HDR``.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import dataclasses
import errno
import heapq
import os
import random
import select
import socket
import time
from statistics import NormalDist
from typing import Callable, Iterable, Optional, Sequence

from vnetlab.host import netns, tuntap
from vnetlab.model.impairment import Impairment

__all__ = ["EndGone", "ImpairedEnd", "Scheduler", "Stats", "serve", "tabledist", "percent_u32"]

# ---------------------------------------------------------------- netem's numbers

U32_MAX = 0xFFFFFFFF
NETEM_DIST_SCALE = 8192  # netem's tables hold value * 8192 as s16
DEFAULT_LIMIT = 1000  # netem's default queue length, in packets
NSEC = 1_000_000_000
_TABLE_SIZE = 4096  # entries of iproute2's normal, pareto and paretonormal tables
_S16_MIN, _S16_MAX = -32768, 32767


def percent_u32(percent: Optional[float]) -> int:
    """A share as netem holds it: tc's ``rint(percent / 100 * UINT32_MAX)``; None is 0 (off)."""
    return 0 if not percent else int(round(percent / 100 * U32_MAX))


def _clamp_s16(value: float) -> int:
    return max(_S16_MIN, min(_S16_MAX, int(round(value))))


def _normal_quantile(k: int) -> float:
    """iproute2's normal.c: entry k of the inverse CDF sampled at (4k + ½) / 16384."""
    return NormalDist().inv_cdf((4 * k + 0.5) / 16384)


def _pareto_quantile(k: int) -> float:
    """iproute2's pareto.c: a Pareto of shape 3 with mean 0, (u^-1/3 - 1.5) * 4/3, u = 1 - k/4096."""
    u = (65536 - 16 * k) / 65536
    return (1.0 / u ** (1 / 3.0) - 1.5) * (4.0 / 3.0)


def _build_tables() -> dict[str, tuple[int, ...]]:
    normal = [_clamp_s16(_normal_quantile(k) * NETEM_DIST_SCALE) for k in range(_TABLE_SIZE)]
    pareto = [min(_S16_MAX, int(round(_pareto_quantile(k) * NETEM_DIST_SCALE))) for k in range(_TABLE_SIZE)]
    # paretonormal.c: a quarter normal and three quarters Pareto, quantile by quantile
    paretonormal = [_clamp_s16(int((n + 3 * p) / 4)) for n, p in zip(normal, pareto)]
    return {"normal": tuple(normal), "pareto": tuple(pareto), "paretonormal": tuple(paretonormal)}


_TABLES: dict[str, tuple[int, ...]] = {}


def distribution_table(name: Optional[str]) -> Optional[tuple[int, ...]]:
    """netem's table for a distribution (None: uniform, netem's default, which has none)."""
    if name in (None, "uniform"):
        return None
    if not _TABLES:
        _TABLES.update(_build_tables())
    return _TABLES[name]


def tabledist(mu: int, sigma: int, rnd: int, table: Optional[Sequence[int]]) -> int:
    """netem's ``tabledist``: a delay around ``mu`` spread by ``sigma`` (both ns), from one
    32-bit random number. Uniform over [mu - sigma, mu + sigma) without a table; with
    one, mu + sigma * t for the table's value t (in sigmas, scaled by 8192), rounded as
    netem does."""
    if sigma == 0:
        return mu
    if table is None:
        return (rnd % (2 * sigma)) + mu - sigma
    t = table[rnd % len(table)]
    x = (sigma % NETEM_DIST_SCALE) * t
    x += NETEM_DIST_SCALE // 2 if x >= 0 else -(NETEM_DIST_SCALE // 2)
    quotient = abs(x) // NETEM_DIST_SCALE  # C's division truncates toward zero
    return (quotient if x >= 0 else -quotient) + (sigma // NETEM_DIST_SCALE) * t + mu


class _Correlated:
    """netem's ``get_crandom``: each value leans on the last by ``rho`` (0: independent)."""

    __slots__ = ("rho", "last")

    def __init__(self, rho: int, last: int) -> None:
        self.rho = rho
        self.last = last

    def next(self, rng: random.Random) -> int:
        value = rng.getrandbits(32)
        if self.rho == 0:
            return value
        rho = self.rho + 1
        answer = (value * ((1 << 32) - rho) + self.last * rho) >> 32
        self.last = answer
        return answer


# ---------------------------------------------------------------- the scheduler (pure)


@dataclasses.dataclass
class Stats:
    """What an end did since it started (frames)."""

    received: int = 0  # read from the TAP
    sent: int = 0  # left through the packet socket (or handed out by pop_due)
    lost: int = 0  # dropped by loss
    overlimit: int = 0  # dropped because the queue held ``limit`` frames
    duplicated: int = 0
    corrupted: int = 0
    reordered: int = 0  # sent at once, ahead of the delayed ones
    send_errors: int = 0  # the interface refused them (down, or its peer's backlog full)
    bytes_sent: int = 0  # on the wire: Ethernet header and payload, no virtio header

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class Scheduler:
    """netem's qdisc over frames in userspace: decides, for each frame offered
    at time ``now`` (integer nanoseconds, any monotonic clock), whether it is
    lost, duplicated, corrupted, and when each copy leaves, and holds the
    copies until then.

    The order of decisions and random draws is netem's (``netem_enqueue``):
    duplicate, loss (with netem's simple correlation), corruption, the queue
    limit, then either reorder (sent at once) or delay: ``delay`` ± ``jitter``
    from the distribution's table, and with a ``rate`` the frame leaves no
    earlier than the last queued frame's departure plus its own transmission
    time, ``len * 8 / rate``. A duplicate goes through the same steps once
    more (without duplication) before the original is queued, as netem
    re-enqueues its clone. Delayed frames leave in departure order (a jitter
    larger than the gap between frames reorders them, as in netem).

    ``header`` bytes at the start of every frame are not on the wire (a
    ``virtio_net_hdr``): corruption flips a bit after them, and clears their
    DATA_VALID flag so the receiver checks the checksum; the rate counts the
    bytes after them.
    """

    def __init__(self, impairment: Impairment, rng: Optional[random.Random] = None,
                 seed: Optional[int] = None, header: int = 0) -> None:
        self.rng = rng if rng is not None else random.Random(seed)
        self.header = header
        self.stats = Stats()
        self._heap: list[tuple[int, int, bytes]] = []  # (time_to_send, sequence, frame)
        self._now_queue: collections.deque[bytes] = collections.deque()  # reordered: at once
        self._sequence = 0
        self._last_departure: Optional[int] = None  # latest time_to_send in the heap
        self._loss = _Correlated(0, self.rng.getrandbits(32))
        self._plain = _Correlated(0, 0)  # duplicate, corrupt, reorder, delay: no correlation here
        self.update(impairment)

    def update(self, impairment: Impairment) -> None:
        """Takes ``impairment`` for the frames offered from now on; queued frames keep
        their departure times (as ``tc qdisc change`` does)."""
        i = impairment
        self.impairment = i
        self.delay_ns = (i.delay or 0) * 1000
        self.jitter_ns = (i.jitter or 0) * 1000
        self.table = distribution_table(i.distribution) if self.jitter_ns else None
        self.loss = percent_u32(i.loss)
        self._loss.rho = percent_u32(i.loss_correlation)
        self.duplicate = percent_u32(i.duplicate)
        self.corrupt = percent_u32(i.corrupt)
        self.reorder = percent_u32(i.reorder)
        self.gap = 1 if self.reorder else 0  # tc's default gap when reorder is given
        self.rate = i.rate or 0
        self.limit = i.limit if i.limit is not None else DEFAULT_LIMIT
        self.counter = 0
        self.passthrough = i.empty

    # -- queue

    def __len__(self) -> int:
        return len(self._heap) + len(self._now_queue)

    def next_due(self) -> Optional[int]:
        """When the next queued frame leaves (ns), or None if none is queued."""
        if self._now_queue:
            return -1  # at once
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: int) -> list[bytes]:
        """Every frame whose time has come, in the order netem dequeues them:
        the reordered ones first, then by departure time."""
        out: list[bytes] = []
        if self._now_queue:
            out.extend(self._now_queue)
            self._now_queue.clear()
        heap = self._heap
        while heap and heap[0][0] <= now:
            out.append(heapq.heappop(heap)[2])
        if not heap:
            self._last_departure = None
        self.stats.sent += len(out)
        return out

    # -- enqueue

    def offer(self, frame: bytes, now: int) -> int:
        """Takes one frame sent at ``now``; returns how many copies were queued (0: dropped)."""
        self.stats.received += 1
        return self._enqueue(frame, now, may_duplicate=True)

    def _enqueue(self, frame: bytes, now: int, may_duplicate: bool) -> int:
        rng = self.rng
        count = 1
        if may_duplicate and self.duplicate and self.duplicate >= self._plain.next(rng):
            count += 1
        if self.loss and self.loss >= self._loss.next(rng):
            count -= 1
        if count == 0:
            self.stats.lost += 1
            return 0
        clone = frame if count > 1 else None  # taken before the original is corrupted
        if self.corrupt and self.corrupt >= self._plain.next(rng):
            frame = self._corrupted(frame)
        if len(self) >= self.limit:
            self.stats.overlimit += count
            return 0
        queued = 0
        if clone is not None:
            self.stats.duplicated += 1
            queued += self._enqueue(clone, now, may_duplicate=False)
        if self.gap == 0 or self.counter < self.gap - 1 or self.reorder < self._plain.next(rng):
            delay = tabledist(self.delay_ns, self.jitter_ns, self._plain.next(rng), self.table) \
                if self.jitter_ns else self.delay_ns
            if self.rate:
                last = self._last_departure
                if last is not None:
                    delay = max(0, delay - (last - now))
                    now = last
                delay += (len(frame) - self.header) * 8 * NSEC // self.rate
            departure = now + delay
            self._sequence += 1
            heapq.heappush(self._heap, (departure, self._sequence, frame))
            if self._last_departure is None or departure > self._last_departure:
                self._last_departure = departure
            self.counter += 1
        else:
            self._now_queue.append(frame)
            self.counter = 0
            self.stats.reordered += 1
        return queued + 1

    def _corrupted(self, frame: bytes) -> bytes:
        """The frame with one random bit flipped (anywhere after the header)."""
        self.stats.corrupted += 1
        body = len(frame) - self.header
        if body <= 0:
            return frame
        data = bytearray(frame)
        data[self.header + self.rng.randrange(body)] ^= 1 << self.rng.randrange(8)
        if self.header:
            data[0] &= ~_VIRTIO_NET_HDR_F_DATA_VALID & 0xFF
        return bytes(data)


_VIRTIO_NET_HDR_F_DATA_VALID = 2

# ---------------------------------------------------------------- the I/O


SOL_PACKET = 263
PACKET_VNET_HDR = 15
PACKET_QDISC_BYPASS = 20
SO_SNDBUFFORCE = 32
SEND_BUFFER = 4 << 20
BATCH = 64  # frames read per wakeup, so one busy end cannot starve the others
MAX_FRAME = 65536 + 1024  # a 64 KiB GSO frame, its virtio header and a VLAN tag
# What the TAP hands over unsegmented when an end needs no per-frame work (USO where known).
BULK_OFFLOADS = tuntap.TUN_F_CSUM | tuntap.TUN_F_TSO4 | tuntap.TUN_F_TSO6 | tuntap.TUN_F_TSO_ECN
BULK_OFFLOADS_USO = BULK_OFFLOADS | tuntap.TUN_F_USO4 | tuntap.TUN_F_USO6



def pass_marked_bpf(mark: int) -> str:
    """The classic BPF program (tc's ``bpf bytecode`` text) of a redirect filter
    that matches every frame but those carrying ``mark``: load skb->mark
    (SKF_AD_OFF + SKF_AD_MARK, 20), equal to ``mark``: no match (0), else match (-1)."""
    return f"4,32 0 0 {(-4096 + 20) & 0xFFFFFFFF},21 0 1 {mark},6 0 0 0,6 0 0 {0xFFFFFFFF}"


# timerfd (Python 3.11 has no os.timerfd_*)
_CLOCK_MONOTONIC = 1
_TFD_CLOEXEC = 0o2000000
_TFD_NONBLOCK = 0o4000
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p]


class _Timer:
    """A CLOCK_MONOTONIC timerfd armed at absolute nanoseconds: it wakes a select or
    epoll loop to the microsecond, where epoll's own timeout rounds up to a millisecond."""

    def __init__(self) -> None:
        fd = _libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_CLOEXEC | _TFD_NONBLOCK)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_create: {os.strerror(err)}")
        self.fd = fd
        self.armed: Optional[int] = None
        self._spec = _Itimerspec()

    def arm(self, when: Optional[int]) -> None:
        """Fires at ``when`` (ns, CLOCK_MONOTONIC; 0 or less: at once); None disarms."""
        if when == self.armed:
            return
        spec = self._spec
        if when is None:
            spec.it_value.tv_sec = spec.it_value.tv_nsec = 0
        else:
            when = max(when, 1)  # an all-zero value would disarm
            spec.it_value.tv_sec, spec.it_value.tv_nsec = divmod(when, NSEC)
        if _libc.timerfd_settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_settime: {os.strerror(err)}")
        self.armed = when

    def clear(self) -> None:
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass
        self.armed = None

    def close(self) -> None:
        os.close(self.fd)


class EndGone(tuntap.TapError):
    """The end's TAP (or its namespace) is gone: the host drops the end."""


def wants_bulk(impairment: Impairment) -> bool:
    """Whether every frame gets the same treatment (none, or one fixed delay), so the
    engine may take whole GSO frames instead of wire-sized ones."""
    return all(getattr(impairment, key) is None for key in
               ("jitter", "loss", "duplicate", "corrupt", "reorder", "rate", "limit"))


class ImpairedEnd:
    """The userspace path of one impaired interface.

    Args:
        netns: the node's namespace.
        ifname: the impaired interface (what it sends is impaired).
        tap: the TAP its egress is redirected into (same namespace).
        impairment: what to do to what it sends.
        seed: seeds the RNG (None: from the OS).
        clock: integer nanoseconds, CLOCK_MONOTONIC (the timerfd's clock).
        bulk: allow whole GSO frames when the impairment is per-frame free (see
            :func:`wants_bulk`); False reads every frame segmented.
        mark: send with this ``SO_MARK`` through the interface's own transmit
            path instead of bypassing its qdiscs: for a redirect filter that
            lets marked frames pass (cls_bpf, :data:`PASS_MARKED_BPF`), so a
            capture on the interface sees what leaves it (with the bypass, a
            capture on IF sees only what arrives: both the redirect and the
            bypass happen before the kernel's capture point).

    The host loop registers :meth:`fds` for reading and calls :meth:`on_readable`
    with each readable one; nothing else is needed (a timerfd among the fds
    wakes the loop when a delayed frame is due). :meth:`next_deadline` tells a
    host that prefers its own timeout when the next frame leaves.
    """

    def __init__(self, netns: str, ifname: str, tap: str, impairment: Impairment, *,
                 seed: Optional[int] = None, clock: Callable[[], int] = time.monotonic_ns,
                 bulk: bool = True, mark: Optional[int] = None) -> None:
        self.netns, self.ifname, self.tap = netns, ifname, tap
        self.mark = mark
        self.clock = clock
        self.allow_bulk = bulk
        self.scheduler = Scheduler(impairment, seed=seed, header=tuntap.VNET_HDR_LEN)
        self.tap_fd = -1
        self.sock: Optional[socket.socket] = None
        self.timer: Optional[_Timer] = None
        self.bulk = False
        self._bulk_flags = BULK_OFFLOADS_USO
        self._buffer = bytearray(MAX_FRAME)
        self._view = memoryview(self._buffer)

    def __str__(self) -> str:
        return f"{self.netns}:{self.ifname} via {self.tap}"

    @property
    def impairment(self) -> Impairment:
        return self.scheduler.impairment

    @property
    def stats(self) -> Stats:
        return self.scheduler.stats

    # -- life

    def open(self) -> "ImpairedEnd":
        """Attaches the TAP and opens the packet socket inside the namespace.

        Raises:
            OSError (TapError): the namespace, the TAP or the interface is missing,
                or the TAP is held by another process.
        """
        try:
            with netns.entered(self.netns):
                self.tap_fd = tuntap.attach_tap(self.tap, vnet_hdr=True)
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
                self.sock = sock
                if self.mark is None:
                    sock.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
                else:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, self.mark)
                sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, SO_SNDBUFFORCE, SEND_BUFFER)
                except PermissionError:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
                sock.bind((self.ifname, 0))  # protocol 0: it sends, and receives nothing
                sock.setblocking(False)
            self.timer = _Timer()
            # always set: the TAP keeps the offloads an earlier reader left on it
            self._set_bulk(self.allow_bulk and wants_bulk(self.impairment), force=True)
        except FileNotFoundError as exc:
            self.close()
            raise tuntap.TapError(errno.ENOENT, f"namespace {self.netns!r} does not exist") from exc
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Lets go of the TAP (frames still queued are dropped, as a removed netem drops them)."""
        if self.tap_fd >= 0:
            os.close(self.tap_fd)
            self.tap_fd = -1
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.timer is not None:
            self.timer.close()
            self.timer = None

    def __enter__(self) -> "ImpairedEnd":
        return self.open() if self.tap_fd < 0 else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, impairment: Impairment) -> None:
        """Changes what the end does, at once and in place: the interface, its
        connections and the frames already queued stay."""
        self.scheduler.update(impairment)
        if self.tap_fd >= 0:
            self._set_bulk(self.allow_bulk and wants_bulk(impairment))
            self._flush(self.clock())

    def _set_bulk(self, bulk: bool, force: bool = False) -> None:
        if bulk == self.bulk and not force:
            return
        if bulk:
            for flags in (self._bulk_flags, BULK_OFFLOADS):
                try:
                    tuntap.set_offload(self.tap_fd, flags)
                    self._bulk_flags = flags
                    break
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
            else:
                bulk = False
        if not bulk:
            tuntap.set_offload(self.tap_fd, 0)
        self.bulk = bulk

    # -- the loop's side

    def fds(self) -> tuple[int, ...]:
        """The descriptors to watch for reading: the TAP and the timer."""
        assert self.timer is not None, "open() first"
        return (self.tap_fd, self.timer.fd)

    def next_deadline(self) -> Optional[float]:
        """Seconds until the next queued frame is due (0: now), or None."""
        due = self.scheduler.next_due()
        if due is None:
            return None
        return max(0.0, (due - self.clock()) / NSEC)

    def on_readable(self, fd: int) -> None:
        """Handles one readable descriptor of :meth:`fds`.

        Raises:
            EndGone: the TAP is gone; the host closes the end and forgets it.
        """
        if self.timer is not None and fd == self.timer.fd:
            self.timer.clear()
            self._flush(self.clock())
        else:
            self._read()

    def on_timer(self) -> None:
        """Sends every frame that is due (for a host driving time itself)."""
        self._flush(self.clock())

    def _read(self) -> None:
        scheduler, view, buffer = self.scheduler, self._view, self._buffer
        stats = scheduler.stats
        passthrough = scheduler.passthrough
        tap = self.tap_fd
        for _ in range(BATCH):
            try:
                size = os.readv(tap, [buffer])
            except BlockingIOError:
                break
            except OSError as exc:
                # EBADFD and the like: the TAP was deleted; anything else leaves it unusable too,
                # and must not take the host's loop (and every other end) down with it
                raise EndGone(exc.errno, f"{self}: TAP read failed: {os.strerror(exc.errno or 0)}") from exc
            if size == 0:
                raise EndGone(errno.ENODEV, f"{self}: TAP closed")
            if passthrough:
                stats.received += 1
                self._send(view[:size])
            else:
                scheduler.offer(bytes(view[:size]), self.clock())
        if not passthrough or len(scheduler):
            self._flush(self.clock())

    def _flush(self, now: int) -> None:
        for frame in self.scheduler.pop_due(now):
            self._send(frame, counted=True)
        if self.timer is not None:
            due = self.scheduler.next_due()
            self.timer.arm(None if due is None else max(due, 1))

    def _send(self, frame, counted: bool = False) -> None:
        stats = self.scheduler.stats
        try:
            assert self.sock is not None
            self.sock.send(frame)
        except OSError:
            # full (the peer's backlog), down, or gone: dropped, as a wire would
            stats.send_errors += 1
            if counted:
                stats.sent -= 1
            return
        if not counted:
            stats.sent += 1
        stats.bytes_sent += len(frame) - tuntap.VNET_HDR_LEN


def serve(ends: Iterable[ImpairedEnd], handlers: Optional[dict[int, Callable[[], bool]]] = None,
          on_gone: Optional[Callable[[ImpairedEnd, Exception], None]] = None) -> None:
    """A host loop for tests, benchmarks and :func:`main` (the supervisor has its
    own): carries every end until one of ``handlers`` (fd -> called when that fd
    is readable) returns False. An end whose TAP is gone is closed and reported
    to ``on_gone``."""
    handlers = dict(handlers or {})
    poller = select.epoll()
    by_fd: dict[int, ImpairedEnd] = {}
    try:
        for end in ends:
            for fd in end.fds():
                by_fd[fd] = end
                poller.register(fd, select.EPOLLIN)
        for fd in handlers:
            poller.register(fd, select.EPOLLIN)
        while True:
            for fd, _ in poller.poll():
                end = by_fd.get(fd)
                if end is None:
                    handler = handlers.get(fd)
                    if handler is not None and not handler():
                        return
                    continue
                try:
                    end.on_readable(fd)
                except EndGone as exc:
                    for gone in end.fds():
                        poller.unregister(gone)
                        by_fd.pop(gone, None)
                    end.close()
                    if on_gone is not None:
                        on_gone(end, exc)
    finally:
        poller.close()


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m vnetlab.agents.impair_engine SPEC``: carries the ends of SPEC in a
    process of their own (tests and benchmarks; a lab's supervisor hosts ends itself).

    SPEC is JSON: ``{"ends": [{"netns": .., "ifname": .., "tap": .., "impairment":
    {..Impairment.to_dict()..}, "seed": 1, "bulk": true, "mark": null}]}``. Prints ``ready`` once
    every end is open; each line on stdin, ``{"end": N, "impairment": {..}}``,
    updates end N and is answered ``ok``; at the end of stdin (or SIGTERM) it prints
    every end's stats as one JSON line and exits.
    """
    import json
    import signal
    import sys

    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(args[0])
    ends = [ImpairedEnd(e["netns"], e["ifname"], e["tap"], Impairment.from_dict(e.get("impairment", {})),
                        seed=e.get("seed"), bulk=e.get("bulk", True), mark=e.get("mark"))
            for e in spec["ends"]]
    stop_r, stop_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGTERM, lambda *_: os.write(stop_w, b"x"))
    stdin = sys.stdin.fileno()
    pending = bytearray()

    def control() -> bool:
        data = os.read(stdin, 65536)
        if not data:
            return False
        pending.extend(data)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            if line.strip():
                order = json.loads(line)
                ends[order["end"]].update(Impairment.from_dict(order.get("impairment", {})))
                print("ok", flush=True)
        return True

    try:
        for end in ends:
            end.open()
        print("ready", flush=True)
        serve(ends, {stdin: control, stop_r: lambda: False})
    finally:
        print(json.dumps([e.stats.to_dict() for e in ends]), flush=True)
        for end in ends:
            end.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
