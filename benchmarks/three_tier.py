#!/usr/bin/env python3
"""Three-tier benchmark: an edge router with NAT and a firewall, core
routers, distribution switches and 1,000 hosts — up, check, down times.

    inet 203.0.113.100 ── edge (masquerade 10.0.0.0/8 out eth0; forward policy drop,
                            │   only the inside may open connections)
                    ┌───────┴───────┐
                   c1              c2            core routers, default via edge
              d1 … d(D/2)     d(D/2+1) … dD      distribution switches (one bridge each)
              hosts            hosts             N hosts spread evenly, 10.k.x.y/16, default via their core

Checks: every host pings inet (N reach checks through two routers, NAT and
the firewall), and inet must not reach a sample of hosts (the firewall and
NAT keep the inside closed). The hosts' ARP entries, and the core routers'
entries for every host, exceed the default host-wide neighbour limit
(gc_thresh3 = 1,024) at N = 1,000, so the lab is brought up with
``vnetlab up --raise-neigh-limit`` (restored at down) — run once without it
(``--no-raise``) to see the warning and the failures it predicts.

Times are of the CLI as users run it (``vnetlab up FILE -q``, ``vnetlab
check LAB``, ``vnetlab down LAB``), each a subprocess; ``check`` is run twice
(cold: every ARP entry still to resolve; warm). Peak RSS is each process's
ru_maxrss. This is a benchmark, never a test: nothing here asserts a time.

    .venv/bin/python benchmarks/three_tier.py                 # N = 1000, D = 10
    .venv/bin/python benchmarks/three_tier.py --hosts 200 --repeat 3

Needs root. The lab is named ``b3t<N>``; a leftover of an earlier run is
removed with ``vnetlab down`` first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
VNETLAB_RUN_DIR = os.environ.get("VNETLAB_RUN_DIR", "/run/vnetlab")


def vnetlab_cli() -> str:
    for candidate in (Path(sys.executable).parent / "vnetlab", REPO / ".venv" / "bin" / "vnetlab"):
        if candidate.exists():
            return str(candidate)
    sys.exit("three_tier.py: vnetlab CLI not found — run `make install` first")


VNETLAB = vnetlab_cli()


def three_tier_yaml(lab: str, hosts: int, dists: int, unreachable_sample: int) -> str:
    per = -(-hosts // dists)
    lines = [f"lab: {lab}", f"description: three tiers, {hosts} hosts, NAT and firewall on the edge", "nodes:"]
    lines += ["  inet: {interfaces: {eth0: {address: 203.0.113.100/24}}, routes: [{to: default, via: 203.0.113.1}]}"]
    edge_routes = []
    cores = {"c1": [], "c2": []}
    for k in range(1, dists + 1):
        core = "c1" if k <= (dists + 1) // 2 else "c2"
        cores[core].append(k)
        edge_routes.append(f"{{to: 10.{k}.0.0/16, via: {'10.255.0.2' if core == 'c1' else '10.255.0.6'}}}")
    lines += [
        "  edge:",
        "    kind: router",
        "    interfaces:",
        "      eth0: {address: 203.0.113.1/24}",
        "      eth1: {address: 10.255.0.1/30}",
        "      eth2: {address: 10.255.0.5/30}",
        f"    routes: [{', '.join(edge_routes)}]",
        "    nat:",
        "      masquerade: [{source: 10.0.0.0/8, out: eth0}]",
        "    firewall:",
        "      forward:",
        "        policy: drop",
        "        rules:",
        "          - {action: accept, from: 10.0.0.0/8, out: eth0, comment: the inside may go out}",
    ]
    for core, uplink, gateway in (("c1", "10.255.0.2/30", "10.255.0.1"), ("c2", "10.255.0.6/30", "10.255.0.5")):
        lines += [f"  {core}:", "    kind: router", "    interfaces:", f"      eth0: {{address: {uplink}}}"]
        lines += [f"      d{k}: {{address: 10.{k}.0.1/16}}" for k in cores[core]]
        lines += [f"    routes: [{{to: default, via: {gateway}}}]"]
    for k in range(1, dists + 1):
        lines.append(f"  d{k}: {{kind: switch}}")
    placement = []
    for i in range(1, hosts + 1):
        k = (i - 1) // per + 1
        j = (i - 1) % per + 1
        placement.append((i, k, j))
        lines.append(f"  h{i}: {{interfaces: {{eth0: {{address: 10.{k}.{j // 250}.{j % 250 + 2}/16}}}}, "
                     f"routes: [{{to: default, via: 10.{k}.0.1}}]}}")
    lines.append("links:")
    lines += ["  - [inet:eth0, edge:eth0]", "  - [edge:eth1, c1:eth0]", "  - [edge:eth2, c2:eth0]"]
    for core, ks in cores.items():
        lines += [f"  - [{core}:d{k}, d{k}:up]" for k in ks]
    lines += [f"  - [h{i}:eth0, d{k}:p{j}]" for i, k, j in placement]
    lines.append("checks:")
    lines += [f"  - {{from: h{i}, to: inet}}" for i in range(1, hosts + 1)]
    step = max(1, hosts // max(1, unreachable_sample))
    lines += [f"  - {{from: inet, to: h{i}, expect: no-reach}}" for i in range(1, hosts + 1, step)][:unreachable_sample]
    return "\n".join(lines) + "\n"


def timed(argv: list[str]) -> tuple[float, int, int, str, str]:
    """(seconds, exit code, peak RSS in KB, stdout, stderr) of one CLI run."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return elapsed, proc.returncode, usage.ru_maxrss, out.read().decode(), err.read().decode()


def gc_thresh3() -> int:
    with open("/proc/sys/net/ipv4/neigh/default/gc_thresh3") as handle:
        return int(handle.read())


def one_run(labfile: str, lab: str, raise_limit: bool) -> dict:
    up_argv = [VNETLAB, "up", labfile, "-q"] + (["--raise-neigh-limit"] if raise_limit else [])
    t_up, rc, rss_up, _, err = timed(up_argv)
    if rc != 0:
        raise RuntimeError(f"up failed ({rc}): {err}")
    warned = "warning" in err
    limit_while_up = gc_thresh3()
    results = []
    for _ in range(2):
        t_check, rc, rss_check, out, err = timed([VNETLAB, "check", lab, "--json"])
        data = json.loads(out)
        results.append((t_check, rc, rss_check, data["passed"], data["failed"]))
    t_down, rc, rss_down, _, err = timed([VNETLAB, "down", lab, "-q"])
    if rc != 0:
        raise RuntimeError(f"down failed ({rc}): {err}")
    left = [n for n in os.listdir("/run/netns") if n.startswith(lab + "-")] if os.path.isdir("/run/netns") else []
    if left or os.path.exists(os.path.join(VNETLAB_RUN_DIR, lab)):
        raise RuntimeError(f"{lab}: left after down: {left[:3]}")
    return {
        "up": t_up, "down": t_down, "check_cold": results[0][0], "check_warm": results[1][0],
        "passed_cold": results[0][3], "failed_cold": results[0][4],
        "passed_warm": results[1][3], "failed_warm": results[1][4],
        "rss_up_mb": rss_up / 1024, "rss_check_mb": max(results[0][2], results[1][2]) / 1024,
        "rss_down_mb": rss_down / 1024, "warned": warned, "gc_thresh3_while_up": limit_while_up,
        "gc_thresh3_after": gc_thresh3(),
    }


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=1000, help="hosts (default 1000)")
    p.add_argument("--dists", type=int, default=10, help="distribution switches (default 10)")
    p.add_argument("--repeat", type=int, default=1, help="runs; medians are reported (default 1)")
    p.add_argument("--no-raise", action="store_true", help="bring the lab up without --raise-neigh-limit")
    p.add_argument("--markdown", default=str(REPO / "benchmarks" / "results" / "three_tier.md"),
                   help="write the table here ('' to skip)")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("three_tier.py: needs root — run it with sudo", file=sys.stderr)
        return 3
    if not 2 <= args.dists <= 200 or not args.dists <= args.hosts <= 50000:
        p.error("need 2 <= --dists <= 200 and --dists <= --hosts <= 50000")
    lab = f"b3t{args.hosts}"[:10]
    subprocess.run([VNETLAB, "down", lab, "-q"], capture_output=True)
    workdir = tempfile.mkdtemp(prefix="vnetlab-3t-")
    labfile = os.path.join(workdir, f"{lab}.yaml")
    with open(labfile, "w") as handle:
        handle.write(three_tier_yaml(lab, args.hosts, args.dists, 20))
    before = gc_thresh3()
    runs = []
    try:
        for rep in range(args.repeat):
            r = one_run(labfile, lab, not args.no_raise)
            runs.append(r)
            print(f"  run {rep + 1}/{args.repeat}: up {r['up']:.3f}s  check {r['check_cold']:.3f}s "
                  f"({r['passed_cold']} passed, {r['failed_cold']} failed) then {r['check_warm']:.3f}s "
                  f"({r['passed_warm']}/{r['failed_warm']})  down {r['down']:.3f}s  "
                  f"peak RSS up {r['rss_up_mb']:.0f} MB, check {r['rss_check_mb']:.0f} MB", file=sys.stderr)
            time.sleep(min(6.0, 1 + args.hosts / 250))  # the kernel frees the namespaces asynchronously
    finally:
        subprocess.run([VNETLAB, "down", lab, "-q"], capture_output=True)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if isinstance(runs[0][k], float)}
    namespaces = args.hosts + args.dists + 4
    checks = args.hosts + min(20, args.hosts)
    rows = [
        ("vnetlab up" + ("" if args.no_raise else " --raise-neigh-limit"), f"{med['up']:.3f}",
         f"{med['rss_up_mb']:.0f}", f"{namespaces} namespaces, {args.hosts + args.dists + 3} links"),
        ("vnetlab check (cold ARP)", f"{med['check_cold']:.3f}", f"{med['rss_check_mb']:.0f}",
         f"{runs[-1]['passed_cold']} of {checks} checks passed"),
        ("vnetlab check (warm)", f"{med['check_warm']:.3f}", "", f"{runs[-1]['passed_warm']} of {checks} passed"),
        ("vnetlab down", f"{med['down']:.3f}", f"{med['rss_down_mb']:.0f}", "nothing left; neighbour limits restored"
         if runs[-1]["gc_thresh3_after"] == before else "gc_thresh3 NOT restored"),
    ]
    env = (f"Linux {platform.release()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
           f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    md = [
        "# Three-tier benchmark: edge (NAT + firewall), 2 core routers, distribution switches, hosts",
        "",
        f"{args.hosts} hosts on {args.dists} distribution switches (one bridge each), 2 core routers, an edge router "
        "masquerading 10.0.0.0/8 with a forward policy of drop (only the inside opens connections), and an "
        f"'Internet' node. Checks: every host pings inet through NAT and the firewall; inet must not reach "
        f"{min(20, args.hosts)} sampled hosts. Generated by "
        f"`{shlex.join(['benchmarks/three_tier.py'] + (argv if argv is not None else sys.argv[1:]))}`; "
        f"{len(runs)} run(s), medians.",
        "",
        f"Machine: {env}. host gc_thresh3 before: {before}, while up: {runs[-1]['gc_thresh3_while_up']}, "
        f"after down: {runs[-1]['gc_thresh3_after']}. Warning at up: {'yes' if runs[-1]['warned'] else 'no'}.",
        "",
        "| step | seconds | peak RSS (MB) | result |",
        "|---|---:|---:|---|",
    ]
    md += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    md += ["", "Each step is the CLI in its own process (interpreter start-up included). "
           "'cold' is the first check after up, when every neighbour entry is still to be resolved.", ""]
    text = "\n".join(md)
    print(text)
    if args.markdown:
        os.makedirs(os.path.dirname(os.path.abspath(args.markdown)), exist_ok=True)
        with open(args.markdown, "w") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
