"""Grading a student's running instance: every task's checks against the
kernel, with feedback that says why a task fails.

A task earns its points when every one of its checks passes (or its answer
is right). Checks of tasks without a ``{reboot: NODE}`` step all run in one
parallel batch; a task with reboot steps runs its checks in order, rebooting
the node where the task says so, after the others (a reboot changes the lab).
A failing task's first failing reachability check is explained by a real
``trace`` of its probe — where the packet died and why — unless one of the
task's state checks failed (its feedback already says what is wrong).
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from vnetlab.course.exercise import Rendered, Task, is_step, normalise_answer
from vnetlab.model.schema import CableStep
from vnetlab.course.progress import Progress

if TYPE_CHECKING:
    from vnetlab.lab import Lab
    from vnetlab.probe.checks import CheckResult


@dataclasses.dataclass
class TaskGrade:
    """One task's outcome."""

    task: Task
    ok: bool
    feedback: list[str]  # why it failed (empty when it passed), else what was seen

    @property
    def earned(self) -> int:
        return self.task.points if self.ok else 0


@dataclasses.dataclass
class Grade:
    """A student's grade on one exercise."""

    exercise: str
    title: str
    student: str
    lab: str
    tasks: list[TaskGrade]
    hints_used: int

    @property
    def points(self) -> int:
        return sum(t.earned for t in self.tasks)

    @property
    def total(self) -> int:
        return sum(t.task.points for t in self.tasks)

    @property
    def passed(self) -> bool:
        return all(t.ok for t in self.tasks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "exercise": self.exercise, "title": self.title, "student": self.student, "lab": self.lab,
            "points": self.points, "total": self.total, "passed": self.passed, "hints_used": self.hints_used,
            "tasks": [{"id": t.task.id, "title": t.task.title, "points": t.earned, "max": t.task.points,
                       "ok": t.ok, "feedback": t.feedback} for t in self.tasks],
        }


def grade(lab: "Lab", rendered: Rendered, progress: Progress) -> Grade:
    """Grades the running ``lab`` (the student's instance of ``rendered``).

    Args:
        lab: the running lab (``Lab.running(rendered.lab_name)``).
        rendered: the exercise with the student's values.
        progress: the student's answers and hints.

    Returns:
        One TaskGrade per task, in the exercise's order.
    """
    from vnetlab.probe.checks import run_checks

    tasks = rendered.exercise.tasks
    outcomes: dict[int, TaskGrade] = {}
    batch: list[tuple[int, Any]] = []
    for index, task in enumerate(tasks):
        if task.answer is not None:
            outcomes[index] = _grade_answer(task, progress.answers.get(task.id), rendered.exercise.id)
        elif not any(is_step(c) for c in task.checks):
            batch.extend((index, check) for check in task.checks)
    if batch:
        results = run_checks(lab.spec.model_copy(update={"checks": [c for _, c in batch]}), lab.namespace_of)
        by_task: dict[int, list] = {}
        for (index, _), result in zip(batch, results):
            by_task.setdefault(index, []).append(result)
        # The traces that explain failing tasks (about a second each) run at the same time.
        targets = {index: _trace_target(task_results) for index, task_results in by_task.items()}
        asked = [(index, target) for index, target in targets.items() if target is not None]
        traces = dict(zip((index for index, _ in asked), _traces(lab, [target for _, target in asked])))
        for index, task_results in by_task.items():
            outcomes[index] = _judged(lab, tasks[index], task_results, traces.get(index))
    for index, task in enumerate(tasks):
        if index not in outcomes:
            outcomes[index] = _grade_with_steps(lab, task, run_checks)
    return Grade(rendered.exercise.id, rendered.exercise.title, rendered.student, lab.name,
                 [outcomes[i] for i in range(len(tasks))], progress.hints_used)


def record(progress: Progress, result: Grade) -> None:
    """Keeps the grade's summary in the progress (for ``course list`` and hints)."""
    progress.last_grade = {"points": result.points, "total": result.total, "at": time.time(),
                           "passed": [t.task.id for t in result.tasks if t.ok]}


def _grade_answer(task: Task, given: Optional[str], exercise: str) -> TaskGrade:
    if given is None:
        return TaskGrade(task, False, [f"no answer yet — give it with: vnetlab course answer {exercise} "
                                       f"{task.id} VALUE"])
    if normalise_answer(given) in task.accepted():
        return TaskGrade(task, True, [f"answered {given!r}: right"])
    return TaskGrade(task, False, [f"answered {given!r}: not right"])


def _grade_with_steps(lab: "Lab", task: Task, run_checks: Callable) -> TaskGrade:
    """A task whose checks hold steps (reboots, cable cuts): its checks run in
    order, each step taken where it stands; cables the steps cut are plugged
    back at the end, so the student finds the lab as they left it."""
    cut: list[str] = []
    try:
        return _run_steps(lab, task, run_checks, cut)
    finally:
        for end in cut:
            try:
                lab.replug(end)
            except Exception:  # noqa: BLE001 - the grade stands; `vnetlab link LAB END up` plugs it back
                pass


def _run_steps(lab: "Lab", task: Task, run_checks: Callable, cut: list[str]) -> TaskGrade:
    results = []
    segment: list[Any] = []

    def flush() -> None:
        if segment:
            results.extend(run_checks(lab.spec.model_copy(update={"checks": list(segment)}), lab.namespace_of))
            segment.clear()

    notes: list[str] = []
    booted: list[str] = []
    for check in task.checks:
        if isinstance(check, CableStep):
            flush()
            try:
                if check.cut:
                    lab.cut(check.cut)
                    cut.append(check.cut)
                else:
                    lab.replug(check.end)
                    cut[:] = [end for end in cut if end != check.end]
            except Exception as exc:  # noqa: BLE001 - the grade says what went wrong
                return TaskGrade(task, False, [f"{check.label()} failed: {exc}"])
            notes.append(check.label())
        elif getattr(check, "reboot", None) is not None:
            flush()
            try:
                report = lab.reboot(check.reboot)
            except Exception as exc:  # noqa: BLE001 - the grade says what went wrong, the grading goes on
                return TaskGrade(task, False, [f"rebooting {check.reboot} failed: {exc}"])
            notes.append(f"a reboot of {check.reboot}")
            # A file the boot could not read explains every check after it.
            booted.extend(f"at the boot of {check.reboot}: {line}" for line in (*report.problems, *report.skipped))
        else:
            segment.append(check)
    flush()
    graded = _judged(lab, task, results)
    if notes and not graded.ok:
        graded.feedback = [*booted, f"after {', '.join(notes)}: " + graded.feedback[0], *graded.feedback[1:]]
    return graded


def _judged(lab: "Lab", task: Task, results: list["CheckResult"], traced: Any = None) -> TaskGrade:
    """A task from its checks' results: passed when all passed; feedback for
    each failure. A trace (about a second) explains what the state checks
    cannot: only when every state check of the task passed, and only the
    first failing probe that should have got through (the student fixes one
    thing at a time, :func:`_trace_target`); the other failures say what was
    seen. ``traced``: that trace's result (or the exception it raised) if
    the caller ran it already, else it is run here."""
    if all(r.ok for r in results):
        return TaskGrade(task, True, [])
    target = _trace_target(results)
    if target is not None and traced is None:
        traced = _traces(lab, [target])[0]
    return TaskGrade(task, False, [explain(lab, result, traced if result is target else None)
                                   for result in results if not result.ok])


def _trace_target(results: list["CheckResult"]) -> Optional["CheckResult"]:
    """The failure of a task that a trace explains: its first failing probe that should have got
    through, unless a state check of the task failed (its feedback says what is wrong); else None."""
    if any(not r.ok and getattr(r.check, "from_", None) is None for r in results):
        return None
    return next((r for r in results if not r.ok and _traceable(r)), None)


def _traces(lab: "Lab", results: list["CheckResult"]) -> list[Any]:
    """A trace of each result's probe, several at once (a TraceResult, or the exception it raised)."""
    if not results:
        return []
    from vnetlab.probe.trace import TraceRequest, trace_many

    return trace_many(lab.spec, lab.namespace_of, [
        TraceRequest(r.check.from_, r.check.to, proto=r.check.proto, timeout=r.check.timeout) for r in results])


def _traceable(result: "CheckResult") -> bool:
    """Whether a failed check is a probe that should have got through (a trace can say where it died)."""
    check = result.check
    return getattr(check, "from_", None) is not None and getattr(check, "expect", None) in ("reach", "open") \
        and result.observed != "error"


def explain(lab: "Lab", result: "CheckResult", traced: Any = None) -> str:
    """Why a check failed, in words; with ``traced`` (a trace of its probe, or the exception the
    trace raised), where the packet died and why."""
    from vnetlab.probe.checks import label_of

    check = result.check
    if traced is None:
        return f"{label_of(result)}: {result.detail}"
    source = check.from_
    if isinstance(traced, (ValueError, OSError, RuntimeError)):
        return f"{source} cannot reach {check.to}: {result.detail} (trace could not run: {traced})"
    if isinstance(traced, Exception):
        raise traced
    return f"{source} cannot reach {check.to}: {traced.reason}"  # the reason names where: "dropped at r1: …"

