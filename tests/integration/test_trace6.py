"""`vnetlab trace` over IPv6 on the real kernel, on the dual-stack example:
ICMPv6 echo through a router, TCP refused (RST and reject), UDP, a drop by a
named rule in an inet chain and in an ip6 table, missing routes, a neighbour
solicitation nobody answers, NAT66, an OVS flow; traced checks over IPv6;
the lab's ruleset is byte-identical after an IPv6 trace."""

from __future__ import annotations

import json

import pytest

from conftest import cli, copy_example, lab_namespaces
from vnetlab.host import run
from vnetlab.executors.nftables import run_nft
from vnetlab.lab import Lab
from vnetlab.probe.trace import ANSWERED, DROPPED, LOST, REFUSED, trace

pytestmark = pytest.mark.integration

LAB = "trcsix"
A, B, ROUTER_LAN = "fd71:1::10", "fd71:2::10", "fd71:1::1"

NAT66 = """
lab: trcnat6
nodes:
  vm:
    interfaces: {eth0: {address: "fd72:1::10/64"}}
    routes: [{to: default, via: "fd72:1::1"}]
  gw:
    kind: router
    interfaces: {eth0: {address: "fd72:1::1/64"}, eth1: {address: "2001:db8:72::1/64"}}
    nat:
      masquerade: [{source: "fd72:1::/64", out: eth1}]
  web:
    interfaces: {eth0: {address: "2001:db8:72::80/64"}}
    services: [{listen: tcp/80}]
links:
  - [vm:eth0, gw:eth0]
  - [gw:eth1, web:eth0]
"""

OVS6 = """
lab: trcovs6
nodes:
  sw:
    kind: switch
    backend: ovs
    flows:
      - priority=110,icmp6,icmpv6_type=135,actions=NORMAL   # neighbour discovery passes
      - priority=110,icmp6,icmpv6_type=136,actions=NORMAL
      - priority=100,ipv6,ipv6_src=fd73::66,actions=drop
      - priority=0,actions=NORMAL
  alice:
    interfaces: {eth0: {address: "fd73::1/64"}}
  bob:
    interfaces: {eth0: {address: "fd73::2/64"}}
    services: [{listen: tcp/80}]
  mallory:
    interfaces: {eth0: {address: "fd73::66/64"}}
links:
  - [alice:eth0, sw:p1]
  - [bob:eth0, sw:p2]
  - [mallory:eth0, sw:p3]
"""

# Checks that must fail, added to the example's own (which all pass).
WRONG_CHECKS = """\
  - {from: a, to: "fd71:2::10", expect: reach, via: [c]}
  - {from: a, to: "[fd71:2::10]:25", proto: tcp, expect: filtered, dropped_by: r}
"""


def _up(path: str) -> Lab:
    lab = Lab.load(path)
    lab.up()
    return lab


@pytest.fixture
def dual(tmp_path):
    # One lab per test (about 0.4 s): the host guard sees no lab before or after.
    path = copy_example(tmp_path, "dual-stack-routing.yaml", lab=LAB)
    lab = _up(path)
    try:
        yield lab, path
    finally:
        lab.down()
    assert lab_namespaces(LAB) == []


def _trace(lab, src, dst, **kwargs):
    return trace(lab.spec, lab.namespace_of, src, dst, **kwargs)


def _hop(leg, node):
    return next(hop for hop in leg.hops if hop.node == node)


def _ruleset(lab, node):
    return run.run(lab.namespace_of(node), ["nft", "list", "ruleset"], capture_output=True, check=True).stdout


def test_icmpv6_through_a_router_is_answered_and_the_ruleset_is_byte_identical(dual):
    lab, _ = dual
    before = _ruleset(lab, "b")
    result = _trace(lab, "a", "b", family=6)
    after = _ruleset(lab, "b")
    assert after == before and b"vnetlab_trace" not in after
    assert (result.result, result.by, result.destination) == (ANSWERED, "b", B)
    assert result.forward.nodes == ["a", "sw", "r", "b"] and result.reply.nodes == ["b", "r", "sw", "a"]
    assert result.forward.what == f"icmpv6 {A} > {B} echo request"
    assert _hop(result.forward, "a").route["text"] == f"route default via {ROUTER_LAN} dev eth0"
    router = _hop(result.forward, "r")
    assert router.route["text"] == "route fd71:2::/64 dev eth1"
    assert router.route["command"] == f"ip -6 route get {B} from {A} iif eth0"
    assert _hop(result.forward, "sw").bridges[0]["decision"] == "fdb"
    assert _hop(result.forward, "b").route["kind"] == "local"
    assert "accepted by rule 'meta l4proto { icmp, ipv6-icmp } accept' (table inet vnetlab chain input)" \
        in _hop(result.forward, "b").nft
    assert _hop(result.reply, "r").route["text"] == "route fd71:1::/64 dev eth0"


def test_tcp_over_ipv6_refused_by_rst_and_by_a_reject_rule(dual):
    lab, _ = dual
    rst = _trace(lab, "a", f"[{B}]:81", proto="tcp")
    assert (rst.result, rst.by, rst.reason) == (REFUSED, "b", "refused by b: TCP RST")
    assert rst.reply.what == f"tcp [{B}]:81 > [{A}]:{rst.marker} RA"
    assert rst.reply.nodes == ["b", "r", "sw", "a"]
    rejected = _trace(lab, "a", "b:23", proto="tcp", family=6)
    assert (rejected.result, rejected.by) == (REFUSED, "b")
    assert rejected.reason == (f"refused by b: ICMPv6 port unreachable from {B} — "
                               "refused by rule 'tcp dport 23 reject' (table inet vnetlab chain input)")


def test_udp_over_ipv6_is_answered(dual):
    lab, _ = dual
    result = _trace(lab, "a", "b:53", proto="udp", family=6)
    assert (result.result, result.by) == (ANSWERED, "b")
    assert result.forward.what == f"udp [{A}]:{result.marker} > [{B}]:53"


def test_ipv6_rule_drop_is_named_and_ipv4_falls_to_the_policy(dual):
    lab, _ = dual
    six = _trace(lab, "a", "b:25", proto="tcp", family=6)
    assert (six.result, six.by, six.reply) == (DROPPED, "b", None)
    assert six.reason == ("dropped by rule 'ip6 saddr fd71:1::/64 tcp dport 25 drop comment \"no smtp from the lan\"' "
                          "(table inet vnetlab chain input) at b")
    four = _trace(lab, "a", "b:25", proto="tcp", family=4)
    assert four.reason == "dropped by table inet vnetlab chain input policy drop at b"


def test_drop_in_an_ip6_table_is_named_with_its_rule(dual):
    lab, _ = dual
    ns = lab.namespace_of("r")
    guard = ("table ip6 guard {\n chain fw6 {\n  type filter hook forward priority 0; policy accept;\n"
             f"  ip6 daddr {B} tcp dport 8080 drop\n }}\n}}\n")
    run_nft(ns, guard)
    try:
        result = _trace(lab, "a", f"[{B}]:8080", proto="tcp")
        after = _ruleset(lab, "r")
    finally:
        run_nft(ns, "delete table ip6 guard\n")
    assert b"vnetlab_trace" not in after and b"table ip6 guard" in after
    assert (result.result, result.by) == (DROPPED, "r")
    assert result.reason == f"dropped by rule 'ip6 daddr {B} tcp dport 8080 drop' (table ip6 guard chain fw6) at r"
    assert result.forward.nodes == ["a", "sw", "r"]


def test_missing_ipv6_route_on_the_router_and_at_the_source(dual):
    lab, _ = dual
    routed = _trace(lab, "a", "fd71:7::7")
    assert (routed.result, routed.by) == (DROPPED, "r")
    assert routed.reason == (f"dropped by r: ICMPv6 no route to destination from {ROUTER_LAN} — "
                             "no route to fd71:7::7 (Network is unreachable)")
    assert _hop(routed.forward, "r").route["command"] == f"ip -6 route get fd71:7::7 from {A} iif eth0"
    unrouted = _trace(lab, "c", "b", family=6)
    assert unrouted.reason == f"dropped at c: no route to {B} (Network is unreachable)"


def test_missing_neighbour_is_lost_with_the_unanswered_solicitation(dual):
    lab, _ = dual
    result = _trace(lab, "a", "fd71:2::99")
    assert (result.result, result.last_seen) == (LOST, "[r eth0]")
    assert result.reason == ("lost: no answer to neighbour solicitation for fd71:2::99 (asked by [r eth1]); "
                             "last seen at [r eth0]")
    assert result.forward.nodes == ["a", "sw", "r"]


def test_traced_checks_over_ipv6_pass_and_fail_correctly(dual):
    _, path = dual
    with open(path, "a") as handle:
        handle.write(WRONG_CHECKS)
    done = cli("check", path, "--json")
    assert done.returncode == 1, done.stderr
    results = json.loads(done.stdout)["results"]
    passing = len(results) - 2  # the example's own checks, then the two wrong ones
    assert [r["ok"] for r in results] == [True] * passing + [False, False], results
    assert "trace: a -> sw -> r -> b, answered (b)" in results[1]["detail"]
    assert "dropped (b)" in results[6]["detail"]
    assert "did not pass c" in results[passing]["detail"]
    assert "expected it dropped by r" in results[passing + 1]["detail"]


def test_cli_trace_with_ipv6_flags_json_and_exit_codes(dual):
    answered = cli("trace", LAB, "a", "b", "-6", "--json")
    assert answered.returncode == 0, answered.stderr
    data = json.loads(answered.stdout)
    assert data["destination"] == B and data["forward"]["nodes"] == ["a", "sw", "r", "b"]
    assert data["path"].startswith(f"route default via {ROUTER_LAN} dev eth0 -> [a eth0] -> [sw p1]")
    four = json.loads(cli("trace", LAB, "a", "b", "--ipv4", "--json", check=True).stdout)
    assert four["destination"] == "10.71.2.10"
    dropped = cli("trace", LAB, "a", f"[{B}]:22", "--proto", "tcp")
    assert dropped.returncode == 1 and dropped.stdout.startswith(f"trace {LAB}: a -> [{B}]:22 tcp")
    wrong_family = cli("trace", LAB, "a", "10.71.2.10", "-6")
    assert wrong_family.returncode == 2 and "10.71.2.10 is an IPv4 address, not IPv6" in wrong_family.stderr


def test_nat66_shows_addresses_before_and_after(tmp_path):
    path = tmp_path / "nat6.yaml"
    path.write_text(NAT66)
    lab = _up(str(path))
    try:
        result = _trace(lab, "vm", "web:80", proto="tcp")
    finally:
        lab.down()
    assert lab_namespaces("trcnat6") == []
    port = result.marker
    assert result.result == ANSWERED and result.forward.nodes == ["vm", "gw", "web"]
    gw = _hop(result.forward, "gw")
    assert gw.nat == [f"SNAT [fd72:1::10]:{port} -> [2001:db8:72::1]:{port}"]
    assert gw.conntrack == [f"original [fd72:1::10]:{port} > [2001:db8:72::80]:80, "
                            f"reply [2001:db8:72::80]:80 > [2001:db8:72::1]:{port}"]
    assert any("masquerade" in verdict for verdict in gw.nft)
    assert _hop(result.reply, "gw").nat == [f"reverse NAT dst [2001:db8:72::1]:{port} -> [fd72:1::10]:{port}"]


def test_ovs_flow_drop_of_ipv6_names_the_flow(tmp_path):
    path = tmp_path / "ovs6.yaml"
    path.write_text(OVS6)
    lab = _up(str(path))
    try:
        dropped = _trace(lab, "mallory", "alice")
        passed = _trace(lab, "alice", "bob:80", proto="tcp")
    finally:
        lab.down()
    assert lab_namespaces("trcovs6") == []
    assert (dropped.result, dropped.by) == (DROPPED, "sw")
    assert dropped.forward.nodes == ["mallory", "sw"]
    assert dropped.reason == ("dropped by OVS br0 flow 'table 0: ipv6,ipv6_src=fd73::66, priority 100 -> drop' "
                              "at sw")
    assert passed.result == ANSWERED and passed.forward.nodes == ["alice", "sw", "bob"]
    switch = _hop(passed.forward, "sw")
    assert switch.route is None and switch.ovs[0].startswith("OVS br0 flow 'table 0: priority 0 -> NORMAL")
