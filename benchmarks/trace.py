"""How long one `vnetlab trace` takes: answered, refused, dropped, lost, and
along a chain of N routers (every node of the lab runs a capture, so the
cost grows with the lab's size, not only with the path).

Run as root from the repository:

    sudo .venv/bin/python benchmarks/trace.py [--routers 2,8,16] [--repeat 5]

Prints a markdown table of median seconds per trace (in-process, no CLI
start-up). Nothing here is asserted; the tests are in tests/.
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
    interfaces: {eth0: {address: 10.71.1.10/24}}
    routes: [{to: default, via: 10.71.1.1}]
  r:
    kind: router
    interfaces: {eth0: {address: 10.71.1.1/24}, eth1: {address: 10.71.2.1/24}}
  b:
    interfaces: {eth0: {address: 10.71.2.10/24}}
    routes: [{to: default, via: 10.71.2.1}]
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


def chain(routers: int) -> str:
    """h0 - r1 - r2 - ... - rN - h1, one /24 per link."""
    lines = ["lab: trcchain", "nodes:",
             "  h0:", "    interfaces: {eth0: {address: 10.72.0.10/24}}", "    routes: [{to: default, via: 10.72.0.1}]"]
    for i in range(1, routers + 1):
        routes = [f"{{to: 10.72.0.0/24, via: 10.72.{i - 1}.1}}"] if i > 1 else []
        if i < routers:
            routes.append(f"{{to: 10.72.{routers}.0/24, via: 10.72.{i}.2}}")
        lines += [f"  r{i}:", "    kind: router", "    interfaces:",
                  f"      eth0: {{address: 10.72.{i - 1}.{1 if i == 1 else 2}/24}}",
                  f"      eth1: {{address: 10.72.{i}.1/24}}"]
        if routes:
            lines.append(f"    routes: [{', '.join(routes)}]")
    lines += ["  h1:", f"    interfaces: {{eth0: {{address: 10.72.{routers}.10/24}}}}",
              f"    routes: [{{to: default, via: 10.72.{routers}.1}}]", "links:",
              "  - [h0:eth0, r1:eth0]"]
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


def run_lab(text: str, cases: list[tuple[str, tuple, dict]], repeat: int) -> list[tuple[str, float, str]]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "lab.yaml"
        path.write_text(text)
        lab = Lab.load(path)
        lab.up()
        try:
            return [(name, *timed(lab, repeat, *args, **kwargs)) for name, args, kwargs in cases]
        finally:
            lab.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", default="2,8,16", help="chain lengths (default 2,8,16)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = run_lab(FIREWALLED, [
        ("icmp answered (3 nodes)", ("a", "b"), {}),
        ("tcp open (3 nodes)", ("a", "b:80"), {"proto": "tcp"}),
        ("tcp refused by reject (3 nodes)", ("a", "b:23"), {"proto": "tcp"}),
        ("tcp dropped by policy, 1 s timeout (3 nodes)", ("a", "b:22"), {"proto": "tcp"}),
        ("icmp lost, no ARP answer, 1 s timeout (3 nodes)", ("a", "10.71.2.99"), {}),
    ], args.repeat)
    for routers in (int(n) for n in args.routers.split(",")):
        rows += run_lab(chain(routers), [(f"icmp answered through {routers} routers ({routers + 2} nodes)",
                                          ("h0", "h1"), {})], args.repeat)
    print("| trace | median s | result |\n|---|---|---|")
    for name, seconds, result in rows:
        print(f"| {name} | {seconds:.3f} | {result} |")


if __name__ == "__main__":
    main()
