"""The userspace impairment engine carrying a real veth (root, real kernel).

One module-wide pair of namespaces, A and B, joined by one veth (eth0 at both
ends). Each end's egress is redirected into its TAP as a lab's userspace path
does: A with the u32 match-all filter (the engine sends with
PACKET_QDISC_BYPASS), B with the cls_bpf filter that lets marked frames pass
(the engine sends with SO_MARK through eth0's own transmit path). The engine
runs in a thread of the test process; each test sets the impairments it needs
through the engine's own loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import select
import socket
import subprocess
import threading
import time

import pytest

from vnetlab.agents.impair_engine import ImpairedEnd, pass_marked_bpf, serve
from vnetlab.host import netns
from vnetlab.model.impairment import Impairment, tap_name

pytestmark = pytest.mark.integration

PID = os.getpid() % 100000
NS_A, NS_B = f"vima{PID}", f"vimb{PID}"
ADDR_A, ADDR_B = "10.203.0.1", "10.203.0.2"
IF = "eth0"
TAP = tap_name(IF)
MARK = 0x766E6C31
PORT = 5301


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True)


def _redirect(ns: str, mark: int | None) -> None:
    sh("ip", "-n", ns, "tuntap", "add", "dev", TAP, "mode", "tap")
    with netns.entered(ns):
        netns.write_sysctl(f"net/ipv6/conf/{TAP}/disable_ipv6", "1")
    sh("ip", "-n", ns, "link", "set", TAP, "arp", "off", "up")
    tc = ("ip", "netns", "exec", ns, "tc")
    sh(*tc, "qdisc", "add", "dev", IF, "clsact")
    match = ("u32", "match", "u32", "0", "0") if mark is None else ("bpf", "bytecode", pass_marked_bpf(mark))
    sh(*tc, "filter", "add", "dev", IF, "egress", "protocol", "all", "prio", "1", *match,
       "action", "mirred", "egress", "redirect", "dev", TAP)


class Carrier:
    """The engine's loop in a thread; ``call`` runs a function inside it."""

    def __init__(self, ends: list[ImpairedEnd]) -> None:
        self.ends = ends
        self.calls: queue.Queue = queue.Queue()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.stopping = False
        self.gone: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        serve(self.ends, {self.wake_r: self._wake}, on_gone=lambda end, exc: self.gone.append(str(exc)))

    def _wake(self) -> bool:
        with contextlib.suppress(BlockingIOError):
            os.read(self.wake_r, 4096)
        while not self.calls.empty():
            fn, done, box = self.calls.get()
            try:
                box.append(fn())
            except BaseException as exc:  # handed back to the caller
                box.append(exc)
            done.set()
        return not self.stopping

    def call(self, fn):
        done, box = threading.Event(), []
        self.calls.put((fn, done, box))
        os.write(self.wake_w, b"x")
        assert done.wait(5), "the engine's loop did not answer"
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    def set(self, end: int, impairment: Impairment) -> None:
        self.call(lambda: self.ends[end].update(impairment))

    def stop(self) -> None:
        self.stopping = True
        os.write(self.wake_w, b"x")
        self.thread.join(5)
        os.close(self.wake_r)
        os.close(self.wake_w)


@pytest.fixture(scope="module")
def link():
    for ns in (NS_A, NS_B):
        sh("ip", "netns", "del", ns, check=False)
    ends: list[ImpairedEnd] = []
    carrier = None
    try:
        for ns in (NS_A, NS_B):
            sh("ip", "netns", "add", ns)
        sh("ip", "-n", NS_A, "link", "add", IF, "type", "veth", "peer", "name", IF, "netns", NS_B)
        for ns, addr, mark in ((NS_A, ADDR_A, None), (NS_B, ADDR_B, MARK)):
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", IF)
            sh("ip", "-n", ns, "link", "set", IF, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            _redirect(ns, mark)
        ends = [ImpairedEnd(NS_A, IF, TAP, Impairment(), seed=1).open(),
                ImpairedEnd(NS_B, IF, TAP, Impairment(), seed=2, mark=MARK).open()]
        carrier = Carrier(ends)
        yield carrier
    finally:
        if carrier is not None:
            carrier.stop()
        for end in ends:
            end.close()
        for ns in (NS_A, NS_B):
            sh("ip", "netns", "del", ns, check=False)
    assert not any(netns.exists(ns) for ns in (NS_A, NS_B))


@pytest.fixture
def clean(link):
    """Both ends unimpaired before and after the test."""
    for end in (0, 1):
        link.set(end, Impairment())
    yield link
    for end in (0, 1):
        link.set(end, Impairment())


def ping(count: int = 5, interval: float = 0.05, wait: float = 1.0, size: int = 56) -> tuple[int, list[float]]:
    """(replies, their RTTs in ms) of ``ping`` from A to B."""
    out = sh("ip", "netns", "exec", NS_A, "ping", "-n", "-c", str(count), "-i",
             str(interval), "-W", str(wait), "-s", str(size), ADDR_B, check=False).stdout
    rtts = [float(x) for x in re.findall(r"time=([\d.]+) ms", out)]
    return len(rtts), rtts


def ifindex(ns: str) -> int:
    return json.loads(sh("ip", "-n", ns, "-j", "link", "show", IF).stdout)[0]["ifindex"]


@contextlib.contextmanager
def tcp_connection():
    """An established TCP connection from A (client) to B (server): (client, server side)."""
    with netns.entered(NS_B):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((ADDR_B, PORT))
    listener.listen(1)
    with netns.entered(NS_A):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.settimeout(10)
    try:
        client.connect((ADDR_B, PORT))
        server, _ = listener.accept()
        server.settimeout(10)
        with server:
            yield client, server
    finally:
        client.close()
        listener.close()


def transfer(seconds: float) -> float:
    """Goodput (bit/s) of one TCP stream from A to B for ``seconds``."""
    with tcp_connection() as (client, server):
        got = [0]

        def drain():
            buffer = bytearray(1 << 20)
            while True:
                size = server.recv_into(buffer)
                if not size:
                    return
                got[0] += size

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        payload = bytes(64 << 10)
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            client.sendall(payload)
        client.shutdown(socket.SHUT_WR)
        reader.join(30)
        return got[0] * 8 / (time.monotonic() - start)


def capture_outgoing(ns: str, during) -> int:
    """How many ICMP frames a packet capture on ``IF`` in ``ns`` saw leave while ``during()`` ran."""
    with netns.entered(ns):
        cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    cap.bind((IF, 0))
    cap.setblocking(False)
    seen = 0
    try:
        during()
        time.sleep(0.2)
        while True:
            try:
                frame, address = cap.recvfrom(65536)
            except BlockingIOError:
                break
            if address[2] == socket.PACKET_OUTGOING and frame[12:14] == b"\x08\x00" and frame[23] == 1:
                seen += 1
    finally:
        cap.close()
    return seen


# ---------------------------------------------------------------- the tests


def test_an_unimpaired_link_carries_traffic_both_ways(clean):
    replies, rtts = ping()
    assert replies == 5
    assert max(rtts) < 20
    assert clean.gone == []


def test_a_delayed_link_has_a_round_trip_above_the_delay(clean):
    clean.set(0, Impairment(delay=30_000))
    clean.set(1, Impairment(delay=10_000))
    replies, rtts = ping(count=5)
    assert replies == 5
    assert min(rtts) >= 40.0
    assert max(rtts) < 60.0  # and not much above: the timerfd wakes the engine on time


def test_a_100_percent_loss_link_passes_nothing(clean):
    before = clean.call(lambda: clean.ends[0].stats.lost)
    clean.set(0, Impairment(loss=100.0))
    replies, _ = ping(count=5, interval=0.05, wait=0.5)
    assert replies == 0
    assert clean.call(lambda: clean.ends[0].stats.lost) - before >= 5
    clean.set(0, Impairment())
    assert ping(count=2)[0] == 2  # and the same link carries again at once


def test_a_rate_limited_link_stays_under_its_rate(clean):
    clean.set(0, Impairment(rate=20_000_000))
    goodput = transfer(1.5)
    assert 10_000_000 < goodput < 20_000_000
    # per frame: the kernel segmented them before the TAP (no offloads while a rate is set)
    stats = clean.call(lambda: clean.ends[0].stats.to_dict())
    assert stats["bytes_sent"] / stats["sent"] < 1600


def test_an_unimpaired_link_takes_whole_gso_frames(clean):
    before = clean.call(lambda: clean.ends[0].stats.to_dict())
    goodput = transfer(0.5)
    after = clean.call(lambda: clean.ends[0].stats.to_dict())
    assert goodput > 200_000_000
    frames, sent = after["sent"] - before["sent"], after["bytes_sent"] - before["bytes_sent"]
    assert sent / frames > 8000  # far above the MTU: GSO frames carried unsegmented
    features = sh("ip", "netns", "exec", NS_A, "ethtool", "-k", TAP).stdout
    assert re.search(r"tcp-segmentation-offload: on", features)
    clean.set(0, Impairment(loss=0.0))  # an impairment per frame: offloads off
    features = sh("ip", "netns", "exec", NS_A, "ethtool", "-k", TAP).stdout
    assert re.search(r"tcp-segmentation-offload: off", features)


def test_an_update_keeps_the_interface_and_an_open_connection(clean):
    index_a, index_b = ifindex(NS_A), ifindex(NS_B)
    with tcp_connection() as (client, server):
        def echo_rtt() -> float:
            start = time.monotonic()
            client.sendall(b"ping")
            assert server.recv(4) == b"ping"
            server.sendall(b"pong")
            assert client.recv(4) == b"pong"
            return (time.monotonic() - start) * 1000

        assert echo_rtt() < 20
        clean.set(0, Impairment(delay=50_000))
        assert echo_rtt() >= 50  # the same connection, now over a delayed link
        clean.set(0, Impairment(delay=5_000, loss=0.0))
        assert 5 <= echo_rtt() < 45
    assert (ifindex(NS_A), ifindex(NS_B)) == (index_a, index_b)


def test_a_corrupted_frame_is_caught_by_the_receivers_checksum(clean):
    def udp_errors() -> int:
        with netns.entered(NS_B):
            with open("/proc/self/net/snmp") as handle:
                lines = [line.split() for line in handle if line.startswith("Udp:")]
        return int(dict(zip(lines[0], lines[1]))["InCsumErrors"])

    with netns.entered(NS_B):
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with netns.entered(NS_A):
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind((ADDR_B, PORT))
    receiver.setblocking(False)
    payload = bytes(range(256)) * 4
    errors = udp_errors()
    try:
        sender.sendto(payload, (ADDR_B, PORT))  # one clean datagram: ARP settled, path works
        assert select.select([receiver], [], [], 2)[0] and receiver.recv(2048) == payload
        clean.set(0, Impairment(corrupt=100.0))
        delivered = []

        def drain() -> None:  # reading is when UDP checks a checksum left to it
            while True:
                try:
                    delivered.append(receiver.recv(2048))
                except BlockingIOError:
                    return

        for _ in range(200):
            sender.sendto(payload, (ADDR_B, PORT))
            time.sleep(0.001)
            drain()
        time.sleep(0.3)
        drain()
    finally:
        sender.close()
        receiver.close()
    assert all(d == payload for d in delivered)  # never a damaged payload handed to the application
    assert len(delivered) < 20  # only those with a flipped bit in a source MAC (or a header's unused bit)
    assert udp_errors() - errors > 150  # most: a bad UDP checksum, counted by B's stack
    assert clean.call(lambda: clean.ends[0].stats.corrupted) >= 200


def test_the_tap_sends_nothing_of_its_own(clean):
    def counters(ns: str) -> tuple[int, int]:
        """(frames the TAP carried to its reader, frames eth0's filter redirected into it)."""
        link = json.loads(sh("ip", "-n", ns, "-j", "-s", "link", "show", TAP).stdout)[0]
        redirected = sh("ip", "netns", "exec", ns, "tc", "-s", "filter", "show", "dev", IF, "egress").stdout
        return link["stats64"]["tx"]["packets"], int(re.search(r"Sent \d+ bytes (\d+) pkt", redirected).group(1))

    for ns in (NS_A, NS_B):
        assert sh("ip", "-n", ns, "-6", "addr", "show", "dev", TAP).stdout.strip() == ""  # no IPv6 of its own
        assert "NOARP" in json.loads(sh("ip", "-n", ns, "-j", "link", "show", TAP).stdout)[0]["flags"]
    before = [counters(ns) for ns in (NS_A, NS_B)]
    assert ping(count=5)[0] == 5
    time.sleep(0.5)
    after = [counters(ns) for ns in (NS_A, NS_B)]
    for (tap0, filter0), (tap1, filter1) in zip(before, after):
        # small frames (no GSO, which the filter counts per segment): one TAP frame per redirected one
        assert tap1 - tap0 == filter1 - filter0 >= 5


def test_marked_sending_is_seen_by_a_capture_on_the_interface(clean):
    # B's engine sends echo replies with SO_MARK through eth0's own path: a capture sees them
    assert capture_outgoing(NS_B, lambda: ping(count=3)) >= 3
    # A's engine bypasses eth0's qdiscs: a capture on A's eth0 sees no request leave
    assert capture_outgoing(NS_A, lambda: ping(count=3)) == 0


def test_an_end_whose_interface_goes_down_and_up_carries_again(clean):
    clean.set(0, Impairment(delay=20_000))
    sh("ip", "-n", NS_A, "link", "set", IF, "down")
    sh("ip", "-n", NS_A, "link", "set", IF, "up")
    deadline = time.monotonic() + 5
    while ping(count=1, wait=0.5)[0] != 1:
        assert time.monotonic() < deadline, "no reply after the link came back"
    assert clean.gone == []


def test_an_end_sets_the_taps_offloads_whatever_an_earlier_reader_left(link):
    spare = "spare-imp"
    sh("ip", "-n", NS_A, "tuntap", "add", "dev", spare, "mode", "tap")
    try:
        def segmentation() -> str:
            features = sh("ip", "netns", "exec", NS_A, "ethtool", "-k", spare).stdout
            return re.search(r"tcp-segmentation-offload: (\w+)", features).group(1)

        with ImpairedEnd(NS_A, IF, spare, Impairment()):  # an unimpaired end: whole GSO frames
            assert segmentation() == "on"
        assert segmentation() == "on"  # the device keeps them after its reader left
        with ImpairedEnd(NS_A, IF, spare, Impairment(loss=1.0)):  # per frame: off again at once
            assert segmentation() == "off"
    finally:
        sh("ip", "-n", NS_A, "link", "del", spare)
