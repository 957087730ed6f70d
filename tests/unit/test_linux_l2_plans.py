"""The Linux L2 path (802.1Q devices, bonds, VLAN-aware bridges) as plan data.

This machine's kernel has none of these features, so what the Linux backend
does is asserted here: the ops, their order, the commands a person would
type, their round trip through JSON, and apply/rollback on the fake backend
and on a stubbed netlink socket.
"""

from __future__ import annotations

import errno
import json

import pytest
import yaml
from pyroute2.netlink.exceptions import NetlinkError

from vnetlab.compile import compile_lab
from vnetlab.compile.builder import PlanBuilder
from vnetlab.compile.linux_l2 import compile_linux_l2
from vnetlab.executors.apply import ApplyError, apply_plan
from vnetlab.executors.fake import FakeBackend
from vnetlab.host.rtnetlink import LinkInfo
from vnetlab.executors.linux_l2 import (
    MISSING_8021Q, MISSING_BONDING, MISSING_VLAN_FILTERING, LinuxL2Backend,
)
from vnetlab.lab import EnvironmentProblem
from vnetlab.model import LabFileError, LabSpec, load_lab_text
from vnetlab.model.l2names import LINUX_BOND_MODES, linux_bond_mode_problem, vlan_device_parts
from vnetlab.model.schema import Interface
from vnetlab.plan import (
    AddAddress, BridgeVlan, CreateBond, CreateBridge, CreateVeth, CreateVlan, DeleteBridgeVlan,
    DeleteLink, Op, Plan, SetBondMember, SetBridgeVlanFiltering, SetLinkState, SetMaster, SetSysctl,
)

L2_OPS = (CreateVlan, CreateBond, SetBondMember, SetBridgeVlanFiltering, BridgeVlan, DeleteBridgeVlan)

# The proxmox-vlan shape: a VLAN-aware vmbr0 over a trunk bond, access taps,
# a host address on VLAN 20; an upstream VLAN-aware switch.
PROXMOX_VLAN = """
lab: lnxpv
nodes:
  pve:
    interfaces:
      eno1: {}
      eno2: {}
      bond0: {type: bond, members: [eno1, eno2], mode: 802.3ad, trunk: [10, 20]}
      vmbr0: {type: bridge, vlan_aware: true, ports: [bond0, tap100i0, tap101i0], backend: linux}
      tap100i0: {type: tap, vlan: 10}
      tap101i0: {type: tap, vlan: 20}
      vmbr0.20: {type: vlan, parent: vmbr0, id: 20, address: 10.20.0.2/24}
  vm100: {kind: vm, interfaces: {eth0: {address: 10.10.0.100/24}}}
  vm101: {kind: vm, interfaces: {eth0: {address: 10.20.0.101/24}}}
  tor: {interfaces: {eth0: {}, eth1: {}}}
links:
  - [pve:eno1, tor:eth0]
  - [pve:eno2, tor:eth1]
  - [pve:tap100i0, vm100:eth0]
  - [pve:tap101i0, vm101:eth0]
"""

# The proxmox-bridged shape: vmbr0 over an active-backup bond, no VLANs.
PROXMOX_BRIDGED = """
lab: lnxpb
nodes:
  pve:
    interfaces:
      eno1: {}
      eno2: {}
      bond0: {type: bond, members: [eno1, eno2], mode: active-backup}
      vmbr0: {type: bridge, ports: [bond0], backend: linux, address: 192.168.1.10/24}
  tor: {kind: switch}
links:
  - [pve:eno1, tor:p1]
  - [pve:eno2, tor:p2]
"""

VLAN_SWITCH = """
lab: lnxsw
nodes:
  sw:
    kind: switch
    backend: linux
    vlan_aware: true
    interfaces: {p1: {trunk: [10, 20]}, p2: {vlan: 10}}
  a: {interfaces: {eth0: {}}}
  b: {interfaces: {eth0: {address: 10.10.0.2/24}}}
links:
  - [a:eth0, sw:p1]
  - [b:eth0, sw:p2]
"""


def plan_of(text: str, name: str = "lab.yaml") -> Plan:
    return compile_lab(load_lab_text(text, name))


def l2_commands(plan: Plan, netns: str) -> list[str]:
    return [" ".join(cmd) for op in plan.ops if isinstance(op, L2_OPS) and op.netns == netns
            for cmd in op.commands()]


def position(plan: Plan, op: Op) -> int:
    return plan.ops.index(op)


# -- plans as data --------------------------------------------------------
def test_proxmox_vlan_commands_as_a_person_types_them():
    plan = plan_of(PROXMOX_VLAN)
    assert l2_commands(plan, "lnxpv-pve") == [
        "ip -n lnxpv-pve link add bond0 type bond mode 802.3ad miimon 100 lacp_rate fast",
        "ip -n lnxpv-pve link set vmbr0 type bridge vlan_filtering 1",
        "ip -n lnxpv-pve link add link vmbr0 name vmbr0.20 type vlan id 20",
        "ip -n lnxpv-pve link set eno1 down",
        "ip -n lnxpv-pve link set eno1 master bond0",
        "ip -n lnxpv-pve link set eno2 down",
        "ip -n lnxpv-pve link set eno2 master bond0",
        "bridge -n lnxpv-pve vlan del dev bond0 vid 1",
        "bridge -n lnxpv-pve vlan add dev bond0 vid 10",
        "bridge -n lnxpv-pve vlan add dev bond0 vid 20",
        "bridge -n lnxpv-pve vlan del dev tap100i0 vid 1",
        "bridge -n lnxpv-pve vlan add dev tap100i0 vid 10 pvid untagged",
        "bridge -n lnxpv-pve vlan del dev tap101i0 vid 1",
        "bridge -n lnxpv-pve vlan add dev tap101i0 vid 20 pvid untagged",
        "bridge -n lnxpv-pve vlan add dev vmbr0 vid 20 self",
    ]
    # Nothing else of the lab gets Linux L2 ops, and no VLAN beyond those named.
    assert {op.netns for op in plan.ops if isinstance(op, L2_OPS)} == {"lnxpv-pve"}
    assert {op.vid for op in plan.ops if isinstance(op, BridgeVlan)} == {1, 10, 20}


def test_proxmox_vlan_order():
    plan = plan_of(PROXMOX_VLAN)
    ns = "lnxpv-pve"
    bond = CreateBond(ns, ifname="bond0", mode="802.3ad", miimon=100, lacp_rate="fast")
    filtering = SetBridgeVlanFiltering(ns, bridge="vmbr0")
    vlan_dev = CreateVlan(ns, ifname="vmbr0.20", parent="vmbr0", vlan_id=20)
    bond_port = SetMaster(ns, ifname="bond0", master="vmbr0")
    # The bond exists before it is enslaved to the bridge; members after their veths exist.
    assert position(plan, bond) < position(plan, bond_port)
    for member in ("eno1", "eno2"):
        made = next(op for op in plan.ops if isinstance(op, CreateVeth) and op.ifname == member)
        enslaved = SetBondMember(ns, ifname=member, bond="bond0")
        assert position(plan, bond) < position(plan, enslaved)
        assert position(plan, made) < position(plan, enslaved) < position(plan, SetLinkState(ns, ifname=member))
    # Filtering is on before any bridge vlan entry, and every entry's port is on the bridge first.
    entries = [op for op in plan.ops if isinstance(op, BridgeVlan)]
    assert entries and all(position(plan, filtering) < position(plan, op) for op in entries)
    assert position(plan, CreateBridge(ns, ifname="vmbr0")) < position(plan, filtering)
    for op in entries:
        if not op.self:
            assert position(plan, SetMaster(ns, ifname=op.ifname, master="vmbr0")) < position(plan, op)
    # The 802.1Q device comes after its parent and before its address and link-up;
    # the port's default VLAN 1 goes before its access VLAN is set.
    assert position(plan, CreateBridge(ns, ifname="vmbr0")) < position(plan, vlan_dev)
    assert position(plan, vlan_dev) < position(plan, AddAddress(ns, ifname="vmbr0.20", address="10.20.0.2/24"))
    assert position(plan, vlan_dev) < position(plan, SetLinkState(ns, ifname="vmbr0.20"))
    assert position(plan, DeleteBridgeVlan(ns, ifname="tap100i0", vid=1)) < position(
        plan, BridgeVlan(ns, ifname="tap100i0", vid=10, pvid=True, untagged=True))


def test_proxmox_bridged_bond_under_vmbr0():
    plan = plan_of(PROXMOX_BRIDGED)
    assert l2_commands(plan, "lnxpb-pve") == [
        "ip -n lnxpb-pve link add bond0 type bond mode active-backup miimon 100",
        "ip -n lnxpb-pve link set eno1 down",
        "ip -n lnxpb-pve link set eno1 master bond0",
        "ip -n lnxpb-pve link set eno2 down",
        "ip -n lnxpb-pve link set eno2 master bond0",
    ]
    ns = "lnxpb-pve"
    assert position(plan, CreateBond(ns, ifname="bond0", mode="active-backup")) < position(
        plan, SetMaster(ns, ifname="bond0", master="vmbr0"))
    assert not [op for op in plan.ops if isinstance(op, (SetBridgeVlanFiltering, BridgeVlan))]


def test_host_address_on_vmbr0_dot_20():
    plan = plan_of("""
lab: lnxha
nodes:
  pve:
    interfaces:
      vmbr0: {type: bridge, vlan_aware: true, backend: linux}
      vmbr0.20: {type: vlan, parent: vmbr0, id: 20, address: 10.20.0.2/24}
""")
    assert l2_commands(plan, "lnxha-pve") == [
        "ip -n lnxha-pve link set vmbr0 type bridge vlan_filtering 1",
        "ip -n lnxha-pve link add link vmbr0 name vmbr0.20 type vlan id 20",
        "bridge -n lnxha-pve vlan add dev vmbr0 vid 20 self",
    ]


def test_vlan_aware_switch_trunk_and_access():
    plan = plan_of(VLAN_SWITCH)
    assert l2_commands(plan, "lnxsw-sw") == [
        "ip -n lnxsw-sw link set br0 type bridge vlan_filtering 1",
        "bridge -n lnxsw-sw vlan del dev p1 vid 1",
        "bridge -n lnxsw-sw vlan add dev p1 vid 10",
        "bridge -n lnxsw-sw vlan add dev p1 vid 20",
        "bridge -n lnxsw-sw vlan del dev p2 vid 1",
        "bridge -n lnxsw-sw vlan add dev p2 vid 10 pvid untagged",
    ]
    ns = "lnxsw-sw"
    filtering = SetBridgeVlanFiltering(ns, bridge="br0")
    assert position(plan, CreateBridge(ns, ifname="br0")) < position(plan, filtering)
    for port in ("p1", "p2"):
        enslaved = position(plan, SetMaster(ns, ifname=port, master="br0"))
        assert all(enslaved < position(plan, op) for op in plan.ops
                   if isinstance(op, BridgeVlan) and op.ifname == port)
        assert enslaved < position(plan, SetLinkState(ns, ifname=port))


def test_trunk_naming_vlan_1_keeps_it_tagged():
    plan = plan_of(VLAN_SWITCH.replace("trunk: [10, 20]", "trunk: [1, 10]"))
    assert "bridge -n lnxsw-sw vlan del dev p1 vid 1" not in l2_commands(plan, "lnxsw-sw")
    assert "bridge -n lnxsw-sw vlan add dev p1 vid 1" in l2_commands(plan, "lnxsw-sw")


def test_a_plain_port_of_a_vlan_aware_bridge_stays_in_vlan_1():
    plan = plan_of(VLAN_SWITCH.replace("p2: {vlan: 10}", "p2: {}"))
    assert not [op for op in plan.ops if isinstance(op, BridgeVlan) and op.ifname == "p2"]


def test_bonds_and_vlans_on_a_node_without_bridges():
    plan = plan_of("""
lab: lnxnb
nodes:
  srv:
    interfaces:
      eth0: {}
      eth1: {}
      bond0: {type: bond, members: [eth0, eth1], mode: balance-rr}
      bond0.30: {type: vlan, address: 10.30.0.1/24}
  up: {interfaces: {eth0: {}, eth1: {}}}
links:
  - [srv:eth0, up:eth0]
  - [srv:eth1, up:eth1]
""")
    assert l2_commands(plan, "lnxnb-srv") == [
        "ip -n lnxnb-srv link add bond0 type bond mode balance-rr miimon 100",
        "ip -n lnxnb-srv link add link bond0 name bond0.30 type vlan id 30",
        "ip -n lnxnb-srv link set eth0 down",
        "ip -n lnxnb-srv link set eth0 master bond0",
        "ip -n lnxnb-srv link set eth1 down",
        "ip -n lnxnb-srv link set eth1 master bond0",
    ]


def test_an_8021q_device_on_a_veth_or_as_a_bridge_port_comes_after_its_parent_and_before_enslaving():
    plan = plan_of("""
lab: lnxtr
nodes:
  pve:
    interfaces:
      eno1.10.5: {type: vlan, parent: eno1.10, id: 5}
      eno1.10: {type: vlan, parent: eno1, id: 10}
      eno1: {}
      vmbr10: {type: bridge, ports: [eno1.10], backend: linux}
  up: {interfaces: {eth0: {}}}
links:
  - [pve:eno1, up:eth0]
""")
    ns = "lnxtr-pve"
    outer = CreateVlan(ns, ifname="eno1.10", parent="eno1", vlan_id=10)
    inner = CreateVlan(ns, ifname="eno1.10.5", parent="eno1.10", vlan_id=5)
    veth = next(op for op in plan.ops if isinstance(op, CreateVeth))
    assert position(plan, veth) < position(plan, outer) < position(plan, inner)
    assert position(plan, outer) < position(plan, SetMaster(ns, ifname="eno1.10", master="vmbr10"))
    # Declared before their parents, they still come up after them (else ENETDOWN).
    ups = [op.ifname for op in plan.ops if isinstance(op, SetLinkState) and op.netns == ns]
    assert ups.index("eno1") < ups.index("eno1.10") < ups.index("eno1.10.5")


def test_ovs_and_auto_bridges_are_left_to_the_ovs_compiler():
    text = PROXMOX_VLAN.replace("backend: linux", "backend: ovs")
    spec = load_lab_text(text, "lab.yaml")
    builder = PlanBuilder(spec)
    compile_linux_l2(builder, "pve", spec.nodes["pve"])
    assert not [op for op in builder.build().ops if isinstance(op, L2_OPS)]
    # The resolver (compile/l2.py) can hand over an auto bridge it resolved to linux.
    spec = load_lab_text(PROXMOX_VLAN.replace("backend: linux", "backend: auto"), "lab.yaml")
    builder = PlanBuilder(spec)
    compile_linux_l2(builder, "pve", spec.nodes["pve"], linux_bridges={"vmbr0"})
    assert SetBridgeVlanFiltering("lnxpv-pve", bridge="vmbr0") in builder.build().ops


@pytest.mark.parametrize("mode", ["balance-slb", "balance-tcp"])
def test_ovs_only_bond_modes_are_refused_for_a_linux_bond(mode):
    problem = linux_bond_mode_problem(mode)
    assert problem is not None and mode in problem and "backend: ovs" in problem
    text = PROXMOX_BRIDGED.replace("mode: active-backup", f"mode: {mode}")
    with pytest.raises(LabFileError, match=f"bond0.mode: bond mode {mode} exists only in Open vSwitch"):
        load_lab_text(text, "lab.yaml")
    # The compiler refuses it too (a spec that skipped the validator).
    spec = LabSpec.model_validate(yaml.safe_load(text))
    with pytest.raises(ValueError, match=f"bond0: bond mode {mode} exists only in Open vSwitch"):
        compile_linux_l2(PlanBuilder(spec), "pve", spec.nodes["pve"])


@pytest.mark.parametrize("mode", [None, *LINUX_BOND_MODES])
def test_linux_bond_modes_are_fine(mode):
    assert linux_bond_mode_problem(mode) is None


def test_vlan_device_parts_from_fields_or_proxmox_name():
    assert vlan_device_parts("vmbr0.20", Interface(type="vlan")) == ("vmbr0", 20)
    assert vlan_device_parts("v20", Interface(type="vlan", parent="vmbr0", id=20)) == ("vmbr0", 20)
    assert vlan_device_parts("v20", Interface(type="vlan")) is None
    assert vlan_device_parts("eth0.5000", Interface(type="vlan")) is None


# -- ops as data ------------------------------------------------------------
EVERY_NEW_OP = [
    CreateVlan("n", ifname="vmbr0.20", parent="vmbr0", vlan_id=20),
    CreateBond("n", ifname="bond0", mode="802.3ad", miimon=100, lacp_rate="fast"),
    CreateBond("n", ifname="bond0", mode="active-backup"),
    SetBondMember("n", ifname="eno1", bond="bond0"),
    SetBondMember("n", ifname="eno1", bond=None),
    SetBridgeVlanFiltering("n", bridge="vmbr0", on=True),
    SetBridgeVlanFiltering("n", bridge="vmbr0", on=False),
    BridgeVlan("n", ifname="tap100i0", vid=10, pvid=True, untagged=True),
    BridgeVlan("n", ifname="vmbr0", vid=20, self=True),
    DeleteBridgeVlan("n", ifname="tap100i0", vid=1),
    DeleteBridgeVlan("n", ifname="vmbr0", vid=20, self=True),
]


@pytest.mark.parametrize("op", EVERY_NEW_OP, ids=lambda op: op.name)
def test_every_new_op_round_trips_through_json(op):
    assert Op.from_dict(json.loads(json.dumps(op.to_dict()))) == op


def test_inverse_commands():
    assert SetBondMember("n", ifname="eno1").commands() == [["ip", "-n", "n", "link", "set", "eno1", "nomaster"]]
    assert SetBridgeVlanFiltering("n", bridge="vmbr0", on=False).commands() == [
        ["ip", "-n", "n", "link", "set", "vmbr0", "type", "bridge", "vlan_filtering", "0"]]
    assert DeleteBridgeVlan("n", ifname="vmbr0", vid=20, self=True).commands() == [
        ["bridge", "-n", "n", "vlan", "del", "dev", "vmbr0", "vid", "20", "self"]]


# -- apply and rollback on the fake backend ------------------------------------
def test_fake_apply_builds_then_reapply_changes_nothing():
    plan = plan_of(PROXMOX_VLAN)
    backend = FakeBackend()
    report = apply_plan(plan, [backend])
    # Every L2 op changed something (only sysctls already at "0" did not).
    assert {type(op) for op in plan.ops if op not in report.changed} == {SetSysctl}
    pve = backend.spaces["lnxpv-pve"]
    assert pve.links["eno1"]["master"] == "bond0" and pve.links["bond0"]["master"] == "vmbr0"
    assert pve.links["vmbr0"]["vlan_filtering"] is True
    assert pve.bridge_vlans[("tap100i0", 10)] == (True, True)
    assert ("tap100i0", 1) not in pve.bridge_vlans and ("bond0", 1) not in pve.bridge_vlans
    assert pve.bridge_vlans[("vmbr0", 20)] == (False, False)
    again = apply_plan(plan, [backend])
    assert again.changed == [] and again.unchanged == len(plan.ops)


def test_fake_failure_at_every_l2_step_rolls_back_everything():
    plan = plan_of(PROXMOX_VLAN)
    steps = [i for i, op in enumerate(plan.ops, 1) if isinstance(op, L2_OPS)]
    assert len(steps) == 13
    for step in steps:
        backend = FakeBackend(fail_at=step)
        with pytest.raises(ApplyError):
            apply_plan(plan, [backend])
        assert backend.spaces == {}, f"failure at step {step} left {sorted(backend.spaces)}"


def test_fake_rollback_of_a_rerun_restores_the_l2_state():
    plan = plan_of(PROXMOX_VLAN)
    backend = FakeBackend()
    apply_plan(plan, [backend])
    pve = backend.spaces["lnxpv-pve"]
    del pve.bridge_vlans[("tap100i0", 10)]           # someone removed an access VLAN by hand
    pve.links["vmbr0"]["vlan_filtering"] = False     # and turned filtering off
    backend.fail_at = backend.calls + len(plan.ops)  # the rerun fails at its last op
    with pytest.raises(ApplyError):
        apply_plan(plan, [backend])
    assert ("tap100i0", 10) not in pve.bridge_vlans and pve.links["vmbr0"]["vlan_filtering"] is False


# -- the netlink backend on a stubbed socket ----------------------------------
class _Spec:
    def __init__(self, entries):
        self.entries = entries

    def get_attrs(self, name):
        assert name == "IFLA_BRIDGE_VLAN_INFO"
        return self.entries


class _Msg(dict):
    def __init__(self, index, entries):
        super().__init__(index=index)
        self.spec = _Spec([{"vid": vid, "flags": flags} for vid, flags in entries.items()])

    def get(self, key, default=None):
        return self.spec if key == "IFLA_AF_SPEC" else super().get(key, default)


class _Ipr:
    def __init__(self, unsupported=False):
        self.unsupported = unsupported
        self.calls = []
        self.vlans = {}  # index -> {vid: flags}

    def link(self, command, **kwargs):
        self.calls.append(("link", command, kwargs))
        if self.unsupported and (command == "add" or "br_vlan_filtering" in kwargs):
            raise NetlinkError(errno.EOPNOTSUPP, "Operation not supported")

    def get_links(self, index):
        return [_FilterMsg()]

    def get_vlans(self):
        return [_Msg(index, entries) for index, entries in self.vlans.items()]

    def vlan_filter(self, command, **kwargs):
        self.calls.append(("vlan", command, kwargs))
        if self.unsupported:
            raise NetlinkError(errno.EOPNOTSUPP, "Operation not supported")
        info = kwargs["vlan_info"]
        entries = self.vlans.setdefault(kwargs["index"], {})
        if command == "add":
            entries[info["vid"]] = info["flags"]
        else:
            entries.pop(info["vid"], None)


class _FilterMsg:
    def get_nested(self, *path):
        assert path[-1] == "IFLA_BR_VLAN_FILTERING"
        return 0


class _Space:
    def __init__(self, ipr):
        self.name, self.ipr = "n", ipr
        self.links = {"vmbr0": LinkInfo(2), "tap100i0": LinkInfo(3, up=True, master=2),
                      "eno1": LinkInfo(4, up=True)}

    def index(self, ifname):
        return self.links[ifname].index

    def name_of(self, index):
        return None if index is None else next((n for n, i in self.links.items() if i.index == index), None)


class _Kernel:
    def __init__(self, ipr):
        self.spaces = {"n": _Space(ipr)}

    def space(self, name):
        return self.spaces[name]


@pytest.mark.parametrize("op, missing", [
    (CreateVlan("n", ifname="vmbr0.20", parent="vmbr0", vlan_id=20), MISSING_8021Q),
    (CreateBond("n", ifname="bond0"), MISSING_BONDING),
    (SetBridgeVlanFiltering("n", bridge="vmbr0"), MISSING_VLAN_FILTERING),
    (BridgeVlan("n", ifname="tap100i0", vid=10, pvid=True, untagged=True), MISSING_VLAN_FILTERING),
], ids=lambda v: getattr(v, "name", ""))
def test_a_kernel_without_the_feature_is_an_environment_problem(op, missing):
    ipr = _Ipr(unsupported=True)
    kernel = _Kernel(ipr)
    links_before = dict(kernel.space("n").links)
    with pytest.raises(EnvironmentProblem) as problem:
        LinuxL2Backend(kernel).apply(op)
    assert str(problem.value).startswith(missing)
    assert "Operation not supported" in str(problem.value)
    assert kernel.space("n").links == links_before


def test_netlink_backend_makes_devices_and_returns_inverses():
    ipr = _Ipr()
    kernel = _Kernel(ipr)
    backend = LinuxL2Backend(kernel)
    assert backend.apply(CreateVlan("n", ifname="vmbr0.20", parent="vmbr0", vlan_id=20)) == DeleteLink(
        "n", ifname="vmbr0.20")
    assert ipr.calls[-1] == ("link", "add", {"ifname": "vmbr0.20", "kind": "vlan", "link": 2, "vlan_id": 20})
    assert backend.apply(CreateVlan("n", ifname="vmbr0.20", parent="vmbr0", vlan_id=20)) is None
    assert backend.apply(CreateBond("n", ifname="bond0", mode="802.3ad", lacp_rate="fast")) == DeleteLink(
        "n", ifname="bond0")
    assert ipr.calls[-1] == ("link", "add", {"ifname": "bond0", "kind": "bond", "bond_mode": 4,
                                             "bond_miimon": 100, "bond_ad_lacp_rate": 1})
    kernel.space("n").links["bond0"].index = 9
    assert backend.apply(SetBondMember("n", ifname="eno1", bond="bond0")) == SetBondMember("n", ifname="eno1")
    assert ipr.calls[-2:] == [("link", "set", {"index": 4, "state": "down"}),
                              ("link", "set", {"index": 4, "master": 9})]
    assert backend.apply(SetBondMember("n", ifname="eno1", bond="bond0")) is None
    assert backend.apply(SetBridgeVlanFiltering("n", bridge="vmbr0")) == SetBridgeVlanFiltering(
        "n", bridge="vmbr0", on=False)
    assert ipr.calls[-1] == ("link", "set", {"index": 2, "kind": "bridge", "br_vlan_filtering": 1})


def test_netlink_backend_bridge_vlan_entries_and_their_inverses():
    ipr = _Ipr()
    ipr.vlans = {3: {1: 0x6}}  # the port came in with the default pvid 1 untagged
    backend = LinuxL2Backend(_Kernel(ipr))
    access = BridgeVlan("n", ifname="tap100i0", vid=10, pvid=True, untagged=True)
    assert backend.apply(access) == DeleteBridgeVlan("n", ifname="tap100i0", vid=10)
    assert ipr.vlans[3][10] == 0x6
    assert backend.apply(access) is None
    # Deleting the default VLAN returns the op that puts it back as it was.
    assert backend.apply(DeleteBridgeVlan("n", ifname="tap100i0", vid=1)) == BridgeVlan(
        "n", ifname="tap100i0", vid=1, pvid=True, untagged=True)
    assert backend.apply(DeleteBridgeVlan("n", ifname="tap100i0", vid=1)) is None
    # Re-flagging an entry returns the old flags; 'self' goes to the bridge device.
    assert backend.apply(BridgeVlan("n", ifname="tap100i0", vid=10)) == access
    assert backend.apply(BridgeVlan("n", ifname="vmbr0", vid=20, self=True)) == DeleteBridgeVlan(
        "n", ifname="vmbr0", vid=20, self=True)
    assert ipr.calls[-1] == ("vlan", "add", {"index": 2, "vlan_info": {"vid": 20, "flags": 0}, "vlan_flags": 2})


def test_an_auto_bridge_with_an_ovs_only_bond_mode_resolves_to_ovs():
    plan = plan_of(PROXMOX_BRIDGED.replace("backend: linux", "backend: auto")
                   .replace("mode: active-backup", "mode: balance-slb"))
    assert not [op for op in plan.ops if isinstance(op, L2_OPS)]
    assert [op.mode for op in plan.ops if op.name == "ovs_add_bond"] == ["balance-slb"]

