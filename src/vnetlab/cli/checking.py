"""The check command: runs the lab file's checks and renders their table (and JUnit).
"""

from __future__ import annotations

import argparse
import json
import sys

from vnetlab.cli.common import EXIT_OK, EXIT_FAILED, _console, _running
from vnetlab.cli.lifecycle import _neigh_notes


def cmd_check(args: argparse.Namespace) -> int:
    from vnetlab.probe.checks import render_table, write_junit

    lab = _running(args.lab)
    if not lab.spec.checks:
        print(f"lab {lab.name} has no checks", file=sys.stderr)
        return EXIT_OK
    _neigh_notes(lab, raised=False, quiet=False)
    results = lab.check()
    if args.junit:
        write_junit(results, args.junit, lab.name)
    failed = sum(not r.ok for r in results)
    if args.json:
        print(json.dumps({"lab": lab.name, "passed": len(results) - failed, "failed": failed, "results": [
            {"check": r.check.label(), "expect": r.check.expect, "observed": r.observed, "ok": r.ok,
             "target": r.target, "detail": r.detail} for r in results]}, indent=2))
    else:
        console = _console()
        render_table(results, console)
        console.print(f"{len(results) - failed} passed, {failed} failed")
    return EXIT_FAILED if failed else EXIT_OK


def add_check(command) -> None:
    p = command("check", cmd_check, "evaluate the lab file's checks against the running lab")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (for CI and graders)")
    p.add_argument("--json", action="store_true")
