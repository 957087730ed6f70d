"""``make demo``: bring every example lab up, run its checks, draw its live
picture (build/demo/LAB_FILE.svg), show one plan as commands, tear everything
down, print a short report, then grade one course exercise before and after
its reference solution.

Run as ``python -m vnetlab.cli.demo [EXAMPLES_DIR]``; exits 1 if any check fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
import time
from typing import Iterator, Optional

from rich.console import Console
from rich.table import Table

from vnetlab.cli.checking import render_table
from vnetlab.lab import Lab
from vnetlab.plan import format_command

SHOWN_PLAN = "red-blue.yaml"
PICTURES = os.path.join("build", "demo")  # each lab's live picture, drawn while it is up
# One demo or integration-test run per machine at a time: they build labs with
# the same names (the examples'), and each would see the other's namespaces.
MACHINE_LOCK = "/tmp/vnetlab-kernel.lock"
LOCK_HELD = "VNETLAB_KERNEL_LOCK_HELD"  # set by whoever holds it, for the runs it starts


@contextlib.contextmanager
def machine_lock(what: str) -> Iterator[None]:
    """Holds :data:`MACHINE_LOCK` for the block, waiting (and saying so) if another run has it."""
    if os.environ.get(LOCK_HELD):
        yield
        return
    with open(MACHINE_LOCK, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"{what}: waiting for another vnetlab demo or test run on this machine ({MACHINE_LOCK})",
                  file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        os.environ[LOCK_HELD] = "1"
        try:
            yield
        finally:
            os.environ.pop(LOCK_HELD, None)


def main(argv: list[str]) -> int:
    """Runs the demo over the lab files of one folder."""
    folder = argv[0] if argv else "examples"
    console = Console(highlight=False)
    files = sorted(f for f in os.listdir(folder) if f.endswith(".yaml"))
    rows = []
    drawing = shutil.which("dot") is not None
    if drawing:
        os.makedirs(PICTURES, exist_ok=True)
    else:
        console.print("no pictures: Graphviz's dot is not installed (apt-get install graphviz)")
    if SHOWN_PLAN in files:
        lab = Lab.load(os.path.join(folder, SHOWN_PLAN))
        console.rule(f"[bold]vnetlab plan {folder}/{SHOWN_PLAN}[/bold] — the commands it stands for")
        for command in lab.plan().commands():
            console.print(format_command(command), markup=False)
    for name in files:
        path = os.path.join(folder, name)
        lab = Lab.load(path)
        console.rule(f"[bold]{name}[/bold] — {lab.spec.description or lab.name}")
        started = time.monotonic()
        try:
            lab.up()
            up_seconds = time.monotonic() - started
            results = lab.check()
            render_table(results, console)
            started_picture = time.monotonic()
            picture = draw(lab, os.path.splitext(name)[0], console) if drawing else None
            picture_seconds = time.monotonic() - started_picture
        finally:
            started_down = time.monotonic()
            lab.down()
            down_seconds = time.monotonic() - started_down
        passed = sum(r.ok for r in results)
        rows.append((name, len(lab.spec.nodes), up_seconds, picture_seconds if picture else None, down_seconds,
                     passed, len(results)))
    table = Table(title="vnetlab demo report", header_style="bold")
    for column in ("lab file", "nodes", "up (s)", "picture (s)", "down (s)", "checks"):
        table.add_column(column, justify="right" if column != "lab file" else "left")
    for name, nodes, up_s, picture_s, down_s, passed, total in rows:
        style = "green" if passed == total else "red"
        table.add_row(name, str(nodes), f"{up_s:.2f}", "-" if picture_s is None else f"{picture_s:.2f}",
                      f"{down_s:.2f}", f"[{style}]{passed}/{total}[/{style}]")
    console.print(table)
    failed = sum(total - passed for *_, passed, total in rows)
    failed += _course_demo(console)
    console.print("all checks passed; every lab was removed" if not failed else f"{failed} checks failed")
    console.print(where_to_look(folder, drawn=sum(row[3] is not None for row in rows)))
    return 1 if failed else 0


def draw(lab: Lab, stem: str, console: Console) -> Optional[str]:
    """Writes the running lab's live picture (its link states, the checks just run) to
    ``PICTURES/STEM.svg``; returns the path, or None (said in one line) if Graphviz failed."""
    from vnetlab.errors import VnetlabError
    from vnetlab.io import topology_render

    path = os.path.join(PICTURES, f"{stem}.svg")
    try:
        data = topology_render.render(lab.topology(), "svg")
    except VnetlabError as problem:
        console.print(f"no picture of {lab.name}: {problem}", markup=False)
        return None
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def where_to_look(folder: str, drawn: int) -> str:
    """The demo's last words: where the pictures are, and how to see the labs in the web UI."""
    pictures = (f"{drawn} pictures of the labs as they ran: {PICTURES}/*.svg (open one in a browser). "
                if drawn else "")
    return (f"{pictures}To see the labs live in the web UI: .venv/bin/vnetlab web --labs {folder} "
            "(then open the URL it prints)")


def _course_demo(console: Console, exercise: str = "routing", student: str = "demo") -> int:
    """A course exercise as a student meets it: graded untouched (with the feedback), then
    solved and graded again; returns 1 if the solved lab does not earn full marks."""
    from vnetlab.cli.course import _render_grade
    from vnetlab.course import session

    console.rule(f"[bold]vnetlab course start {exercise} --student {student}[/bold] — graded before and after "
                 "the reference solution")
    session.start(exercise, student)
    try:
        _render_grade(session.grade_one(exercise, student))
        session.solve(exercise, student)
        solved = session.grade_one(exercise, student)
        _render_grade(solved)
    finally:
        session.stop(exercise, student)
    return 0 if solved.passed else 1


if __name__ == "__main__":
    with machine_lock("make demo"):
        sys.exit(main(sys.argv[1:]))
