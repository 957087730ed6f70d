"""What the ``course`` commands do: start, stop, reset, hint, answer, solve,
grade — for one student's instance of an exercise, or for a whole class.

Each student's instance is a lab named ``<lab>_<student>`` (the exercise's
lab name, then the student's), built from the exercise rendered with that
student's values; the progress file in its run directory remembers hints and
answers. Returns data; the CLI renders it.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Optional

from vnetlab.course import exercise as exercises
from vnetlab.course.exercise import Rendered, Step
from vnetlab.course.grade import Grade, grade, record
from vnetlab.course.progress import Progress, course_labs, read, write
from vnetlab.errors import BadInput, Failed
from vnetlab.host import state


class NotStarted(BadInput, LookupError):
    """The student has no running instance of the exercise, like a lab that is not up (exit 2)."""


class AlreadyStarted(BadInput):
    """The student's instance is already running, like a lab name that is taken (exit 2)."""


class SolutionFailed(Failed):
    """A solution or mistake step exited non-zero (exit 1)."""


@dataclasses.dataclass
class Listed:
    """One row of ``course list``."""

    id: str
    section: str
    title: str
    summary: str
    status: str  # not started | running | passed
    points: Optional[int] = None
    total: Optional[int] = None
    lab: Optional[str] = None


def _lab(rendered: Rendered):
    from vnetlab.lab import Lab

    return Lab(rendered.spec, source=rendered.path)


def _running(rendered: Rendered):
    from vnetlab.lab import Lab

    if read(rendered.lab_name) is None:
        raise NotStarted(f"{rendered.student} has not started {rendered.exercise.id} — "
                         f"start it with: vnetlab course start {rendered.exercise.id} --student {rendered.student}")
    return Lab.running(rendered.lab_name)


def start(ref: str, student: str, progress_report: Optional[Callable[[int, int], None]] = None,
          keep: Optional[Progress] = None) -> Rendered:
    """Builds the student's starting lab and records the start.

    Raises:
        AlreadyStarted: the instance runs already.
        plus what :func:`exercises.load` and ``Lab.up`` raise.
    """
    rendered = exercises.load(ref, student)
    if os.path.isdir(state.lab_dir(rendered.lab_name)):
        raise AlreadyStarted(f"{student} has {rendered.exercise.id} running already (lab {rendered.lab_name}) — "
                             f"'vnetlab course reset {rendered.exercise.id}' starts it over, "
                             f"'vnetlab course stop {rendered.exercise.id}' removes it")
    lab = _lab(rendered)
    lab.up(progress=progress_report)
    progress = keep or Progress(rendered.exercise.id, rendered.path, student)
    progress.last_grade = None
    write(rendered.lab_name, progress)
    return rendered


def stop(ref: str, student: str) -> Rendered:
    """Removes the student's instance (and its progress)."""
    from vnetlab.lab import down

    rendered = exercises.load(ref, student)
    if not down(rendered.lab_name):
        raise NotStarted(f"{student} has no running instance of {rendered.exercise.id}")
    return rendered


def reset(ref: str, student: str) -> Rendered:
    """Starts over from the starting lab; hints used are kept (they were used)."""
    from vnetlab.lab import down

    rendered = exercises.load(ref, student)
    kept = read(rendered.lab_name)
    down(rendered.lab_name)
    if kept is not None:
        kept.answers = {}
    return start(ref, student, keep=kept)


def next_hint(ref: str, student: str, task_id: Optional[str] = None) -> tuple[Rendered, str, str, int, int]:
    """The next hint of ``task_id`` (default: the first task not passed at the
    last grade that has hints left), recorded as used.

    Returns:
        (rendered, task id, the hint, its number, how many the task has).
    """
    rendered = exercises.load(ref, student)
    _running(rendered)
    progress = read(rendered.lab_name)
    assert progress is not None
    passed = set((progress.last_grade or {}).get("passed", []))
    if task_id is not None:
        candidates = [rendered.exercise.task(task_id)]
    else:
        candidates = [t for t in rendered.exercise.tasks if t.id not in passed and t.hints] or \
                     [t for t in rendered.exercise.tasks if t.hints]
    if not candidates or not candidates[0].hints:
        which = f"task {task_id}" if task_id else rendered.exercise.id
        raise NotStarted(f"{which} has no hints")
    for task in candidates:
        used = progress.hints.get(task.id, 0)
        if used < len(task.hints):
            progress.hints[task.id] = used + 1
            write(rendered.lab_name, progress)
            return rendered, task.id, task.hints[used], used + 1, len(task.hints)
    task = candidates[0]
    return rendered, task.id, task.hints[-1], len(task.hints), len(task.hints)  # all shown: repeat the last


def answer(ref: str, student: str, task_id: str, value: str) -> Rendered:
    """Records the student's answer to a question task."""
    rendered = exercises.load(ref, student)
    _running(rendered)
    task = rendered.exercise.task(task_id)
    if task.answer is None:
        raise exercises.UnknownExercise(f"task {task_id} of {rendered.exercise.id} is graded from the lab, "
                                        "not answered with a value")
    progress = read(rendered.lab_name)
    assert progress is not None
    progress.answers[task_id] = str(value)
    write(rendered.lab_name, progress)
    return rendered


def run_steps(rendered: Rendered, steps: list[Step]) -> list[str]:
    """Runs solution or mistake steps in the student's instance.

    Returns:
        What was done, one line per step.

    Raises:
        SolutionFailed: a command exited non-zero (its output in the message).
    """
    lab = _running(rendered)
    done = []
    for step in steps:
        if step.answer is not None:
            answer(rendered.path, rendered.student, step.answer, str(step.value))
            done.append(f"answer {step.answer}: {step.value}")
            continue
        argv = step.argv()
        result = lab.node(step.node).run(argv, input=step.stdin, capture_output=True, text=True,
                                         timeout=60)
        if result.returncode != 0:
            raise SolutionFailed(f"{step.node}: {' '.join(argv)} exited {result.returncode}: "
                                 f"{(result.stderr or result.stdout).strip()}")
        done.append(f"{step.node}: {' '.join(argv)}")
    return done


def solve(ref: str, student: str) -> tuple[Rendered, list[str]]:
    """Applies the reference solution to the student's instance."""
    rendered = exercises.load(ref, student)
    return rendered, run_steps(rendered, rendered.exercise.solution)


def grade_one(ref: str, student: str) -> Grade:
    """Grades the student's running instance."""
    rendered = exercises.load(ref, student)
    lab = _running(rendered)
    progress = read(rendered.lab_name)
    assert progress is not None
    result = grade(lab, rendered, progress)
    fresh = read(rendered.lab_name) or progress  # hints or answers recorded meanwhile are kept
    record(fresh, result)
    write(rendered.lab_name, fresh)
    return result


def grade_all(ref: str) -> list[Grade]:
    """Grades every student's running instance of the exercise, by student name."""
    path = exercises.find(ref)
    grades = []
    for lab, progress in course_labs():
        if os.path.realpath(progress.source) != os.path.realpath(path):
            continue
        grades.append(grade_one(path, progress.student))
    return sorted(grades, key=lambda g: g.student)


def listing(student: str) -> list[Listed]:
    """Every built-in exercise (and every exercise the student runs), in course order."""
    running = {(os.path.realpath(p.source)): (lab, p) for lab, p in course_labs() if p.student == student}
    rows: list[tuple[float, str, Listed]] = []
    broken: list[Listed] = []
    paths = exercises.builtin_paths()
    paths += [p for p in running if p not in {os.path.realpath(b) for b in paths}]
    for path in paths:
        try:
            rendered = exercises.load(path, student)
        except (exercises.ExerciseError, OSError) as exc:
            broken.append(Listed(os.path.basename(path), "?", f"(cannot load: {exc})", "", "broken"))
            continue
        ex = rendered.exercise
        row = Listed(ex.id, ex.section, ex.title, ex.summary, "not started", total=ex.total)
        found = running.get(os.path.realpath(path))
        if found is not None:
            lab, progress = found
            row.lab = lab
            row.status = "running"
            if progress.last_grade:
                row.points = progress.last_grade.get("points")
                if row.points == progress.last_grade.get("total"):
                    row.status = "passed"
        rows.append((ex.order, ex.id, row))
    return [row for *_, row in sorted(rows, key=lambda r: r[:2])] + broken


def default_student() -> str:
    """The login name, made into a student name (lowercase letters and digits)."""
    import getpass

    name = "".join(c for c in getpass.getuser().lower() if c.isalnum())
    return name if name and name[0].isalpha() else f"s{name}"[:16]

