"""Grading pieces that need no kernel: answers, the class CSV, JUnit, progress files."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET

from vnetlab.cli.course import write_csv, write_junit
from vnetlab.course.exercise import Task
from vnetlab.course.grade import Grade, TaskGrade, _grade_answer
from vnetlab.course import progress as progress_file
from vnetlab.course.progress import Progress


def question(answer) -> Task:
    return Task(id="port", title="which port", points=2, hints=["ss -tlnp"], answer=answer)


def test_an_answer_is_compared_trimmed_and_case_blind():
    assert _grade_answer(question("8443"), " 8443 ", "recon").ok
    assert _grade_answer(question(["SSH", "22"]), "ssh", "recon").ok
    wrong = _grade_answer(question(8443), "8080", "recon")
    assert not wrong.ok and wrong.earned == 0 and "not right" in wrong.feedback[0]
    missing = _grade_answer(question(8443), None, "recon")
    assert "vnetlab course answer recon port VALUE" in missing.feedback[0]


def grades() -> list[Grade]:
    checked = Task(id="reach", title="reach", points=3, hints=["h"], checks=[{"from": "a", "to": "b"}])
    return [Grade("ex", "Ex", "ana", "ex_ana", [TaskGrade(question(1), True, []), TaskGrade(checked, False, ["why"])], 1),
            Grade("ex", "Ex", "bob", "ex_bob", [TaskGrade(question(1), True, []), TaskGrade(checked, True, [])], 0)]


def test_the_class_csv_has_one_row_per_student(tmp_path):
    path = tmp_path / "c.csv"
    write_csv(grades(), str(path))
    rows = list(csv.DictReader(path.open()))
    assert [(r["student"], r["port"], r["reach"], r["points"], r["total"], r["hints_used"]) for r in rows] == [
        ("ana", "2", "0", "2", "5", "1"), ("bob", "2", "3", "5", "5", "0")]


def test_junit_has_a_suite_per_student_and_a_failure_per_failed_task(tmp_path):
    path = tmp_path / "j.xml"
    write_junit(grades(), str(path))
    suites = ET.parse(path).getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == ["ex/ana", "ex/bob"]
    assert [s.get("failures") for s in suites] == ["1", "0"]
    assert suites[0].find("testcase[@name='reach']/failure").text == "why"


def test_progress_round_trips_through_the_run_directory(tmp_path, monkeypatch):
    monkeypatch.setattr(progress_file.state, "RUN_ROOT", str(tmp_path))
    (tmp_path / "ex_ana").mkdir()
    saved = Progress("ex", "/x/ex.yaml", "ana", hints={"reach": 2}, answers={"port": "22"})
    progress_file.write("ex_ana", saved)
    assert progress_file.read("ex_ana") == saved
    assert progress_file.read("ex_bob") is None
    assert [lab for lab, _ in progress_file.course_labs()] == ["ex_ana"]
    assert saved.hints_used == 2
