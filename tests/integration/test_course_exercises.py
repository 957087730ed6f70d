"""Every built-in exercise, graded on the real kernel, as a student and a teacher would.

For each exercise: the untouched starting lab earns exactly ``starts_with``
points; every typical mistake earns its declared points with its declared
feedback; after a reset and the reference solution every task passes. The
course API is called in-process (the commands themselves are covered by
test_course_cli.py), which halves the time per exercise.
"""

from __future__ import annotations

import os
import re

import pytest

from vnetlab.course import exercise as exercises
from vnetlab.course import session

BUILTIN = [os.path.basename(p)[:-5] for p in exercises.builtin_paths()]
STUDENT = "tester"


@pytest.mark.parametrize("ex", BUILTIN)
def test_exercise_start_mistakes_solution(ex):
    rendered = exercises.load(ex, STUDENT)
    session.start(ex, STUDENT)
    try:
        start = session.grade_one(ex, STUDENT)
        assert start.points == rendered.exercise.starts_with, start.to_dict()
        for mistake in rendered.exercise.mistakes:
            session.run_steps(rendered, mistake.steps)
            graded = session.grade_one(ex, STUDENT)
            assert not graded.passed, f"{mistake.name}: a mistake must not pass everything"
            assert graded.points == mistake.points, (mistake.name, graded.to_dict())
            if mistake.feedback:
                feedback = "\n".join(line for task in graded.tasks for line in task.feedback)
                assert re.search(mistake.feedback, feedback), (mistake.name, feedback)
            session.reset(ex, STUDENT)
        session.solve(ex, STUDENT)
        solved = session.grade_one(ex, STUDENT)
        assert solved.passed and solved.points == solved.total == rendered.exercise.total, solved.to_dict()
    finally:
        try:
            session.stop(ex, STUDENT)
        except session.NotStarted:
            pass
