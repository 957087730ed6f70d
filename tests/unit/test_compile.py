"""The compiler, asserted on plans as data (no root)."""

from __future__ import annotations

import json
import os

import pytest

from vnetlab.compile import compile_lab
from vnetlab.model import load_lab, load_lab_text
from vnetlab.plan import (
    AddAddress, AddRoute, CreateBridge, CreateNamespace, CreateTap, CreateVeth, Op, Plan,
    PumpFrames, SetLinkState, SetMaster, SetSysctl,
)

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")

RED_BLUE = """
lab: rb
nodes:
  red: {interfaces: {eth0: {address: 10.0.0.1/24}}, routes: [{to: default, via: 10.0.0.254}]}
  blue: {interfaces: {eth0: {address: 10.0.0.2/24}}}
  gw: {kind: router, interfaces: {eth0: {address: 10.0.0.254/24}}}
  sw: {kind: switch}
links:
  - [red:eth0, sw:p1]
  - [blue:eth0, sw:p2]
  - [gw:eth0, sw:p3]
"""


def ops_of(plan: Plan, kind: type[Op]) -> list[Op]:
    return [op for op in plan.ops if type(op) is kind]


def test_red_blue_plan_as_data():
    plan = compile_lab(load_lab_text(RED_BLUE, "rb.yaml"))
    assert ops_of(plan, CreateNamespace) == [CreateNamespace(f"rb-{n}") for n in ("red", "blue", "gw", "sw")]
    assert ops_of(plan, CreateBridge) == [CreateBridge("rb-sw", ifname="br0")]
    assert ops_of(plan, CreateVeth) == [
        CreateVeth("rb-red", ifname="eth0", peer_netns="rb-sw", peer_ifname="p1"),
        CreateVeth("rb-blue", ifname="eth0", peer_netns="rb-sw", peer_ifname="p2"),
        CreateVeth("rb-gw", ifname="eth0", peer_netns="rb-sw", peer_ifname="p3"),
    ]
    assert ops_of(plan, SetMaster) == [SetMaster("rb-sw", ifname=f"p{i}", master="br0") for i in (1, 2, 3)]
    assert AddAddress("rb-red", ifname="eth0", address="10.0.0.1/24") in plan.ops
    assert ops_of(plan, AddRoute) == [AddRoute("rb-red", to="default", via="10.0.0.254", family=4)]
    # Every interface, switch ports and br0 included, ends up up; lo too.
    up = {(op.netns, op.ifname) for op in ops_of(plan, SetLinkState) if op.up}
    assert {("rb-sw", "br0"), ("rb-sw", "p1"), ("rb-red", "lo"), ("rb-red", "eth0")} <= up


def test_forwarding_is_written_in_every_node():
    plan = compile_lab(load_lab_text(RED_BLUE, "rb.yaml"))
    forwarding = {op.netns: op.value for op in ops_of(plan, SetSysctl) if op.key == "net.ipv4.ip_forward"}
    assert forwarding == {"rb-red": "0", "rb-blue": "0", "rb-gw": "1", "rb-sw": "0"}


def test_ipv6_is_off_only_where_the_file_has_none():
    plan = compile_lab(load_lab_text("""
lab: six
nodes:
  a: {interfaces: {eth0: {address: "fd00::1/64"}}}
  b: {interfaces: {eth0: {addresses: [10.0.0.2/24, "fd00::2/64"]}}}
  c: {interfaces: {eth0: {address: 10.0.1.1/24}}}
  d: {interfaces: {eth0: {address: 10.0.1.2/24}}}
links: [[a:eth0, b:eth0], [c:eth0, d:eth0]]
""", "six.yaml"))
    disabled = {op.netns for op in ops_of(plan, SetSysctl) if op.key.endswith("disable_ipv6") and op.value == "1"}
    assert disabled == {"six-c", "six-d"}
    v6_fwd = {op.netns for op in ops_of(plan, SetSysctl) if op.key == "net.ipv6.conf.all.forwarding"}
    assert v6_fwd == {"six-a", "six-b"}
    no_dad = {(op.netns, op.key) for op in ops_of(plan, SetSysctl)
              if op.key.endswith("accept_dad") and op.value == "0"}
    assert no_dad == {(ns, f"net.ipv6.conf.{scope}.accept_dad")
                      for ns in ("six-a", "six-b") for scope in ("all", "default")}
    assert ["ip", "-n", "six-a", "addr", "add", "fd00::1/64", "dev", "eth0", "nodad"] in plan.commands()


def test_phases_order_the_plan():
    plan = compile_lab(load_lab(os.path.join(EXAMPLES, "proxmox-tap.yaml")))
    order = [op.name for op in plan.ops]
    last_ns = max(i for i, n in enumerate(order) if n == "create_netns")
    first_sysctl = order.index("sysctl")
    first_device = min(order.index(n) for n in ("create_veth", "create_bridge", "create_tap"))
    assert last_ns < first_sysctl < first_device < order.index("set_master") < order.index("add_address")
    assert order.index("add_address") < order.index("link_state") < order.index("add_route")
    assert order[-1] == "pump_frames"


def test_tap_link_makes_a_tap_pair_and_a_pump():
    plan = compile_lab(load_lab(os.path.join(EXAMPLES, "proxmox-tap.yaml")))
    taps = {(op.netns, op.ifname) for op in ops_of(plan, CreateTap)}
    assert {("pvetap-pve", "tap100i0"), ("pvetap-vm100", "eth0")} <= taps
    assert PumpFrames("pvetap-pve", ifname="tap100i0", peer_netns="pvetap-vm100", peer_ifname="eth0") in plan.ops
    assert SetMaster("pvetap-pve", ifname="tap100i0", master="vmbr0") in plan.ops
    assert not any(op.ifname == "tap100i0" for op in ops_of(plan, CreateVeth))


def test_plan_renders_commands_a_person_could_type():
    plan = compile_lab(load_lab_text(RED_BLUE, "rb.yaml"))
    commands = plan.commands()
    assert ["ip", "netns", "add", "rb-red"] in commands
    assert ["ip", "-n", "rb-red", "link", "add", "eth0", "type", "veth", "peer", "name", "p1", "netns", "rb-sw"] in commands
    assert ["ip", "-n", "rb-sw", "link", "set", "p1", "master", "br0"] in commands
    assert ["ip", "-n", "rb-red", "route", "add", "default", "via", "10.0.0.254"] in commands
    assert ["ip", "netns", "exec", "rb-gw", "sysctl", "-qw", "net.ipv4.ip_forward=1"] in commands


def test_plan_json_round_trips():
    plan = compile_lab(load_lab(os.path.join(EXAMPLES, "proxmox-tap.yaml")))
    data = json.loads(plan.to_json())
    assert data["lab"] == "pvetap"
    assert [Op.from_dict(op) for op in data["ops"]] == plan.ops


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".yaml")))
def test_examples_compile(name):
    plan = compile_lab(load_lab(os.path.join(EXAMPLES, name)))
    assert plan.ops and all(op.commands() for op in plan.ops)
