#!/usr/bin/env python3
"""Star-topology benchmark: vnetlab vs. a shell script of `ip` commands vs. `ip -batch` vs. Mininet.

The same star — N hosts, each with eth0 10.0.y.z/16 cabled by a veth to port
pI of one switch namespace holding bridge br0 — is built and torn down by:

  vnetlab  the CLI as users run it: ``vnetlab up FILE -q`` / ``vnetlab down LAB -q``
           (a subprocess, so interpreter start-up and imports are included)
  api      the Python API in-process: ``Lab(spec).up()`` / ``down(name)``
           (vnetlab already imported, so this is the netlink work alone)
  script   ``bash FILE``, FILE being the non-comment lines of ``vnetlab plan``
           for the same lab (one ``ip``/``ip netns exec sysctl`` process per
           step); teardown is a bash script of ``ip netns del`` per namespace
  batch    the same plan lines fed to ``ip -batch`` (see ``batch_schedule``);
           teardown is one ``ip -batch`` of ``netns del`` lines
  mininet  Mininet 2.3 (Debian package ``mininet``) through its Python API:
           ``--topo single,N --switch lxbr --controller none`` (see
           benchmarks/mininet_star.py); run only when it is installed —
           ``star.py --setup`` installs it (apt-get install mininet
           bridge-utils), never ``make install``

Because the script and batch variants are generated from ``vnetlab plan``,
every variant creates exactly the same namespaces, links, addresses, link
states and sysctls; the benchmark checks that (outside the timed region) by
comparing a normalised dump of every namespace, pings across the star once,
and checks that nothing is left after each teardown.

This is a benchmark, never a test: nothing here asserts a time.

    .venv/bin/python benchmarks/star.py                     # N = 50, 200, 1000
    .venv/bin/python benchmarks/star.py --sizes 50 --repeat 5 --only script,batch
    .venv/bin/python benchmarks/star.py --profile 1000      # cProfile of Lab.up
    .venv/bin/python benchmarks/star.py --setup             # first install Mininet (apt-get)

Needs root. Every namespace it makes is named ``b<tool><N>-<node>`` and is
removed by exact name, also when a previous run died half-way.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (  # noqa: E402
    REPO, VNETLAB_RUN_DIR, allow_bytecode, environment, existing_namespaces, run, timed_process, vnetlab_cli,
    wait_kernel_quiet, write_markdown,
)

DEFAULT_SIZES = (50, 200, 1000)
TOOLS = ("vnetlab", "baseline", "api", "script", "batch", "mininet")
# Lab names must match ^[a-z][a-z0-9]{0,9}$; one prefix per tool keeps the
# tools' namespaces apart, so a leftover is always attributable.
PREFIX = {"vnetlab": "bvn", "baseline": "bvo", "api": "bva", "script": "bsh", "batch": "bib", "mininet": "bmn"}
TOOL_LABEL = {
    "vnetlab": "vnetlab (CLI)",
    "baseline": "vnetlab baseline (CLI)",
    "api": "vnetlab (API, in-process)",
    "script": "ip shell script",
    "batch": "ip -batch",
    "mininet": "Mininet 2.3 (lxbr, no controller)",
}
MININET_HELPER = REPO / "benchmarks" / "mininet_star.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # where the Debian package puts the mininet library
VNETLAB = vnetlab_cli("star.py")
BASELINE: Optional[str] = None  # --baseline CLI


# --------------------------------------------------------------------------- topology


def lab_name(tool: str, n: int) -> str:
    return f"{PREFIX[tool]}{n}"


def host_address(i: int) -> str:
    """10.0.y.z/16 for host i (1-based); unique for i < 50000."""
    return f"10.0.{i // 200}.{i % 200 + 1}/16"


def star_yaml(lab: str, n: int) -> str:
    lines = [
        f"lab: {lab}",
        f"description: star benchmark, {n} hosts on one bridge",
        "nodes:",
    ]
    for i in range(1, n + 1):
        lines.append(f"  h{i}: {{interfaces: {{eth0: {{address: {host_address(i)}}}}}}}")
    lines.append("  sw: {kind: switch}")
    lines.append("links:")
    for i in range(1, n + 1):
        lines.append(f"  - [h{i}:eth0, sw:p{i}]")
    return "\n".join(lines) + "\n"


def namespaces_of(lab: str, n: int) -> list[str]:
    return [f"{lab}-h{i}" for i in range(1, n + 1)] + [f"{lab}-sw"]


# --------------------------------------------------------------------------- helpers


PEAK_RSS_KB: dict[str, int] = {}  # argv[0..2] joined -> peak RSS of the last timed run (KB)


def timed(argv: list[str]) -> float:
    """Runs argv; returns the wall time. Records the child's peak RSS
    (ru_maxrss of wait4, KB) in PEAK_RSS_KB."""
    result = timed_process(argv)
    PEAK_RSS_KB[" ".join(argv[:2])] = int(result.peak_rss_mb * 1024)
    if result.returncode != 0:
        raise RuntimeError(f"command failed ({result.returncode}): {shlex.join(argv)}\n{result.stderr}")
    return result.seconds


def mininet_available() -> Optional[str]:
    """None if Mininet can run here, else why not."""
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} not found"
    probe = run([SYSTEM_PYTHON, "-c", "import mininet.net, mininet.nodelib"], check=False)
    if probe.returncode != 0:
        return "the Debian package mininet is not installed (benchmarks/star.py --setup installs it)"
    if not shutil.which("brctl"):
        return "brctl (Debian package bridge-utils) is missing; Mininet's lxbr switch needs it"
    if not shutil.which("mnexec"):
        return "mnexec (from the mininet package) is missing"
    return None


def setup() -> int:
    """The benchmark's own setup: installs Mininet and bridge-utils with apt-get."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    argv = ["apt-get", "install", "-y", "--no-install-recommends", "mininet", "bridge-utils"]
    print("star.py --setup:", shlex.join(argv), file=sys.stderr)
    return subprocess.run(argv, env=env).returncode


def mininet_run(n: int) -> tuple[float, float]:
    """One Mininet build + teardown; (up, down) seconds. Raises on failure."""
    result = run([SYSTEM_PYTHON, str(MININET_HELPER), str(n)], check=False)
    try:
        data = json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise RuntimeError(f"mininet run failed:\n{result.stdout}{result.stderr}") from None
    if not data["ping"]:
        raise RuntimeError(f"mininet N={n}: h1 could not ping h{n}")
    if data["left"]:
        raise RuntimeError(f"mininet N={n}: interfaces left in the root namespace: {data['left'][:5]}")
    return data["up"], data["down"]


def cleanup(labs: list[tuple[str, int]]) -> None:
    """Removes whatever is left of these labs, by exact name only."""
    present = existing_namespaces()
    for lab, n in labs:
        if os.path.isdir(os.path.join(VNETLAB_RUN_DIR, lab)):
            cli = BASELINE if lab.startswith(PREFIX["baseline"]) and BASELINE else VNETLAB
            run([cli, "down", lab, "-q"], check=False)
        for ns in namespaces_of(lab, n):
            if ns in present:
                run(["ip", "netns", "del", ns], check=False)


# --------------------------------------------------------------------------- plans → scripts


def plan_lines(labfile: str) -> list[list[str]]:
    """The commands of `vnetlab plan FILE`, as argv lists."""
    text = run([VNETLAB, "plan", labfile]).stdout
    commands = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        argv = shlex.split(line)
        if argv[0] != "ip":
            raise RuntimeError(f"plan line is not an ip command, cannot mirror it: {line}")
        commands.append(argv)
    return commands


def batch_schedule(commands: list[list[str]]) -> list[tuple[Optional[str], list[str]]]:
    """Groups plan commands into `ip -batch` runs.

    A batch line is an ip command without the leading `ip`, and `-n NETNS`
    is *not* accepted inside a batch line ("Object "-n" is unknown"), but
    `ip -n NETNS -batch FILE` switches namespace once for the whole file. So:

      1. one root batch with every `netns add` and `netns exec NS sysctl ...`
         line, in plan order (`ip -batch` forks for `netns exec`, so the
         sysctl processes remain, as in the script);
      2. one `ip -n NS -batch` per namespace with that namespace's lines in
         plan order; namespaces that create veths whose peers land in other
         namespaces run before those (hosts before the switch, whose
         `link set pI master br0` needs pI to exist).

    The plan puts all sysctls before any link, so step 1 keeps that order.
    """
    root: list[str] = []
    per_ns: dict[str, list[str]] = {}
    after: dict[str, set[str]] = {}  # ns -> namespaces that must run before it
    for argv in commands:
        if argv[1] == "-n":
            ns, rest = argv[2], argv[3:]
            per_ns.setdefault(ns, []).append(shlex.join(rest))
            after.setdefault(ns, set())
            if "peer" in rest and "netns" in rest:
                peer_ns = rest[rest.index("netns", rest.index("peer")) + 1]
                if peer_ns != ns:
                    after.setdefault(peer_ns, set()).add(ns)
        else:
            rest = argv[1:]
            if rest[0] != "netns":
                raise RuntimeError(f"unexpected root-namespace plan line: {shlex.join(argv)}")
            root.append(shlex.join(rest))
    order: list[str] = []
    done: set[str] = set()
    pending = list(per_ns)
    while pending:
        ready = [ns for ns in pending if after.get(ns, set()) <= done]
        if not ready:
            raise RuntimeError("cyclic veth dependencies between namespaces: no batch order")
        for ns in ready:
            order.append(ns)
            done.add(ns)
        pending = [ns for ns in pending if ns not in done]
    return [(None, root)] + [(ns, per_ns[ns]) for ns in order]


class Scripts:
    """Generated files for one (tool, N): lab file, build and teardown scripts."""

    def __init__(self, tool: str, n: int, workdir: str):
        self.tool, self.n = tool, n
        self.lab = lab_name(tool, n)
        self.dir = os.path.join(workdir, self.lab)
        os.makedirs(self.dir, exist_ok=True)
        self.labfile = os.path.join(self.dir, f"{self.lab}.yaml")
        with open(self.labfile, "w") as handle:
            handle.write(star_yaml(self.lab, n))
        self.namespaces = namespaces_of(self.lab, n)
        self.up_argv: list[str] = []
        self.down_argv: list[str] = []
        self.ip_processes = 0
        if tool in ("vnetlab", "baseline"):
            cli = VNETLAB if tool == "vnetlab" else BASELINE
            self.up_argv = [cli, "up", self.labfile, "-q"]
            self.down_argv = [cli, "down", self.lab, "-q"]
        elif tool in ("script", "batch"):
            commands = plan_lines(self.labfile)
            created = [a[3] for a in commands if a[1:3] == ["netns", "add"]]
            if sorted(created) != sorted(self.namespaces):
                raise RuntimeError(f"plan of {self.lab} makes unexpected namespaces")
            self.plan_commands = len(commands)
            if tool == "script":
                self._write_script(commands)
            else:
                self._write_batch(commands)

    def _path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def _write(self, name: str, lines: list[str]) -> str:
        path = self._path(name)
        with open(path, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        return path

    def _write_script(self, commands: list[list[str]]) -> None:
        up = self._write("up.sh", ["#!/bin/bash", "set -e"] + [shlex.join(a) for a in commands])
        down = self._write("down.sh", ["#!/bin/bash", "set -e"]
                           + [shlex.join(["ip", "netns", "del", ns]) for ns in self.namespaces])
        self.up_argv, self.down_argv = ["bash", up], ["bash", down]
        self.ip_processes = len(commands)

    def _write_batch(self, commands: list[list[str]]) -> None:
        invocations = []
        for k, (ns, lines) in enumerate(batch_schedule(commands)):
            path = self._write(f"{k:05d}.batch", lines)
            argv = ["ip", "-batch", path] if ns is None else ["ip", "-n", ns, "-batch", path]
            invocations.append(shlex.join(argv))
        up = self._write("up.sh", ["#!/bin/bash", "set -e"] + invocations)
        dbatch = self._write("down.batch", [shlex.join(["netns", "del", ns]) for ns in self.namespaces])
        self.up_argv, self.down_argv = ["bash", up], ["ip", "-batch", dbatch]
        # + the sysctl processes `ip -batch` forks for its `netns exec` lines
        self.ip_processes = len(invocations) + sum(a[1:3] == ["netns", "exec"] for a in commands)


# --------------------------------------------------------------------------- verification


def _dump_namespace(ns: str) -> dict:
    """Links (kind, master, up), addresses and the sysctls the plan sets, of one namespace."""
    links = json.loads(run(["ip", "-n", ns, "-j", "-d", "addr", "show"]).stdout)
    ifnames = sorted(link["ifname"] for link in links)
    keys = ["net.ipv4.ip_forward", "net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"]
    keys += [f"net.ipv6.conf.{name}.disable_ipv6" for name in ifnames]
    values = run(["ip", "netns", "exec", ns, "sysctl", "-n"] + keys).stdout.split()
    summary = []
    for link in sorted(links, key=lambda link: link["ifname"]):
        info = link.get("linkinfo", {})
        extra = {}
        if info.get("info_kind") == "bridge":
            extra["stp_state"] = info.get("info_data", {}).get("stp_state")
        summary.append({
            "ifname": link["ifname"],
            "kind": info.get("info_kind", link.get("link_type")),
            "master": link.get("master"),
            "up": "UP" in link.get("flags", []),
            "addrs": sorted(f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])),
            **extra,
        })
    return {"links": summary, "sysctl": dict(zip(keys, values))}


def fingerprint(lab: str, namespaces: list[str]) -> dict:
    """A tool-independent dump of the whole lab, with the lab name stripped."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        dumps = list(pool.map(_dump_namespace, namespaces))
    return {ns[len(lab) + 1:]: dump for ns, dump in zip(namespaces, dumps)}


def verify_up(s: Scripts, reference: dict, full: bool) -> str:
    """Checks the built lab; returns a one-word outcome. Raises on failure."""
    present = existing_namespaces()
    mine = {ns for ns in present if ns.startswith(s.lab + "-")}
    if mine != set(s.namespaces):
        raise RuntimeError(f"{s.lab}: {len(mine)} namespaces, expected {len(s.namespaces)}")
    sample = s.namespaces if full else [s.namespaces[0], s.namespaces[-2], s.namespaces[-1]]
    fp = fingerprint(s.lab, sample)
    sw = fp["sw"]
    ports = [link for link in sw["links"] if link["master"] == "br0"]
    if len(ports) != s.n or not all(p["up"] for p in ports):
        raise RuntimeError(f"{s.lab}: switch has {len(ports)} up ports on br0, expected {s.n}")
    key = (s.n, tuple(sorted(fp)))
    if key in reference:
        if reference[key] != fp:
            diff = [k for k in fp if fp[k] != reference[key].get(k)]
            raise RuntimeError(f"{s.lab}: kernel state differs from the first tool's in {diff[:5]}")
        outcome = "identical"
    else:
        reference[key] = fp
        outcome = "reference"
    target = host_address(s.n).split("/")[0]
    ping = run(["ip", "netns", "exec", s.namespaces[0], "ping", "-c1", "-W3", target], check=False)
    if ping.returncode != 0:
        raise RuntimeError(f"{s.lab}: h1 cannot ping h{s.n} ({target})\n{ping.stdout}")
    return outcome


def verify_down(s: Scripts) -> None:
    left = [ns for ns in existing_namespaces() if ns.startswith(s.lab + "-")]
    if left:
        raise RuntimeError(f"{s.lab}: {len(left)} namespaces left after teardown, e.g. {left[:3]}")
    if s.tool in ("vnetlab", "api") and os.path.exists(os.path.join(VNETLAB_RUN_DIR, s.lab)):
        raise RuntimeError(f"{s.lab}: run directory left after down")


# --------------------------------------------------------------------------- measuring


def api_up_down(s: Scripts) -> tuple[Callable[[], float], Callable[[], float]]:
    from vnetlab.lab import Lab, down
    from vnetlab.model import load_lab_text

    with open(s.labfile) as handle:
        spec = load_lab_text(handle.read(), s.labfile)

    def up() -> float:
        start = time.perf_counter()
        Lab(spec, source=s.labfile).up()
        return time.perf_counter() - start

    def tear() -> float:
        start = time.perf_counter()
        down(s.lab)
        return time.perf_counter() - start

    return up, tear


def measure(sizes: list[int], tools: list[str], repeat_for: Callable[[int], int], full_verify: bool,
            settle_timeout: float, workdir: str) -> list[dict]:
    rows = []
    for n in sizes:
        reps = repeat_for(n)
        scripts = {tool: Scripts(tool, n, workdir) for tool in tools}
        samples: dict[str, dict[str, list]] = {t: {"up": [], "down": [], "cleanup": []} for t in tools}
        outcome: dict[str, str] = {}
        reference: dict = {}
        for rep in range(reps):
            # rotate the order so no tool always runs right after another
            order = tools[rep % len(tools):] + tools[: rep % len(tools)]
            for tool in order:
                s = scripts[tool]
                if tool == "mininet":
                    t_up, t_down = mininet_run(n)
                    outcome[tool] = "ping ok"
                    samples[tool]["up"].append(t_up)
                    samples[tool]["down"].append(t_down)
                    samples[tool]["cleanup"].append(None)
                    print(f"  N={n:<5} {TOOL_LABEL[tool]:<26} run {rep + 1}/{reps}: up {t_up:7.3f}s  "
                          f"down {t_down:7.3f}s", file=sys.stderr, flush=True)
                    wait_kernel_quiet(settle_timeout)  # Mininet's namespaces
                    continue
                if tool == "api":
                    up, tear = api_up_down(s)
                else:
                    up = lambda s=s: timed(s.up_argv)  # noqa: E731
                    tear = lambda s=s: timed(s.down_argv)  # noqa: E731
                try:
                    t_up = up()
                    outcome[tool] = verify_up(s, reference, full_verify)
                    t_down = tear()
                    verify_down(s)
                except BaseException:
                    cleanup([(s.lab, n)])
                    raise
                t_clean = wait_kernel_quiet(settle_timeout)  # before the next timing
                samples[tool]["up"].append(t_up)
                samples[tool]["down"].append(t_down)
                samples[tool]["cleanup"].append(t_clean)
                if tool in ("vnetlab", "baseline"):
                    samples[tool].setdefault("rss", []).append(PEAK_RSS_KB.get(" ".join(s.up_argv[:2]), 0))
                print(f"  N={n:<5} {TOOL_LABEL[tool]:<26} run {rep + 1}/{reps}: up {t_up:7.3f}s  "
                      f"down {t_down:7.3f}s  (kernel freed namespaces "
                      f"{'?' if t_clean is None else format(t_clean, '.1f') + 's'} later; state {outcome[tool]})", file=sys.stderr, flush=True)
        for tool in tools:
            ups, downs = samples[tool]["up"], samples[tool]["down"]
            cleans = [c for c in samples[tool]["cleanup"] if c is not None]
            rows.append({
                "n": n, "tool": tool, "label": TOOL_LABEL[tool], "runs": reps,
                "up_median": statistics.median(ups), "down_median": statistics.median(downs),
                "up_samples": ups, "down_samples": downs,
                "kernel_cleanup_median": statistics.median(cleans) if cleans else None,
                "processes": {"vnetlab": 1, "baseline": 1, "api": 0, "mininet": f"{n + 1} shells"}.get(
                    tool, getattr(scripts[tool], "ip_processes", 0)),
                "peak_rss_mb": max(samples[tool]["rss"]) / 1024 if samples[tool].get("rss") else None,
                "state": outcome[tool],
            })
        base = next((r for r in rows if r["n"] == n and r["tool"] == "script"), None)
        for r in rows:
            if r["n"] == n:
                r["up_ratio"] = base["up_median"] / r["up_median"] if base else None
                r["down_ratio"] = base["down_median"] / r["down_median"] if base else None
    return rows


# --------------------------------------------------------------------------- output


def _fmt(x: Optional[float], spec: str) -> str:
    return "—" if x is None else format(x, spec)


def table(rows: list[dict]) -> list[list[str]]:
    head = ["N", "tool", "runs", "up median (s)", "down median (s)",
            "up ratio vs script", "down ratio vs script", "processes started by up", "peak RSS of up (MB)"]
    body = [[str(r["n"]), r["label"], str(r["runs"]), _fmt(r["up_median"], ".3f"),
             _fmt(r["down_median"], ".3f"), _fmt(r["up_ratio"], ".2f") + ("×" if r["up_ratio"] else ""),
             _fmt(r["down_ratio"], ".2f") + ("×" if r["down_ratio"] else ""), str(r["processes"]),
             _fmt(r.get("peak_rss_mb"), ".0f")]
            for r in rows]
    return [head] + body


def text_table(rows: list[dict]) -> str:
    cells = table(rows)
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    out = []
    for k, row in enumerate(cells):
        out.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


MININET_NOTE: Optional[str] = None  # why Mininet was skipped, for the Markdown


def markdown(rows: list[dict], env: dict, args: argparse.Namespace) -> str:
    cells = table(rows)
    lines = [
        "# Star benchmark: vnetlab vs. ip script vs. ip -batch vs. Mininet",
        "",
        f"N hosts (eth0 10.0.y.z/16) each cabled by a veth to one switch namespace holding br0. "
        f"Generated by `{shlex.join(['benchmarks/star.py'] + sys.argv[1:])}`.",
        "",
        f"Machine: Linux {env['kernel']}, {env['cpus']} CPUs, Python {env['python']}, "
        f"{env['iproute2']}, {env['vnetlab']} (commit {env['commit']}); {env['date']}; "
        f"load average at the end {env['load']}.",
        "",
        "| " + " | ".join(cells[0]) + " |",
        "|" + "|".join("---" if i < 2 else "---:" for i in range(len(cells[0]))) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in cells[1:]]
    lines += [
        "",
        "Ratio = script time / tool time (bigger is faster; the script is 1.00×). "
        "Times are medians over the runs; each build was checked (all namespaces, "
        "identical kernel state across tools, a ping across the star) and each "
        "teardown checked to leave nothing, outside the timed region. "
        "Down times end when the command returns; the kernel frees the namespaces "
        "asynchronously afterwards and the benchmark waits for that (nudging a stalled cleanup) "
        "before the next run. "
        "Peak RSS: ru_maxrss of the `vnetlab up` process (wait4). "
        "Mininet: its Python API (`Mininet(topo=SingleSwitchTopo(N), switch=LinuxBridge, controller=None)` "
        "+ `start()`, then `stop()`), timed inside its process, so its interpreter start-up is not counted; "
        "Mininet keeps a shell per host and puts the switch in the root namespace, and leaves IPv6 on.",
        "",
    ]
    if MININET_NOTE:
        lines += [f"Mininet was not measured: {MININET_NOTE}.", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- profile


def profile(n: int, workdir: str, top: int) -> None:
    s = Scripts("api", n, workdir)
    cleanup([(s.lab, n)])
    from vnetlab.lab import Lab, down
    from vnetlab.model import load_lab_text

    with open(s.labfile) as handle:
        spec = load_lab_text(handle.read(), s.labfile)
    prof = cProfile.Profile()
    try:
        start = time.perf_counter()
        prof.runcall(Lab(spec, source=s.labfile).up)
        print(f"Lab.up at N={n}: {time.perf_counter() - start:.3f}s under cProfile")
    finally:
        down(s.lab)
        verify_down(s)
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(top)
    print(buf.getvalue())
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    print(buf.getvalue())


# --------------------------------------------------------------------------- main


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="comma-separated N (default 50,200,1000)")
    p.add_argument("--repeat", type=int, default=None,
                   help="runs per tool and N; medians are reported (default 3, and 1 for N >= 1000)")
    p.add_argument("--only", default=",".join(TOOLS),
                   help=f"comma-separated tools among {','.join(TOOLS)} (default all); "
                        "ratios need 'script'")
    p.add_argument("--markdown", default=str(REPO / "benchmarks" / "results" / "star.md"),
                   help="write the table here as Markdown ('' to skip; default benchmarks/results/star.md)")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout instead of the table")
    p.add_argument("--quick-verify", action="store_true",
                   help="dump only the switch and two hosts instead of every namespace")
    p.add_argument("--settle-timeout", type=float, default=180.0,
                   help="longest wait for the kernel to free the deleted namespaces before the next "
                        "timed build (s; default 180)")
    p.add_argument("--baseline", metavar="CLI",
                   help="also time this vnetlab executable (tool 'baseline', e.g. an older checkout's)")
    p.add_argument("--profile", type=int, metavar="N", default=None,
                   help="instead of benchmarking, cProfile Lab.up at this N and print the top functions")
    p.add_argument("--top", type=int, default=15, help="functions to show with --profile")
    p.add_argument("--setup", action="store_true",
                   help="first install Mininet and bridge-utils with apt-get (the benchmark's own setup)")
    args = p.parse_args(argv)

    if os.geteuid() != 0:
        print("star.py: needs root (network namespaces are privileged) — run it with sudo", file=sys.stderr)
        return 3
    try:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    except ValueError:
        p.error("--sizes takes comma-separated integers")
    if any(n < 2 or n >= 50000 for n in sizes):
        p.error("--sizes: each N must be 2..49999")
    tools = [t.strip() for t in args.only.split(",") if t.strip()]
    if not tools or any(t not in TOOLS for t in tools):
        p.error(f"--only takes tools among {', '.join(TOOLS)}")
    global BASELINE
    BASELINE = args.baseline
    if BASELINE is None and "baseline" in tools:
        tools.remove("baseline")  # only with --baseline CLI
    allow_bytecode()
    if args.setup and setup() != 0:
        print("star.py: apt-get install mininet bridge-utils failed; continuing without Mininet", file=sys.stderr)
    if "mininet" in tools:
        global MININET_NOTE
        MININET_NOTE = mininet_available()
        if MININET_NOTE:
            print(f"star.py: skipping Mininet: {MININET_NOTE}", file=sys.stderr)
            tools.remove("mininet")

    def repeat_for(n: int) -> int:
        return args.repeat if args.repeat else (1 if n >= 1000 else 3)

    # leftovers of an earlier run that died: every name we could have made
    every = [(lab_name(t, n), n) for t in TOOLS for n in sorted(set(sizes) | set(DEFAULT_SIZES))]
    if args.profile:
        every.append((lab_name("api", args.profile), args.profile))
    cleanup(every)
    wait_kernel_quiet(args.settle_timeout)  # an earlier run's namespaces, if any

    workdir = tempfile.mkdtemp(prefix="vnetlab-star-")
    try:
        if args.profile:
            profile(args.profile, workdir, args.top)
            return 0
        for cli in (VNETLAB, BASELINE):  # warm the page cache (and the bytecode caches)
            if cli is not None:
                run([cli, "--version"])
        rows = measure(sizes, tools, repeat_for, not args.quick_verify, args.settle_timeout, workdir)
    except KeyboardInterrupt:
        print("star.py: interrupted; cleaning up", file=sys.stderr)
        cleanup(every)
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    wait_kernel_quiet(args.settle_timeout)  # leave a quiet kernel
    env = environment(VNETLAB)
    write_markdown(args.markdown, markdown(rows, env, args))
    if args.json:
        print(json.dumps({"environment": env, "results": rows}, indent=2))
    else:
        print(text_table(rows))
        if args.markdown:
            print(f"\n(Markdown table written to {args.markdown})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
