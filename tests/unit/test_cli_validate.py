"""`vnetlab validate` as a user runs it: exit codes, one FILE:LINE line per
problem, nothing a terminal would act on, warnings for what `up` may refuse."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vnetlab import cli
from vnetlab.agents import controller

FIXTURES = Path(__file__).parent / "fixtures" / "bad"
EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.mark.parametrize("case", ["alias_self_list", "alias_self_key", "escape_sequence_in_key",
                                  "control_character", "not_utf8", "too_deep"])
def test_bad_input_exits_2_with_one_file_line_message_per_problem(case, capsys, monkeypatch):
    monkeypatch.chdir(FIXTURES)
    assert cli.main(["validate", f"{case}.yaml"]) == 2
    out, err = capsys.readouterr()
    *problems, summary = err.splitlines()
    assert problems and all(re.match(rf"{case}\.yaml:\d+: \S", line) for line in problems), err
    assert re.fullmatch(r"\d+ problems?; nothing was created", summary)
    assert all(line.isprintable() for line in err.splitlines()) and out == ""


def test_a_valid_file_with_warnings_exits_0_and_lists_them(capsys, monkeypatch):
    monkeypatch.setattr(controller, "osken_installed", lambda: False)
    path = str(EXAMPLES / "sdn-controller.yaml")
    assert cli.main(["validate", path]) == 0
    out, err = capsys.readouterr()
    [warning] = err.splitlines()
    assert re.match(rf"{re.escape(path)}:\d+: warning: nodes\.sw\.controller: the built-in controller runs on "
                    r"the Python package os-ken, which is not installed here — `vnetlab up` stops with exit 3 "
                    r"until you pip install 'os-ken>=4,<5'$", warning)
    assert out.rstrip().endswith("5 checks, 1 warning")
    assert cli.main(["validate", "--json", path]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == [warning]


def test_no_warning_where_os_ken_is_installed(capsys, monkeypatch):
    monkeypatch.setattr(controller, "osken_installed", lambda: True)
    assert cli.main(["validate", str(EXAMPLES / "sdn-controller.yaml")]) == 0
    assert capsys.readouterr().err == ""
