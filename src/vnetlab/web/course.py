"""The course panel: the exercises, one exercise's text and tasks, a hint, an answer, the grade.

Over ``vnetlab.course.session`` for the student the server runs as (the
login name, as ``vnetlab course`` defaults to). Exercises are named by their
built-in id only — never a path, which ``course`` commands also accept.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from vnetlab.errors import BadInput
from vnetlab.names import shown


class BadExercise(BadInput, ValueError):
    """Not an exercise id (400)."""


def exercise_id(value: object) -> str:
    """``value`` if it is an exercise id (lowercase letters, digits and '-'), never a path."""
    from vnetlab.course.exercise import TASK_ID

    if not isinstance(value, str) or not TASK_ID.fullmatch(value):
        raise BadExercise(f"exercise {shown(value)} is not allowed — give an exercise id, e.g. routing")
    return value


def student() -> str:
    from vnetlab.course.session import default_student

    return default_student()


def listing() -> dict[str, Any]:
    """``GET /api/course``."""
    from vnetlab.course.session import listing as rows

    who = student()
    return {"student": who, "exercises": [dataclasses.asdict(row) for row in rows(who)]}


def exercise(ref: object) -> dict[str, Any]:
    """``GET /api/course/EXERCISE``: its text and tasks as the student's instance has them, with the
    hints shown so far and the last grade (both empty when it is not started)."""
    from vnetlab.course.exercise import load
    from vnetlab.course.progress import read

    rendered = load(exercise_id(ref), student())
    ex = rendered.exercise
    progress = read(rendered.lab_name)
    return {
        "id": ex.id, "title": ex.title, "section": ex.section, "summary": ex.summary, "text": ex.intro,
        "total": ex.total, "lab": rendered.lab_name, "student": rendered.student, "nodes": list(rendered.spec.nodes),
        "running": progress is not None,
        "tasks": [{"id": t.id, "title": t.title, "points": t.points, "text": t.text, "hints": len(t.hints),
                   "question": t.answer is not None} for t in ex.tasks],
        "hints_shown": dict(progress.hints) if progress is not None else {},
        "grade": progress.last_grade if progress is not None else None,
    }


def hint(ref: object) -> dict[str, Any]:
    """``POST /api/course/EXERCISE/hint``: the next hint (recorded as used)."""
    from vnetlab.course.session import next_hint

    rendered, task, text, number, count = next_hint(exercise_id(ref), student())
    return {"exercise": rendered.exercise.id, "task": task, "hint": text.strip(), "number": number, "count": count}


def answer(ref: object, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/course/EXERCISE/answer`` with ``{"task", "value"}``: records the answer to a
    question task (graded by the next grade)."""
    from vnetlab.course.exercise import TASK_ID
    from vnetlab.course.session import answer as record

    task, value = body.get("task"), body.get("value")
    if not isinstance(task, str) or not TASK_ID.fullmatch(task):
        raise BadExercise(f"task {shown(task)} is not allowed — give a task id of the exercise")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or len(str(value)) > 200:
        raise BadExercise("value: give the answer as text or a number")
    rendered = record(exercise_id(ref), student(), task, str(value))
    return {"exercise": rendered.exercise.id, "task": task, "value": str(value)}


def grade(ref: object) -> dict[str, Any]:
    """``POST /api/course/EXERCISE/grade``: grades the student's running instance."""
    from vnetlab.course.session import grade_one

    return grade_one(exercise_id(ref), student()).to_dict()


def refuse_started(ref: object) -> str:
    """The lab name of the student's instance of the exercise.

    Raises:
        AlreadyStarted: it runs already (409), as ``vnetlab course start`` says.
    """
    import os

    from vnetlab.course.exercise import load
    from vnetlab.course.session import AlreadyStarted
    from vnetlab.host import state

    rendered = load(exercise_id(ref), student())
    if os.path.isdir(state.lab_dir(rendered.lab_name)):
        raise AlreadyStarted(f"{rendered.student} has {rendered.exercise.id} running already (lab "
                             f"{rendered.lab_name}) — its page shows it; DELETE /api/labs/{rendered.lab_name} "
                             "removes it")
    return rendered.lab_name


def start(ref: object, progress: Any) -> None:
    """Starts the student's instance (a job's work)."""
    from vnetlab.course.session import start as begin

    begin(exercise_id(ref), student(), progress_report=progress)
