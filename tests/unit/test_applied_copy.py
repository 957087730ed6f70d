"""The copy of the applied plan that `up` keeps for status and drift (no kernel needed)."""

from __future__ import annotations

import os

from vnetlab.compile import compile_lab
from vnetlab.host import applied, state
from vnetlab.model import load_lab


def test_the_applied_plan_survives_its_copy(monkeypatch, tmp_path):
    """status and drift read the plan `up` applied back from plan.json."""
    monkeypatch.setattr(state, "RUN_ROOT", str(tmp_path))
    examples = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
    for name in sorted(os.listdir(examples)):
        plan = compile_lab(load_lab(os.path.join(examples, name)))
        os.makedirs(state.lab_dir(plan.lab), exist_ok=True)
        applied.write_plan(plan.lab, plan)
        assert applied.read_plan(plan.lab) == plan, name
    assert applied.read_plan("nosuch") is None
