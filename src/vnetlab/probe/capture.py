"""Capture a lab's traffic: one tcpdump per interface, merged into one pcapng.

Each captured interface gets its own ``tcpdump -U -w -`` started inside the
node's namespace (libpcap's TPACKET ring loses nothing the kernel delivered,
unlike a Python sniffer). Their pcap streams are read concurrently, merged
in timestamp order and written as one pcapng file whose interfaces are named
``node:ifname`` — so Wireshark shows where each packet was seen. Without an
output file each packet becomes a one-line summary instead.

The pcap stream reader, the pcapng writer and reader and the one-line
decoder are pure functions and classes, tested without root.
"""

from __future__ import annotations

import dataclasses
import heapq
import ipaddress
import os
import queue
import re
import shutil
import signal
import struct
import subprocess
import threading
import time
from typing import BinaryIO, Callable, Optional

from vnetlab.errors import BadInput
from vnetlab.probe import tcpdump
from vnetlab.probe.pcap import (  # noqa: F401 (the codec: callers and tests read it from here too)
    DEFAULT_SNAPLEN, ISB_IFDROP, ISB_IFRECV, ISB_USRDELIV, LINKTYPE_ETHERNET, Packet, PcapngContents, PcapngWriter,
    PcapStream, pcap_header, pcap_record, read_pcapng,
)

# Packets wait this long for slower pipes before being written in time order.
REORDER_WINDOW = 0.5
# How long every tcpdump may take to start listening.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
MISSING_TCPDUMP = "capture needs tcpdump, which is not installed — install it with: apt-get install tcpdump"


class CaptureError(BadInput, RuntimeError):
    """A capture could not start (bad filter, interface gone ...)."""


@dataclasses.dataclass(frozen=True)
class CaptureInterface:
    """One interface to capture on: ``ifname`` of ``node`` in namespace ``netns``."""

    node: str
    netns: str
    ifname: str

    @property
    def label(self) -> str:
        """``node:ifname``, the pcapng interface name."""
        return f"{self.node}:{self.ifname}"


@dataclasses.dataclass
class InterfaceStats:
    """Per interface: packets written, and tcpdump's own counters at exit."""

    label: str
    captured: int = 0
    received: Optional[int] = None
    dropped: Optional[int] = None


def _mac(data: bytes) -> str:
    return ":".join(f"{b:02x}" for b in data)


_TCP_FLAGS = "FSRPAUEC"


def _transport(proto: int, payload: bytes, src: str, dst: str, total: int) -> str:
    if proto == 6 and len(payload) >= 20:
        sport, dport, seq, ack, offset_flags = struct.unpack_from("!HHIIH", payload)
        flags = "".join(_TCP_FLAGS[i] for i in range(8) if offset_flags & (1 << i)) or "none"
        acked = f" ack {ack}" if offset_flags & 0x10 else ""
        length = max(0, total - (offset_flags >> 12) * 4)
        return f"{src}.{sport} > {dst}.{dport}: TCP [{flags}] seq {seq}{acked}, length {length}"
    if proto == 17 and len(payload) >= 8:
        sport, dport, length = struct.unpack_from("!HHH", payload)
        return f"{src}.{sport} > {dst}.{dport}: UDP, length {max(0, length - 8)}"
    if proto in (1, 58) and len(payload) >= 4:
        kind, code = payload[0], payload[1]
        names = ({0: "echo reply", 3: "unreachable", 8: "echo request", 11: "time exceeded"} if proto == 1 else
                 {1: "unreachable", 128: "echo request", 129: "echo reply", 133: "router solicitation",
                  134: "router advertisement", 135: "neighbor solicitation", 136: "neighbor advertisement"})
        name = names.get(kind, f"type {kind}")
        extra = ""
        if kind in ((0, 8) if proto == 1 else (128, 129)) and len(payload) >= 8:
            ident, seq = struct.unpack_from("!HH", payload, 4)
            extra = f", id {ident}, seq {seq}"
        elif code:
            extra = f" code {code}"
        return f"{src} > {dst}: {'ICMP' if proto == 1 else 'ICMP6'} {name}{extra}"
    return f"{src} > {dst}: ip-proto-{proto}, length {total}"


def summarize(data: bytes, linktype: int = LINKTYPE_ETHERNET) -> str:
    """A one-line, tcpdump-like description of an Ethernet frame."""
    if linktype != LINKTYPE_ETHERNET or len(data) < 14:
        return f"linktype {linktype}, length {len(data)}"
    dst_mac, src_mac = _mac(data[0:6]), _mac(data[6:12])
    ethertype = struct.unpack_from("!H", data, 12)[0]
    offset, vlan = 14, ""
    while ethertype in (0x8100, 0x88A8) and len(data) >= offset + 4:
        tci, ethertype = struct.unpack_from("!HH", data, offset)
        vlan += f"vlan {tci & 0x0FFF}, "
        offset += 4
    head = f"{src_mac} > {dst_mac}, {vlan}"
    payload = data[offset:]
    if ethertype == 0x0800 and len(payload) >= 20:
        ihl = (payload[0] & 0x0F) * 4
        total = struct.unpack_from("!H", payload, 2)[0]
        src, dst = str(ipaddress.IPv4Address(payload[12:16])), str(ipaddress.IPv4Address(payload[16:20]))
        return head + _transport(payload[9], payload[ihl:total], src, dst, total - ihl)
    if ethertype == 0x86DD and len(payload) >= 40:
        length = struct.unpack_from("!H", payload, 4)[0]
        src, dst = str(ipaddress.IPv6Address(payload[8:24])), str(ipaddress.IPv6Address(payload[24:40]))
        return head + _transport(payload[6], payload[40:40 + length], src, dst, length)
    if ethertype == 0x0806 and len(payload) >= 28:
        op = struct.unpack_from("!H", payload, 6)[0]
        sender, target = ipaddress.IPv4Address(payload[14:18]), ipaddress.IPv4Address(payload[24:28])
        if op == 1:
            return head + f"ARP who-has {target} tell {sender}"
        return head + f"ARP {sender} is-at {_mac(payload[8:14])}"
    return head + f"ethertype 0x{ethertype:04x}, length {len(data)}"


# -- live capture ---------------------------------------------------------
_DROPPED = re.compile(rb"(\d+) packets? dropped by kernel|received/dropped on interface '[^']*': \d+/(\d+)")
_RECEIVED = re.compile(rb"(\d+) packets? received by filter|received/dropped on interface '[^']*': (\d+)/")


def tcpdump_argv(ifname: str, bpf: Optional[str], snaplen: int = DEFAULT_SNAPLEN) -> list[str]:
    """The tcpdump command for one interface: pcap with ns timestamps to stdout."""
    return tcpdump.tcpdump_argv(ifname, bpf, snaplen)


class _Tap:
    """One running tcpdump and the threads reading its stdout and stderr."""

    def __init__(self, index: int, interface: CaptureInterface, bpf: Optional[str], snaplen: int,
                 packets: "queue.Queue[Optional[Packet]]") -> None:
        self.index = index
        self.interface = interface
        self.stats = InterfaceStats(interface.label)
        self.stream: Optional[PcapStream] = None
        self.ready = threading.Event()
        self.stderr = bytearray()
        self.proc = tcpdump.start(interface.netns, tcpdump_argv(interface.ifname, bpf, snaplen),
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  start_new_session=True)
        self._packets = packets
        self.readers = [threading.Thread(target=self._read_stdout, daemon=True),
                        threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self.readers:
            reader.start()

    def _read_stdout(self) -> None:
        try:
            self.stream = PcapStream(self.proc.stdout)
            self.ready.set()
            for ts_ns, data, orig_len in self.stream.records():
                self._packets.put(Packet(ts_ns, self.index, data, orig_len))
        except (EOFError, ValueError, OSError):
            pass
        finally:
            self.ready.set()  # an early exit must not leave start() waiting

    def _read_stderr(self) -> None:
        for line in iter(self.proc.stderr.readline, b""):
            self.stderr += line

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                # tcpdump prints its statistics and flushes on SIGINT
                # (which `timeout` passes on).
                os.kill(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    def finish(self) -> None:
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for reader in self.readers:
            reader.join(STOP_TIMEOUT)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()
        dropped, received = _DROPPED.search(self.stderr), _RECEIVED.search(self.stderr)
        self.stats.dropped = int(dropped.group(1) or dropped.group(2)) if dropped else None  # tcpdump's or dumpcap's
        self.stats.received = int(received.group(1) or received.group(2)) if received else None

    def error(self) -> str:
        lines = [line.strip() for line in self.stderr.decode(errors="replace").splitlines()]
        lines = [line.removeprefix("tcpdump: ") for line in lines if line and not tcpdump.ready(line.encode())]
        return "; ".join(lines) or f"tcpdump exited with status {self.proc.returncode}"


@dataclasses.dataclass
class CaptureReport:
    """The outcome of :func:`capture`: per-interface counts, and why it stopped."""

    interfaces: list[InterfaceStats]
    packets: int
    stopped_by: str  # count, duration, interrupt, exit

    def summary(self) -> str:
        """``N packets captured: a:eth0 3, b:eth0 2; kernel dropped 0``."""
        parts = ", ".join(f"{s.label} {s.captured}" for s in self.interfaces)
        dropped = [s.dropped for s in self.interfaces if s.dropped is not None]
        drop_text = f"kernel dropped {sum(dropped)}" if dropped else "kernel drops unknown"
        drops = [f"{s.label} {s.dropped}" for s in self.interfaces if s.dropped]
        if drops:
            drop_text += f" ({', '.join(drops)})"
        return f"{self.packets} packets captured: {parts}; {drop_text}"


def capture(interfaces: list[CaptureInterface], *, bpf: Optional[str] = None, output: Optional[BinaryIO] = None,
            count: Optional[int] = None, duration: Optional[float] = None,
            on_packet: Optional[Callable[[CaptureInterface, Packet, int], None]] = None,
            on_ready: Optional[Callable[[], None]] = None, stop: Optional[threading.Event] = None,
            snaplen: int = DEFAULT_SNAPLEN) -> CaptureReport:
    """Captures on every interface at once until ``count`` packets (in total),
    ``duration`` seconds, ``stop`` is set, or Ctrl-C.

    Args:
        interfaces: where to capture.
        bpf: a tcpdump filter expression for every interface.
        output: a binary file to write one pcapng to (None: write nothing).
        count: stop after this many packets in total.
        duration: stop after this many seconds (counted from when every
            tcpdump listens).
        on_packet: called with (interface, packet, linktype) for each packet,
            in time order.
        on_ready: called once every tcpdump listens.
        stop: an event that ends the capture when set.
        snaplen: bytes kept per packet.

    Returns:
        Per-interface counts, including the kernel's drop count as tcpdump
        reported it. A Ctrl-C ends the capture cleanly: the file is complete.

    Raises:
        FileNotFoundError: tcpdump is not installed.
        CaptureError: a tcpdump did not start (bad filter, no such interface).
    """
    if not interfaces:
        raise ValueError("nothing to capture on")
    if shutil.which("tcpdump") is None:
        raise FileNotFoundError(MISSING_TCPDUMP)
    packets: "queue.Queue[Optional[Packet]]" = queue.Queue()
    taps: list[_Tap] = []
    stop = stop or threading.Event()
    stopped_by = "exit"
    written = 0
    pending: list[tuple[int, int, Packet]] = []
    sequence = 0
    linktypes: list[int] = []
    writer: Optional[PcapngWriter] = None
    start_ns = time.time_ns()

    def emit(packet: Packet) -> None:
        nonlocal written
        if count is not None and written >= count:
            return
        written += 1
        taps[packet.interface].stats.captured += 1
        if writer is not None:
            writer.write_packet(packet)
        if on_packet is not None:
            on_packet(taps[packet.interface].interface, packet, linktypes[packet.interface])

    def flush(before_ns: Optional[int]) -> None:
        while pending and (before_ns is None or pending[0][0] < before_ns):
            emit(heapq.heappop(pending)[2])
        if output is not None:
            output.flush()

    try:
        for index, interface in enumerate(interfaces):
            taps.append(_Tap(index, interface, bpf, snaplen, packets))
        deadline = time.monotonic() + START_TIMEOUT
        for tap in taps:
            tap.ready.wait(max(0.0, deadline - time.monotonic()))
            if tap.stream is None:
                tap.stop()
                tap.finish()
                raise CaptureError(f"cannot capture on {tap.interface.label}: {tap.error()}")
        linktypes = [tap.stream.linktype for tap in taps]  # type: ignore[union-attr]
        if output is not None:
            writer = PcapngWriter(output)
            for tap in taps:
                writer.add_interface(tap.interface.label, tap.stream.linktype, tap.stream.snaplen)  # type: ignore
        time.sleep(tcpdump.start_delay())
        start_ns = time.time_ns()
        if on_ready is not None:
            on_ready()
        ends_at = time.monotonic() + duration if duration is not None else None
        received = 0
        while True:
            if stop.is_set():
                stopped_by = "stop"
                break
            if count is not None and received >= count:
                stopped_by = "count"
                break
            if ends_at is not None and time.monotonic() >= ends_at:
                stopped_by = "duration"
                break
            if all(tap.proc.poll() is not None for tap in taps) and packets.empty():
                break
            try:
                packet = packets.get(timeout=0.1)
            except queue.Empty:
                packet = None
            if packet is not None:
                received += 1
                sequence += 1
                heapq.heappush(pending, (packet.ts_ns, sequence, packet))
            flush(time.time_ns() - int(REORDER_WINDOW * 1e9))
    except KeyboardInterrupt:
        stopped_by = "interrupt"
    finally:
        time.sleep(tcpdump.delivery_delay())
        for tap in taps:
            tap.stop()
        for tap in taps:
            tap.finish()
    while True:
        try:
            packet = packets.get_nowait()
        except queue.Empty:
            break
        if packet is not None:
            sequence += 1
            heapq.heappush(pending, (packet.ts_ns, sequence, packet))
    flush(None)
    if writer is not None:
        end_ns = time.time_ns()
        for tap in taps:
            writer.write_stats(tap.index, end_ns, start_ns=start_ns, received=tap.stats.received,
                               dropped=tap.stats.dropped, delivered=tap.stats.captured)
        output.flush()  # type: ignore[union-attr]
    return CaptureReport([tap.stats for tap in taps], written, stopped_by)


def _kernel_interfaces(namespace: str) -> dict[str, bool]:
    """The namespace's interfaces (not lo) by index -> whether each is up."""
    from pyroute2 import IPRoute

    from vnetlab.host import netns

    with netns.entered(namespace):
        ipr = IPRoute(groups=0)
    try:
        links = sorted(ipr.get_links(), key=lambda msg: msg["index"])
        return {msg.get("IFLA_IFNAME"): bool(msg["flags"] & 1) for msg in links if msg.get("IFLA_IFNAME") != "lo"}
    finally:
        ipr.close()


def select_interfaces(namespaces: dict[str, str], selectors: list[str]) -> list[CaptureInterface]:
    """The interfaces ``NODE`` / ``NODE:IF`` selectors name (none: every interface
    of every node that is up, as the kernel has them — bridges and their ports included).

    Raises:
        KeyError: an unknown node or an interface the node does not have.
    """
    wanted: list[tuple[str, Optional[str]]] = []
    for text in selectors or list(namespaces):
        node, _, ifname = text.partition(":")
        if node not in namespaces:
            raise KeyError(f"no node {node!r} in this lab (nodes: {', '.join(namespaces)})")
        wanted.append((node, ifname or None))
    result: list[CaptureInterface] = []
    for node, ifname in wanted:
        present = _kernel_interfaces(namespaces[node])
        if ifname is not None and ifname not in present:
            raise KeyError(f"node {node} has no interface {ifname!r} (it has: {', '.join(present) or 'none'})")
        for name in [ifname] if ifname else [name for name, up in present.items() if up]:
            interface = CaptureInterface(node, namespaces[node], name)
            if interface not in result:
                result.append(interface)
    return result

