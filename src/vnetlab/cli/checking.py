"""The check command: runs the lab file's checks and renders their table (and JUnit).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from vnetlab.cli.common import EXIT_OK, EXIT_FAILED, _console, _running
from vnetlab.cli.lifecycle import _neigh_notes

if TYPE_CHECKING:
    from rich.console import Console

    from vnetlab.probe.checks import CheckResult


def cmd_check(args: argparse.Namespace) -> int:
    from vnetlab.probe.checks import expect_of, kind_of, write_junit

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
            {"check": r.check.label(), "kind": kind_of(r.check), "expect": expect_of(r.check),
             "observed": r.observed, "ok": r.ok, "target": r.target, "detail": r.detail} for r in results]},
            indent=2))
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


def render_table(results: list[CheckResult], console: Console) -> None:
    """Prints the results as a table: #, check, expected, observed, result, detail."""
    from rich.markup import escape
    from rich.table import Table

    from vnetlab.probe.checks import expected_text, label_of

    table = Table(show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("check")
    table.add_column("expected")
    table.add_column("observed")
    table.add_column("result")
    table.add_column("detail")
    for number, result in enumerate(results, start=1):
        verdict = "[bold green]PASS[/]" if result.ok else "[bold red]FAIL[/]"
        expected = expected_text(result.check)
        table.add_row(str(number), *(escape(text) for text in (label_of(result), expected, result.observed)),
                      verdict, escape(result.detail))
    console.print(table)
    passed = sum(r.ok for r in results)
    colour = "green" if passed == len(results) else "red"
    console.print(f"[{colour}]{passed}/{len(results)} checks passed[/]")
