"""Exercise files: every built-in one loads; values are seeded per student;
problems name the exercise file, the line and the field (nothing is built)."""

from __future__ import annotations

import os
import re
import textwrap

import pytest

from vnetlab.course import exercise as exercises
from vnetlab.course.exercise import ExerciseError, UnknownExercise, load, seeded_values
from vnetlab.names import UnsafeName

BUILTIN = exercises.builtin_paths()


def test_there_are_built_in_exercises():
    assert len(BUILTIN) >= 1


@pytest.mark.parametrize("path", BUILTIN, ids=lambda p: os.path.basename(p))
def test_every_built_in_exercise_loads_and_is_complete(path):
    rendered = load(path, "ana")
    ex = rendered.exercise
    assert os.path.basename(path) == f"{ex.id}.yaml"
    assert rendered.lab_name.endswith("_ana")
    assert ex.solution, "every built-in exercise has a reference solution"
    assert ex.mistakes, "every built-in exercise has at least one typical mistake (the tests run it)"
    assert all(0 < m.points < ex.total for m in ex.mistakes), "a mistake scores partial marks"
    assert ex.starts_with < ex.total
    assert all(task.hints for task in ex.tasks), "every task has a hint"
    assert "{{" not in repr(ex.model_dump()), "every template is filled in"


@pytest.mark.parametrize("path", [p for p in BUILTIN if exercises.load(p, "ana").exercise.params],
                         ids=lambda p: os.path.basename(p))
def test_two_students_get_different_values_and_one_student_always_the_same(path):
    ana, bob = load(path, "ana"), load(path, "bob")
    assert ana.values != bob.values
    assert load(path, "ana").values == ana.values
    assert ana.spec != bob.spec.model_copy(update={"lab": ana.spec.lab})  # the lab itself differs


def test_values_are_drawn_from_their_ranges():
    params = exercises.TypeAdapter(dict[str, exercises.Param]).validate_python(
        {"n": {"int": [5, 9]}, "c": {"choice": ["x", "y"]}, "v": {"sample": [10, 20, 3]}, "s": {"secret": 12}})
    for student in ("a", "b", "c", "d"):
        values = seeded_values("ex", student, params)
        assert 5 <= values["n"] <= 9 and values["c"] in ("x", "y")
        assert len(set(values["v"])) == 3 and all(10 <= v <= 20 for v in values["v"])
        assert len(values["s"]) == 12 and int(values["s"], 16) >= 0


def write(tmp_path, text: str) -> str:
    path = tmp_path / "ex.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


GOOD = """\
id: tiny
title: Tiny
section: "0. Test"
params:
  n: {int: [1, 9]}
lab:
  lab: tiny
  nodes:
    a: {interfaces: {eth0: {address: 10.{{ n }}.0.1/24}}}
    b: {interfaces: {eth0: {address: 10.{{ n }}.0.2/24}}}
  links: [[a:eth0, b:eth0]]
tasks:
  - id: reach
    title: a reaches b
    hints: [look]
    checks:
      - {from: a, to: b, expect: reach}
"""


def test_a_teachers_file_loads_with_the_instance_name(tmp_path):
    rendered = load(write(tmp_path, GOOD), "zoe")
    assert rendered.lab_name == "tiny_zoe"
    assert str(rendered.spec.nodes["a"].interfaces["eth0"].all_addresses()[0]).startswith(f"10.{rendered.values['n']}.")


@pytest.mark.parametrize("change, line, words", [
    (("{{ n }}.0.2/24", "{{ m }}.0.2/24"), 10, "'m' is undefined"),
    (("to: b,", "to: c,"), 17, "c"),
    (("    title: a reaches b\n", "    title: a reaches b\n    colour: red\n"), 15, "unknown key 'colour'"),
    (("[a:eth0, b:eth0]", "[a:eth0, b:eth9]"), 11, "eth9"),
    (("      - {from: a, to: b, expect: reach}\n", "      - {reboot: z}\n"), 17, "'z' is not a node"),
    (("      - {from: a, to: b, expect: reach}\n", "      - {cut: a:eth7}\n"), 17, "not an end of one of the lab's links"),
    (("      - {from: a, to: b, expect: reach}\n", "      - {cut: a:eth0, replug: a:eth0}\n"), 17, "one of cut"),
])
def test_problems_name_file_line_and_field(tmp_path, change, line, words):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ExerciseError) as caught:
        load(path, "zoe")
    problems = caught.value.problems
    assert any(p.line == line and words in str(p) for p in problems), [str(p) for p in problems]
    assert all(p.file == path for p in problems)


def test_a_task_needs_checks_or_an_answer(tmp_path):
    path = write(tmp_path, GOOD.replace("    checks:\n      - {from: a, to: b, expect: reach}\n", ""))
    with pytest.raises(ExerciseError, match="either checks"):
        load(path, "zoe")


def test_unknown_exercise_and_bad_student_names_are_refused():
    with pytest.raises(UnknownExercise, match="the exercises are"):
        exercises.find("no-such-exercise")
    with pytest.raises(UnsafeName):
        load(BUILTIN[0], "../etc")
    with pytest.raises(UnsafeName):
        load(BUILTIN[0], "Ana")


def test_course_show_wraps_long_list_items_instead_of_cropping_them(tmp_path, capsys, monkeypatch):
    from vnetlab import cli

    monkeypatch.setenv("COLUMNS", "60")
    long_item = "1. the first step, long enough to need a second line on a narrow terminal: LASTWORD-ONE\n"
    text = GOOD.replace("params:", "intro: |\n  Do this:\n\n  " + long_item + "params:").replace(
        "title: a reaches b", "title: a reaches b, a title long enough to wrap on a narrow terminal LASTWORD-TWO")
    assert cli.main(["course", "show", write(tmp_path, text), "--student", "zoe"]) == 0
    out = capsys.readouterr().out
    assert "LASTWORD-ONE" in out and "LASTWORD-TWO" in out, out
    assert max(len(line) for line in out.splitlines()) <= 60


def test_the_task_list_is_not_swallowed_by_a_numbered_list_ending_the_intro(tmp_path, capsys):
    from vnetlab import cli

    text = GOOD.replace("params:", "intro: |\n  Steps:\n\n  1. one\n  2. two\nparams:")
    assert cli.main(["course", "show", write(tmp_path, text), "--student", "zoe"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\s*1 a reaches b \(1 point, reach\)", out, re.M), out


def test_cable_steps_are_steps_and_load_in_order(tmp_path):
    text = GOOD.replace("      - {from: a, to: b, expect: reach}\n",
                        "      - {cut: a:eth0}\n      - {from: a, to: b, expect: no-reach}\n      - {replug: b:eth0}\n")
    checks = load(write(tmp_path, text), "zoe").exercise.tasks[0].checks
    assert [exercises.is_step(c) for c in checks] == [True, False, True]
    assert checks[0].label() == "cutting the cable of a:eth0" and checks[2].end == "b:eth0"


def test_every_cable_of_a_node_with_ovs_gets_tx_checksum_offload_off():
    """A NIC its OVS does not hold at up may join it by hand (the bonding exercise's bond):
    TCP across the userspace datapath needs the offload off on it and on its peer too."""
    from vnetlab.compile import compile_lab

    rendered = load("bonding", "zoe")
    offloaded = {(op.netns, op.ifname) for op in compile_lab(rendered.spec, None).ops if op.name == "tx_checksum"}
    lab = rendered.lab_name
    assert {(f"{lab}-pve", "eno1"), (f"{lab}-pve", "eno2"), (f"{lab}-tor", "p2")} <= offloaded
    assert (f"{lab}-pve", "tap100i0") not in offloaded  # a TAP's frames come whole from the pump
