"""Convergence and drift on the real kernel.

A changed file re-applied with ``vnetlab up`` changes exactly the objects
that changed (every other interface keeps its ifindex and MAC, an open TCP
connection keeps working); a hand-made change shows in ``vnetlab status``
and ``vnetlab up`` repairs exactly it; ``up --restore`` rebuilds after a
simulated reboot.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import socket
import subprocess

import pytest
import yaml

from conftest import cli, lab_namespaces
from vnetlab.host import netns, state
from vnetlab.lab import Lab
from vnetlab.observe.drift import drift
from vnetlab.observe.snapshot import read_namespace
from vnetlab.observe.status import node_services

BASE = {
    "nodes": {
        "a": {"interfaces": {"eth0": {"address": "10.61.0.1/24"}},
              "routes": [{"to": "10.69.0.0/24", "via": "10.61.0.254"}]},
        "b": {"interfaces": {"eth0": {"address": "10.61.0.2/24"}},
              "services": [{"listen": "tcp/80"}]},
        "sw": {"kind": "switch"},
    },
    "links": [["a:eth0", "sw:p1"], ["b:eth0", "sw:p2"]],
}


def write_lab(tmp_path, lab: str, body: dict) -> str:
    path = tmp_path / f"{lab}.yaml"
    path.write_text(yaml.safe_dump({"lab": lab, **body}, sort_keys=False))
    return str(path)


def interfaces(lab: str) -> dict[tuple[str, str], tuple[int, str]]:
    """(node, ifname) -> (ifindex, MAC) for every interface of the lab.

    A bridge without a MAC in the file takes the lowest MAC of its ports
    (kernel behaviour), so its MAC changes with its port set while the
    device stays: for bridges only the ifindex is compared."""
    found = {}
    for ns in lab_namespaces(lab):
        for link in read_namespace(ns)["links"]:
            mac = None if link["kind"] == "bridge" else link["mac"]
            found[(ns.removeprefix(f"{lab}-"), link["name"])] = (link["index"], mac)
    return found


def node_state(lab: str, node: str) -> dict:
    return read_namespace(f"{lab}-{node}")


def addresses(lab: str, node: str, ifname: str) -> list[str]:
    for link in node_state(lab, node)["links"]:
        if link["name"] == ifname:
            return link["addresses"]
    raise AssertionError(f"{node} has no {ifname}")


def drift_of(lab: str) -> list[dict]:
    """What ``vnetlab status --json`` lists under "drift" (read in-process: faster)."""
    return [change.to_dict(lab) for change in drift(lab).changes]


def assert_unchanged_except(before: dict, after: dict, changed: set) -> None:
    for key, value in before.items():
        if key in changed:
            continue
        assert key in after, f"{key} disappeared"
        assert after[key] == value, f"{key} was re-created (ifindex/MAC {value} -> {after[key]})"


def nft_table(lab: str, node: str) -> str:
    return subprocess.run(["ip", "netns", "exec", f"{lab}-{node}", "nft", "list", "table", "inet", "vnetlab"],
                          capture_output=True, text=True).stdout


def services_of(lab: str, node: str) -> list[dict]:
    """What ``vnetlab status --json`` lists as the node's services."""
    return node_services(state.lab_dir(lab)).get(node, [])


def _add_node(body):
    body["nodes"]["c"] = {"interfaces": {"eth0": {"address": "10.61.0.3/24"}}}
    body["links"].append(["c:eth0", "sw:p3"])
    return {("c", "lo"), ("c", "eth0"), ("sw", "p3")}


def _remove_node(body):
    del body["nodes"]["b"]
    body["links"].remove(["b:eth0", "sw:p2"])
    return {("b", "lo"), ("b", "eth0"), ("sw", "p2")}


def _add_link(body):
    body["nodes"]["a"]["interfaces"]["eth1"] = {"address": "10.62.0.1/24"}
    body["links"].append(["a:eth1", "sw:p9"])
    return {("a", "eth1"), ("sw", "p9")}


def _change_address(body):
    body["nodes"]["a"]["interfaces"]["eth0"]["address"] = "10.61.0.11/24"
    return set()


def _add_route(body):
    body["nodes"]["b"]["routes"] = [{"to": "10.70.0.0/24", "via": "10.61.0.253"}]
    return set()


def _add_firewall(body):
    body["nodes"]["b"]["firewall"] = {"input": {"policy": "accept", "rules": [
        {"action": "drop", "proto": "tcp", "port": 23, "comment": "cvtest"}]}}
    return set()


def _add_service(body):
    body["nodes"]["a"]["services"] = [{"listen": "udp/53"}]
    return set()


def _check_add_node(lab):
    assert f"{lab}-c" in lab_namespaces(lab)
    assert addresses(lab, "c", "eth0") == ["10.61.0.3/24"]


def _check_remove_node(lab):
    assert f"{lab}-b" not in lab_namespaces(lab)
    assert f"{lab}-b" not in state.Journal(lab).read().namespaces
    assert "p2" not in [link["name"] for link in node_state(lab, "sw")["links"]]
    assert "b" not in services_of_all(lab)


def services_of_all(lab: str) -> dict:
    return node_services(state.lab_dir(lab))


def _check_add_link(lab):
    assert addresses(lab, "a", "eth1") == ["10.62.0.1/24"]
    assert [link["master"] for link in node_state(lab, "sw")["links"] if link["name"] == "p9"] == ["br0"]


def _check_change_address(lab):
    assert addresses(lab, "a", "eth0") == ["10.61.0.11/24"]


def _check_add_route(lab):
    assert [r["to"] for r in node_state(lab, "b")["routes"] if r["via"]] == ["10.70.0.0/24"]


def _check_add_firewall(lab):
    assert "cvtest" in nft_table(lab, "b")


def _check_add_service(lab):
    assert [s["listen"] for s in services_of(lab, "a") if s["running"]] == ["udp/53"]


CHANGES = {
    "add-node": (_add_node, _check_add_node),
    "remove-node": (_remove_node, _check_remove_node),
    "add-link": (_add_link, _check_add_link),
    "address": (_change_address, _check_change_address),
    "add-route": (_add_route, _check_add_route),
    "firewall": (_add_firewall, _check_add_firewall),
    "add-service": (_add_service, _check_add_service),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_changed_file_converges_touching_only_what_changed(tmp_path, change):
    lab = f"cv{list(CHANGES).index(change)}"
    path = write_lab(tmp_path, lab, BASE)
    try:
        cli("up", path, check=True)
        before = interfaces(lab)
        body = copy.deepcopy(BASE)
        touched = CHANGES[change][0](body)
        write_lab(tmp_path, lab, body)
        planned = json.loads(cli("plan", path, "--format", "json", check=True).stdout)
        assert planned["running"] is True and planned["changes"], "plan shows no difference"
        assert all(not c["drift"] for c in planned["changes"]), planned["changes"]
        cli("up", path, check=True)
        CHANGES[change][1](lab)
        assert_unchanged_except(before, interfaces(lab), touched)
        again = Lab.load(path)  # the Python API from here on (the same code, no process start)
        assert again.up().changed == [] and again.last_diff.changes == []
        # And back (the opposite change): the original file converges the lab back.
        write_lab(tmp_path, lab, BASE)
        Lab.load(path).up()
        assert drift_of(lab) == []
        back = interfaces(lab)
        assert_unchanged_except(before, back, touched)
        assert set(back) == set(before) | {k for k in touched if k in back}
        assert addresses(lab, "a", "eth0") == ["10.61.0.1/24"]
        assert [r["to"] for r in node_state(lab, "a")["routes"] if r["via"]] == ["10.69.0.0/24"]
        assert [r for r in node_state(lab, "b")["routes"] if r["via"]] == []
        assert [s["listen"] for s in services_of(lab, "b")] == ["tcp/80"]
        assert services_of(lab, "a") == [] and nft_table(lab, "b") == ""
    finally:
        cli("down", lab)
    assert lab_namespaces(lab) == []


def test_removed_firewall_and_veth_peer_change(tmp_path):
    lab = "cvfw"
    body = copy.deepcopy(BASE)
    _add_firewall(body)
    path = write_lab(tmp_path, lab, body)
    try:
        cli("up", path, check=True)
        assert "cvtest" in nft_table(lab, "b")
        before = interfaces(lab)
        body = copy.deepcopy(BASE)
        body["links"] = [["a:eth0", "sw:p1"], ["b:eth0", "sw:p7"]]  # b's cable moves to another port
        write_lab(tmp_path, lab, body)
        text = cli("plan", path, check=True).stdout
        assert "- b: nft table inet vnetlab removed" in text
        assert "ip -n cvfw-sw link del p2" in text
        cli("up", path, check=True)
        assert nft_table(lab, "b") == ""
        sw_ports = {link["name"]: link["master"] for link in node_state(lab, "sw")["links"]}
        assert "p2" not in sw_ports and sw_ports["p7"] == "br0"
        assert addresses(lab, "b", "eth0") == ["10.61.0.2/24"]
        assert_unchanged_except(before, interfaces(lab), {("sw", "p2"), ("b", "eth0")})
        assert drift_of(lab) == []
    finally:
        cli("down", lab)


def _listener_in(ns: str) -> socket.socket:
    with netns.entered(ns):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("10.61.0.2", 9461))
    server.listen(1)
    return server


def test_established_tcp_connection_survives_unrelated_change(tmp_path):
    lab = "cvtcp"
    path = write_lab(tmp_path, lab, BASE)
    try:
        cli("up", path, check=True)
        server = _listener_in(f"{lab}-b")
        with netns.entered(f"{lab}-a"):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.settimeout(5)
        server.settimeout(5)
        client.connect(("10.61.0.2", 9461))
        peer, _ = server.accept()
        peer.settimeout(5)
        client.sendall(b"before")
        assert peer.recv(100) == b"before"
        before = interfaces(lab)
        body = copy.deepcopy(BASE)
        touched = _add_node(body)
        body["nodes"]["b"]["routes"] = [{"to": "10.70.0.0/24", "via": "10.61.0.253"}]
        write_lab(tmp_path, lab, body)
        cli("up", path, check=True)
        client.sendall(b"after")
        assert peer.recv(100) == b"after"
        peer.sendall(b"reply")
        assert client.recv(100) == b"reply"
        assert_unchanged_except(before, interfaces(lab), touched)
        for sock in (client, peer, server):
            sock.close()
    finally:
        cli("down", lab)


def test_hand_made_changes_are_drift_and_up_repairs_exactly_them(tmp_path):
    lab = "cvdrift"
    body = copy.deepcopy(BASE)
    _add_firewall(body)
    path = write_lab(tmp_path, lab, body)
    try:
        cli("up", path, check=True)
        assert drift_of(lab) == []
        assert cli("status", lab, "--check-drift").returncode == 0
        before = interfaces(lab)

        def run(node, *argv):
            subprocess.run(["ip", "netns", "exec", f"{lab}-{node}", *argv], check=True)

        run("a", "ip", "addr", "del", "10.61.0.1/24", "dev", "eth0")
        run("a", "ip", "addr", "add", "10.61.0.99/24", "dev", "eth0")
        run("sw", "ip", "link", "set", "p2", "down")
        run("sw", "ip", "link", "set", "p1", "nomaster")
        run("b", "ip", "route", "add", "10.68.0.0/24", "via", "10.61.0.254")
        run("b", "nft", "add", "rule", "inet", "vnetlab", "input", "tcp", "dport", "24", "drop")
        run("b", "ip", "link", "add", "cvextra", "type", "veth", "peer", "name", "cvextra2")
        run("a", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        supervisor = json.loads(open(os.path.join(state.lab_dir(lab), "supervisor.pid")).read())["pid"]
        os.kill(supervisor, signal.SIGKILL)

        found = json.loads(cli("status", lab, "--json", check=True).stdout)["drift"]
        assert found == drift_of(lab)
        messages = {c["message"] for c in found}
        expected = {
            "a eth0: address 10.61.0.1/24 missing (removed by hand?)",
            "a eth0: extra address 10.61.0.99/24",
            "sw p2: down (expected up)",
            "sw p1: master none (expected br0)",
            "b: extra route 10.68.0.0/24 via 10.61.0.254",
            "b: nft table inet vnetlab changed by hand",
            "b cvextra: extra interface (veth)",
            "b cvextra2: extra interface (veth)",
            "a: sysctl net.ipv4.ip_forward = 1 (expected 0)",
            "b: service tcp/80 not running (stopped)",
        }
        assert expected <= messages, messages
        assert all(c["drift"] for c in found)
        assert cli("status", lab, "--check-drift").returncode == 1
        text = cli("status", lab, check=True).stdout
        assert "sw p2: down (expected up)" in text

        planned = cli("plan", path, check=True).stdout
        assert "ip -n cvdrift-b route del 10.68.0.0/24 via 10.61.0.254 dev eth0" in planned
        assert "ip -n cvdrift-sw link set p2 up" in planned

        cli("up", path, check=True)
        assert drift_of(lab) == []
        assert addresses(lab, "a", "eth0") == ["10.61.0.1/24"]
        assert "dport 24" not in nft_table(lab, "b") and "cvtest" in nft_table(lab, "b")
        assert [s["running"] for s in services_of(lab, "b")] == [True]
        after = interfaces(lab)
        assert ("b", "cvextra") not in after
        assert_unchanged_except(before, after, set())
        assert cli("check", lab).returncode == 0
    finally:
        cli("down", lab)


def _simulate_reboot(lab: str) -> None:
    """What a reboot does to a lab: its processes and namespaces are gone."""
    rundir = state.lab_dir(lab)
    pid = json.loads(open(os.path.join(rundir, "supervisor.pid")).read())["pid"]
    os.kill(pid, signal.SIGKILL)
    for ns in lab_namespaces(lab):
        netns.delete(ns)


@pytest.mark.parametrize("run_state", ["stale", "gone"])
def test_up_restore_after_reboot(tmp_path, run_state):
    lab = f"cvrest{run_state[0]}"
    path = write_lab(tmp_path, lab, BASE)
    try:
        cli("up", path, check=True)
        _simulate_reboot(lab)
        if run_state == "gone":
            shutil.rmtree(state.lab_dir(lab))
            os.unlink(state.lock_path(lab))
        else:
            assert {c["message"] for c in drift_of(lab)} >= {"a: namespace missing", "b: namespace missing"}
        cli("up", "--restore", path, check=True)
        assert sorted(lab_namespaces(lab)) == sorted(f"{lab}-{n}" for n in ("a", "b", "sw"))
        assert sorted(state.Journal(lab).read().namespaces) == sorted(lab_namespaces(lab))
        assert drift_of(lab) == []
        assert addresses(lab, "a", "eth0") == ["10.61.0.1/24"]
        assert [s["running"] for s in services_of(lab, "b")] == [True]
    finally:
        cli("down", lab)
    assert lab_namespaces(lab) == []


OVS_LAB = {
    "nodes": {
        "sw": {"kind": "switch", "backend": "ovs", "vlan_aware": True,
               "flows": ["priority=100,ip,nw_src=10.61.0.66,actions=drop", "priority=0,actions=NORMAL"]},
        "a": {"interfaces": {"eth0": {"address": "10.61.0.1/24"}}},
        "b": {"interfaces": {"eth0": {"address": "10.61.0.2/24"}}},
        "m": {"interfaces": {"eth0": {"address": "10.61.0.66/24"}}},
    },
    "links": [["a:eth0", "sw:p1"], ["b:eth0", "sw:p2"], ["m:eth0", "sw:p3"]],
}


def ovs(lab: str, *argv: str) -> str:
    return cli("exec", lab, "sw", "--", *argv, check=True).stdout


def test_ovs_vlan_flow_and_port_changes_converge(tmp_path):
    lab = "cvovs"
    path = write_lab(tmp_path, lab, OVS_LAB)
    try:
        cli("up", path, check=True)
        before = interfaces(lab)
        # The file changes: m goes to VLAN 30 instead of being dropped by a flow.
        body = copy.deepcopy(OVS_LAB)
        body["nodes"]["sw"]["flows"] = ["priority=0,actions=NORMAL"]
        body["nodes"]["sw"]["interfaces"] = {"p3": {"vlan": 30}}
        write_lab(tmp_path, lab, body)
        planned = {c["message"] for c in json.loads(cli("plan", path, "--format", "json", check=True).stdout)["changes"]}
        assert planned == {"sw: OVS port br0 p3: tag=- trunks=- (expected tag=30 trunks=-)",
                           "sw: OpenFlow table of br0 differs (0 to add, 1 to remove)"}
        cli("up", path, check=True)
        assert "10.61.0.66" not in ovs(lab, "ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "br0")
        assert ovs(lab, "ovs-vsctl", "get", "port", "p3", "tag").strip() == "30"
        assert_unchanged_except(before, interfaces(lab), set())
        assert drift_of(lab) == []
        # Hand-made: a VLAN tag and a flow.
        ovs(lab, "ovs-vsctl", "set", "port", "p1", "tag=99")
        ovs(lab, "ovs-ofctl", "-O", "OpenFlow13", "add-flow", "br0", "priority=50,arp,actions=drop")
        assert {c["message"] for c in drift_of(lab)} == {
            "sw: OVS port br0 p1: tag=99 trunks=- (expected tag=- trunks=-)",
            "sw: OpenFlow table of br0 differs (0 to add, 1 to remove)"}
        cli("up", path, check=True)
        assert drift_of(lab) == []
        assert "arp" not in ovs(lab, "ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "br0")
        # A node removed from the file takes its OVS port along.
        body["nodes"].pop("m")
        body["nodes"]["sw"]["interfaces"] = {}
        body["links"].remove(["m:eth0", "sw:p3"])
        write_lab(tmp_path, lab, body)
        cli("up", path, check=True)
        assert ovs(lab, "ovs-vsctl", "list-ports", "br0").split() == ["p1", "p2"]
        assert_unchanged_except(before, interfaces(lab), {("m", "lo"), ("m", "eth0"), ("sw", "p3")})
        assert drift_of(lab) == []
    finally:
        cli("down", lab)
    assert lab_namespaces(lab) == []


def test_failed_command_service_is_drift_and_up_restarts_only_it(tmp_path):
    import time

    lab = "cvsvc"
    flag = tmp_path / "broken"
    # Runs until the flag appears, then exits at once, run after run (a service that exits at once
    # when `up` starts it fails that `up`: it has to break later).
    command = ["sh", "-c", f"while test ! -e {flag}; do sleep 0.05; done; exit 1"]
    path = write_lab(tmp_path, lab, {"nodes": {"a": {"services": [{"listen": "tcp/80"}, {"command": command}]}}})
    try:
        cli("up", path, check=True)
        flag.write_text("")
        deadline = time.monotonic() + 20  # three quick restarts (0.5 + 1 + 2 s), then it gives up
        while services_of(lab, "a")[1]["state"] != "failed" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [c["message"] for c in drift_of(lab)] == [
            f"a: service {' '.join(command)} not running (failed)"]
        supervisor = services_of(lab, "a")[0]["pid"]
        flag.unlink()
        cli("up", path, check=True)
        listed = services_of(lab, "a")
        assert [s["running"] for s in listed] == [True, True]
        assert listed[0]["pid"] == supervisor  # the supervisor (and its listener) stayed
        assert drift_of(lab) == []
    finally:
        cli("down", lab)
