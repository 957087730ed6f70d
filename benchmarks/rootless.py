#!/usr/bin/env python3
"""Rootless vs root: the same star lab built and removed by `vnetlab up`/`down`
as root and as an ordinary user (in its lab root), side by side in one run.

For each N the two alternate (root, user, root, user, …), each build checked
by a ping from the first host to the last through `vnetlab exec`, and the
kernel is let free the namespaces of the last teardown before the next timed
build. The user is made for the run (tests/integration/rootless_users.py)
and removed after; as in the tests, /dev/net/tun is not needed (a star has
no TAP). The user's command runs through `runuser`, which adds a few
milliseconds.

    .venv/bin/python benchmarks/rootless.py                 # N = 200, 1000
    .venv/bin/python benchmarks/rootless.py --sizes 200 --repeat 5

A benchmark, never a test: nothing here asserts a time. Needs root (to make the user).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "integration"))
from benchlib import REPO, environment, timed_process, wait_kernel_quiet, write_markdown  # noqa: E402
from rootless_users import made_users  # noqa: E402
from star import host_address, star_yaml  # noqa: E402


def build(argv_of, labfile: str, lab: str, n: int) -> tuple[float, float]:
    up = timed_process(argv_of("up", labfile, "-q"))
    if up.returncode != 0:
        raise RuntimeError(f"up failed: {up.stderr}")
    last = host_address(n).split("/")[0]
    ping = subprocess.run(argv_of("exec", lab, "h1", "--", "ping", "-c", "1", "-W", "2", last),
                          capture_output=True, text=True, timeout=60)
    down = timed_process(argv_of("down", lab, "-q"))
    if ping.returncode != 0:
        raise RuntimeError(f"the star does not forward: {ping.stdout}{ping.stderr}")
    if down.returncode != 0:
        raise RuntimeError(f"down failed: {down.stderr}")
    return up.seconds, down.seconds


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="200,1000")
    p.add_argument("--repeat", type=int, default=3, help="runs of each mode per N (medians reported)")
    p.add_argument("--markdown", default=str(REPO / "benchmarks" / "results" / "rootless.md"))
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("rootless.py: needs root (it makes the ordinary user it compares with)", file=sys.stderr)
        return 3
    sizes = [int(x) for x in args.sizes.split(",")]
    vnetlab = os.path.join(os.path.dirname(sys.executable), "vnetlab")
    rows = []
    with made_users(1) as (user,), tempfile.TemporaryDirectory() as workdir:
        os.chmod(workdir, 0o755)
        modes = {"root": lambda *a: [vnetlab, *a], "rootless": lambda *a: user.argv(*a)}
        for n in sizes:
            lab = f"rlstar{n}"
            labfile = os.path.join(workdir, f"{lab}.yaml")
            with open(labfile, "w") as handle:
                handle.write(star_yaml(lab, n))
            os.chmod(labfile, 0o644)
            times: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
            for _ in range(args.repeat):
                for mode, argv_of in modes.items():
                    wait_kernel_quiet(180)
                    result = build(argv_of, labfile, lab, n)
                    times[mode].append(result)
                    print(f"N={n} {mode}: up {result[0]:.2f} s, down {result[1]:.2f} s", file=sys.stderr)
            leftovers = user.leftovers()
            if leftovers:
                raise RuntimeError(f"the user left {leftovers}")
            med = {mode: (statistics.median(t[0] for t in runs), statistics.median(t[1] for t in runs))
                   for mode, runs in times.items()}
            rows.append((n, med["root"], med["rootless"]))
    env = environment(vnetlab)
    lines = ["# Rootless vs root: star lab, `vnetlab up` / `down` (CLI)", "",
             f"Same run, modes alternating, {args.repeat} runs each, medians; each build checked by a ping "
             "h1 → hN. Produced by `benchmarks/rootless.py`.", "",
             f"Machine: kernel {env['kernel']}, {env['cpus']} CPUs, Python {env['python']}, "
             f"commit {env['commit']}, {env['date']}, load {env['load']}.", "",
             "| N | up root (s) | up rootless (s) | ratio | down root (s) | down rootless (s) | ratio |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for n, (up_r, down_r), (up_u, down_u) in rows:
        lines.append(f"| {n} | {up_r:.2f} | {up_u:.2f} | {up_u / up_r:.2f} | {down_r:.2f} | {down_u:.2f} | "
                     f"{down_u / down_r:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    write_markdown(args.markdown, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
