"""`vnetlab course show --teacher` as a teacher reads it: the solution and
the notes wrapped to the terminal, no command cut off at the right edge."""

from __future__ import annotations

from vnetlab import cli
from vnetlab.course.exercise import load


def test_the_teachers_view_prints_every_solution_step_whole(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    assert cli.main(["course", "show", "routing", "--student", "ana", "--teacher"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 60
    words = " ".join(out.split())
    rendered = load("routing", "ana")
    for step in rendered.exercise.solution:
        assert " ".join(step.argv()) in words
    assert " ".join(rendered.exercise.notes.replace("`", "").split()) in words  # Markdown drops the backticks
