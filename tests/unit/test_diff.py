"""compile/diff.py on data: desired plan + observed lab -> changes and ops (no root)."""

from __future__ import annotations

import dataclasses
import os

from vnetlab.compile import compile_lab
from vnetlab.observe.diff import FORCED_RULESET, Observed, ObservedLink, ObservedService, diff, ovs_vlans
from vnetlab.model.bridges import KernelFeatures
from vnetlab.model import load_lab, load_lab_text
from vnetlab.plan import (
    AddAddress, AddRoute, ApplyRuleset, CreateBridge, CreateNamespace, CreateTap, CreateVeth, DeleteAddress,
    DeleteLink, DeleteNamespace, DeleteRoute, DeleteRuleset, Plan, PumpFrames, RunService, SetLinkState,
    SetMaster, SetSysctl, StartOvs, StopService,
)

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")

BASE = """
lab: df
nodes:
  a:
    interfaces: {eth0: {address: 10.0.0.1/24}}
    routes: [{to: 10.9.0.0/24, via: 10.0.0.254}]
  b:
    interfaces: {eth0: {address: 10.0.0.2/24}}
    services: [{listen: tcp/80}]
    firewall: {input: {policy: accept, rules: [{action: drop, proto: tcp, port: 23}]}}
  sw: {kind: switch}
links:
  - [a:eth0, sw:p1]
  - [b:eth0, sw:p2]
"""


def plan_of(text: str) -> Plan:
    return compile_lab(load_lab_text(text, "df.yaml"))


def as_applied(plan: Plan) -> Observed:
    """What a perfect ``up`` of ``plan`` leaves in the kernel."""
    seen = Observed()
    for op in plan.ops:
        ns = op.netns
        if isinstance(op, CreateNamespace):
            seen.namespaces.add(ns)
            seen.links[ns] = {"lo": ObservedLink("loopback", addresses=("127.0.0.1/8",))}
            seen.routes[ns] = []
        elif isinstance(op, SetSysctl):
            seen.sysctls.setdefault(ns, {})[op.key] = op.value
        elif isinstance(op, CreateVeth):
            seen.links[ns][op.ifname] = ObservedLink("veth", up=False)
            seen.links[op.peer_netns][op.peer_ifname] = ObservedLink("veth", up=False)
        elif isinstance(op, CreateBridge):
            seen.links[ns][op.ifname] = ObservedLink("bridge", up=False)
        elif isinstance(op, CreateTap):
            seen.links[ns][op.ifname] = ObservedLink("tap", up=False)
        elif isinstance(op, SetMaster):
            seen.links[ns][op.ifname].master = op.master
        elif isinstance(op, SetLinkState):
            seen.links[ns][op.ifname].up = op.up
        elif isinstance(op, AddAddress):
            link = seen.links[ns][op.ifname]
            link.addresses += (op.address,)
            seen.routes[ns].append((4, "10.0.0.0/24", None, op.ifname, 2))  # connected: the kernel's
        elif isinstance(op, AddRoute):
            seen.routes[ns].append((op.family, op.to, op.via, "eth0", 4))
        elif isinstance(op, ApplyRuleset):
            seen.rulesets[ns] = op.digest
        elif isinstance(op, RunService):
            seen.services.setdefault(ns, []).append(ObservedService(
                op.node, op.listen, op.command, running=not op.oneshot, state="done" if op.oneshot else "running",
                oneshot=op.oneshot))  # a oneshot has finished by the time up returns
        elif isinstance(op, PumpFrames):
            seen.pumps.add((ns, op.ifname, op.peer_netns, op.peer_ifname))
        elif op.name == "ovs_add_bridge":  # the bridge's own interface is a tap of ovs-vswitchd's
            seen.links[ns][op.bridge] = ObservedLink("tun", up=False)
            seen.ovs.setdefault(ns, {})[op.bridge] = {}
            seen.ovs_rundirs[ns] = op.rundir
        elif op.name == "ovs_add_port":
            seen.ovs[ns][op.bridge][op.port] = ovs_vlans(op.tag, op.trunks)
    return seen


def messages(result) -> set[str]:
    return {c.describe("df") for c in result.changes}


def test_unchanged_lab_has_no_difference_and_nothing_to_apply():
    plan = plan_of(BASE)
    result = diff(plan, as_applied(plan), plan)
    assert result.changes == []
    assert result.removals() == []
    assert result.converge_ops() == []


def test_hand_made_changes_are_drift():
    plan = plan_of(BASE)
    seen = as_applied(plan)
    seen.links["df-a"]["eth0"].addresses = ("10.0.0.99/24",)
    seen.links["df-sw"]["p1"].up = False
    seen.links["df-sw"]["p2"].master = None
    seen.routes["df-b"].append((4, "10.8.0.0/24", "10.0.0.254", "eth0", 3))
    seen.rulesets["df-b"] = FORCED_RULESET
    seen.services["df-b"][0].running = False
    seen.services["df-b"][0].state = "stopped"
    seen.sysctls["df-a"]["net.ipv4.ip_forward"] = "1"
    seen.links["df-b"]["cv0"] = ObservedLink("dummy")
    result = diff(plan, seen, plan)
    assert messages(result) == {
        "a eth0: address 10.0.0.1/24 missing (removed by hand?)",
        "a eth0: extra address 10.0.0.99/24",
        "sw p1: down (expected up)",
        "sw p2: master none (expected br0)",
        "b: extra route 10.8.0.0/24 via 10.0.0.254",
        "b: nft table inet vnetlab changed by hand",
        "b: service tcp/80 not running (stopped)",
        "a: sysctl net.ipv4.ip_forward = 1 (expected 0)",
        "b cv0: extra interface (dummy)",
    }
    assert all(c.drift for c in result.changes)
    # Removals come first, in dependency order; then exactly the plan's ops
    # that repair the rest, in plan order; the hand-edited table is applied
    # even though its digest matches.
    assert result.removals() == [
        DeleteRoute("df-b", to="10.8.0.0/24", via="10.0.0.254", dev="eth0", family=4),
        DeleteAddress("df-a", ifname="eth0", address="10.0.0.99/24"),
        DeleteLink("df-b", ifname="cv0"),
    ]
    ops = result.converge_ops()
    forced = [op for op in ops if isinstance(op, ApplyRuleset)]
    assert len(forced) == 1 and forced[0].digest == ""
    repairs = [SetSysctl("df-a", key="net.ipv4.ip_forward", value="0"),
               SetMaster("df-sw", ifname="p2", master="br0"),
               AddAddress("df-a", ifname="eth0", address="10.0.0.1/24"),
               SetLinkState("df-sw", ifname="p1"),
               # a's routes are ensured again: the kernel may drop them with an address.
               AddRoute("df-a", to="10.9.0.0/24", via="10.0.0.254", family=4)]
    rulesets = [dataclasses.replace(op, digest="") for op in plan.ops if isinstance(op, ApplyRuleset)]
    services = [op for op in plan.ops if isinstance(op, RunService)]
    assert ops[3:] == repairs + rulesets + services


def test_a_reboot_repairs_its_own_node_and_leaves_the_neighbours_hand_made_state():
    plan = plan_of(BASE)
    seen = as_applied(plan)
    seen.links["df-a"]["eth0"].addresses = ("10.0.0.99/24",)   # the rebooted node: all of it is repaired
    seen.sysctls["df-a"]["net.ipv4.ip_forward"] = "1"
    seen.links["df-sw"]["p1"].up = False                       # its veth's far end, made again: repaired
    seen.links["df-b"]["cv0"] = ObservedLink("dummy")          # a neighbour's hand-made state: left alone
    seen.rulesets["df-b"] = FORCED_RULESET
    seen.services["df-b"][0].running = False                   # a process that stopped: started again
    seen.services["df-b"][0].state = "stopped"
    rebooted = diff(plan, seen, plan).after_reboot_of("df-a", {"df-sw": {"p1"}})
    assert messages(rebooted) == {
        "a eth0: address 10.0.0.1/24 missing (removed by hand?)",
        "a eth0: extra address 10.0.0.99/24",
        "a: sysctl net.ipv4.ip_forward = 1 (expected 0)",
        "sw p1: down (expected up)",
        "b: service tcp/80 not running (stopped)",
    }
    ops = rebooted.converge_ops()
    assert not any(op.netns == "df-b" and isinstance(op, (ApplyRuleset, DeleteLink)) for op in ops)
    assert SetLinkState("df-sw", ifname="p1") in ops


def test_kernel_objects_are_not_drift():
    plan = plan_of(BASE)
    seen = as_applied(plan)
    seen.links["df-a"]["eth0"].addresses += ("fe80::1/64",)
    seen.links["df-a"]["ovs-netdev"] = ObservedLink("tap")  # a daemon's, not declared: left alone
    seen.routes["df-a"].append((6, "fe80::/64", None, "eth0", 2))
    assert diff(plan, seen, plan).changes == []


def test_removed_node_link_address_route_service_and_firewall():
    before = plan_of(BASE)
    after = plan_of("""
lab: df
nodes:
  a:
    interfaces: {eth0: {address: 10.0.0.5/24}}
  sw: {kind: switch}
links:
  - [a:eth0, sw:p1]
""")
    result = diff(after, as_applied(before), before)
    assert not any(c.drift for c in result.changes)
    removals = result.removals()
    assert StopService("df-b", node="b", listen="tcp/80") in removals
    assert DeleteRoute("df-a", to="10.9.0.0/24", via="10.0.0.254", dev="eth0", family=4) in removals
    assert DeleteAddress("df-a", ifname="eth0", address="10.0.0.1/24") in removals
    assert DeleteLink("df-sw", ifname="p2") in removals
    assert removals[-1] == DeleteNamespace("df-b")
    # Nothing inside the removed namespace is removed piecemeal.
    assert not any(op.netns == "df-b" and not isinstance(op, (DeleteNamespace, StopService)) for op in removals)
    assert "+ a eth0: address 10.0.0.5/24" in "\n".join(result.lines())


def test_removed_firewall_deletes_the_table():
    before = plan_of(BASE)
    after = plan_of(BASE.replace("    firewall: {input: {policy: accept, rules: [{action: drop, proto: tcp, port: 23}]}}\n",
                                 ""))
    result = diff(after, as_applied(before), before)
    assert [c.describe("df") for c in result.changes] == ["b: nft table inet vnetlab removed"]
    assert result.removals() == [DeleteRuleset("df-b")]


def test_moved_cable_recreates_both_ends_only():
    before = plan_of(BASE)
    after = plan_of(BASE.replace("[b:eth0, sw:p2]", "[b:eth0, sw:p7]"))
    result = diff(after, as_applied(before), before)
    removals = result.removals()
    assert DeleteLink("df-sw", ifname="p2") in removals
    assert DeleteLink("df-b", ifname="eth0") in removals
    assert not any(isinstance(op, DeleteLink) and op.netns == "df-a" for op in removals)
    # b's address comes back on the new cable.
    assert any(c.sign == "+" and c.kind == "address" and c.netns == "df-b" for c in result.changes)


def test_a_new_node_gets_every_op_of_its_namespace_and_nothing_else_is_touched():
    before = plan_of(BASE)
    after = plan_of(BASE.replace("  sw: {kind: switch}", "  c: {interfaces: {eth0: {address: 10.0.0.3/24}}}\n"
                                 "  sw: {kind: switch}") + "  - [c:eth0, sw:p3]\n")
    ops = diff(after, as_applied(before), before).converge_ops()
    assert ops == [op for op in after.ops if op.netns == "df-c" or getattr(op, "peer_netns", None) == "df-c"
                   or (op.netns == "df-sw" and getattr(op, "ifname", None) == "p3")]


def test_added_node_is_a_file_change_and_a_missing_namespace_is_drift():
    before = plan_of(BASE)
    after = plan_of(BASE.replace("  sw: {kind: switch}", "  c: {interfaces: {eth0: {address: 10.0.0.3/24}}}\n"
                                 "  sw: {kind: switch}") + "  - [c:eth0, sw:p3]\n")
    result = diff(after, as_applied(before), before)
    assert "df-c" in {c.netns for c in result.changes if c.kind == "node" and c.sign == "+"}
    assert not any(c.drift for c in result.changes)
    seen = as_applied(before)
    seen.namespaces.discard("df-a")
    gone = diff(before, seen, before)
    assert "a: namespace missing" in messages(gone)
    assert all(c.drift for c in gone.changes)


def test_without_applied_plan_everything_is_drift():
    plan = plan_of(BASE)
    seen = as_applied(plan)
    seen.links["df-a"]["eth0"].up = False
    result = diff(plan, seen)
    assert [c.drift for c in result.changes] == [True]


def test_tap_pumps_of_a_stopped_supervisor_are_drift():
    plan = plan_of("""
lab: df
nodes:
  pve: {interfaces: {tap100i0: {type: tap}}}
  vm100: {kind: vm, interfaces: {eth0: {address: 10.0.0.100/24}}}
links:
  - [pve:tap100i0, vm100:eth0]
""")
    seen = as_applied(plan)
    assert diff(plan, seen, plan).changes == []
    seen.pumps_running = False
    result = diff(plan, seen, plan)
    assert messages(result) == {"pve: tap pump tap100i0 <-> df-vm100:eth0 not running (supervisor stopped)"}
    assert result.converge_ops() == [op for op in plan.ops if isinstance(op, PumpFrames)]


OVS_FEATURES = KernelFeatures(vlan_devices=False, bonding=False, vlan_filtering=False, ovs_kernel=False,
                              ovs_userspace=True, detected=True)


def test_a_killed_ovs_daemon_is_drift_that_up_repairs_with_every_ovs_op_of_the_node():
    plan = compile_lab(load_lab(os.path.join(EXAMPLES, "ovs-bad-neighbor.yaml")), OVS_FEATURES)
    seen = as_applied(plan)
    assert diff(plan, seen, plan).changes == []
    seen.ovs_stopped["ovsbad-sw"] = ("ovs-vswitchd",)
    result = diff(plan, seen, plan)
    (change,) = result.changes
    assert change.drift and change.sign == "~" and change.kind == "ovs-daemons"
    assert change.describe("ovsbad") == "sw: Open vSwitch ovs-vswitchd not running"
    assert change.ops == tuple(op for op in plan.ops if isinstance(op, StartOvs))
    ops = result.converge_ops()
    node_ovs = [op for op in plan.ops if op.netns == "ovsbad-sw" and op.name.startswith(("start_ovs", "ovs_"))]
    assert [op.name for op in node_ovs] == ["start_ovs", "ovs_add_bridge", "ovs_add_port", "ovs_add_port",
                                            "ovs_add_port", "ovs_replace_flows"]
    assert [op for op in ops if op in node_ovs] == node_ovs  # restart first, then bridge, ports, flows


def test_a_killed_trace_table_is_drift_and_up_deletes_only_it():
    plan = plan_of(BASE)
    seen = as_applied(plan)
    seen.trace_tables["df-b"] = ["inet vnetlab_trace_1a2b"]
    result = diff(plan, seen, plan)
    assert messages(result) == {"b: nft table inet vnetlab_trace_1a2b left behind by a trace that was killed"}
    assert all(c.drift for c in result.changes)
    assert result.removals() == [DeleteRuleset("df-b", table="vnetlab_trace_1a2b", family="inet")]
    assert result.converge_ops() == result.removals()  # the lab's own table is not re-applied


def test_oneshot_service_done_is_as_wanted_and_failed_is_drift():
    text = BASE.replace("services: [{listen: tcp/80}]",
                        "services: [{listen: tcp/80}, {command: [sh, setup.sh], oneshot: true}]")
    plan = plan_of(text)
    seen = as_applied(plan)
    assert diff(plan, seen, plan).changes == []
    oneshot = seen.services["df-b"][1]
    oneshot.state = "failed"
    result = diff(plan, seen, plan)
    assert messages(result) == {"b: service sh setup.sh (oneshot) did not finish with exit 0 (failed)"}
    assert result.restarts() == [StopService("df-b", node="b", command=("sh", "setup.sh"), oneshot=True)]
    # Marking a running command oneshot in the file replaces it: a different service.
    changed = diff(plan_of(text.replace(", oneshot: true", "")), as_applied(plan), plan)
    assert {(c.sign, c.obj) for c in changed.changes} == {("-", "sh setup.sh (oneshot)"), ("+", "sh setup.sh")}
