#!/usr/bin/env python3
"""Link impairments benchmark: how close each mechanism comes to what it is told.

Two namespaces ``bimpa`` and ``bimpb`` joined by one veth (``eth0`` at both
ends, 10.201.0.1/24 and .2/24) carry, for every mechanism this machine has:

  userspace  vnetlab's engine (vnetlab.agents.impair_engine) in a process of
             its own, each end's egress redirected into a TAP (tc clsact +
             u32 match-all + mirred), frames sent back out with
             PACKET_QDISC_BYPASS — the path a lab takes on a kernel without
             sch_netem
  netem      ``tc qdisc replace dev eth0 root netem …`` (when the kernel has it)
  tbf        ``tc qdisc replace dev eth0 root tbf …`` (rates only)

and measures:

  delay      ``delay 20ms`` on both ends: the round trip (40 ms asked) over
             2,000 pings — mean, p50, p99
  jitter     ``delay 20ms jitter 5ms`` (uniform, netem's default, and normal) on
             one end: the spread of the one-way delay against what the
             distribution gives (uniform: ±5 ms, σ = 5/√3 ms; normal: σ = 5 ms)
  loss       ``loss 1%``, ``10%``, ``50%`` on one end (the echo requests): the
             share of 10,000 pings lost, and whether it is inside the binomial
             99% interval
  rate       ``rate 10mbit`` and ``100mbit`` on the sender's end: TCP goodput
             over 5 s against the rate (and against the goodput that rate
             allows: 1448 payload bytes per 1514-byte frame)
  overhead   no impairment at all: TCP throughput and ping RTT through the
             userspace path (whole GSO frames, also sent with SO_MARK through
             eth0's own path as a capture-friendly lab would, and per frame as
             an impaired end reads them) against the plain veth — the ratio

Pings are in-process ICMP echo requests (kernel receive timestamps), so
10,000 take seconds; TCP is an in-process sender and receiver.

This is a benchmark, never a test: nothing here asserts a figure.

    .venv/bin/python benchmarks/impair.py                # everything, ~2 min
    .venv/bin/python benchmarks/impair.py --only delay,loss --json
    .venv/bin/python benchmarks/impair.py --quick        # fewer probes, shorter transfers

Needs root. Its namespaces are removed by exact name, also when a previous
run died half-way. Run it under ``kernel-lock`` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import select
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import REPO, environment, run, vnetlab_cli, write_markdown  # noqa: E402

sys.path.insert(0, str(REPO / "src"))
from vnetlab.agents.impair_engine import pass_marked_bpf  # noqa: E402
from vnetlab.host import netns  # noqa: E402
from vnetlab.model.impairment import Impairment, netem_args, tap_name, tbf_args  # noqa: E402
from vnetlab.probe.icmp import build_echo_request, parse_icmpv4  # noqa: E402

NS = ("bimpa", "bimpb")
ADDR = ("10.201.0.1", "10.201.0.2")
IFNAME = "eth0"
TCP_PORT = 5201
PARTS = ("delay", "jitter", "loss", "rate", "overhead")
MARK = 0x766E6C31  # SO_MARK of the engine's frames when it sends through eth0's own path
MSS_FRAME = (1448, 1514)  # TCP payload (with timestamps) and the Ethernet frame carrying it


# ---------------------------------------------------------------- the link


def teardown() -> None:
    for name in NS:
        run(["ip", "netns", "del", name], check=False)


def build(userspace: bool, mark: Optional[int] = None) -> None:
    """The two namespaces and their veth; with ``userspace`` each end's egress is
    redirected into its TAP, as a lab's userspace path does."""
    teardown()
    for name in NS:
        run(["ip", "netns", "add", name])
    run(["ip", "-n", NS[0], "link", "add", IFNAME, "type", "veth", "peer", "name", IFNAME, "netns", NS[1]])
    for name, addr in zip(NS, ADDR):
        with netns.entered(name):
            netns.write_sysctl(f"net/ipv6/conf/{IFNAME}/disable_ipv6", "1")
        run(["ip", "-n", name, "addr", "add", f"{addr}/24", "dev", IFNAME])
        run(["ip", "-n", name, "link", "set", IFNAME, "up"])
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        if userspace:
            redirect(name, IFNAME, mark)
    for name, peer in zip(NS, reversed(ADDR)):  # no ARP in the measurements
        run(["ip", "-n", name, "neigh", "replace", peer, "lladdr", mac(NS[1] if name == NS[0] else NS[0]),
             "dev", IFNAME, "nud", "permanent"])


def mac(name: str) -> str:
    return json.loads(run(["ip", "-n", name, "-j", "link", "show", IFNAME]).stdout)[0]["address"]


def redirect(name: str, ifname: str, mark: Optional[int] = None) -> None:
    tap = tap_name(ifname)
    run(["ip", "-n", name, "tuntap", "add", "dev", tap, "mode", "tap"])
    with netns.entered(name):
        netns.write_sysctl(f"net/ipv6/conf/{tap}/disable_ipv6", "1")
    run(["ip", "-n", name, "link", "set", tap, "arp", "off", "up"])
    tc = ["ip", "netns", "exec", name, "tc"]
    run(tc + ["qdisc", "add", "dev", ifname, "clsact"])
    match = ["u32", "match", "u32", "0", "0"] if mark is None else ["bpf", "bytecode", pass_marked_bpf(mark)]
    run(tc + ["filter", "add", "dev", ifname, "egress", "protocol", "all", "prio", "1", *match,
              "action", "mirred", "egress", "redirect", "dev", tap])


def has_netem() -> bool:
    build(userspace=False)
    try:
        return run(["ip", "netns", "exec", NS[0], "tc", "qdisc", "add", "dev", IFNAME, "root", "netem", "delay",
                    "1ms"], check=False).returncode == 0
    finally:
        teardown()


def set_qdisc(name: str, kind: str, impairment: Optional[Impairment]) -> None:
    tc = ["ip", "netns", "exec", name, "tc", "qdisc"]
    if impairment is None:
        run(tc + ["del", "dev", IFNAME, "root"], check=False)
        return
    args = netem_args(impairment) if kind == "netem" else tbf_args(impairment)
    run(tc + ["replace", "dev", IFNAME, "root", kind, *args])


class Engine:
    """vnetlab's userspace engine carrying both ends, in a child process."""

    def __init__(self, impairments: tuple[Impairment, Impairment], bulk: bool = True,
                 mark: Optional[int] = None) -> None:
        spec = {"ends": [{"netns": name, "ifname": IFNAME, "tap": tap_name(IFNAME), "impairment": i.to_dict(),
                          "seed": n + 1, "bulk": bulk, "mark": mark} for n, (name, i) in enumerate(zip(NS, impairments))]}
        self.proc = subprocess.Popen([sys.executable, "-m", "vnetlab.agents.impair_engine", json.dumps(spec)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.proc.kill()
            raise RuntimeError(f"the engine did not start: {line!r}")

    def update(self, end: int, impairment: Impairment) -> None:
        self.proc.stdin.write(json.dumps({"end": end, "impairment": impairment.to_dict()}) + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def stop(self) -> list[dict]:
        self.proc.stdin.close()
        stats = json.loads(self.proc.stdout.readline())
        self.proc.wait(10)
        return stats


# ---------------------------------------------------------------- probes


SO_TIMESTAMPNS = 35


def ping(count: int, interval: float, timeout: float = 2.0) -> list[Optional[float]]:
    """``count`` echo requests from bimpa to bimpb, one every ``interval`` s; the
    RTT of each in ms (None: lost), from the kernel's receive timestamp."""
    with netns.entered(NS[0]):
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setblocking(False)
    ident = os.getpid() & 0xFFFF
    sent: dict[int, int] = {}
    rtts: list[Optional[float]] = [None] * count
    start = time.monotonic()
    deadline = math.inf
    answered = n = 0
    try:
        while True:
            now = time.monotonic()
            if n < count and now >= start + n * interval:
                sent[n] = time.time_ns()
                sock.sendto(build_echo_request(ident, n), (ADDR[1], 0))
                n += 1
                if n == count:
                    deadline = time.monotonic() + timeout
                continue
            if n == count and (answered == count or now >= deadline):
                break
            wait = (start + n * interval - now) if n < count else (deadline - now)
            readable, _, _ = select.select([sock], [], [], max(0.0, wait))
            while readable:
                try:
                    data, ancillary, _, _ = sock.recvmsg(2048, 64)
                except BlockingIOError:
                    break
                message = parse_icmpv4(data)
                if message is None or message.kind != "reply" or message.ident != ident:
                    continue
                stamp = next((struct.unpack("qq", d[:16]) for level, kind, d in ancillary
                              if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS), None)
                received = stamp[0] * 1_000_000_000 + stamp[1] if stamp else time.time_ns()
                seq = message.seq
                if seq < n and rtts[seq] is None:
                    rtts[seq] = (received - sent[seq]) / 1e6
                    answered += 1
    finally:
        sock.close()
    return rtts


def tcp_throughput(seconds: float) -> float:
    """Goodput in bit/s of one TCP stream from bimpa to bimpb for ``seconds``."""
    with netns.entered(NS[1]):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((ADDR[1], TCP_PORT))
    server.listen(1)
    received = [0, 0.0, 0.0]  # bytes after the warm-up, first and last time

    def receive() -> None:
        conn, _ = server.accept()
        buffer = bytearray(1 << 20)
        warm = time.monotonic() + min(0.5, seconds / 5)
        with conn:
            while True:
                size = conn.recv_into(buffer)
                if not size:
                    return
                now = time.monotonic()
                if now >= warm:
                    if not received[1]:
                        received[1] = now
                    else:
                        received[0] += size
                    received[2] = now

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    with netns.entered(NS[0]):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.settimeout(10)
    client.connect((ADDR[1], TCP_PORT))
    payload = bytes(1 << 20)
    end = time.monotonic() + seconds
    with client:
        while time.monotonic() < end:
            client.sendall(payload)
    thread.join(30)
    server.close()
    return received[0] * 8 / (received[2] - received[1]) if received[2] > received[1] else 0.0


# ---------------------------------------------------------------- statistics


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def binomial_99(n: int, p: float) -> tuple[int, int]:
    """The smallest and largest count of a Binomial(n, p) inside its central 99%."""
    # a normal approximation with continuity is plenty at n = 10,000
    sd = math.sqrt(n * p * (1 - p))
    return math.ceil(n * p - 2.576 * sd - 0.5), math.floor(n * p + 2.576 * sd + 0.5)


@dataclass
class Row:
    part: str
    mechanism: str
    asked: str
    measured: str
    verdict: str = ""
    data: dict = field(default_factory=dict)


# ---------------------------------------------------------------- the parts


def with_link(mechanism: str, impairments: tuple[Impairment, Impairment], bulk: bool = True,
              mark: Optional[int] = None):
    """A context manager: the link built for ``mechanism`` with ``impairments`` per end."""
    class _Link:
        engine: Optional[Engine] = None

        def __enter__(self):
            build(userspace=mechanism == "userspace", mark=mark)
            if mechanism == "userspace":
                self.engine = Engine(impairments, bulk=bulk, mark=mark)
            elif mechanism in ("netem", "tbf"):
                for name, impairment in zip(NS, impairments):
                    if not impairment.empty:
                        set_qdisc(name, mechanism, impairment)
            ping(20, 0.01)  # warm up: neighbours, caches
            return self

        def __exit__(self, *exc):
            if self.engine is not None:
                self.stats = self.engine.stop()
            teardown()

    return _Link()


def part_delay(mechanisms: list[str], count: int) -> list[Row]:
    rows = []
    both = Impairment(delay=20_000)
    for mechanism in mechanisms:
        with with_link(mechanism, (both, both)):
            rtts = [r for r in ping(count, 0.001) if r is not None]
        mean = statistics.fmean(rtts)
        rows.append(Row("delay", mechanism, "delay 20ms each way: RTT 40 ms",
                        f"mean {mean:.3f} ms, p50 {percentile(rtts, 50):.3f}, p99 {percentile(rtts, 99):.3f}, "
                        f"min {min(rtts):.3f}, max {max(rtts):.3f} ({len(rtts)}/{count} answered)",
                        "within ±1 ms" if abs(mean - 40) <= 1 else "OUTSIDE ±1 ms",
                        {"mean": mean, "p50": percentile(rtts, 50), "p99": percentile(rtts, 99), "n": len(rtts)}))
    return rows


def part_jitter(mechanisms: list[str], count: int, base: float) -> list[Row]:
    rows = []
    for distribution, expected_sd in ((None, 5 / math.sqrt(3)), ("normal", 5.0)):
        one = Impairment(delay=20_000, jitter=5_000, distribution=distribution)
        for mechanism in mechanisms:
            with with_link(mechanism, (one, Impairment())):
                rtts = [r for r in ping(count, 0.002) if r is not None]
            one_way = [r - base for r in rtts]
            sd = statistics.pstdev(one_way)
            rows.append(Row("jitter", mechanism, f"delay 20ms jitter 5ms {distribution or 'uniform (default)'}: "
                            f"σ {expected_sd:.2f} ms" + (", 15..25 ms" if distribution is None else ""),
                            f"one-way mean {statistics.fmean(one_way):.3f} ms, σ {sd:.3f} ms, "
                            f"min {min(one_way):.3f}, max {max(one_way):.3f}, p1 {percentile(one_way, 1):.3f}, "
                            f"p99 {percentile(one_way, 99):.3f}",
                            f"σ {100 * (sd / expected_sd - 1):+.1f}%",
                            {"sd": sd, "expected_sd": expected_sd, "min": min(one_way), "max": max(one_way)}))
    return rows


def part_loss(mechanisms: list[str], count: int) -> list[Row]:
    rows = []
    for percent in (1.0, 10.0, 50.0):
        one = Impairment(loss=percent)
        for mechanism in mechanisms:
            with with_link(mechanism, (one, Impairment())):
                rtts = ping(count, 0.0002)
            lost = sum(r is None for r in rtts)
            low, high = binomial_99(count, percent / 100)
            rows.append(Row("loss", mechanism, f"loss {percent:g}% of {count} pings: 99% interval {low}..{high}",
                            f"{lost} lost ({100 * lost / count:.2f}%)",
                            "inside" if low <= lost <= high else "OUTSIDE",
                            {"lost": lost, "count": count, "low": low, "high": high}))
    return rows


def part_rate(mechanisms: list[str], seconds: float) -> list[Row]:
    rows = []
    for rate in (10_000_000, 100_000_000):
        one = Impairment(rate=rate)
        for mechanism in mechanisms:
            link = with_link(mechanism, (one, Impairment()))
            with link:
                goodput = tcp_throughput(seconds)
            allowed = rate * MSS_FRAME[0] / MSS_FRAME[1]
            wire = ""
            if mechanism == "userspace":
                sent = link.stats[0]
                wire = f"; engine: {sent['sent']} frames sent, {sent['overlimit']} over the limit"
            rows.append(Row("rate", mechanism, f"rate {rate // 1_000_000}mbit (TCP goodput at most {allowed / 1e6:.1f})",
                            f"{goodput / 1e6:.2f} Mbit/s{wire}",
                            f"{100 * (goodput / rate - 1):+.1f}% of the rate "
                            f"({'within' if abs(goodput / rate - 1) <= 0.05 else 'OUTSIDE'} ±5%), "
                            f"{100 * (goodput / allowed - 1):+.1f}% of the goodput it allows",
                            {"goodput": goodput, "rate": rate, "allowed": allowed}))
    return rows


def part_overhead(count: int, seconds: float) -> list[Row]:
    rows = []
    results = {}
    for label, mechanism, bulk, mark in (
            ("plain veth", "none", True, None),
            ("userspace, whole GSO frames", "userspace", True, None),
            ("userspace, whole GSO frames, marked (a capture on eth0 sees them)", "userspace", True, MARK),
            ("userspace, per frame", "userspace", False, None)):
        with with_link(mechanism, (Impairment(), Impairment()), bulk=bulk, mark=mark):
            rtts = [r for r in ping(count, 0.001) if r is not None]
            throughput = tcp_throughput(seconds)
        results[label] = (statistics.fmean(rtts), percentile(rtts, 50), percentile(rtts, 99), throughput)
    base = results["plain veth"]
    for label, (mean, p50, p99, throughput) in results.items():
        rows.append(Row("overhead", label, "no impairment",
                        f"TCP {throughput / 1e9:.2f} Gbit/s, RTT mean {mean * 1000:.0f} µs, p50 {p50 * 1000:.0f} µs, "
                        f"p99 {p99 * 1000:.0f} µs",
                        "" if label == "plain veth" else
                        f"throughput ×{throughput / base[3]:.3f}, RTT +{(mean - base[0]) * 1000:.0f} µs mean, "
                        f"+{(p99 - base[2]) * 1000:.0f} µs p99",
                        {"throughput": throughput, "rtt_mean": mean, "rtt_p50": p50, "rtt_p99": p99}))
    return rows


# ---------------------------------------------------------------- main


def markdown(rows: list[Row], env: dict, mechanisms: list[str]) -> str:
    lines = ["# Link impairments: what each mechanism does against what it is told", "",
             f"`benchmarks/impair.py` on {env['date']}: kernel {env['kernel']}, {env['cpus']} CPUs, "
             f"Python {env['python']}, commit {env['commit']}, load {env['load']}. Mechanisms here: "
             f"{', '.join(mechanisms)}.", "",
             "| part | mechanism | asked | measured | verdict |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.part} | {row.mechanism} | {row.asked} | {row.measured} | {row.verdict} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(PARTS), help=f"parts to run: {','.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="fewer probes and shorter transfers")
    parser.add_argument("--markdown", default=str(REPO / "benchmarks" / "results" / "impair.md"))
    parser.add_argument("--json", action="store_true", help="the rows as JSON on stdout")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("impair.py: needs root (network namespaces)")
    parts = [p for p in args.only.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        sys.exit(f"impair.py: unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    pings = 1000 if args.quick else 10_000
    seconds = 2.0 if args.quick else 5.0
    netem = has_netem()
    delay_mechanisms = ["userspace"] + (["netem"] if netem else [])
    rate_mechanisms = delay_mechanisms + ["tbf"]
    rows: list[Row] = []
    try:
        base = None
        if "jitter" in parts:
            with with_link("none", (Impairment(), Impairment())):
                base = statistics.fmean(r for r in ping(500, 0.002) if r is not None)
        for part in parts:
            print(f"impair.py: {part} …", file=sys.stderr, flush=True)
            if part == "delay":
                rows += part_delay(delay_mechanisms, pings // 5)
            elif part == "jitter":
                rows += part_jitter(delay_mechanisms, pings // 2, base or 0.0)
            elif part == "loss":
                rows += part_loss(delay_mechanisms, pings)
            elif part == "rate":
                rows += part_rate(rate_mechanisms, seconds)
            elif part == "overhead":
                rows += part_overhead(pings // 5, seconds)
    finally:
        teardown()
    env = environment(vnetlab_cli("impair.py"))
    text = markdown(rows, env, rate_mechanisms)
    write_markdown(args.markdown, text)
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], indent=1))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
