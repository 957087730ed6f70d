"""Bridge backends and the Open vSwitch plan, asserted as data (no root)."""

from __future__ import annotations

import os
from dataclasses import replace

from vnetlab.compile import compile_lab
from vnetlab.compile.l2 import assumed_backends, unmet_needs
from vnetlab.model.bridges import ASSUMED, KernelFeatures
from vnetlab.model import load_lab, load_lab_text
from vnetlab.plan import (
    CreateBridge, Op, OvsAddBond, OvsAddBridge, OvsAddPort, OvsReplaceFlows, Plan, RunService, SetLinkState,
    SetMaster, SetSysctl, SetTxChecksum, StartOvs, StopOvs,
)

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
# This development machine: no 802.1Q, no bonding, no VLAN filtering, OVS installed.
NO_KERNEL_L2 = KernelFeatures(vlan_devices=False, bonding=False, vlan_filtering=False, ovs_kernel=False,
                              ovs_userspace=True, detected=True)


def example(name: str):
    return load_lab(os.path.join(EXAMPLES, name))


def ops_of(plan: Plan, kind: type[Op]) -> list:
    return [op for op in plan.ops if type(op) is kind]


def test_auto_bridges_go_to_ovs_when_the_kernel_lacks_vlans():
    spec = example("proxmox-vlan.yaml")
    plan = compile_lab(spec, NO_KERNEL_L2)
    run = "/run/vnetlab/pvevlan/ovs"
    assert [(op.netns, op.rundir) for op in ops_of(plan, StartOvs)] == [
        ("pvevlan-pve", f"{run}/pve"), ("pvevlan-upstream", f"{run}/upstream")]
    assert OvsAddBridge("pvevlan-pve", rundir=f"{run}/pve", bridge="vmbr0") in plan.ops
    ports = {op.port: op for op in ops_of(plan, OvsAddPort) if op.netns == "pvevlan-pve"}
    assert ports["vmbr0.20"] == OvsAddPort("pvevlan-pve", rundir=f"{run}/pve", bridge="vmbr0", port="vmbr0.20",
                                           tag=20, internal=True)
    assert (ports["eno1"].tag, ports["eno1"].trunks) == (None, (10, 20))
    assert (ports["tap100i0"].tag, ports["tap101i0"].tag) == (10, 20)
    assert "vlan_mode=access" in ports["tap100i0"].commands()[0]
    # The Linux bridge and its ports are replaced, not added to.
    assert not [op for op in ops_of(plan, CreateBridge) if op.netns == "pvevlan-pve"]
    assert not [op for op in ops_of(plan, SetMaster) if op.netns in ("pvevlan-pve", "pvevlan-upstream")]
    # TX checksum offload off on both ends of every veth on OVS; TAPs are left alone.
    offloaded = {(op.netns, op.ifname) for op in ops_of(plan, SetTxChecksum)}
    assert {("pvevlan-pve", "eno1"), ("pvevlan-upstream", "p1"), ("pvevlan-desk10", "eth0")} <= offloaded
    assert not {("pvevlan-pve", "tap100i0"), ("pvevlan-vm100", "eth0")} & offloaded
    # The node's own IP stack stays off its OVS ports (it has an address on vmbr0.20).
    assert SetSysctl("pvevlan-pve", key="net.ipv4.conf.eno1.arp_ignore", value="8") in plan.ops
    order = [type(op) for op in plan.ops]
    assert order.index(StartOvs) < order.index(OvsAddBridge) < order.index(OvsAddPort)


def test_the_same_file_on_a_kernel_with_everything_stays_linux():
    spec = example("proxmox-vlan.yaml")
    plan = compile_lab(spec)  # one argument: plan without root assumes a complete kernel
    assert not ops_of(plan, StartOvs) and not ops_of(plan, OvsAddPort)
    assert CreateBridge("pvevlan-pve", ifname="vmbr0") in plan.ops
    assert any(op.name == "create_vlan" for op in plan.ops)
    assert assumed_backends(spec) == [
        "pve:vmbr0 -> linux (auto: the kernel has what it needs (assumed))",
        "upstream:br0 -> linux (auto: the kernel has what it needs (assumed))"]


def test_an_active_backup_bond_becomes_an_ovs_bond_port():
    plan = compile_lab(example("proxmox-bridged.yaml"), NO_KERNEL_L2)
    bond = ops_of(plan, OvsAddBond)
    assert bond == [OvsAddBond("pvebond-pve", rundir="/run/vnetlab/pvebond/ovs/pve", bridge="vmbr0", bond="bond0",
                               members=("eno1", "eno2"), mode="active-backup")]
    assert "bond_mode=active-backup" in bond[0].commands()[0]
    # On OVS a bond is a port, not a kernel device: nothing sets "bond0" up.
    assert not [op for op in ops_of(plan, SetLinkState) if op.ifname == "bond0"]
    # The plain top-of-rack switch needs nothing the kernel lacks: it stays a Linux bridge.
    assert CreateBridge("pvebond-tor", ifname="br0") in plan.ops
    assert {(op.netns, op.ifname) for op in ops_of(plan, SetTxChecksum)} == {
        ("pvebond-pve", "eno1"), ("pvebond-tor", "p1"), ("pvebond-pve", "eno2"), ("pvebond-tor", "p2")}


LACP = """
lab: lacp
nodes:
  a:
    interfaces:
      eno1: {}
      eno2: {}
      bond0: {type: bond, members: [eno1, eno2], mode: 802.3ad}
      br1: {type: bridge, backend: ovs, ports: [bond0]}
  b:
    interfaces: {eth0: {}, eth1: {}}
links:
  - [a:eno1, b:eth0]
  - [a:eno2, b:eth1]
"""


def test_802_3ad_is_balance_tcp_with_lacp_on_ovs():
    plan = compile_lab(load_lab_text(LACP, "lacp.yaml"), ASSUMED)  # explicit ovs: whatever the kernel has
    (bond,) = ops_of(plan, OvsAddBond)
    assert (bond.mode, bond.lacp) == ("balance-tcp", True)
    assert {"bond_mode=balance-tcp", "lacp=active", "other_config:lacp-time=fast"} <= set(bond.commands()[0])



def test_bond_members_and_their_far_ends_are_up_before_the_bond_joins_ovs():
    # Added while down, OVS marks a member LACP-expired when carrier comes and
    # waits a second for the partner's next LACPDU (issue 9).
    plan = compile_lab(load_lab_text(LACP, "lacp.yaml"), ASSUMED)
    (bond,) = ops_of(plan, OvsAddBond)
    ends = {("lacp-a", "eno1"), ("lacp-a", "eno2"), ("lacp-b", "eth0"), ("lacp-b", "eth1")}
    ups = [i for i, op in enumerate(plan.ops) if isinstance(op, SetLinkState) and (op.netns, op.ifname) in ends]
    assert len(ups) == 4, "each end is brought up exactly once"
    assert max(ups) < plan.ops.index(bond)


SWITCH = """
lab: flows
nodes:
  sw:
    kind: switch
    {settings}
  h1: {{interfaces: {{eth0: {{address: 10.0.0.1/24}}}}}}
  h2: {{interfaces: {{eth0: {{address: 10.0.0.2/24}}}}}}
links:
  - [h1:eth0, sw:p1]
  - [h2:eth0, sw:p2]
"""


def switch_plan(settings: str) -> Plan:
    return compile_lab(load_lab_text(SWITCH.format(settings=settings), "flows.yaml"), NO_KERNEL_L2)


def test_flows_keep_normal_below_them_unless_the_file_says_otherwise():
    drop = "priority=100,ip,nw_src=10.0.0.66,actions=drop"
    (flows,) = ops_of(switch_plan(f'flows: ["{drop}"]'), OvsReplaceFlows)
    assert flows.flows == (drop, "priority=0,actions=NORMAL")
    assert flows.commands()[-1][-1] == "priority=0,actions=NORMAL"
    (flows,) = ops_of(switch_plan(f'flows: ["{drop}", "priority=0,actions=drop"]'), OvsReplaceFlows)
    assert flows.flows == (drop, "priority=0,actions=drop")
    (bad,) = ops_of(compile_lab(example("ovs-bad-neighbor.yaml")), OvsReplaceFlows)
    assert bad.flows[0] == drop and len(bad.flows) == 2


def test_builtin_controller_runs_in_the_switch_node_and_has_no_normal_fallback():
    plan = switch_plan("controller: builtin")
    (bridge,) = ops_of(plan, OvsAddBridge)
    assert bridge.controller == "tcp:127.0.0.1:6653"
    assert ["--", "set-fail-mode", "br0", "secure"] == bridge.commands()[0][-8:-4]
    assert not ops_of(plan, OvsReplaceFlows)
    (service,) = [op for op in ops_of(plan, RunService) if op.command]
    assert service.netns == "flows-sw"
    assert service.command == ("python3", "-m", "vnetlab.agents.controller", "--listen", "tcp:127.0.0.1:6653")
    external = ops_of(switch_plan("controller: tcp:192.0.2.9:6653"), OvsAddBridge)[0]
    assert external.controller == "tcp:192.0.2.9:6653"


def test_explicit_linux_the_kernel_cannot_serve_names_the_feature():
    spec = load_lab_text(open(os.path.join(EXAMPLES, "proxmox-vlan.yaml")).read().replace(
        "vlan_aware: true, ports:", "vlan_aware: true, backend: linux, ports:"), "x.yaml")
    problems = unmet_needs(spec, NO_KERNEL_L2)
    assert len(problems) == 2  # the bridge, and the 802.1Q device vmbr0.20 on it
    assert "VLAN filtering" in problems[0] and "backend: ovs" in problems[0]
    assert "8021q" in problems[1]
    assert unmet_needs(spec, ASSUMED) == []
    assert unmet_needs(example("proxmox-vlan.yaml"), NO_KERNEL_L2) == []  # auto: OVS serves it


def test_ovs_without_its_programs_says_how_to_install_them():
    no_ovs = KernelFeatures(vlan_devices=False, bonding=False, vlan_filtering=False, ovs_kernel=False,
                            ovs_userspace=False, detected=True)
    problems = unmet_needs(example("ovs-bad-neighbor.yaml"), no_ovs)
    assert problems and "apt-get install openvswitch-switch" in problems[-1]


def test_mtu_on_a_bridge_that_auto_makes_ovs_here_is_refused_at_up():
    # vlan_aware: a Linux bridge where the kernel filters VLANs, OVS on this machine.
    text = open(os.path.join(EXAMPLES, "proxmox-vlan.yaml")).read().replace(
        "vlan_aware: true, ports:", "vlan_aware: true, mtu: 1400, ports:")
    spec = load_lab_text(text, "x.yaml")
    [problem] = unmet_needs(spec, NO_KERNEL_L2)
    assert problem.startswith("bridge vmbr0 on node pve has mtu, but backend: auto makes it an Open vSwitch "
                              "bridge here (this kernel has no 802.1Q VLAN devices")
    assert "VLAN filtering" in problem and problem.endswith("— remove mtu, or set backend: linux on a kernel "
                                                            "that has what it needs")
    assert unmet_needs(spec, ASSUMED) == []  # a Linux bridge, which takes the mtu


def test_builtin_controller_without_os_ken_is_refused_at_up():
    spec = example("sdn-controller.yaml")
    assert unmet_needs(spec, NO_KERNEL_L2) == []
    [problem] = unmet_needs(spec, replace(NO_KERNEL_L2, osken=False))
    assert problem == ("bridge br0 on node sw has controller: builtin, which runs on the Python package "
                       "os-ken, and it is not installed — pip install 'os-ken>=4,<5'")


def test_ovs_ops_survive_json():
    plan = compile_lab(example("proxmox-vlan.yaml"), NO_KERNEL_L2)
    again = [Op.from_dict(data) for data in plan.to_dict()["ops"]]
    assert again == plan.ops
    start = ops_of(plan, StartOvs)[0]
    stop = StopOvs(start.netns, node=start.node, rundir=start.rundir)
    assert stop.commands() == [["pkill", "-F", f"{start.rundir}/ovs-vswitchd.pid"],
                               ["pkill", "-F", f"{start.rundir}/ovsdb-server.pid"]]
    # Every ovs-* command names the node's own database or socket, never the host's.
    for op in plan.ops:
        for command in op.commands():
            if command[0] in ("ovs-vsctl", "ovs-ofctl"):
                assert any(start.rundir.rsplit("/", 1)[0] in arg for arg in command), command


VLAN_AWARE_WITH_ADDRESS = """
lab: vaware
nodes:
  pve:
    interfaces:
      eno1: {}
      uplink: {trunk: [20], vlan: 1}
      vmbr0: {type: bridge, vlan_aware: true, ports: [eno1, uplink, tap1], address: 192.168.1.10/24}
      tap1: {type: tap, vlan: 20}
  sw:
    kind: switch
  vm1:
    kind: vm
    interfaces: {eth0: {address: 10.20.0.5/24}}
links:
  - [pve:eno1, sw:p1]
  - [pve:uplink, sw:p2]
  - [pve:tap1, vm1:eth0]
"""


def test_a_vlan_aware_ovs_bridge_with_an_address_puts_untagged_frames_in_vlan_1_like_linux():
    plan = compile_lab(load_lab_text(VLAN_AWARE_WITH_ADDRESS, "v.yaml"), NO_KERNEL_L2)
    ports = {op.port: op for op in ops_of(plan, OvsAddPort) if op.netns == "vaware-pve"}
    assert (ports["vmbr0"].tag, ports["vmbr0"].trunks) == (1, ())          # the bridge's own port
    # It exists with the bridge: set, never add-port (ovs-vsctl refuses that).
    assert ports["vmbr0"].commands()[0][-5:] == ["set", "port", "vmbr0", "tag=1", "vlan_mode=access"]
    assert (ports["eno1"].tag, ports["eno1"].trunks) == (1, ())            # a bare port: Linux's pvid 1
    assert (ports["uplink"].tag, ports["uplink"].trunks) == (1, (20,))     # as written
    assert ports["tap1"].tag == 20


def test_a_vlan_aware_ovs_bridge_without_an_address_keeps_ovs_ports_as_written():
    text = VLAN_AWARE_WITH_ADDRESS.replace(", address: 192.168.1.10/24", "")
    plan = compile_lab(load_lab_text(text, "v.yaml"), NO_KERNEL_L2)
    ports = {op.port: op for op in ops_of(plan, OvsAddPort) if op.netns == "vaware-pve"}
    assert "vmbr0" not in ports and ports["eno1"].tag is None
