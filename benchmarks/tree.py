#!/usr/bin/env python3
"""Tree benchmark: S switches and N hosts (default 10 and 1,000 / 5,000 / 10,000).

    s1 ── s2 … sS        switch s1 is the root; every other switch hangs off
    │     │              it (sK:up ── s1:dK); the hosts are spread in equal
    hosts hosts          blocks over the switches, each hI with eth0 in one
                         flat 10.y.z/16 segment, cabled to port pI of its switch

Times ``vnetlab up FILE -q`` and ``vnetlab down LAB -q`` as users run them
(subprocesses; their peak RSS from wait4), and the per-host cost (up time /
N), whose growth with N is the point: a build that scales has the same cost
per host at 10,000 as at 1,000. ``--baseline CLI`` times a second vnetlab
(e.g. an older checkout's ``.venv/bin/vnetlab``) in the same run, size by
size, so before and after share the machine's state.

Before every timed ``up`` the benchmark waits until the kernel has freed the
namespaces of the previous run (teardown is asynchronous in the kernel; the
count of struct net objects in /proc/slabinfo must be back to where it was at
the start), and reports that wait as "kernel cleanup". After every ``up``:
the lab's namespaces are exactly the expected ones, every switch has its
ports on br0, h1 (on s1) pings hN (on sS, across the root); after every
``down``: nothing of the lab is left. A failed ``up`` is reported with its
error (and the benchmark checks its rollback left nothing).

    .venv/bin/python benchmarks/tree.py                          # N = 1000,5000,10000
    .venv/bin/python benchmarks/tree.py --sizes 1000,5000 --baseline /tmp/old/.venv/bin/vnetlab
    .venv/bin/python benchmarks/tree.py --profile 5000           # py-spy of `vnetlab up` at N

Needs root. Labs are named ``btr<N>`` (``btb<N>`` for the baseline); a
leftover of an earlier run is removed first, by exact names only.
This is a benchmark, never a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (  # noqa: E402
    REPO, VNETLAB_RUN_DIR, allow_bytecode, environment, existing_namespaces, run, timed_process, vnetlab_cli,
    wait_kernel_quiet, write_markdown,
)

VNETLAB = vnetlab_cli("tree.py")
DEFAULT_SIZES = (1000, 5000, 10000)


def host_address(i: int) -> str:
    """10.y.z.w/16 for host i (1-based), unique for i < 50000."""
    return f"10.0.{i // 200}.{i % 200 + 1}/16"


def switch_of(i: int, n: int, switches: int) -> int:
    """The switch (1-based) of host i: equal blocks of hosts."""
    return (i - 1) * switches // n + 1


def tree_yaml(lab: str, n: int, switches: int) -> str:
    lines = [f"lab: {lab}", f"description: tree benchmark, {switches} switches, {n} hosts", "nodes:"]
    lines += [f"  h{i}: {{interfaces: {{eth0: {{address: {host_address(i)}}}}}}}" for i in range(1, n + 1)]
    lines += [f"  s{k}: {{kind: switch}}" for k in range(1, switches + 1)]
    lines.append("links:")
    lines += [f"  - [s{k}:up, s1:d{k}]" for k in range(2, switches + 1)]
    lines += [f"  - [h{i}:eth0, s{switch_of(i, n, switches)}:p{i}]" for i in range(1, n + 1)]
    return "\n".join(lines) + "\n"


def namespaces_of(lab: str, n: int, switches: int) -> list[str]:
    return [f"{lab}-h{i}" for i in range(1, n + 1)] + [f"{lab}-s{k}" for k in range(1, switches + 1)]


def cleanup(cli: str, lab: str, n: int, switches: int) -> None:
    """Removes whatever is left of one lab, by exact names only."""
    if os.path.isdir(os.path.join(VNETLAB_RUN_DIR, lab)):
        run([cli, "down", lab, "-q"], check=False)
    present = existing_namespaces()
    for ns in namespaces_of(lab, n, switches):
        if ns in present:
            run(["ip", "netns", "del", ns], check=False)


def verify_up(lab: str, n: int, switches: int) -> None:
    """The lab's namespaces, every switch's bridge ports, a ping across the root. Raises on failure."""
    mine = {ns for ns in existing_namespaces() if ns.startswith(lab + "-")}
    expected = set(namespaces_of(lab, n, switches))
    if mine != expected:
        raise RuntimeError(f"{lab}: {len(mine)} namespaces, expected {len(expected)}")
    for k in range(1, switches + 1):
        ports = json.loads(run(["ip", "-n", f"{lab}-s{k}", "-j", "link", "show", "master", "br0"]).stdout)
        hosts = sum(switch_of(i, n, switches) == k for i in range(1, n + 1))
        want = hosts + (switches - 1 if k == 1 else 1)
        if len(ports) != want or not all("UP" in p["flags"] for p in ports):
            raise RuntimeError(f"{lab}: s{k} has {len(ports)} ports on br0, expected {want} up")
    target = host_address(n).split("/")[0]
    ping = run(["ip", "netns", "exec", f"{lab}-h1", "ping", "-c1", "-W3", target], check=False)
    if ping.returncode != 0:
        raise RuntimeError(f"{lab}: h1 cannot ping h{n} ({target})\n{ping.stdout}")


def verify_gone(lab: str) -> None:
    left = [ns for ns in existing_namespaces() if ns.startswith(lab + "-")]
    if left:
        raise RuntimeError(f"{lab}: {len(left)} namespaces left, e.g. {left[:3]}")
    if os.path.exists(os.path.join(VNETLAB_RUN_DIR, lab)):
        raise RuntimeError(f"{lab}: run directory left")


def one_run(cli: str, lab: str, n: int, switches: int, workdir: str, settle_timeout: float) -> dict:
    """Waits for a quiet kernel, then times up and down of one tree."""
    labfile = os.path.join(workdir, f"{lab}.yaml")
    with open(labfile, "w") as handle:
        handle.write(tree_yaml(lab, n, switches))
    settle = wait_kernel_quiet(settle_timeout)
    row: dict = {"lab": lab, "n": n, "cli": cli, "kernel_cleanup_before_s": settle}
    up = timed_process([cli, "up", labfile, "-q"])
    row.update(up_s=up.seconds, up_cpu_s=up.cpu_seconds, up_rss_mb=up.peak_rss_mb,
               per_host_ms=up.seconds / n * 1000)
    if up.returncode != 0:
        row["error"] = up.stderr.strip().splitlines()[-1] if up.stderr.strip() else f"exit {up.returncode}"
        cleanup(cli, lab, n, switches)
        verify_gone(lab)  # a failed up rolls back: nothing may be left
        return row
    try:
        verify_up(lab, n, switches)
    except BaseException:
        cleanup(cli, lab, n, switches)
        raise
    down = timed_process([cli, "down", lab, "-q"])
    row.update(down_s=down.seconds, down_rss_mb=down.peak_rss_mb)
    if down.returncode != 0:
        cleanup(cli, lab, n, switches)
        raise RuntimeError(f"{lab}: down failed: {down.stderr}")
    verify_gone(lab)
    return row


def profile(n: int, switches: int, workdir: str, settle_timeout: float, out: str) -> int:
    """``vnetlab up`` at N under py-spy (a flame graph in ``out``), with a quiet kernel first."""
    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(spy):
        print("tree.py: --profile needs py-spy (.venv/bin/pip install py-spy)", file=sys.stderr)
        return 3
    lab = f"btr{n}"
    labfile = os.path.join(workdir, f"{lab}.yaml")
    with open(labfile, "w") as handle:
        handle.write(tree_yaml(lab, n, switches))
    settle = wait_kernel_quiet(settle_timeout)
    print(f"kernel cleanup before: {settle}", file=sys.stderr)
    try:
        argv = [spy, "record", "-r", "200", "-o", out, "--format", {".svg": "flamegraph", ".json": "speedscope"}.get(os.path.splitext(out)[1], "raw"),
                "--", VNETLAB, "up", labfile, "-q"]
        start = time.perf_counter()
        subprocess.run(argv, check=False)
        print(f"vnetlab up at N={n} under py-spy: {time.perf_counter() - start:.2f} s; profile in {out}",
              file=sys.stderr)
    finally:
        cleanup(VNETLAB, lab, n, switches)
    return 0


def markdown(rows: list[dict], env: dict, switches: int) -> str:
    lines = [
        f"# Tree benchmark: {switches} switches, N hosts",
        "",
        f"Generated by `{shlex.join(['benchmarks/tree.py'] + sys.argv[1:])}`.",
        "",
        f"Machine: Linux {env['kernel']}, {env['cpus']} CPUs, Python {env['python']}, {env['iproute2']}, "
        f"{env['vnetlab']} (commit {env['commit']}); {env['date']}; load average at the end {env['load']}.",
        "",
        "| vnetlab | N | up (s) | CPU of up (s) | per host (ms) | per host vs N=first | down (s) "
        "| peak RSS of up (MB) | kernel cleanup before up (s) | outcome |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_cells(rows)]
    lines += ["", "Per host = up time / N; the ratio compares it with the same CLI's smallest N of the run. "
                  "CPU of up: user + system time of the up process (wait4), which other load on the "
                  "machine does not inflate as much as the wall time. "
                  "Kernel cleanup: how long the kernel still took to free the previous run's namespaces "
                  "(waited for before timing).", ""]
    return "\n".join(lines)


def table_cells(rows: list[dict]) -> list[list[str]]:
    first: dict[str, float] = {}
    out = []
    for r in rows:
        base = first.setdefault(r["label"], r["per_host_ms"]) if "error" not in r else None
        ratio = f"{r['per_host_ms'] / base:.2f}×" if base else "—"
        settle = r.get("kernel_cleanup_before_s")
        out.append([
            r["label"], str(r["n"]), f"{r['up_s']:.2f}", f"{r['up_cpu_s']:.2f}", f"{r['per_host_ms']:.2f}", ratio,
            f"{r['down_s']:.2f}" if "down_s" in r else "—", f"{r['up_rss_mb']:.0f}",
            "—" if settle is None else f"{settle:.1f}",
            f"failed: {r['error']}" if "error" in r else "ok (ping across the root, nothing left after down)",
        ])
    return out


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="comma-separated N (default 1000,5000,10000)")
    p.add_argument("--switches", type=int, default=10, help="switches in the tree (default 10)")
    p.add_argument("--baseline", metavar="CLI", help="also time this vnetlab executable, size by size")
    p.add_argument("--settle-timeout", type=float, default=180.0,
                   help="longest wait for the kernel to free earlier namespaces before a timed up (s, default 180)")
    p.add_argument("--markdown", default=str(REPO / "benchmarks" / "results" / "tree.md"),
                   help="write the table here ('' to skip; default benchmarks/results/tree.md)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--profile", type=int, metavar="N", help="instead: py-spy of one `vnetlab up` at N")
    p.add_argument("--profile-out", default="tree-profile.svg", help="where --profile writes: .svg a flame graph, .json speedscope, else collapsed stacks")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("tree.py: needs root (network namespaces are privileged) — run it with sudo", file=sys.stderr)
        return 3
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    if any(n < args.switches or n >= 50000 for n in sizes) or args.switches < 2:
        p.error("--sizes: each N must be at least --switches and below 50000; --switches at least 2")
    clis = [("current", VNETLAB, "btr")] + ([("baseline", args.baseline, "btb")] if args.baseline else [])
    for _, cli, prefix in clis:
        for n in set(sizes) | ({args.profile} if args.profile else set()):
            cleanup(cli, f"{prefix}{n}", n, args.switches)
    allow_bytecode()
    workdir = tempfile.mkdtemp(prefix="vnetlab-tree-")
    rows = []
    try:
        if args.profile:
            return profile(args.profile, args.switches, workdir, args.settle_timeout, args.profile_out)
        for n in sizes:
            for label, cli, prefix in clis:
                row = one_run(cli, f"{prefix}{n}", n, args.switches, workdir, args.settle_timeout)
                row["label"] = label
                rows.append(row)
                outcome = row.get("error", "ok")
                print(f"  {label:<8} N={n:<6} up {row['up_s']:7.2f}s ({row['per_host_ms']:.2f} ms/host, "
                      f"{row['up_rss_mb']:.0f} MB)  down {row.get('down_s', float('nan')):6.2f}s  "
                      f"waited {row['kernel_cleanup_before_s']}s before  {outcome}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("tree.py: interrupted; cleaning up", file=sys.stderr)
        for _, cli, prefix in clis:
            for n in sizes:
                cleanup(cli, f"{prefix}{n}", n, args.switches)
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    wait_kernel_quiet(args.settle_timeout)  # leave a quiet kernel
    env = environment(VNETLAB)
    write_markdown(args.markdown, markdown(rows, env, args.switches))
    if args.json:
        print(json.dumps({"environment": env, "results": rows}, indent=2))
    else:
        for cells in table_cells(rows):
            print("  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
