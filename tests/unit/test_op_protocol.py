"""Every op type in ``vnetlab.plan`` speaks the whole op protocol, and the
fake backend applies and rolls back every one of them.

The op types are found by walking the package (every module under
``vnetlab/plan/``), not from a list: an op added anywhere there is checked
without touching this file. Sample ops are built from their fields, with the
values below for the fields whose defaults would say nothing.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import pkgutil

import pytest

import vnetlab.plan
from vnetlab.executors.apply import rollback
from vnetlab.executors.fake import FakeBackend
from vnetlab.plan import (
    OP_TYPES, AddAddress, AddRoute, ApplyRuleset, BridgeVlan, CreateBond, CreateBridge, CreateNamespace,
    CreateVeth, Op, OvsAddBridge, OvsAddPort, OvsReplaceFlows, PumpFrames, RunService, SetImpairment, StartOvs,
    WriteRunFile,
)

# Values for fields whose default is empty; other fields keep their defaults.
SAMPLE = {
    "netns": "t-a", "peer_netns": "t-b", "ifname": "x0", "peer_ifname": "x1", "parent": "p0",
    "master": "br0", "bond": "bond0", "bridge": "br0", "port": "p1", "members": ("m0", "m1"),
    "to": "10.9.0.0/24", "address": "10.9.0.1/24", "key": "net.ipv4.ip_forward", "value": "1",
    "vlan_id": 10, "vid": 10, "node": "a", "listen": "tcp/80", "rundir": "/run/vnetlab/t/a/ovs",
    "flows": ("priority=1,actions=drop",), "text": "table inet vnetlab {\n}\n", "digest": "new", "mtu": 9000,
    "path": "/run/vnetlab/t/dnsmasq-a.conf",
}


def op_types() -> list[type[Op]]:
    """Every concrete op class defined in a module of the plan package."""
    found = []
    for info in pkgutil.iter_modules(vnetlab.plan.__path__):
        module = importlib.import_module(f"vnetlab.plan.{info.name}")
        found += [value for value in vars(module).values()
                  if isinstance(value, type) and issubclass(value, Op) and value is not Op
                  and value.__module__ == module.__name__]
    return sorted(found, key=lambda cls: cls.name)


def sample(cls: type[Op]) -> Op:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{name: value for name, value in SAMPLE.items() if name in names})


OPS = op_types()


def test_the_walk_finds_every_registered_op_type():
    assert len(OPS) >= 34
    assert {cls.name for cls in OPS} == set(OP_TYPES)
    assert all(OP_TYPES[cls.name] is cls for cls in OPS)


@pytest.mark.parametrize("cls", OPS, ids=lambda cls: cls.name)
def test_every_op_declares_key_description_command_and_inverse(cls):
    op = sample(cls)
    # its own description, not the signature dataclasses writes when there is no docstring
    assert "__doc__" in vars(cls) and not op.describe().startswith(f"{cls.__name__}(")
    assert op.describe() and not op.describe().endswith(".")
    for method in ("commands", "inverse"):
        assert any(method in vars(klass) for klass in cls.__mro__[:cls.__mro__.index(Op)]), method
    commands = op.commands()
    assert commands and all(command and all(isinstance(arg, str) for arg in command) for command in commands)
    assert op.command_lines() and all(isinstance(line, str) for line in op.command_lines())
    assert op.plan_lines()
    for key, _ in op.objects():
        assert len(key) == 3 and all(isinstance(part, str) for part in key) and key[1] in (op.netns, getattr(op, "peer_netns", None))
    assert op.identity() == (op.objects()[0][0] if op.objects() else None)
    assert not (op.observed and not op.objects()), "an observed op declares what the diff compares"
    inverse = op.inverse()
    assert inverse is None or isinstance(inverse, Op)
    assert Op.from_dict(op.to_dict()) == op


def _worlds():
    """Fakes holding more and more, each as a list of the ops that make it."""
    lab = [CreateNamespace("t-a"), CreateNamespace("t-b")]
    referenced = lab + [CreateVeth("t-a", ifname="p0", peer_netns="t-b", peer_ifname="p0"),
                        CreateBridge("t-a", ifname="br0"), CreateBond("t-a", ifname="bond0")]
    subjects = referenced + [CreateVeth("t-a", ifname="x0", peer_netns="t-b", peer_ifname="x1"),
                             StartOvs("t-a", node="a", rundir=SAMPLE["rundir"])]
    everything = subjects + [
        AddAddress("t-a", ifname="x0", address="10.9.0.1/24"), AddRoute("t-a", to="10.9.0.0/24"),
        ApplyRuleset("t-a", text="table inet vnetlab {\n}\n", digest="old"),
        RunService("t-a", node="a", listen="tcp/80"),
        PumpFrames("t-a", ifname="x0", peer_netns="t-b", peer_ifname="x1"),
        BridgeVlan("t-a", ifname="x0", vid=10, pvid=True),
        OvsAddBridge("t-a", rundir=SAMPLE["rundir"], bridge="br0"),
        OvsAddPort("t-a", rundir=SAMPLE["rundir"], bridge="br0", port="p1", tag=5),
        OvsReplaceFlows("t-a", rundir=SAMPLE["rundir"], bridge="br0", flows=("priority=0,actions=normal",)),
        WriteRunFile("t-a", node="a", path=SAMPLE["path"], text="old\n"),
        SetImpairment("t-a", ifname="x0", impairment=(("delay", 20000),), mechanism="netem"),
    ]
    return [[], lab, referenced, subjects, everything]


def _state(fake: FakeBackend):
    return copy.deepcopy((fake.spaces, fake.pumps, fake.services, fake.files))


@pytest.mark.parametrize("cls", OPS, ids=lambda cls: cls.name)
def test_the_fake_applies_every_op_and_its_inverse_undoes_it(cls):
    op = sample(cls)
    for setup in _worlds():
        fake = FakeBackend()
        for step in setup:
            fake.apply(step)
        assert fake.handles(op)
        before = _state(fake)
        try:
            inverse = fake.apply(op)
        except LookupError:
            continue  # needs something this world lacks: try a fuller one
        if _state(fake) == before:
            assert inverse is None  # nothing changed: nothing to undo
            continue
        if inverse is None:
            assert op.is_removal(), f"{cls.name} changed the lab and offers no undo"  # only a removal may
            return
        assert rollback([inverse], [fake]) == []
        assert _state(fake) == before, f"{cls.name}: its inverse {inverse.name} did not undo it"
        return
    pytest.fail(f"{cls.name}: changed nothing in any world the test builds")
