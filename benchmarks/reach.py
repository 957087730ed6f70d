"""``vnetlab reach`` on 50 nodes (2,450 pairs), against forked ``ping`` per pair.

    .venv/bin/python benchmarks/reach.py [--nodes 50] [--repeat 3] [--forked-sample 100]

Builds a star of N-1 hosts around one router (each host on its own /24, so
the matrix needs about 2·N ARP entries — well within the kernel-wide table of
1024), then times, as medians over ``--repeat`` runs:

- ``reach``: ``vnetlab reach LAB --json`` as users run it (a subprocess:
  Python start and lab load included) and the matrix alone (its ``seconds``);
- ``forked ping``: ``ip netns exec SRC ping -c1 -W1 DST`` one pair after
  another for ``--forked-sample`` pairs, extrapolated to every pair.

It also probes a flat 50-host segment (2,450 ARP entries): refused before
anything is sent where gc_thresh3 is the default 1024, then measured with
``reach --raise-neigh-limit`` (the first run resolves every ARP entry, the
later ones find them cached), the limit checked while the lab is up and
after its down. ``--baseline CLI`` asks another vnetlab for the same matrix.
Prints one JSON object; removes its labs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import allow_bytecode  # noqa: E402

VNETLAB = [sys.executable, "-m", "vnetlab.cli"]


def star_lab(nodes: int) -> str:
    lines = ["lab: obsreach", "nodes:", "  r:", "    kind: router", "    interfaces:"]
    hosts = nodes - 1
    lines += [f"      eth{i}: {{address: 10.{i // 200}.{i % 200}.1/24}}" for i in range(hosts)]
    for i in range(hosts):
        lines += [f"  h{i}:", f"    interfaces: {{eth0: {{address: 10.{i // 200}.{i % 200}.2/24}}}}",
                  f"    routes: [{{to: default, via: 10.{i // 200}.{i % 200}.1}}]"]
    lines.append("links:")
    lines += [f"  - [h{i}:eth0, r:eth{i}]" for i in range(hosts)]
    return "\n".join(lines) + "\n"


def flat_lab(nodes: int) -> str:
    lines = ["lab: obsflat", "nodes:", "  sw: {kind: switch}"]
    lines += [f"  h{i}: {{interfaces: {{eth0: {{address: 10.9.{i // 250}.{i % 250 + 1}/16}}}}}}" for i in range(nodes)]
    lines.append("links:")
    lines += [f"  - [h{i}:eth0, sw:p{i}]" for i in range(nodes)]
    return "\n".join(lines) + "\n"


def gc_thresh3() -> int:
    with open("/proc/sys/net/ipv4/neigh/default/gc_thresh3") as handle:
        return int(handle.read())


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*VNETLAB, *args], capture_output=True, text=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--forked-sample", type=int, default=100)
    parser.add_argument("--baseline", metavar="CLI", help="also ask this vnetlab to probe the flat segment")
    args = parser.parse_args()
    allow_bytecode()
    result: dict = {"nodes": args.nodes, "pairs": args.nodes * (args.nodes - 1)}
    with tempfile.TemporaryDirectory() as tmp:
        star, flat = os.path.join(tmp, "star.yaml"), os.path.join(tmp, "flat.yaml")
        open(star, "w").write(star_lab(args.nodes))
        open(flat, "w").write(flat_lab(args.nodes))
        try:
            subprocess.run([*VNETLAB, "up", "-q", star], check=True)
            walls, matrix, reachable = [], [], []
            for _ in range(args.repeat):
                started = time.perf_counter()
                done = run("reach", "obsreach", "--json")
                walls.append(time.perf_counter() - started)
                data = json.loads(done.stdout)
                matrix.append(data["seconds"])
                reachable.append(data["reachable"])
            result["reach_command_s"] = round(statistics.median(walls), 3)
            result["reach_matrix_s"] = round(statistics.median(matrix), 3)
            result["reachable"] = reachable
            result["neighbour_entries"] = data["neighbour_entries"]
            pairs = [(f"h{i}", f"10.{j // 200}.{j % 200}.2") for i in range(args.nodes - 1)
                     for j in range(args.nodes - 1) if i != j][:args.forked_sample]
            started = time.perf_counter()
            ok = sum(subprocess.run(["ip", "netns", "exec", f"obsreach-{src}", "ping", "-c1", "-W1", dst],
                                    capture_output=True).returncode == 0 for src, dst in pairs)
            per_pair = (time.perf_counter() - started) / len(pairs)
            result["forked_ping_per_pair_s"] = round(per_pair, 4)
            result["forked_ping_all_pairs_s_extrapolated"] = round(per_pair * result["pairs"], 1)
            result["forked_ping_ok"] = f"{ok}/{len(pairs)}"
        finally:
            subprocess.run([*VNETLAB, "down", "-q", "obsreach"])
        try:
            subprocess.run([*VNETLAB, "up", "-q", flat], check=True)
            before = gc_thresh3()
            refused = run("reach", "obsflat", "--json")
            result["flat_without_flag"] = {"exit": refused.returncode, "gc_thresh3": before,
                                           "message": refused.stderr.strip()[:160]}
            if args.baseline:  # the same lab, probed by the other CLI (its reach has no flag)
                old = subprocess.run([args.baseline, "reach", "obsflat", "--json"], capture_output=True, text=True)
                result["flat_baseline"] = {"exit": old.returncode, "message": old.stderr.strip()[:160]}
            walls, matrix = [], []
            for _ in range(args.repeat):
                started = time.perf_counter()
                done = run("reach", "obsflat", "--raise-neigh-limit", "--json")
                walls.append(time.perf_counter() - started)
                data = json.loads(done.stdout)
                matrix.append(data["seconds"])
            result["flat_with_flag"] = {
                "command_first_s": round(walls[0], 3), "matrix_first_s": round(matrix[0], 3),
                "command_later_median_s": round(statistics.median(walls[1:] or walls), 3),
                "matrix_later_median_s": round(statistics.median(matrix[1:] or matrix), 3),
                "reachable": data["reachable"], "pairs": data["pairs"],
                "neighbour_entries": data["neighbour_entries"], "gc_thresh3_while_up": gc_thresh3(),
            }
        finally:
            subprocess.run([*VNETLAB, "down", "-q", "obsflat"])
        result["gc_thresh3_after_down"] = gc_thresh3()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
