"""Apply and rollback, against the fake backend (no kernel)."""

from __future__ import annotations

import os

import pytest

from vnetlab.compile import compile_lab
from vnetlab.executors.apply import ApplyError, apply_plan
from vnetlab.executors.fake import FakeBackend, InjectedFailure
from vnetlab.model import load_lab

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "proxmox-tap.yaml")


class ListRecorder:
    def __init__(self):
        self.entries = []

    def record(self, kind, **data):
        self.entries.append((kind, data))


@pytest.fixture
def plan():
    return compile_lab(load_lab(EXAMPLE))


def test_apply_builds_and_reapply_changes_nothing(plan):
    backend = FakeBackend()
    first = apply_plan(plan, [backend])
    assert len(first.changed) > 0
    assert set(backend.spaces) == set(plan.namespaces())
    assert backend.spaces["pvetap-pve"].links["tap100i0"]["master"] == "vmbr0"
    again = apply_plan(plan, [backend])
    assert again.changed == [] and again.unchanged == len(plan.ops)


def test_namespaces_are_journaled_before_they_exist(plan):
    recorder, seen = ListRecorder(), []

    class Watching(FakeBackend):
        def _create_netns(self, op):
            seen.append(("netns", {"name": op.netns}) in recorder.entries)
            return super()._create_netns(op)

    apply_plan(plan, [Watching()], recorder)
    assert seen and all(seen)


@pytest.mark.parametrize("fail_at", [1, 2, 7, 15, 25, 40, 60])
def test_failure_at_step_n_rolls_back_everything(plan, fail_at):
    if fail_at > len(plan.ops):
        pytest.skip("plan shorter than the failure point")
    backend, recorder = FakeBackend(fail_at=fail_at), ListRecorder()
    with pytest.raises(ApplyError) as error:
        apply_plan(plan, [backend], recorder)
    assert isinstance(error.value.cause, InjectedFailure)
    assert error.value.step == fail_at
    assert backend.spaces == {} and backend.pumps == set()
    created = {d["name"] for k, d in recorder.entries if k == "netns"}
    gone = {d["name"] for k, d in recorder.entries if k == "netns-gone"}
    assert created == gone


def test_failed_reapply_keeps_what_was_there(plan):
    backend = FakeBackend()
    apply_plan(plan, [backend])
    before = {ns: (dict(s.links), set(s.addresses), set(s.routes)) for ns, s in backend.spaces.items()}
    # Grow the lab by one address, and fail after it was added.
    from vnetlab.plan import AddAddress, SetSysctl

    extra = plan.ops + [AddAddress("pvetap-pc", ifname="eth0", address="192.168.1.51/24"),
                        SetSysctl("pvetap-pc", key="net.ipv4.ip_forward", value="1")]
    backend.fail_at = backend.calls + len(plan.ops) + 2
    with pytest.raises(ApplyError):
        apply_plan(extra, [backend])
    after = {ns: (dict(s.links), set(s.addresses), set(s.routes)) for ns, s in backend.spaces.items()}
    assert after == before
