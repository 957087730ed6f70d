"""The course commands as a class uses them on one machine: three students
side by side, hints and answers recorded, the teacher's CSV, and the refusals."""

from __future__ import annotations

import csv
import json

import pytest

from conftest import cli, lab_namespaces

STUDENTS = ("ana", "bob", "eve")


@pytest.fixture(scope="module")
def classroom():
    for student in STUDENTS:
        cli("course", "start", "routing", "--student", student, check=True)
    try:
        cli("course", "solve", "routing", "--student", "bob", check=True)
        yield
    finally:
        for student in STUDENTS:
            cli("course", "stop", "routing", "--student", student)


def test_each_student_has_an_own_lab_with_own_values(classroom):
    labs = {student: lab_namespaces(f"routing_{student}") for student in STUDENTS}
    assert all(len(namespaces) == 5 for namespaces in labs.values()), labs
    addresses = set()
    for student in STUDENTS:
        out = cli("exec", f"routing_{student}", "h1", "--", "ip", "-4", "-o", "addr", "show", "dev", "eth0",
                  check=True).stdout
        addresses.add(out.split()[3])
    assert len(addresses) == 3, addresses


def test_the_teacher_grades_the_class_into_a_csv(classroom, tmp_path):
    path = tmp_path / "class.csv"
    result = cli("course", "grade", "routing", "--all", "--csv", str(path))
    assert result.returncode == 1  # not everyone passes
    rows = list(csv.DictReader(path.open()))
    assert [row["student"] for row in rows] == list(STUDENTS)
    by_student = {row["student"]: row for row in rows}
    assert by_student["bob"]["points"] == by_student["bob"]["total"] == "10"
    assert by_student["ana"]["points"] == "0" and by_student["ana"]["forwarding"] == "0"
    assert set(by_student["ana"]) >= {"forwarding", "gateways", "routes", "reach", "hints_used"}
    assert "bob" in result.stdout and "10/10" in result.stdout


def test_hints_are_given_in_order_and_counted(classroom):
    first = cli("course", "hint", "routing", "--student", "eve", check=True).stdout
    second = cli("course", "hint", "routing", "--student", "eve", check=True).stdout
    assert "ip_forward" in first and first != second
    graded = json.loads(cli("course", "grade", "routing", "--student", "eve", "--json").stdout)
    assert graded["hints_used"] == 2


def test_a_passing_grade_exits_0_and_writes_junit(classroom, tmp_path):
    junit = tmp_path / "bob.xml"
    result = cli("course", "grade", "routing", "--student", "bob", "--junit", str(junit))
    assert result.returncode == 0, result.stdout
    assert "10/10 points" in result.stdout
    assert junit.read_text().count("<testcase") == 4 and "<failure" not in junit.read_text()


def test_a_failing_reach_task_is_explained_by_a_trace(classroom):
    graded = json.loads(cli("course", "grade", "routing", "--student", "ana", "--json").stdout)
    reach = next(task for task in graded["tasks"] if task["id"] == "reach")
    assert not reach["ok"]
    assert any("h1 cannot reach h2: dropped at h1" in line and "no route" in line for line in reach["feedback"])


def test_refusals(classroom):
    twice = cli("course", "start", "routing", "--student", "ana")
    assert twice.returncode == 2 and "running already" in twice.stderr
    absent = cli("course", "grade", "routing", "--student", "zed")
    assert absent.returncode == 2 and "has not started" in absent.stderr
    hostile = cli("course", "grade", "routing", "--student", "../x")
    assert hostile.returncode == 2 and "student name" in hostile.stderr
    unknown = cli("course", "start", "no-such", "--student", "ana")
    assert unknown.returncode == 2 and "the exercises are" in unknown.stderr
    question = cli("course", "answer", "routing", "reach", "42", "--student", "ana")
    assert question.returncode == 2 and "graded from the lab" in question.stderr
    listed = json.loads(cli("course", "list", "--student", "bob", "--json", check=True).stdout)
    assert any(row["id"] == "routing" and row["status"] in ("running", "passed") for row in listed)
