"""`vnetlab import … --json`: the same outcome as the text form, as one JSON
object on stdout, with the same exit code."""

from __future__ import annotations

import json
import os

from vnetlab import cli
from vnetlab.model import load_lab_text

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "interfaces")
BROKEN = os.path.join(FIXTURES, "handwritten-forum-broken")
CLEAN = os.path.join(FIXTURES, "pve-docs-network-01")


def run(capsys, *args: str) -> tuple[int, dict]:
    code = cli.main(["import", "interfaces", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_check_json_lists_the_problems_with_file_and_line_and_exits_1(capsys):
    code, result = run(capsys, BROKEN, "--check")
    assert code == 1 and result["exit"] == 1
    lines = {(p["line"], p["kind"]) for p in result["problems"]}
    assert (11, "problem") in lines and (22, "problem") in lines  # the placeholder, the missing stanza
    assert all(p["file"] == BROKEN for p in result["problems"])
    assert "lab_file" not in result


def test_clean_file_check_json_exits_0_with_no_problems(capsys):
    code, result = run(capsys, CLEAN, "--check")
    assert (code, result["problems"]) == (0, [])


def test_import_json_carries_a_lab_file_that_validates(capsys, tmp_path):
    code, result = run(capsys, CLEAN, "--name", "jsonlab")
    assert code == 0 and result["lab"] == "jsonlab"
    spec = load_lab_text(result["lab_file"], "imported.yaml")
    assert spec.lab == "jsonlab"
    out = tmp_path / "lab.yaml"
    code, result = run(capsys, CLEAN, "-o", str(out))
    assert code == 0 and result["output"] == str(out) and out.read_text().startswith("# Imported")
