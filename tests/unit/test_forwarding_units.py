"""What `up` waits for before it returns (executors/forwarding.py): which
states count as forwarding, the parsers of what the kernel and OVS report,
the targets taken from a plan, and the bounded wait — no root, no OVS."""

from __future__ import annotations

import os
import struct
import subprocess

import pytest

from vnetlab.compile import compile_lab
from vnetlab.model.bridges import KernelFeatures
from vnetlab.executors import forwarding
from vnetlab.executors.forwarding import (
    BondStatus, NotForwarding, OvsBond, bond_problem, bond_statuses, bridge_port_problem,
    brport_states, ofctl_port_states, ovs_port_problem, targets_of, wait_until_forwarding,
)
from vnetlab.model import load_lab, load_lab_text

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
NO_KERNEL_L2 = KernelFeatures(vlan_devices=False, bonding=False, vlan_filtering=False, ovs_kernel=False,
                              ovs_userspace=True, detected=True)

# `ovs-ofctl -O OpenFlow13 show vmbr0` of proxmox-bridged.yaml with tor:p2 pulled (OVS 3.1).
OFCTL_SHOW = """\
OFPT_FEATURES_REPLY (OF1.3) (xid=0x2): dpid:0000f6c4681a1748
n_tables:254, n_buffers:0
capabilities: FLOW_STATS TABLE_STATS PORT_STATS GROUP_STATS QUEUE_STATS
OFPST_PORT_DESC reply (OF1.3) (xid=0x3):
 1(eno1): addr:ae:34:96:38:e1:a1
     config:     0
     state:      LIVE
     current:    10GB-FD COPPER
     speed: 10000 Mbps now, 0 Mbps max
 2(eno2): addr:b2:98:67:ae:09:57
     config:     0
     state:      LINK_DOWN
     current:    10GB-FD COPPER
     speed: 10000 Mbps now, 0 Mbps max
 3(tap100i0): addr:c2:77:e9:7f:a4:ac
     config:     0
     state:      0
     current:    10GB-FD COPPER
     speed: 10000 Mbps now, 0 Mbps max
 LOCAL(vmbr0): addr:f6:c4:68:1a:17:48
     config:     0
     state:      LIVE
     current:    10GB-FD COPPER
     speed: 10000 Mbps now, 0 Mbps max
OFPT_GET_CONFIG_REPLY (OF1.3) (xid=0x5): frags=normal miss_send_len=0
"""

# `ovs-appctl bond/show` of the same switch, and of an LACP bond still negotiating.
BOND_SHOW = """\
---- bond0 ----
bond_mode: active-backup
bond may use recirculation: no, Recirc-ID : -1
bond-hash-basis: 0
lb_output action: disabled, bond-id: -1
updelay: 0 ms
downdelay: 0 ms
lacp_status: off
lacp_fallback_ab: false
active-backup primary: <none>
active member mac: ae:34:96:38:e1:a1(eno1)

member eno1: enabled
  active member
  may_enable: true

member eno2: disabled
  may_enable: false

---- bond1 ----
bond_mode: balance-tcp
bond may use recirculation: yes, Recirc-ID : 1
lacp_status: configured
lacp_fallback_ab: false

member eno3: disabled
  may_enable: false

member eno4: disabled
  may_enable: false
"""


# --------------------------------------------------------------------------- which states count as ready


def test_only_a_forwarding_bridge_port_is_ready():
    assert bridge_port_problem(3) is None
    for state, name in ((0, "disabled"), (1, "listening"), (2, "learning"), (4, "blocking")):
        problem = bridge_port_problem(state)
        assert problem is not None and name in problem and f"brport state {state}" in problem
    assert "not a bridge port" in bridge_port_problem(None)


def test_an_ovs_port_is_ready_only_when_live_and_not_down_or_blocked():
    assert ovs_port_problem(frozenset({"LIVE"})) is None
    assert "LINK_DOWN" in ovs_port_problem(frozenset({"LINK_DOWN"}))
    assert ovs_port_problem(frozenset({"LIVE", "BLOCKED"})) is not None
    assert "state: 0" in ovs_port_problem(frozenset())  # OpenFlow 1.0's "0": not known to be live
    assert "not on the bridge" in ovs_port_problem(None)


AB = OvsBond("l-pve", "/run/x", "bond0", ("eno1", "eno2"), "active-backup", lacp=False)
TCP = OvsBond("l-pve", "/run/x", "bond1", ("eno3", "eno4"), "balance-tcp", lacp=True)


@pytest.mark.parametrize("bond, status, fragment", [
    (AB, BondStatus({"eno1": "enabled", "eno2": "disabled"}, active="eno1"), "member eno2 disabled"),
    (AB, BondStatus({"eno1": "enabled"}, active="eno1"), "member eno2 missing"),
    (AB, BondStatus({"eno1": "enabled", "eno2": "enabled"}), "no active member"),
    (TCP, BondStatus({"eno3": "enabled", "eno4": "enabled"}, active="eno3", lacp_status="configured"),
     "LACP not negotiated (lacp_status: configured)"),
    (TCP, BondStatus({"eno3": "disabled", "eno4": "enabled"}, lacp_status="negotiated"), "member eno3 disabled"),
    (AB, None, "not on the bridge"),
])
def test_a_bond_that_does_not_forward_yet_says_what_is_missing(bond, status, fragment):
    problem = bond_problem(bond, status)
    assert problem is not None and fragment in problem


def test_a_bond_is_ready_with_every_member_enabled_and_lacp_negotiated_where_asked():
    assert bond_problem(AB, BondStatus({"eno1": "enabled", "eno2": "enabled"}, active="eno2")) is None
    assert bond_problem(TCP, BondStatus({"eno3": "enabled", "eno4": "enabled"}, lacp_status="negotiated")) is None
    slb = OvsBond("l-pve", "/run/x", "bond2", ("a", "b"), "balance-slb", lacp=False)
    assert bond_problem(slb, BondStatus({"a": "enabled", "b": "enabled"})) is None  # no active member needed


# --------------------------------------------------------------------------- parsers


def test_ofctl_show_gives_every_port_with_its_state_flags():
    assert ofctl_port_states(OFCTL_SHOW) == {
        "eno1": frozenset({"LIVE"}), "eno2": frozenset({"LINK_DOWN"}), "tap100i0": frozenset(),
        "vmbr0": frozenset({"LIVE"})}


def test_bond_show_gives_each_bond_its_members_active_member_and_lacp_status():
    statuses = bond_statuses(BOND_SHOW)
    assert statuses["bond0"] == BondStatus({"eno1": "enabled", "eno2": "disabled"}, active="eno1",
                                           lacp_status="off")
    assert statuses["bond1"] == BondStatus({"eno3": "disabled", "eno4": "disabled"}, lacp_status="configured")
    assert bond_statuses("no such bond\n") == {}


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _brport_message(name: str, state: int, nested: bool = True) -> bytes:
    """An RTM_NEWLINK of an AF_BRIDGE dump, as the kernel sends it."""
    protinfo = (_attr(forwarding.IFLA_BRPORT_STATE, bytes([state])) if nested else bytes([state]))
    body = struct.pack("=BxHiII", 7, 1, 5, 0x1003, 0) + _attr(forwarding.IFLA_IFNAME, name.encode() + b"\0") \
        + _attr(10, struct.pack("=I", 2)) + _attr(forwarding.IFLA_PROTINFO | 0x8000, protinfo)
    return struct.pack("=IHHII", 16 + len(body), forwarding.RTM_NEWLINK, 2, 0, 0) + body


def test_brport_states_reads_the_nested_and_the_old_flat_protinfo():
    messages = [_brport_message("p1", 3), _brport_message("p2", 0), _brport_message("p3", 2, nested=False)]
    assert brport_states(messages) == {"p1": 3, "p2": 0, "p3": 2}


# --------------------------------------------------------------------------- targets from a plan


def test_the_bond_lab_waits_for_its_switch_ports_its_ovs_ports_and_its_bond():
    plan = compile_lab(load_lab(os.path.join(EXAMPLES, "proxmox-bridged.yaml")), NO_KERNEL_L2)
    targets = targets_of(plan.ops)
    assert {p.port for p in targets.bridge_ports} == {"p1", "p2", "p3", "p4"}
    assert {p.bridge for p in targets.bridge_ports} == {"br0"}
    assert {p.port for p in targets.ovs_ports} == {"vmbr0", "tap100i0", "tap101i0"}
    (bond,) = targets.bonds
    assert (bond.bond, bond.members, bond.mode, bond.lacp) == ("bond0", ("eno1", "eno2"), "active-backup", False)


def test_a_cut_cable_is_not_waited_for_at_either_end():
    from vnetlab.compile.runtime import RuntimeChanges, with_runtime

    spec = load_lab(os.path.join(EXAMPLES, "proxmox-bridged.yaml"))
    plan = with_runtime(compile_lab(spec, NO_KERNEL_L2), spec, RuntimeChanges(cut=[("pve:eno1", "tor:p1")]))
    targets = targets_of(plan.ops)
    assert {p.port for p in targets.bridge_ports} == {"p2", "p3", "p4"}
    (bond,) = targets.bonds
    assert bond.members == ("eno2",)  # the bond forwards on the member whose cable is in


UNCABLED_TAP = """
lab: spare
nodes:
  pve:
    interfaces:
      eno1: {}
      tap100i0: {type: tap}
      tap999i0: {type: tap}
      vmbr0: {type: bridge, ports: [eno1, tap100i0, tap999i0]}
  vm100: {kind: vm, interfaces: {eth0: {}}}
  lan: {kind: switch}
links:
  - [pve:eno1, lan:p1]
  - [pve:tap100i0, vm100:eth0]
"""


def test_a_tap_nobody_pumps_is_not_waited_for():
    plan = compile_lab(load_lab_text(UNCABLED_TAP, "spare.yaml"))
    ports = {(p.netns, p.port) for p in targets_of(plan.ops).bridge_ports}
    assert ports == {("spare-pve", "eno1"), ("spare-pve", "tap100i0"), ("spare-lan", "p1")}


CABLE_ONLY = """
lab: pair
nodes:
  a: {interfaces: {eth0: {address: 10.0.0.1/24}}}
  b: {interfaces: {eth0: {address: 10.0.0.2/24}}}
links:
  - [a:eth0, b:eth0]
"""


def test_a_lab_without_bridges_waits_for_nothing():
    plan = compile_lab(load_lab_text(CABLE_ONLY, "pair.yaml"))
    assert not targets_of(plan.ops)
    assert wait_until_forwarding(plan.ops, kernel=None, run_tool=no_ovs) == 0.0


# --------------------------------------------------------------------------- the bounded wait


class FakeSpace:
    def __init__(self, looks: list[dict[str, int]]):
        self.looks = looks
        self.dumps = 0

    def request(self, msg_type, flags, body, seq):
        assert (msg_type, flags, body[0]) == (forwarding.RTM_GETLINK, forwarding.NLM_F_DUMP, 7)  # AF_BRIDGE
        states = self.looks[min(self.dumps, len(self.looks) - 1)]
        self.dumps += 1
        return [(forwarding.RTM_NEWLINK, _brport_message(name, state)) for name, state in states.items()]


class FakeKernel:
    def __init__(self, looks):
        self.spaces = {"lab-sw": FakeSpace(looks)}

    def space(self, name):
        return self.spaces[name]


def _plan_ops(ports=("p1", "p2")):
    from vnetlab.plan import CreateBridge, SetMaster

    return [CreateBridge("lab-sw", ifname="br0")] + [SetMaster("lab-sw", ifname=p, master="br0") for p in ports]


def no_ovs(*_args, **_kwargs):
    raise AssertionError("a lab without OVS runs no ovs-* tool")


def test_the_wait_returns_once_every_port_forwards_and_reads_each_namespace_once_a_look():
    kernel = FakeKernel([{"p1": 0, "p2": 3}, {"p1": 3, "p2": 3}])
    waited = wait_until_forwarding(_plan_ops(), kernel, timeout=5, interval=0, run_tool=no_ovs)
    assert waited < 5
    assert kernel.spaces["lab-sw"].dumps == 2


def test_a_port_that_never_forwards_fails_the_wait_naming_it_and_its_state():
    kernel = FakeKernel([{"p1": 3, "p2": 0}])
    with pytest.raises(NotForwarding) as raised:
        wait_until_forwarding(_plan_ops(), kernel, timeout=0.05, interval=0.01, run_tool=no_ovs)
    message = str(raised.value)
    assert "sw:p2 on bridge br0 is disabled (brport state 0" in message
    assert "p1" not in message  # the forwarding one is not blamed
    assert "vnetlab status lab" in message


def test_a_missing_port_is_not_ready():
    kernel = FakeKernel([{"p1": 3}])
    with pytest.raises(NotForwarding, match="sw:p2 on bridge br0 is not a bridge port"):
        wait_until_forwarding(_plan_ops(), kernel, timeout=0, interval=0, run_tool=no_ovs)


def test_ovs_ports_and_bonds_are_asked_once_per_switch_and_look():
    from vnetlab.plan import OvsAddBond, OvsAddBridge, OvsAddPort, SetLinkState

    ops = [OvsAddBridge("lab-pve", rundir="/r", bridge="vmbr0"), SetLinkState("lab-pve", ifname="vmbr0"),
           OvsAddPort("lab-pve", rundir="/r", bridge="vmbr0", port="tap100i0"),
           OvsAddPort("lab-pve", rundir="/r", bridge="vmbr0", port="eno2"),
           OvsAddBond("lab-pve", rundir="/r", bridge="vmbr0", bond="bond0", members=("eno1", "eno2"))]
    calls = []

    def run_tool(rundir, argv, check=True):
        calls.append(argv[-1] if argv[0] == "ovs-ofctl" else argv[1])
        text = OFCTL_SHOW if argv[0] == "ovs-ofctl" else BOND_SHOW
        return subprocess.CompletedProcess(argv, 0, text, "")

    with pytest.raises(NotForwarding) as raised:
        wait_until_forwarding(ops, FakeKernel([{}]), timeout=0, interval=0, run_tool=run_tool)
    assert sorted(calls) == ["bond/show", "vmbr0"]
    message = str(raised.value)
    assert "pve:tap100i0 on OVS bridge vmbr0 is not live (OpenFlow port state: 0)" in message
    assert "pve:eno2 on OVS bridge vmbr0 is not live (OpenFlow port state: LINK_DOWN)" in message
    assert "pve:bond0 (OVS bond, active-backup): member eno2 disabled" in message
    assert "vmbr0 on OVS" not in message  # its local port is live
