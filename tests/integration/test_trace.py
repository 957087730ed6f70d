"""`vnetlab trace` and traced checks on the real kernel: bridge, router, NAT,
nft policy drop and reject, missing route, missing ARP neighbour; the lab's
ruleset is byte-identical before and after a trace."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import VNETLAB, cli, copy_example, lab_namespaces
from vnetlab.host import run, state
from vnetlab.lab import Lab
from vnetlab.probe.trace import ANSWERED, DROPPED, LOST, REFUSED, trace

pytestmark = pytest.mark.integration

ROUTED = """
lab: trcone
nodes:
  a:
    interfaces: {eth0: {address: 10.61.1.10/24}}
    routes: [{to: default, via: 10.61.1.1}]
  c:
    interfaces: {eth0: {address: 10.61.1.11/24}}
  sw: {kind: switch}
  r:
    kind: router
    interfaces: {eth0: {address: 10.61.1.1/24}, eth1: {address: 10.61.2.1/24}}
  b:
    interfaces: {eth0: {address: 10.61.2.10/24}}
    routes: [{to: default, via: 10.61.2.1}]
    services: [{listen: tcp/22}, {listen: tcp/80}]
    firewall:
      input:
        policy: drop
        rules:
          - {action: accept, proto: tcp, port: 22, from: 10.61.9.0/24, comment: ssh from admins}
          - {action: accept, proto: tcp, port: 80}
          - {action: accept, proto: icmp}
          - {action: reject, proto: tcp, port: 23}
links:
  - [a:eth0, sw:p1]
  - [c:eth0, sw:p2]
  - [r:eth0, sw:p3]
  - [r:eth1, b:eth0]
checks:
  - {from: a, to: b, expect: reach, via: [sw, r]}
  - {from: a, to: b, expect: reach, via: [c]}
  - {from: a, to: "b:22", proto: tcp, expect: filtered, dropped_by: b}
  - {from: a, to: "b:22", proto: tcp, expect: filtered, dropped_by: r}
  - {from: a, to: "b:23", proto: tcp, expect: closed, dropped_by: b}
"""

NAT = """
lab: trcnat
nodes:
  vm:
    interfaces: {eth0: {address: 10.62.1.10/24}}
    routes: [{to: default, via: 10.62.1.1}]
  gw:
    kind: router
    interfaces: {eth0: {address: 10.62.1.1/24}, eth1: {address: 203.0.113.10/24}}
    nat:
      masquerade: [{source: 10.62.1.0/24, out: eth1}]
  web:
    interfaces: {eth0: {address: 203.0.113.80/24}}
    services: [{listen: tcp/80}]
links:
  - [vm:eth0, gw:eth0]
  - [gw:eth1, web:eth0]
"""


def _lab(tmp_path, text: str, name: str):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    lab = Lab.load(path)
    lab.up()
    return lab, str(path)


@pytest.fixture
def routed(tmp_path):
    # One lab per test (it takes ~0.3 s): the host guard sees no lab before or after.
    lab, path = _lab(tmp_path, ROUTED, "trcone")
    try:
        yield lab, path
    finally:
        lab.down()
    assert lab_namespaces("trcone") == []


def _trace(lab, src, dst, **kwargs):
    return trace(lab.spec, lab.namespace_of, src, dst, **kwargs)


def _hop(leg, node):
    return next(hop for hop in leg.hops if hop.node == node)


def test_bridge_hop_names_the_port_the_fdb_chose(routed):
    lab, _ = routed
    result = _trace(lab, "a", "c")
    assert result.result == ANSWERED and result.by == "c"
    assert result.forward.nodes == ["a", "sw", "c"]
    sw = _hop(result.forward, "sw")
    assert [(s["dir"], s["interface"]) for s in sw.seen] == [("in", "p1"), ("out", "p2")]
    assert sw.bridges[0]["bridge"] == "br0" and sw.bridges[0]["ports"] == ["p2"]
    assert sw.bridges[0]["decision"] == "fdb" and sw.bridges[0]["port"] == "p2"
    assert result.reply.nodes == ["c", "sw", "a"]


def test_router_hop_shows_the_route_of_the_forwarded_packet(routed):
    lab, _ = routed
    result = _trace(lab, "a", "b")
    assert result.result == ANSWERED and result.by == "b"
    assert result.forward.nodes == ["a", "sw", "r", "b"]
    r = _hop(result.forward, "r")
    assert r.route["text"] == "route 10.61.2.0/24 dev eth1"
    assert r.route["command"] == "ip route get 10.61.2.10 from 10.61.1.10 iif eth0"
    assert _hop(result.forward, "a").route["text"] == "route default via 10.61.1.1 dev eth0"
    assert _hop(result.forward, "b").route["kind"] == "local"
    assert result.reply.nodes == ["b", "r", "sw", "a"]
    assert _hop(result.reply, "r").route["text"] == "route 10.61.1.0/24 dev eth0"


def test_policy_drop_is_named_and_ruleset_is_byte_identical(routed):
    lab, _ = routed
    ns = lab.namespace_of("b")
    before = run.run(ns, ["nft", "list", "ruleset"], capture_output=True, check=True).stdout
    result = _trace(lab, "a", "b:22", proto="tcp")
    after = run.run(ns, ["nft", "list", "ruleset"], capture_output=True, check=True).stdout
    assert after == before and b"vnetlab_trace" not in after
    assert result.result == DROPPED and result.by == "b"
    assert "dropped by table inet vnetlab chain input policy drop" in result.reason
    assert result.forward.nodes == ["a", "sw", "r", "b"] and result.reply is None
    assert "nft: dropped by table inet vnetlab chain input policy drop" in _hop(result.forward, "b").tokens


def test_reject_is_refused_by_the_rejecting_node(routed):
    lab, _ = routed
    result = _trace(lab, "a", "b:23", proto="tcp")
    assert result.result == REFUSED and result.by == "b"
    assert "ICMP port unreachable from 10.61.2.10" in result.reason
    assert "refused by rule 'tcp dport 23 reject'" in result.reason
    assert result.reply.nodes == ["b", "r", "sw", "a"]


def test_accepting_rule_is_named(routed):
    lab, _ = routed
    result = _trace(lab, "a", "b:80", proto="tcp")
    assert result.result == ANSWERED
    assert "accepted by rule 'tcp dport 80 accept' (table inet vnetlab chain input)" in _hop(result.forward, "b").nft


def test_missing_route_on_a_router_is_named(routed):
    lab, _ = routed
    result = _trace(lab, "a", "10.61.7.7")
    assert result.result == DROPPED and result.by == "r"
    assert "no route to 10.61.7.7 (Network is unreachable)" in result.reason
    assert _hop(result.forward, "r").route["ok"] is False
    assert result.forward.nodes == ["a", "sw", "r"]


def test_missing_route_at_the_source(routed):
    lab, _ = routed
    result = _trace(lab, "c", "b")
    assert result.result == DROPPED and result.by == "c"
    assert result.reason == "dropped at c: no route to 10.61.2.10 (Network is unreachable)"


def test_missing_arp_neighbour_is_lost_with_last_place_seen(routed):
    lab, _ = routed
    result = _trace(lab, "a", "10.61.2.99")
    assert result.result == LOST and result.last_seen == "[r eth0]"
    assert "no answer to ARP who-has 10.61.2.99 (asked by [r eth1])" in result.reason
    assert result.forward.nodes == ["a", "sw", "r"]


def test_via_and_dropped_by_checks_pass_and_fail_correctly(routed):
    _, path = routed
    done = cli("check", path, "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert [r["ok"] for r in report["results"]] == [True, False, True, False, True], report
    assert "did not pass c" in report["results"][1]["detail"]
    assert "expected it dropped by r" in report["results"][3]["detail"]


def test_cli_trace_json_and_exit_codes(routed):
    _, path = routed
    answered = cli("trace", "trcone", "a", "b", "--json")
    assert answered.returncode == 0, answered.stderr
    data = json.loads(answered.stdout)
    assert data["result"] == "answered" and data["forward"]["nodes"] == ["a", "sw", "r", "b"]
    assert data["path"].startswith("route default via 10.61.1.1 dev eth0 -> [a eth0] -> [sw p1]")
    dropped = cli("trace", path, "a", "b:22", "--proto", "tcp")
    assert dropped.returncode == 1
    assert "dropped at b" in dropped.stdout.splitlines()[1]
    assert cli("trace", "trcone", "a", "nosuch").returncode == 2


def test_nat_shows_addresses_before_and_after(tmp_path):
    lab, _ = _lab(tmp_path, NAT, "trcnat")
    try:
        result = _trace(lab, "vm", "web:80", proto="tcp")
    finally:
        lab.down()
    assert lab_namespaces("trcnat") == []
    assert result.result == ANSWERED and result.forward.nodes == ["vm", "gw", "web"]
    gw = _hop(result.forward, "gw")
    port = result.marker
    assert gw.seen[0]["src"] == f"10.62.1.10:{port}" and gw.seen[-1]["src"] == f"203.0.113.10:{port}"
    assert gw.nat == [f"SNAT 10.62.1.10:{port} -> 203.0.113.10:{port}"]
    assert gw.conntrack == [f"original 10.62.1.10:{port} > 203.0.113.80:80, "
                            f"reply 203.0.113.80:80 > 203.0.113.10:{port}"]
    assert any("masquerade" in verdict for verdict in gw.nft)
    assert _hop(result.forward, "web").seen[0]["src"] == f"203.0.113.10:{port}"
    assert _hop(result.reply, "gw").nat == [f"reverse NAT dst 203.0.113.10:{port} -> 10.62.1.10:{port}"]


def test_ovs_flow_drop_names_the_flow(tmp_path):
    lab = Lab.load(copy_example(tmp_path, "ovs-bad-neighbor.yaml", lab="trcovs"))
    lab.up()
    try:
        dropped = _trace(lab, "mallory", "alice")
        passed = _trace(lab, "alice", "bob:80", proto="tcp")
    finally:
        lab.down()
    assert lab_namespaces("trcovs") == []
    assert (dropped.result, dropped.by) == (DROPPED, "sw")
    assert dropped.forward.nodes == ["mallory", "sw"]
    assert dropped.reason == "dropped by OVS br0 flow 'table 0: ip,nw_src=10.0.0.66, priority 100 -> drop' at sw"
    assert passed.result == ANSWERED and passed.forward.nodes == ["alice", "sw", "bob"]
    switch = _hop(passed.forward, "sw")
    assert [(s["dir"], s["interface"]) for s in switch.seen] == [("in", "p1"), ("out", "p2")]
    assert switch.route is None and switch.ovs[0].startswith("OVS br0 flow 'table 0: priority 0 -> NORMAL")


def test_a_killed_trace_leaves_drift_that_up_removes(routed):
    lab, path = routed
    ns = lab.namespace_of("b")  # the only node with a ruleset: the trace adds its table there

    def ruleset() -> bytes:
        return run.run(ns, ["nft", "list", "ruleset"], capture_output=True, check=True).stdout

    before = ruleset()
    assert cli("status", lab.name, "--check-drift").returncode == 0
    # b drops a -> b:22, so the trace keeps its table for the whole --timeout.
    tracer = subprocess.Popen([*VNETLAB, "trace", lab.name, "a", "b:22", "--proto", "tcp", "--timeout", "30"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while b"vnetlab_trace_" not in ruleset():
            assert tracer.poll() is None and time.monotonic() < deadline, tracer.stderr.read()
            time.sleep(0.05)
        live = cli("status", lab.name, "--check-drift")
        assert live.returncode == 0, live.stdout  # a trace in progress owns its table: no drift
        tracer.kill()
        tracer.wait(10)
    finally:
        if tracer.poll() is None:
            tracer.kill()
            tracer.wait()
    assert tracer.returncode == -signal.SIGKILL
    left = ruleset()
    table = re.search(rb"table inet (vnetlab_trace_[0-9a-f]+)", left).group(1).decode()

    status = json.loads(cli("status", lab.name, "--json").stdout)
    assert [(d["kind"], d["node"], d["message"]) for d in status["drift"]] == [
        ("trace-table", "b", f"b: nft table inet {table} left behind by a trace that was killed")]
    assert status["drift"][0]["commands"] == [["nft", "delete", "table", "inet", table]]
    assert cli("status", lab.name, "--check-drift").returncode == 1

    up = cli("up", path, check=True)
    assert f"- b: nft table inet {table} left behind by a trace that was killed" in up.stdout
    assert ruleset() == before  # only the trace's table went; the lab's own is byte-identical
    assert cli("status", lab.name, "--check-drift").returncode == 0
    assert os.listdir(os.path.join(state.lab_dir(lab.name), "traces")) == []  # its record went with it
