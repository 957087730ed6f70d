"""type: macvlan (Docker's macvlan network driver) on data: the plan it
compiles to, the command ``vnetlab plan`` shows, and the diff of a lab
whose macvlan was deleted or changed by hand (no root)."""

from __future__ import annotations

import os

from vnetlab.compile import compile_lab
from vnetlab.executors.apply import apply_plan
from vnetlab.executors.fake import FakeBackend
from vnetlab.model import load_lab, load_lab_text
from vnetlab.observe.diff import Observed, ObservedLink, diff
from vnetlab.plan import CreateMacvlan, CreateVeth, DeleteLink

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "docker-macvlan.yaml")

LAB = """
lab: mv
nodes:
  host:
    interfaces:
      eth0: {address: 10.0.0.1/24}
      web: {type: macvlan, parent: eth0, address: 10.0.0.21/24}
      db: {type: macvlan, parent: eth0, mode: private}
  peer:
    interfaces: {eth0: {address: 10.0.0.2/24}}
links:
  - [host:eth0, peer:eth0]
"""


def test_macvlans_compile_after_their_parent_with_bridge_mode_by_default():
    plan = compile_lab(load_lab_text(LAB, "mv.yaml"))
    made = [op for op in plan.ops if isinstance(op, CreateMacvlan)]
    assert [(op.netns, op.ifname, op.parent, op.mode) for op in made] == [
        ("mv-host", "web", "eth0", "bridge"), ("mv-host", "db", "eth0", "private")]
    parent = next(i for i, op in enumerate(plan.ops) if isinstance(op, CreateVeth) and op.netns == "mv-host")
    assert all(plan.ops.index(op) > parent for op in made)
    assert made[0].command_lines() == ["ip -n mv-host link add web link eth0 type macvlan mode bridge"]


def test_the_example_builds_on_the_fake_and_rolls_back_to_nothing():
    plan = compile_lab(load_lab(EXAMPLE))
    backend = FakeBackend()
    apply_plan(plan, [backend])
    assert {"web", "db"} <= set(backend.spaces["macvlan-dockerhost"].links)
    failing = FakeBackend(fail_at=len(plan.ops))
    try:
        apply_plan(plan, [failing])
    except Exception:  # noqa: BLE001 — the injected failure, as ApplyError
        pass
    assert failing.spaces == {}


def _running(plan) -> Observed:
    seen = Observed(namespaces={"mv-host", "mv-peer"})
    seen.links = {"mv-host": {"lo": ObservedLink("loopback"), "eth0": ObservedLink("veth"),
                              "web": ObservedLink("macvlan", addresses=("10.0.0.21/24",)),
                              "db": ObservedLink("macvlan")},
                  "mv-peer": {"lo": ObservedLink("loopback"), "eth0": ObservedLink("veth")}}
    seen.links["mv-host"]["eth0"].addresses = ("10.0.0.1/24",)
    seen.links["mv-peer"]["eth0"].addresses = ("10.0.0.2/24",)
    return seen


def test_a_macvlan_deleted_by_hand_is_drift_and_up_remakes_it():
    plan = compile_lab(load_lab_text(LAB, "mv.yaml"))
    seen = _running(plan)
    assert [c for c in diff(plan, seen, applied=plan).changes if c.kind == "link"] == []
    del seen.links["mv-host"]["web"]
    result = diff(plan, seen, applied=plan)
    missing = [c for c in result.changes if c.kind == "link"]
    assert [(c.sign, c.obj, c.drift) for c in missing] == [("+", "web", True)]
    assert missing[0].describe("mv") == "host web: interface missing"
    assert any(isinstance(op, CreateMacvlan) and op.ifname == "web" for op in result.converge_ops())


def test_a_macvlan_whose_mode_changed_in_the_file_is_recreated():
    before = compile_lab(load_lab_text(LAB, "mv.yaml"))
    after = compile_lab(load_lab_text(LAB.replace("mode: private", "mode: vepa"), "mv.yaml"))
    result = diff(after, _running(before), applied=before)
    changed = [c for c in result.changes if c.kind == "link"]
    assert [(c.sign, c.obj) for c in changed] == [("~", "db")]
    assert changed[0].ops[0] == DeleteLink("mv-host", ifname="db")
    assert changed[0].ops[1].mode == "vepa"
