"""Every built-in exercise, graded on the real kernel, as a student and a teacher would.

For each exercise: the untouched starting lab earns exactly ``starts_with``
points; every typical mistake earns its declared points with its declared
feedback; after ``course reset`` and ``course solve`` (the reference
solution) every task passes and ``grade`` exits 0.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from conftest import cli
from vnetlab.course import exercise as exercises

BUILTIN = [os.path.basename(p)[:-5] for p in exercises.builtin_paths()]
STUDENT = "tester"


def grade(ex: str) -> tuple[int, dict]:
    result = cli("course", "grade", ex, "--student", STUDENT, "--json")
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


@pytest.mark.parametrize("ex", BUILTIN)
def test_exercise_start_mistakes_solution(ex):
    rendered = exercises.load(ex, STUDENT)
    cli("course", "start", ex, "--student", STUDENT, check=True)
    try:
        code, start = grade(ex)
        assert start["points"] == rendered.exercise.starts_with, start
        assert code == (0 if start["passed"] else 1)
        for mistake in rendered.exercise.mistakes:
            from vnetlab.course.session import run_steps

            run_steps(rendered, mistake.steps)
            code, graded = grade(ex)
            assert code == 1, f"{mistake.name}: a mistake must not pass everything"
            assert graded["points"] == mistake.points, (mistake.name, graded)
            if mistake.feedback:
                feedback = "\n".join(line for task in graded["tasks"] for line in task["feedback"])
                assert re.search(mistake.feedback, feedback), (mistake.name, feedback)
            cli("course", "reset", ex, "--student", STUDENT, check=True)
        cli("course", "solve", ex, "--student", STUDENT, check=True)
        code, solved = grade(ex)
        assert solved["points"] == solved["total"] == rendered.exercise.total, solved
        assert code == 0
    finally:
        cli("course", "stop", ex, "--student", STUDENT)
