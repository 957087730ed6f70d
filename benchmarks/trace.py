"""How long one `vnetlab trace` takes: answered, refused, dropped, lost, and
along a chain of N routers (every node of the lab runs a capture, so the
cost grows with the lab's size, not only with the path) — over IPv4 and
IPv6 side by side, on the same dual-stack labs in the same run.

Run as root from the repository:

    sudo .venv/bin/python benchmarks/trace.py [--routers 2,8,16] [--repeat 5]

Prints a markdown table of median seconds per trace (in-process, no CLI
start-up) for each family and their ratio. Nothing here is asserted; the
tests are in tests/.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from vnetlab.lab import Lab
from vnetlab.probe.trace import trace

FIREWALLED = """
lab: trcbench
nodes:
  a:
    interfaces: {eth0: {addresses: [10.71.1.10/24, "fd71:1::10/64"]}}
    routes: [{to: default, via: 10.71.1.1}, {to: default, via: "fd71:1::1"}]
  r:
    kind: router
    interfaces:
      eth0: {addresses: [10.71.1.1/24, "fd71:1::1/64"]}
      eth1: {addresses: [10.71.2.1/24, "fd71:2::1/64"]}
  b:
    interfaces: {eth0: {addresses: [10.71.2.10/24, "fd71:2::10/64"]}}
    routes: [{to: default, via: 10.71.2.1}, {to: default, via: "fd71:2::1"}]
    services: [{listen: tcp/80}]
    firewall:
      input:
        policy: drop
        rules:
          - {action: accept, proto: tcp, port: 80}
          - {action: accept, proto: icmp}
          - {action: reject, proto: tcp, port: 23}
links: [[a:eth0, r:eth0], [r:eth1, b:eth0]]
"""


def _addresses(link: int, host: int) -> str:
    """The IPv4 and IPv6 address of ``host`` on the chain's ``link``-th subnet."""
    return f'{{addresses: [10.72.{link}.{host}/24, "fd72:{link}::{host}/64"]}}'


def _route(to_link: int, via_link: int, via_host: int) -> str:
    return (f'{{to: 10.72.{to_link}.0/24, via: 10.72.{via_link}.{via_host}}}, '
            f'{{to: "fd72:{to_link}::/64", via: "fd72:{via_link}::{via_host}"}}')


def chain(routers: int) -> str:
    """h0 - r1 - r2 - ... - rN - h1, one /24 and one /64 per link."""
    lines = ["lab: trcchain", "nodes:", "  h0:", f"    interfaces: {{eth0: {_addresses(0, 10)}}}",
             '    routes: [{to: default, via: 10.72.0.1}, {to: default, via: "fd72:0::1"}]']
    for i in range(1, routers + 1):
        routes = [_route(0, i - 1, 1)] if i > 1 else []
        if i < routers:
            routes.append(_route(routers, i, 2))
        lines += [f"  r{i}:", "    kind: router", "    interfaces:",
                  f"      eth0: {_addresses(i - 1, 1 if i == 1 else 2)}", f"      eth1: {_addresses(i, 1)}"]
        if routes:
            lines.append(f"    routes: [{', '.join(routes)}]")
    lines += ["  h1:", f"    interfaces: {{eth0: {_addresses(routers, 10)}}}",
              f'    routes: [{{to: default, via: 10.72.{routers}.1}}, {{to: default, via: "fd72:{routers}::1"}}]',
              "links:", "  - [h0:eth0, r1:eth0]"]
    lines += [f"  - [r{i}:eth1, r{i + 1}:eth0]" for i in range(1, routers)]
    lines.append(f"  - [r{routers}:eth1, h1:eth0]")
    return "\n".join(lines) + "\n"


def timed(lab: Lab, repeat: int, *args, **kwargs) -> tuple[float, str]:
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = trace(lab.spec, lab.namespace_of, *args, **kwargs)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), f"{result.result} ({result.by})"


Case = tuple[str, tuple[str, str], tuple[str, str], dict]  # name, (src, dst) for IPv4, for IPv6, kwargs


def run_lab(text: str, cases: list[Case], repeat: int) -> list[tuple[str, tuple[float, str], tuple[float, str]]]:
    """Each case traced over IPv4 and then over IPv6, ``repeat`` times each, on one lab."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "lab.yaml"
        path.write_text(text)
        lab = Lab.load(path)
        lab.up()
        try:
            return [(name, timed(lab, repeat, *four, **kwargs), timed(lab, repeat, *six, **kwargs))
                    for name, four, six, kwargs in cases]
        finally:
            lab.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", default="2,8,16", help="chain lengths (default 2,8,16)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = run_lab(FIREWALLED, [
        ("icmp answered (3 nodes)", ("a", "b"), ("a", "fd71:2::10"), {}),
        ("tcp open (3 nodes)", ("a", "b:80"), ("a", "[fd71:2::10]:80"), {"proto": "tcp"}),
        ("tcp refused by reject (3 nodes)", ("a", "b:23"), ("a", "[fd71:2::10]:23"), {"proto": "tcp"}),
        ("tcp dropped by policy, 1 s timeout (3 nodes)", ("a", "b:22"), ("a", "[fd71:2::10]:22"), {"proto": "tcp"}),
        ("icmp lost, no ARP / NDP answer, 1 s timeout (3 nodes)", ("a", "10.71.2.99"), ("a", "fd71:2::99"), {}),
    ], args.repeat)
    for routers in (int(n) for n in args.routers.split(",")):
        rows += run_lab(chain(routers), [(f"icmp answered through {routers} routers ({routers + 2} nodes)",
                                          ("h0", f"10.72.{routers}.10"),
                                          ("h0", f"fd72:{routers}::10"), {})], args.repeat)
    print("| trace | IPv4 median s | IPv6 median s | IPv6 / IPv4 | result (IPv4 / IPv6) |\n|---|---|---|---|---|")
    for name, (four, four_result), (six, six_result) in rows:
        print(f"| {name} | {four:.3f} | {six:.3f} | {six / four:.2f} | {four_result} / {six_result} |")


if __name__ == "__main__":
    main()
