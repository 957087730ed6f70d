"""The topology JSON (vnetlab.io.topology): hypervisors as compound nodes with
their bridges, TAP/VLAN/bond ends, OVS and controllers marked, folding many
hosts into groups, and the live state laid over it."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest

from vnetlab.io.topology import FORMAT, topology_of
from vnetlab.model import load_lab, load_lab_text

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES.parent / "benchmarks"))
from three_tier import three_tier_yaml  # noqa: E402 — the benchmark's 1,000-host generator


def example(name: str) -> dict:
    return topology_of(load_lab(EXAMPLES / f"{name}.yaml"))


def nodes(topology: dict) -> dict[str, dict]:
    return {n["id"]: n for n in topology["nodes"]}


def edge(topology: dict, source: str, target: str) -> dict:
    found = [e for e in topology["edges"] if {e["source"], e["target"]} == {source, target}]
    assert len(found) == 1, found
    return found[0]


def test_proxmox_tap_hypervisor_holds_vmbr0_with_two_tap_edges_to_the_vms():
    t = example("proxmox-tap")
    assert t["format"] == FORMAT and t["lab"] == "pvetap" and t["live"] is False
    by_id = nodes(t)
    assert by_id["pve"]["kind"] == "hypervisor" and by_id["pve"]["compound"] is True
    assert by_id["pve/vmbr0"] == {**by_id["pve/vmbr0"], "kind": "bridge", "parent": "pve", "backend": "linux",
                                  "addresses": ["192.168.1.10/24"], "controller": None}
    assert "pve/@" not in by_id  # every link of pve ends on a port of vmbr0
    taps = [e for e in t["edges"] if e["source"] == "pve/vmbr0" and "tap" in e["classes"]]
    assert sorted(e["target"] for e in taps) == ["vm100", "vm101"]
    first = edge(t, "pve/vmbr0", "vm100")
    assert first["id"] == "link:0" and first["label"] == "tap100i0 — eth0"
    assert first["ends"][0] == {"node": "pve", "interface": "tap100i0", "addresses": [], "vlan": None, "trunk": None,
                                "bond": None, "tap": True, "impairment": None}
    assert first["ends"][1]["addresses"] == ["192.168.1.100/24"]
    assert by_id["vm100"]["kind"] == "vm" and by_id["vm100"]["parent"] is None  # guests stay outside
    assert by_id["lan"]["kind"] == "switch" and by_id["gw"]["kind"] == "router" and by_id["pc"]["kind"] == "host"
    # every edge joins leaf nodes only; parents come before their children
    leaves = {n["id"] for n in t["nodes"] if not n.get("compound")}
    assert all(e["source"] in leaves and e["target"] in leaves for e in t["edges"])
    order = [n["id"] for n in t["nodes"]]
    assert order.index("pve") < order.index("pve/vmbr0")
    assert [c["from"] for c in t["checks"]][:2] == ["vm100", "pc"] and t["checks"][0]["ok"] is None
    json.dumps(t)  # plain JSON types only


def test_vlan_access_tags_trunks_and_the_bridges_vlan_device():
    t = example("proxmox-vlan")
    uplink = edge(t, "pve/vmbr0", "upstream")
    assert [e["trunk"] for e in uplink["ends"]] == [[10, 20], [10, 20]] and "trunk" in uplink["classes"]
    assert [e["vlan"] for e in edge(t, "pve/vmbr0", "vm101")["ends"]] == [20, None]
    assert [e["vlan"] for e in edge(t, "desk10", "upstream")["ends"]] == [None, 10]
    vmbr0 = nodes(t)["pve/vmbr0"]
    assert vmbr0["vlan_aware"] is True and "vlan-aware" in vmbr0["classes"]
    assert vmbr0["details"] == ["vmbr0.20 (VLAN 20) 10.0.0.2/24"]


def test_bond_members_start_at_the_bridge_and_name_their_bond():
    t = example("proxmox-bridged")
    members = [e for e in t["edges"] if "bond" in e["classes"]]
    assert [(e["source"], e["ends"][0]["interface"], e["ends"][0]["bond"]) for e in members] == [
        ("pve/vmbr0", "eno1", "bond0"), ("pve/vmbr0", "eno2", "bond0")]


def test_a_hypervisors_own_interface_starts_at_its_stack():
    t = example("docker-bridge")
    by_id = nodes(t)
    assert [n["id"] for n in t["nodes"] if n.get("parent") == "dockerhost"] == [
        "dockerhost/docker0", "dockerhost/br-app", "dockerhost/@"]
    assert by_id["dockerhost/@"]["kind"] == "stack" and by_id["dockerhost/@"]["addresses"] == ["192.0.2.10/24"]
    assert edge(t, "dockerhost/@", "client")["id"] == "link:3"
    assert edge(t, "c3", "dockerhost/br-app")["ends"][1]["interface"] == "veth-c3"


def test_ovs_switch_and_its_controller_are_marked():
    sw = nodes(example("sdn-controller"))["sw"]
    assert sw["kind"] == "switch" and sw["backend"] == "ovs" and sw["controller"] == "builtin"
    assert {"ovs", "controller"} <= set(sw["classes"])
    plain = nodes(example("red-blue"))["sw"]
    assert plain["backend"] == "linux" and "ovs" not in plain["classes"]


def test_the_live_backend_overrides_auto():
    spec = load_lab(EXAMPLES / "red-blue.yaml")
    sw = nodes(topology_of(spec, {"backends": {"sw/br0": "ovs"}}))["sw"]
    assert sw["backend"] == "ovs" and "ovs" in sw["classes"]


def test_two_tenants_same_addresses_two_switches():
    t = example("tenants")
    assert {(e["source"], e["target"]) for e in t["edges"]} == {
        ("a1", "swa"), ("a2", "swa"), ("b1", "swb"), ("b2", "swb")}


@pytest.fixture(scope="module")
def three_tier():
    return load_lab_text(three_tier_yaml("b3t1000", 1000, 10, 20), "b3t.yaml")


def test_a_thousand_hosts_fold_into_one_group_per_switch(three_tier):
    t = topology_of(three_tier)
    by_id = nodes(t)
    groups = [n for n in t["nodes"] if n["kind"] == "group"]
    assert len(groups) == 10 and t["collapsed"]["groups"] == 10 and t["collapsed"]["threshold"] == 20
    d1 = by_id["group:d1"]
    assert d1["label"] == "100 hosts" and d1["count"] == 100 and d1["members"][:2] == ["h1", "h2"]
    assert "h1" not in by_id and t["collapsed"]["folded"]["h1"] == "group:d1"
    link = next(e for e in t["edges"] if e["target"] == "group:d1")
    assert link["id"] == "links:d1" and link["source"] == "d1" and len(link["members"]) == 100
    assert len(t["nodes"]) == 24 and len(t["edges"]) == 23  # inet, edge, c1, c2, 10 switches, 10 groups
    ids = [n["id"] for n in t["nodes"]] + [e["id"] for e in t["edges"]]
    assert len(ids) == len(set(ids))  # cytoscape needs node and edge ids apart


def test_expand_draws_every_host_and_threshold_decides(three_tier):
    t = topology_of(three_tier, expand=True)
    assert len(t["nodes"]) == 1014 and t["collapsed"]["groups"] == 0 and not any(
        n["kind"] == "group" for n in t["nodes"])
    assert topology_of(three_tier, threshold=100)["collapsed"]["groups"] == 0  # 100 hosts each: not over 100
    assert topology_of(three_tier, threshold=99)["collapsed"]["groups"] == 10


def test_hosts_of_a_failed_check_stay_unfolded(three_tier):
    last = {"at": "2026-12-02T16:00:00Z", "results": [{"index": 4, "ok": False, "observed": "no-reach", "detail": ""}]}
    t = topology_of(three_tier, {"checks": last})
    by_id = nodes(t)
    assert by_id["h5"]["kind"] == "host" and "check-failed" in by_id["h5"]["classes"]
    assert by_id["group:d1"]["count"] == 99 and "h5" not in by_id["group:d1"]["members"]
    assert t["checks"][4]["ok"] is False and t["checks"][4]["at"] == "2026-12-02T16:00:00Z"
    assert t["checks"][0]["ok"] is None


def test_live_state_cut_impaired_down_and_checks():
    spec = load_lab(EXAMPLES / "proxmox-tap.yaml")
    live = {"cut": ["vm100:eth0"], "impaired": {"pc:eth0": {"text": "delay 20ms", "mechanism": "netem"}},
            "up": {"pve:tap101i0": True, "vm101:eth0": False, "gw:eth0": True, "lan:p2": True},
            "checks": {"at": "2026-12-02T16:00:00Z", "results": [
                {"index": 0, "ok": False, "observed": "no-reach", "detail": "timeout"},
                {"index": 1, "ok": True, "observed": "reach", "detail": ""}]}}
    t = topology_of(spec, live)
    assert t["live"] is True
    cut = edge(t, "pve/vmbr0", "vm100")
    assert cut["state"] == {"cut": True, "up": False, "impaired": None} and "cut" in cut["classes"]
    slow = edge(t, "pc", "lan")
    assert slow["state"]["impaired"] == {"pc:eth0": {"text": "delay 20ms", "mechanism": "netem"}}
    assert "impaired" in slow["classes"] and slow["state"]["up"] is None  # no oper state given
    down = edge(t, "pve/vmbr0", "vm101")
    assert down["state"]["up"] is False and "down" in down["classes"] and "cut" not in down["classes"]
    assert edge(t, "gw", "lan")["state"] == {"cut": False, "up": True, "impaired": None}
    by_id = nodes(t)
    assert "check-failed" in by_id["vm100"]["classes"] and "check-passed" in by_id["pc"]["classes"]
    assert by_id["vm100"]["checks"] == {"passed": 0, "failed": 1}
    assert [c["ok"] for c in t["checks"]][:3] == [False, True, None]


def test_file_impairments_are_on_the_ends():
    spec = load_lab(EXAMPLES / "wan-impairments.yaml")
    t = topology_of(spec)
    impaired = [e for e in t["edges"] if "impaired" in e["classes"]]
    assert impaired and all(any(end["impairment"] for end in e["ends"]) for e in impaired)


def test_state_checks_name_their_node_and_probe_targets_their_node():
    spec = load_lab_text("""
lab: st
nodes:
  a: {interfaces: {eth0: {address: 10.0.0.1/24}}}
  b: {interfaces: {eth0: {address: 10.0.0.2/24}}}
links: [[a:eth0, b:eth0]]
checks:
  - {from: a, to: "b:22", proto: tcp, expect: closed}
  - {node: b, sysctl: {net.ipv4.ip_forward: 0}}
""", "st.yaml")
    probe, state = topology_of(spec)["checks"]
    assert (probe["kind"], probe["from"], probe["to"], probe["to_node"], probe["node"]) == ("tcp", "a", "b:22", "b", None)
    assert (state["kind"], state["from"], state["node"]) == ("sysctl", None, "b")


def test_vlan_devices_as_bridge_ports_put_their_parents_cable_on_the_bridge():
    # Proxmox's traditional VLAN mode: eno1.10 is the port of vmbr0v10, so eno1's cable joins that bridge
    spec = load_lab_text("""
lab: pvetrad
nodes:
  pve:
    interfaces:
      eno1: {}
      eno1.10: {type: vlan}
      eno1.20: {type: vlan}
      vmbr0v10: {type: bridge, ports: [eno1.10, tap100i0]}
      vmbr0v20: {type: bridge, ports: [eno1.20]}
      tap100i0: {type: tap}
  vm100: {kind: vm, interfaces: {eth0: {address: 10.0.10.100/24}}}
  sw: {kind: switch, vlan_aware: true, interfaces: {p1: {trunk: [10, 20]}}}
links:
  - [pve:eno1, sw:p1]
  - [pve:tap100i0, vm100:eth0]
""", "pvetrad.yaml")
    t = topology_of(spec)
    uplink = edge(t, "pve/vmbr0v10", "sw")
    assert uplink["ends"][0]["trunk"] == [10, 20] and "pve/@" not in nodes(t)


def test_many_vms_on_one_bridge_fold_into_a_group_beside_the_hypervisor():
    vms = 25
    text = ["lab: many", "nodes:", "  pve:", "    interfaces:",
            f"      vmbr0: {{type: bridge, ports: [{', '.join(f'tap{i}i0' for i in range(vms))}]}}"]
    text += [f"      tap{i}i0: {{type: tap}}" for i in range(vms)]
    text += [f"  vm{i}: {{kind: vm, interfaces: {{eth0: {{address: 10.0.0.{i + 10}/24}}}}}}" for i in range(vms)]
    text += ["links:"] + [f"  - [pve:tap{i}i0, vm{i}:eth0]" for i in range(vms)]
    t = topology_of(load_lab_text("\n".join(text) + "\n", "many.yaml"))
    group = nodes(t)["group:pve/vmbr0"]
    assert group["label"] == "25 VMs" and group["parent"] is None and group["count"] == vms
    assert [e["id"] for e in t["edges"]] == ["links:pve/vmbr0"]
    assert len(topology_of(load_lab_text("\n".join(text) + "\n", "many.yaml"), expand=True)["edges"]) == vms


def test_a_check_aimed_at_an_address_names_its_node_unless_two_share_it():
    checks = {c["to"]: c["to_node"] for c in example("tenants")["checks"]}
    assert checks["192.168.1.30"] == "b2" and checks["192.168.1.20"] == "a2"
    assert checks["192.168.1.10"] is None  # a1 and b1 both hold it
    assert checks["a2"] == "a2"
