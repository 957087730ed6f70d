"""``vnetlab course …``: guided exercises, graded from the kernel.

A student: ``list``, ``start EX``, ``hint EX``, ``answer EX TASK VALUE``,
``grade EX``, ``reset EX``, ``stop EX``. A teacher: ``grade EX --all
[--csv FILE]`` over every student's instance on the machine, ``solve EX``,
``show EX`` (the task, the values, the solution and the notes). Every
subcommand takes ``--student NAME`` (default: the login name).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import TYPE_CHECKING

from vnetlab.cli.common import EXIT_FAILED, EXIT_OK, _console

if TYPE_CHECKING:
    from vnetlab.course.grade import Grade


def register(subparsers) -> None:
    """Adds the ``course`` command group to the ``vnetlab`` parser."""
    group = subparsers.add_parser(
        "course", help="guided exercises: start one, work in its lab, get hints, be graded",
        description="Guided exercises of the Linux virtual-networking course, graded from the real kernel. "
                    "EX is a built-in exercise id (see 'vnetlab course list') or the path of an exercise file.")
    actions = group.add_subparsers(dest="course_action", metavar="ACTION")
    actions.required = True

    def action(name: str, func, help_text: str, exercise: bool = True) -> argparse.ArgumentParser:
        p = actions.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        if exercise:
            p.add_argument("exercise", metavar="EX")
        p.add_argument("--student", metavar="NAME",
                       help="whose instance (default: your login name); part of the lab's name: LAB_NAME")
        return p

    p = action("list", cmd_list, "every exercise: id, section, title, and where this student stands", exercise=False)
    p.add_argument("--json", action="store_true")
    p = action("start", cmd_start, "build the exercise's starting lab for this student and print the task")
    p.add_argument("--json", action="store_true", help="print the lab name and the task as JSON")
    p = action("show", cmd_show, "print the task again (--teacher: with the values, solution and notes)")
    p.add_argument("--teacher", action="store_true")
    p = action("hint", cmd_hint, "the next hint (of TASK, or of the first task not passed); hints used are recorded")
    p.add_argument("task", nargs="?", metavar="TASK")
    p = action("answer", cmd_answer, "answer a question task with a value")
    p.add_argument("task", metavar="TASK")
    p.add_argument("value", metavar="VALUE")
    p = action("grade", cmd_grade, "grade the running instance: points per task and why; exit 0 only if all pass")
    p.add_argument("--all", action="store_true", help="grade every student's running instance (a teacher's view)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (one testcase per task)")
    p.add_argument("--csv", metavar="FILE", help="with --all: one row per student (points per task, total, hints)")
    action("reset", cmd_reset, "start over from the starting lab (hints used are kept)")
    action("stop", cmd_stop, "remove this student's instance")
    action("solve", cmd_solve, "apply the reference solution to the running instance (for teachers and tests)")


def _student(args: argparse.Namespace) -> str:
    from vnetlab.course.session import default_student
    from vnetlab.names import student_name

    return student_name(args.student) if args.student is not None else student_name(default_student())


def _root(action: str) -> None:
    from vnetlab.lab import require_root

    require_root(f"vnetlab course {action}")


def cmd_list(args: argparse.Namespace) -> int:
    from vnetlab.course.session import listing

    rows = listing(_student(args))
    if args.json:
        print(json.dumps([row.__dict__ for row in rows], indent=2))
        return EXIT_OK
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"course exercises for {_student(args)}", header_style="bold")
    for column in ("id", "section", "title", "status"):
        table.add_column(column)
    for row in rows:
        status = row.status
        if row.points is not None:
            status += f" ({row.points}/{row.total})"
        colour = {"passed": "green", "running": "yellow", "broken": "red"}.get(row.status, "")
        table.add_row(escape(row.id), escape(row.section), escape(row.title),
                      f"[{colour}]{escape(status)}[/]" if colour else escape(status))
    _console().print(table)
    return EXIT_OK


def cmd_start(args: argparse.Namespace) -> int:
    from vnetlab.course.session import start

    _root("start")
    rendered = start(args.exercise, _student(args))
    if args.json:
        print(json.dumps({"exercise": rendered.exercise.id, "lab": rendered.lab_name, "student": rendered.student,
                          "intro": rendered.exercise.intro, "tasks": [
                              {"id": t.id, "title": t.title, "points": t.points, "text": t.text}
                              for t in rendered.exercise.tasks]}, indent=2))
        return EXIT_OK
    _print_task(rendered)
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from vnetlab.course.exercise import load

    rendered = load(args.exercise, _student(args))
    _print_task(rendered, started=False)
    if args.teacher:
        _print_teacher(rendered)
    return EXIT_OK


def _print_task(rendered, started: bool = True) -> None:
    from rich.markdown import Markdown

    ex = rendered.exercise
    lines = [f"# {ex.title}", f"*{ex.section} — exercise `{ex.id}`, {ex.total} points*", "", ex.intro.strip(), ""]
    for number, task in enumerate(ex.tasks, start=1):
        lines.append(f"{number}. **{task.title}** ({task.points} point{'s' if task.points != 1 else ''}, "
                     f"`{task.id}`)" + (f" — {task.text.strip()}" if task.text.strip() else ""))
    lab = rendered.lab_name
    nodes = ", ".join(rendered.spec.nodes)
    lines += ["", f"Your lab is **{lab}** (nodes: {nodes})." if started else f"The lab is **{lab}** (nodes: {nodes}).",
              "", f"- work in a node: `vnetlab shell {lab} NODE`",
              f"- a hint: `vnetlab course hint {ex.id}`",
              f"- your grade: `vnetlab course grade {ex.id}`"]
    if any(t.answer is not None for t in ex.tasks):
        lines.append(f"- answer a question: `vnetlab course answer {ex.id} TASK VALUE`")
    lines.append(f"- start over: `vnetlab course reset {ex.id}`; finish: `vnetlab course stop {ex.id}`")
    if rendered.student != _login_student():  # the commands as this student must type them
        lines = [_with_student(line, ex.id, rendered.student) for line in lines]
    # soft_wrap=False: rich crops the lines of a list item at the width when soft wrapping is on
    _console().print(Markdown("\n".join(lines)), soft_wrap=False)


def _login_student() -> str:
    from vnetlab.course.session import default_student

    return default_student()


def _with_student(line: str, exercise: str, student: str) -> str:
    for verb in ("hint", "grade", "answer", "reset", "stop"):
        head = f"vnetlab course {verb} {exercise}"
        if head in line:
            line = line.replace(f"{head}`", f"{head} --student {student}`").replace(
                f"{head} TASK VALUE`", f"{head} TASK VALUE --student {student}`")
    return line


def _print_teacher(rendered) -> None:
    from rich.markdown import Markdown

    ex = rendered.exercise
    values = ", ".join(f"{k} = {v}" for k, v in rendered.values.items())
    steps = []
    for step in ex.solution:
        if step.answer is not None:
            steps.append(f"- answer `{step.answer}`: `{step.value}`")
        else:
            steps.append(f"- on `{step.node}`: `{' '.join(step.argv())}`" + (" (with input)" if step.stdin else ""))
    text = ["## For the teacher", f"Values for {rendered.student}: {values}", "", "### Solution", *steps]
    if ex.notes.strip():
        text += ["", "### Notes", ex.notes.strip()]
    _console().print(Markdown("\n".join(text)), soft_wrap=False)


def cmd_hint(args: argparse.Namespace) -> int:
    from vnetlab.course.session import next_hint

    rendered, task, hint, number, count = next_hint(args.exercise, _student(args), args.task)
    _console().print(f"[bold]hint {number}/{count} for task {task}:[/] ", end="")
    print(hint.strip())
    return EXIT_OK


def cmd_answer(args: argparse.Namespace) -> int:
    from vnetlab.course.session import answer

    rendered = answer(args.exercise, _student(args), args.task, args.value)
    print(f"recorded {args.value!r} for task {args.task}; 'vnetlab course grade {rendered.exercise.id}' grades it",
          file=sys.stderr)
    return EXIT_OK


def cmd_grade(args: argparse.Namespace) -> int:
    from vnetlab.course.session import grade_all, grade_one

    _root("grade")
    if args.csv and not args.all:
        print("vnetlab: --csv is a class view: use it with --all", file=sys.stderr)
        return 2
    grades = grade_all(args.exercise) if args.all else [grade_one(args.exercise, _student(args))]
    if args.all and not grades:
        print(f"no student runs {args.exercise} on this machine", file=sys.stderr)
    if args.csv:
        write_csv(grades, args.csv)
    if args.junit:
        write_junit(grades, args.junit)
    if args.json:
        data = [g.to_dict() for g in grades]
        print(json.dumps(data if args.all else data[0], indent=2))
    elif args.all:
        _render_class(grades)
    else:
        _render_grade(grades[0])
    return EXIT_OK if grades and all(g.passed for g in grades) else EXIT_FAILED


def _render_grade(grade: "Grade") -> None:
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    table = Table(title=f"{grade.title} — {grade.student} (lab {grade.lab})", header_style="bold", show_lines=True)
    for column in ("task", "points", "result", "feedback"):
        table.add_column(column, justify="right" if column == "points" else "left")
    for task in grade.tasks:
        verdict = "[bold green]PASS[/]" if task.ok else "[bold red]FAIL[/]"
        table.add_row(escape(f"{task.task.id}: {task.task.title}"), f"{task.earned}/{task.task.points}", verdict,
                      escape("\n".join(task.feedback)))
    console.print(table)
    colour = "green" if grade.passed else "red"
    hints = f", {grade.hints_used} hint{'s' if grade.hints_used != 1 else ''} used" if grade.hints_used else ""
    console.print(f"[{colour}]{grade.points}/{grade.total} points[/]{hints}")


def _render_class(grades: list["Grade"]) -> None:
    from rich.table import Table

    if not grades:
        return
    table = Table(title=f"{grades[0].title} — the class", header_style="bold")
    table.add_column("student")
    for task in grades[0].tasks:
        table.add_column(task.task.id, justify="right")
    table.add_column("total", justify="right")
    table.add_column("hints", justify="right")
    for grade in grades:
        table.add_row(grade.student, *(f"{t.earned}/{t.task.points}" for t in grade.tasks),
                      f"{grade.points}/{grade.total}", str(grade.hints_used))
    _console().print(table)


def write_csv(grades: list["Grade"], path: str) -> None:
    """One row per student: the points of each task, the total, the hints used."""
    task_ids = [t.task.id for t in grades[0].tasks] if grades else []
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "lab", *task_ids, "points", "total", "hints_used"])
        for grade in grades:
            writer.writerow([grade.student, grade.lab, *(t.earned for t in grade.tasks), grade.points, grade.total,
                             grade.hints_used])


def write_junit(grades: list["Grade"], path: str) -> None:
    """JUnit XML: a testsuite per student, a testcase per task (failure: the feedback)."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites")
    for grade in grades:
        suite = ET.SubElement(root, "testsuite", {
            "name": f"{grade.exercise}/{grade.student}", "tests": str(len(grade.tasks)),
            "failures": str(sum(not t.ok for t in grade.tasks)), "errors": "0", "skipped": "0"})
        for task in grade.tasks:
            case = ET.SubElement(suite, "testcase", {"classname": grade.exercise, "name": task.task.id})
            if not task.ok:
                failure = ET.SubElement(case, "failure", {"message": "; ".join(task.feedback)[:500]})
                failure.text = "\n".join(task.feedback)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def cmd_reset(args: argparse.Namespace) -> int:
    from vnetlab.course.session import reset

    _root("reset")
    rendered = reset(args.exercise, _student(args))
    print(f"{rendered.exercise.id} is back at its start for {rendered.student} (lab {rendered.lab_name})",
          file=sys.stderr)
    return EXIT_OK


def cmd_stop(args: argparse.Namespace) -> int:
    from vnetlab.course.session import stop

    _root("stop")
    rendered = stop(args.exercise, _student(args))
    print(f"lab {rendered.lab_name} is down", file=sys.stderr)
    return EXIT_OK


def cmd_solve(args: argparse.Namespace) -> int:
    from vnetlab.course.session import solve

    _root("solve")
    rendered, done = solve(args.exercise, _student(args))
    for line in done:
        print(line)
    print(f"the reference solution is applied to lab {rendered.lab_name}", file=sys.stderr)
    return EXIT_OK
