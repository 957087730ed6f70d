#!/usr/bin/env python3
"""`vnetlab graph` benchmark: the picture of the three-tier 1,000-host lab.

The lab file is benchmarks/three_tier.py's (an edge router, two core
routers, 10 distribution switches, N hosts). Each case is the CLI as users
run it (a subprocess, interpreter start-up included), median of
``--repeat`` runs: ``vnetlab graph FILE -o OUT`` folded (10 "100 hosts"
groups) and ``--expand``ed (every host drawn), as SVG (Graphviz lays it out
and draws it) and as JSON (with Graphviz's positions for the web map), and
an HTML page. The baseline, measured in the same run, is ``vnetlab validate``
of the same file: reading and judging the file, which every graph pays too.
Target: every case under 5 s. This is a benchmark, never a test.

    .venv/bin/python benchmarks/graph.py                 # N = 1000
    .venv/bin/python benchmarks/graph.py --hosts 5000 --repeat 1
    sudo kernel-lock .venv/bin/python benchmarks/graph.py --live   # + a running lab's live state

No root, no kernel: it only reads a file and runs Graphviz — but with
``--live``, which brings the lab up (and down after) and times the picture
of the running lab: its cut cables, impairments, each link end's state read
from its namespace, the last check results.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import allow_bytecode, environment, run, timed_process, vnetlab_cli, write_markdown  # noqa: E402
from three_tier import three_tier_yaml  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "graph.md")
TARGET = 5.0


def picture(out: str) -> str:
    """The picture's width × height in points: an SVG's own, a JSON's ``positions`` extent."""
    if out.endswith(".svg"):
        with open(out, encoding="utf-8") as handle:
            found = re.search(r'<svg width="([0-9.]+)pt" height="([0-9.]+)pt"', handle.read(2000))
        return f"{float(found[1]):.0f} × {float(found[2]):.0f}" if found else ""
    if out.endswith(".json"):
        with open(out, encoding="utf-8") as handle:
            at = json.load(handle).get("positions") or {}
        if at:
            xs, ys = [p["x"] for p in at.values()], [p["y"] for p in at.values()]
            return f"{max(xs) - min(xs):.0f} × {max(ys) - min(ys):.0f} (positions)"
    return ""


def measure(cases: list, repeat: int):
    """(title, median seconds, peak RSS MB, output bytes, picture size) per case; None if one failed."""
    rows = []
    for title, argv, out in cases:
        runs = [timed_process(argv) for _ in range(repeat)]
        failed = [r for r in runs if r.returncode != 0]
        if failed:
            print(f"{title}: exit {failed[0].returncode}: {failed[0].stderr}", file=sys.stderr)
            return None
        seconds = statistics.median(r.seconds for r in runs)
        size = os.path.getsize(out) if out else None
        rows.append((title, seconds, max(r.peak_rss_mb for r in runs), size, picture(out) if out else ""))
        print(f"  {title}: {seconds:.3f} s", file=sys.stderr)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=1000)
    p.add_argument("--dists", type=int, default=10)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--live", action="store_true",
                   help="also bring the lab up (root) and time `vnetlab graph LAB` with its live state")
    p.add_argument("--markdown", default=RESULTS, help="write the table here ('' to skip)")
    args = p.parse_args(argv)
    if args.live and os.geteuid() != 0:
        p.error("--live needs root (it brings the lab up)")
    allow_bytecode()
    vnetlab = vnetlab_cli("graph.py")
    workdir = tempfile.mkdtemp(prefix="vnetlab-graph-")
    labfile = os.path.join(workdir, "three-tier.yaml")
    with open(labfile, "w") as handle:
        handle.write(three_tier_yaml(f"b3t{args.hosts}"[:10], args.hosts, args.dists, 20))
    cases = [("vnetlab validate (baseline)", [vnetlab, "validate", labfile], None)]
    for expand in (False, True):
        for ext in ("svg", "json", "html"):
            out = os.path.join(workdir, f"graph{'-expand' if expand else ''}.{ext}")
            cases.append((f"vnetlab graph -o .{ext}{' --expand' if expand else ''}",
                          [vnetlab, "graph", labfile, "-o", out] + (["--expand"] if expand else []), out))
    lab = f"b3t{args.hosts}"[:10]
    if args.live:
        for expand in (False, True):
            out = os.path.join(workdir, f"live{'-expand' if expand else ''}.json")
            cases.append((f"vnetlab graph LAB -o .json{' --expand' if expand else ''} (live)",
                          [vnetlab, "graph", lab, "-o", out] + (["--expand"] if expand else []), out))
        run([vnetlab, "down", lab, "-q"], check=False)
        run([vnetlab, "up", labfile, "-q", "--raise-neigh-limit"])
    try:
        rows = measure(cases, args.repeat)
    finally:
        if args.live:
            run([vnetlab, "down", lab, "-q"], check=False)
    if rows is None:
        return 1
    base = rows[0][1]
    env = environment(vnetlab)
    md = [
        "# `vnetlab graph` on the three-tier lab",
        "",
        f"{args.hosts} hosts on {args.dists} distribution switches, 2 core routers, an edge router and 'inet' "
        f"({args.hosts + args.dists + 4} nodes, {args.hosts + args.dists + 3} links; the file of "
        "benchmarks/three_tier.py). Folded: each switch's hosts are one 'N hosts' node (24 nodes drawn); "
        f"--expand draws all {args.hosts + args.dists + 4}. Each row is the CLI in its own process "
        f"(interpreter start-up included), median of {args.repeat}; the baseline is `vnetlab validate` of the "
        f"same file. Target: under {TARGET:.0f} s. Generated by "
        f"`{shlex.join(['benchmarks/graph.py'] + (argv if argv is not None else sys.argv[1:]))}`.",
        "",
        f"Machine: Linux {env['kernel']}, {env['cpus']} CPUs, Python {env['python']}, load {env['load']}; "
        f"vnetlab {env['commit']}; {env['date']}.",
        "",
        "| command | seconds | × validate | peak RSS (MB) | output | picture (pt) | under target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for title, seconds, rss, size, shape in rows:
        shown = "" if size is None else f"{size / 1024:.0f} KiB"
        md.append(f"| {title} | {seconds:.3f} | {seconds / base:.1f} | {rss:.0f} | {shown} | {shape} | "
                  f"{'yes' if seconds < TARGET else 'NO'} |")
    md += ["", "SVG is laid out and drawn by Graphviz's dot; the JSON and the HTML page carry dot's layout "
           "(`positions`, from `dot -Tplain`) for the web map. Above 400 nodes the DOT leaves the per-end labels "
           "out (still in the JSON), which keeps dot near linear. A node with more than 8 hosts (one link "
           "each) has them in rows under it, its edges sharing their way down like a bus (dot's concentrate): "
           "expanded, each switch's 100 hosts are 5 columns × 20 rows, so the picture is about twice as wide "
           "as high (one rank of 1,000 hosts was 76,230 × 348 pt before)."]
    if args.live:
        md += ["", "(live): the lab is up (`vnetlab up --raise-neigh-limit`); the picture reads every link end's "
               "state in its namespace (one netlink dump per node), the applied plan, runtime.json and checks.json."]
    md.append("")
    text = "\n".join(md)
    print(text)
    write_markdown(args.markdown, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
