#!/usr/bin/env python3
"""Lab-file size benchmark: what `vnetlab validate` costs on big and hostile files.

Each case is written to a temporary directory and validated through the CLI
as users run it (a subprocess, interpreter start-up included) under
``/usr/bin/time``, which gives wall seconds and peak RSS, and once more by
``load_lab`` alone in a fresh process (the reading and judging without the
command's start-up):

  tree-1k, tree-10k       a tree of 10 switches under a core switch and N hosts,
                          one line per host (flow style)
  tree-10k-verbose        the same with every key on its own line, a route and
                          a check per host: the biggest 10,000-host file we expect
  tree-80k-verbose        that at 80,000 hosts (19 MB): must be refused at once
  dense-list              1.9 million values in one list, just under the byte limit
  alias-bomb              "billion laughs": nine levels of ten aliases each
  alias-self              ``rec: &r [*r]``

With ``--baseline SRC`` (another checkout's ``src``, e.g. /work/main/src) every
case also runs against that code, side by side, with the ratio; each figure
is the median of ``--repeat`` runs (default 3).
This is a benchmark, never a test: nothing here asserts a time.

    .venv/bin/python benchmarks/lab_file_size.py
    .venv/bin/python benchmarks/lab_file_size.py --baseline /work/main/src

No root, no kernel: it only reads files.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import yaml

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "lab_file_size.md")
VALUE_EVENTS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent, yaml.AliasEvent)


def tree_lab(hosts: int, verbose: bool) -> str:
    """10 access switches under a core switch, a gateway, ``hosts`` hosts."""
    lines = [f"lab: tree{hosts}", "description: tree benchmark", "nodes:", "  core: {kind: switch}"]
    lines += [f"  s{s}: {{kind: switch}}" for s in range(1, 11)]
    for i in range(1, hosts + 1):
        address = f"10.{i // 65000}.{(i // 250) % 256}.{i % 250 + 1}/8"
        if verbose:
            lines += [f"  h{i}:", "    kind: host", f"    description: host number {i} of the tree",
                      "    interfaces:", "      eth0:", f"        address: {address}",
                      "    routes:", "      - {to: default, via: 10.255.255.254}"]
        else:
            lines.append(f"  h{i}: {{interfaces: {{eth0: {{address: {address}}}}}}}")
    lines += ["  gw: {kind: router, interfaces: {eth0: {address: 10.255.255.254/8}}}", "links:"]
    lines += [f"  - [s{s}:up, core:p{s}]" for s in range(1, 11)] + ["  - [gw:eth0, core:gw]"]
    lines += [f"  - [h{i}:eth0, s{i % 10 + 1}:p{i}]" for i in range(1, hosts + 1)]
    if verbose:
        lines += ["checks:"] + [f"  - {{from: h{i}, to: gw}}" for i in range(1, hosts + 1)]
    return "\n".join(lines) + "\n"


def cases() -> list[tuple[str, str]]:
    bomb = ["lab: bomb", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    bomb += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    return [
        ("tree-1k", tree_lab(1000, verbose=False)),
        ("tree-10k", tree_lab(10_000, verbose=False)),
        ("tree-10k-verbose", tree_lab(10_000, verbose=True)),
        ("tree-80k-verbose", tree_lab(80_000, verbose=True)),
        ("dense-list", "lab: dense\ndescription: [" + ",".join(["0"] * 1_900_000) + "]\n"),
        ("alias-bomb", "\n".join(bomb) + "\n"),
        ("alias-self", "lab: rec\nrec: &r [*r]\n"),
    ]


def values_of(text: str) -> str:
    """Keys and values written in the file (aliases count once), or '—' if it is not YAML."""
    loader = yaml.CSafeLoader(text) if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader(text)
    try:
        count = 0
        while loader.check_event():
            count += isinstance(loader.get_event(), VALUE_EVENTS)
        return f"{count:,}"
    except yaml.YAMLError:
        return "—"
    finally:
        loader.dispose()


# load_lab alone, in a fresh interpreter with vnetlab imported: the reading
# and judging without the command's start-up.
LOAD_ONLY = """
import sys, time
from vnetlab.model import LabFileError, load_lab
started = time.perf_counter()
try:
    load_lab(sys.argv[1])
except (LabFileError, RecursionError, ValueError):
    pass
print(time.perf_counter() - started)
"""


def validate(path: str, src: str | None) -> tuple[float, float, float, int, str]:
    """(seconds, peak MB, load_lab seconds, exit code, first line of stderr) of
    ``vnetlab validate PATH``."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src  # ahead of the editable install
    with tempfile.NamedTemporaryFile("r") as timing:
        done = subprocess.run(["/usr/bin/time", "-q", "-o", timing.name, "-f", "%e %M",
                               sys.executable, "-m", "vnetlab.cli", "validate", path],
                              capture_output=True, text=True, env=env, timeout=600)
        seconds, kilobytes = timing.read().split()[-2:]
    load = subprocess.run([sys.executable, "-c", LOAD_ONLY, path], capture_output=True, text=True,
                          env=env, timeout=600, check=True)
    lines = (done.stderr or done.stdout).strip().splitlines()
    first = next((line for line in lines if "Error" in line), lines[0] if lines else "")
    return (float(seconds), int(kilobytes) / 1024, float(load.stdout.split()[-1]), done.returncode,
            first.removeprefix(path)[:110])


def median_run(path: str, src: str | None, repeat: int) -> tuple[float, float, float, int, str]:
    """The run with the median time of ``repeat`` runs of :func:`validate`."""
    runs = sorted((validate(path, src) for _ in range(repeat)), key=lambda run: run[0])
    return runs[len(runs) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="SRC", help="another checkout's src directory to compare with")
    parser.add_argument("--markdown", default=RESULTS, help="where to write the table ('' to skip)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case and code; the median is reported")
    args = parser.parse_args()
    rows = ["| case | bytes | values | exit | s | MB | load s | baseline exit | baseline s | baseline MB "
            "| baseline load s | load ratio | outcome |", "|---" * 13 + "|"]
    with tempfile.TemporaryDirectory() as workdir:
        for name, text in cases():
            path = os.path.join(workdir, f"{name}.yaml")
            with open(path, "w") as handle:
                handle.write(text)
            seconds, megabytes, load, code, outcome = median_run(path, None, args.repeat)
            base = median_run(path, args.baseline, args.repeat) if args.baseline else None
            cells = [name, f"{len(text.encode()):,}", values_of(text), str(code), f"{seconds:.2f}",
                     f"{megabytes:.0f}", f"{load:.3f}"]
            if base:
                cells += [str(base[3]), f"{base[0]:.2f}", f"{base[1]:.0f}", f"{base[2]:.3f}",
                          f"{load / base[2]:.2g}×"]
            else:
                cells += ["—"] * 5
            rows.append("| " + " | ".join(cells + [outcome.replace("|", "\\|")]) + " |")
            print(rows[-1], flush=True)
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write("# `vnetlab validate` on big and hostile lab files\n\n"
                         f"`benchmarks/lab_file_size.py{' --baseline ' + args.baseline if args.baseline else ''}`"
                         f", median of {args.repeat} runs. s and MB: wall time and peak RSS of the whole "
                         "command (interpreter start-up included); load s: `load_lab` alone, in a process "
                         "that has vnetlab imported.\n\n")
            handle.write("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
