"""Grading feedback: a failing task's first failing probe is explained by a
trace, its other failures by what their probes saw (one trace per task); a
task whose state check fails is explained by that check, without a trace."""

from __future__ import annotations

import types

from vnetlab.course.exercise import Task
from vnetlab.course.grade import _judged
from vnetlab.model.schema import Check, StateCheck
from vnetlab.probe.checks import CheckResult


def probe(src: str, dst: str, expect: str = "reach") -> Check:
    return Check.model_validate({"from": src, "to": dst, "expect": expect})


def test_only_the_first_failing_probe_of_a_task_is_traced(monkeypatch):
    traced = []

    def fake_trace(spec, namespace_of, source, to, proto, timeout, port=None, family=None):
        traced.append((source, to))
        return types.SimpleNamespace(reason=f"dropped at r1: no route to {to}")

    monkeypatch.setattr("vnetlab.probe.trace.trace", fake_trace)
    state = StateCheck.model_validate({"node": "r1", "sysctl": {"net.ipv4.ip_forward": 1}})
    checks = [state, probe("h1", "h2"), probe("h2", "h1"), probe("h1", "h3", "no-reach")]
    task = Task(id="reach", title="t", hints=["h"], checks=checks)
    results = [
        CheckResult(state, True, "net.ipv4.ip_forward=1", "net.ipv4.ip_forward is 1 on r1", ""),
        CheckResult(checks[1], False, "no-reach", "no reply within 1 s", "10.0.2.10"),
        CheckResult(checks[2], False, "no-reach", "no reply within 1 s", "10.0.1.10"),
        CheckResult(checks[3], False, "reach", "reply from 10.0.3.10", "10.0.3.10"),
    ]
    graded = _judged(types.SimpleNamespace(spec=None, namespace_of=str), task, results)
    assert not graded.ok and graded.earned == 0
    assert traced == [("h1", "h2")]
    assert graded.feedback == ["h1 cannot reach h2: dropped at r1: no route to h2",
                               "h2 -> h1 icmp reach (10.0.1.10): no reply within 1 s",
                               "h1 -> h3 icmp no-reach (10.0.3.10): reply from 10.0.3.10"]


def test_a_task_whose_state_check_fails_is_not_traced(monkeypatch):
    monkeypatch.setattr("vnetlab.probe.trace.trace", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    state = StateCheck.model_validate({"node": "r1", "sysctl": {"net.ipv4.ip_forward": 1}})
    checks = [probe("h1", "h2"), state]
    task = Task(id="reach", title="t", hints=["h"], checks=checks)
    results = [CheckResult(checks[0], False, "no-reach", "no reply within 1 s", "10.0.2.10"),
               CheckResult(state, False, "net.ipv4.ip_forward=0", "net.ipv4.ip_forward is 0 on r1 (expected 1)", "")]
    graded = _judged(types.SimpleNamespace(spec=None, namespace_of=str), task, results)
    assert graded.feedback == ["h1 -> h2 icmp reach (10.0.2.10): no reply within 1 s",
                               "r1: sysctl net.ipv4.ip_forward: net.ipv4.ip_forward is 0 on r1 (expected 1)"]


def test_a_passing_task_is_not_traced(monkeypatch):
    monkeypatch.setattr("vnetlab.probe.trace.trace", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    check = probe("h1", "h2")
    task = Task(id="reach", title="t", hints=["h"], checks=[check])
    graded = _judged(types.SimpleNamespace(spec=None, namespace_of=str), task,
                     [CheckResult(check, True, "reach", "reply", "10.0.2.10")])
    assert graded.ok and graded.feedback == []
