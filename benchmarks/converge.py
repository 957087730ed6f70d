#!/usr/bin/env python3
"""Convergence benchmark: what `up` costs on a lab that is already running.

On a star of N hosts (as in benchmarks/star.py) it times, through the CLI as
users run it (a subprocess each, interpreter start-up included):

  up            the first ``vnetlab up`` (for scale)
  re-up         ``vnetlab up`` of the unchanged file (reads the lab back, changes nothing)
  plan          ``vnetlab plan`` of a file with one more route (the diff, as + / - / ~ lines)
  status        ``vnetlab status LAB --json`` (the status tables plus drift)
  converge      ``vnetlab up`` of that file: one route added, nothing else touched
  drift         the in-process read-back and diff alone (``observe.drift.drift``)
  down          ``vnetlab down``

and checks, outside the timed region, that the converging ``up`` changed
exactly one object and that every interface kept its ifindex.

This is a benchmark, never a test: nothing here asserts a time.

    .venv/bin/python benchmarks/converge.py                 # N = 50, 200, 1000
    .venv/bin/python benchmarks/converge.py --sizes 200

Needs root. Its labs are named ``bcv<N>`` and removed by exact name.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import yaml

VNETLAB = [sys.executable, "-m", "vnetlab.cli"]
STEPS = ("up", "re-up", "plan", "status", "converge", "drift", "down")


def star(lab: str, n: int, extra_route: bool) -> dict:
    nodes: dict = {"sw": {"kind": "switch"}}
    for i in range(1, n + 1):
        nodes[f"h{i}"] = {"interfaces": {"eth0": {"address": f"10.{i // 250}.{i % 250}.1/16"}}}
    if extra_route:
        nodes["h1"]["routes"] = [{"to": "192.0.2.0/24", "via": "10.0.1.254"}]
    return {"lab": lab, "nodes": nodes, "links": [[f"h{i}:eth0", f"sw:p{i}"] for i in range(1, n + 1)]}


def timed(argv: list[str]) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run([*VNETLAB, *argv], capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"vnetlab {' '.join(argv)} failed:\n{done.stderr}")
    return seconds, done.stdout


def indexes(lab: str) -> dict:
    from vnetlab.host import netns
    from vnetlab.observe import rtnl

    return {(ns, link["name"]): link["index"] for ns in netns.list_names() if ns.startswith(f"{lab}-")
            for link in rtnl.read(ns)[0]}


def run(n: int, workdir: str) -> dict[str, float]:
    from vnetlab.observe.drift import drift

    lab = f"bcv{n}"
    base, changed = os.path.join(workdir, f"{lab}.yaml"), os.path.join(workdir, f"{lab}-route.yaml")
    for path, extra in ((base, False), (changed, True)):
        with open(path, "w") as handle:
            yaml.safe_dump(star(lab, n, extra), handle)
    subprocess.run([*VNETLAB, "down", "-q", lab], check=True)
    result: dict[str, float] = {}
    try:
        result["up"], _ = timed(["up", "-q", base])
        result["re-up"], _ = timed(["up", "-q", base])
        result["plan"], _ = timed(["plan", changed])
        result["status"], _ = timed(["status", lab, "--json"])
        before = indexes(lab)
        result["converge"], out = timed(["up", "--json", changed])
        report = json.loads(out)
        assert report["changed"] == 1 and len(report["converged"]) == 1, report
        assert indexes(lab) == before, "an interface was re-created"
        started = time.monotonic()
        assert drift(lab).changes == []
        result["drift"] = time.monotonic() - started
    finally:
        result["down"], _ = timed(["down", "-q", lab])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200,1000")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces)")
    sizes = [int(size) for size in args.sizes.split(",")]
    rows = {}
    with tempfile.TemporaryDirectory() as workdir:
        for n in sizes:
            rows[n] = run(n, workdir)
            print(f"N={n}: " + ", ".join(f"{step} {rows[n][step]:.2f} s" for step in STEPS), flush=True)
    print()
    print("| N | " + " | ".join(STEPS) + " |")
    print("|---|" + "---|" * len(STEPS))
    for n, row in rows.items():
        print(f"| {n} | " + " | ".join(f"{row[step]:.2f} s" for step in STEPS) + " |")


if __name__ == "__main__":
    main()
