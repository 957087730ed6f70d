"""Trace internals without root: nft trace-event parsing, pcap parsing,
conntrack parsing, assembling hops from observations, rendering, judging
via/dropped_by checks."""

from __future__ import annotations

import ipaddress
import json
import struct

import pytest

from vnetlab.check import judge_trace
from vnetlab.model.schema import Check
from vnetlab.probe.fib import RouteAnswer
from vnetlab.probe.nftrace import parse_trace_line, trace_table_script, verdicts
from vnetlab.probe.ovstrace import flow_fields, parse_ofproto_trace
from vnetlab.probe.sightings import Sighting, capture_filter, parse_pcap
from vnetlab.probe.trace import (
    ANSWERED, DROPPED, LOST, REFUSED, Observations, assemble, build_echo, format_conntrack, parse_conntrack,
    path_line, render_text,
)

OWN = "vnetlab_trace_beef"
MONITOR = """\
add table inet vnetlab_trace_beef
trace id 023fe151 inet vnetlab_trace_beef pre packet: iif "e0" ether saddr 22:ba:88:9e:9e:b2 ether daddr 02:5a:03:9b:65:93 ip saddr 10.77.0.1 ip daddr 10.77.0.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 20429 ip protocol tcp ip length 60 tcp sport 45555 tcp dport 22 tcp flags == syn tcp window 64240 
trace id 023fe151 inet vnetlab_trace_beef pre rule meta l4proto tcp th sport 45555 meta nftrace set 1 (verdict continue)
trace id 023fe151 inet vnetlab_trace_beef pre policy accept 
trace id 023fe151 inet vnetlab input packet: iif "e0" ip saddr 10.77.0.1 ip daddr 10.77.0.2 tcp sport 45555 tcp dport 22 tcp flags == syn 
trace id 023fe151 inet vnetlab input rule ct state established,related accept (verdict continue)
trace id 023fe151 inet vnetlab input policy drop 
trace id 871639ae inet vnetlab input rule tcp dport 23 reject (verdict drop)
trace id 99999999 inet vnetlab input rule ip saddr 10.0.1.0/24 tcp dport 22 accept comment "ssh" (verdict accept)
trace id 12345678 inet vnetlab input unknown rule handle 7 (verdict jump other)
"""


# -- nft trace events -----------------------------------------------------------
def test_parse_packet_rule_and_policy_lines():
    events = [e for e in map(parse_trace_line, MONITOR.splitlines()) if e is not None]
    assert len(events) == 9  # the "add table" line is no trace event
    packet = events[0]
    assert (packet.kind, packet.table, packet.chain) == ("packet", OWN, "pre")
    assert packet.field("ip saddr") == "10.77.0.1" and packet.field("tcp dport") == "22"
    assert packet.field("iif") == "e0" and "tcp flags == syn" in packet.rule
    assert (events[1].kind, events[1].verdict) == ("rule", "continue")
    assert (events[2].kind, events[2].verdict) == ("policy", "accept")
    assert events[5].where == "table inet vnetlab chain input" and events[5].verdict == "drop"
    assert events[7].rule == 'ip saddr 10.0.1.0/24 tcp dport 22 accept comment "ssh"'
    assert events[8].verdict == "jump other" and events[8].rule == ""
    assert parse_trace_line("add table inet vnetlab") is None
    assert parse_trace_line("# new generation 5 by process 6748 (python)") is None


def test_verdicts_leave_out_our_table_and_describe_the_decision():
    events = [e for e in map(parse_trace_line, MONITOR.splitlines()) if e is not None]
    found = verdicts(events, OWN)
    assert [v.describe() for v in found] == [
        "dropped by table inet vnetlab chain input policy drop",
        "refused by rule 'tcp dport 23 reject' (table inet vnetlab chain input)",
        "accepted by rule 'ip saddr 10.0.1.0/24 tcp dport 22 accept comment \"ssh\"' (table inet vnetlab chain input)",
    ]
    assert found[0].dropped and not found[0].rejected and found[1].rejected and not found[2].dropped


def test_trace_table_marks_only_the_probe():
    tcp = trace_table_script(OWN, "tcp", 45555)
    assert "type filter hook prerouting priority -350" in tcp and "type filter hook output priority -350" in tcp
    assert "meta l4proto tcp th sport 45555 meta nftrace set 1" in tcp
    assert "meta l4proto tcp th dport 45555 meta nftrace set 1" in tcp
    icmp = trace_table_script(OWN, "icmp", 40001)
    assert "icmp type { echo-request, echo-reply } icmp id 40001 meta nftrace set 1" in icmp
    assert all(line.startswith("add ") and f"inet {OWN} " in line for line in icmp.splitlines())


# -- pcap -------------------------------------------------------------------------
def _ipv4(src, dst, proto, body, ip_id=7):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), ip_id, 0, 64, proto, 0,
                         ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    return header + body


def _tcp(sport, dport, flags):
    return struct.pack("!HHIIBBHHH", sport, dport, 0, 0, 0x50, flags, 0, 0, 0)


def _record(ts, payload, ifindex, pkttype, protocol=0x0800, mac=b"\x02\x00\x00\x00\x00\x01"):
    sll2 = struct.pack("!HHIHBB", protocol, 0, ifindex, 1, pkttype, 6) + mac + b"\x00\x00"
    data = sll2 + payload
    return struct.pack("<IIII", int(ts), int((ts % 1) * 1e6), len(data), len(data)) + data


def _pcap(*records):
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 256, 276) + b"".join(records)


def test_parse_pcap_reads_direction_interface_ports_and_icmp_quotes():
    syn = _ipv4("10.0.0.1", "10.0.1.2", 6, _tcp(40000, 22, 0x02))
    unreachable = _ipv4("10.0.1.2", "10.0.0.1", 1, struct.pack("!BBHI", 3, 3, 0, 0) + syn[:28], ip_id=9)
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, b"\x02" * 6, ipaddress.IPv4Address("10.0.1.1").packed,
                      b"\x00" * 6, ipaddress.IPv4Address("10.0.1.99").packed)
    data = _pcap(_record(100.5, syn, 2, 4), _record(100.6, unreachable, 3, 0), _record(100.7, arp, 3, 4, 0x0806))
    out, error, request = parse_pcap(data, "r1", {2: "eth0", 3: "eth1"})
    assert (out.node, out.ifname, out.direction) == ("r1", "eth0", "out")
    assert out.addresses() == "10.0.0.1:40000 > 10.0.1.2:22" and out.flags == "S" and out.ip_id == 7
    assert out.ts == pytest.approx(100.5) and out.point == "[r1 eth0]" and out.mac == "02:00:00:00:00:01"
    assert (error.direction, error.icmp_type, error.icmp_code) == ("in", 3, 3)
    assert error.inner == ("tcp", "10.0.0.1", "10.0.1.2", 40000, 22)
    assert (request.proto, request.icmp_type, request.src, request.dst) == ("arp", 1, "10.0.1.1", "10.0.1.99")
    assert parse_pcap(data[:-5], "r1", {})[-1].proto == "icmp"  # a cut-off last record is skipped
    with pytest.raises(ValueError):
        parse_pcap(b"x" * 24, "r1", {})


def test_capture_filter_keeps_the_probe_errors_and_arp():
    assert capture_filter("tcp", 40000) == "(tcp port 40000) or icmp[0] = 3 or icmp[0] = 11 or arp"
    assert "icmp[4:2] = 40001" in capture_filter("icmp", 40001)


def test_echo_request_checksum_verifies():
    packet = build_echo(40001, b"vnetlab-trace 40001")
    padded = packet + b"\x00" * (len(packet) % 2)
    total = sum(struct.unpack(f"!{len(padded) // 2}H", padded))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    assert total == 0xFFFF and packet[:2] == b"\x08\x00" and packet[4:6] == (40001).to_bytes(2, "big")


# -- conntrack ---------------------------------------------------------------------
def test_parse_conntrack_gives_original_and_reply_tuples():
    line = ("tcp      6 119 SYN_SENT src=10.10.10.100 dst=198.51.100.80 sport=40000 dport=80 [UNREPLIED] "
            "src=198.51.100.80 dst=203.0.113.10 sport=80 dport=40000 mark=0 use=1")
    original, reply = parse_conntrack(line)
    assert original == {"src": "10.10.10.100", "dst": "198.51.100.80", "sport": "40000", "dport": "80"}
    assert reply["dst"] == "203.0.113.10"
    assert format_conntrack(original, reply) == \
        "original 10.10.10.100:40000 > 198.51.100.80:80, reply 198.51.100.80:80 > 203.0.113.10:40000"
    assert parse_conntrack("conntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.") is None


# -- assembling -----------------------------------------------------------------------
ROUTES = {
    ("a", ""): RouteAnswer("10.0.1.2", True, dev="eth0", via="10.0.0.254", matched="default"),
    ("r", "eth0"): RouteAnswer("10.0.1.2", True, dev="eth1", matched="10.0.1.0/24", iif="eth0"),
    ("b", "eth0"): RouteAnswer("10.0.1.2", True, kind="local", dev="lo", iif="eth0"),
    ("b", ""): RouteAnswer("10.0.0.1", True, dev="eth0", via="10.0.1.254", matched="default"),
    ("r", "eth1"): RouteAnswer("10.0.0.1", True, dev="eth0", matched="10.0.0.0/24", iif="eth1"),
    ("a", "eth0"): RouteAnswer("10.0.0.1", True, kind="local", dev="lo", iif="eth0"),
}


def _s(ts, node, ifname, direction, src, dst, sport=40000, dport=22, flags="S", **kw):
    return Sighting(ts, node, ifname, direction, 4 if direction == "out" else 0, "", "tcp", src, dst,
                    sport, dport, flags, ip_id=kw.pop("ip_id", 1), **kw)


def _obs(sightings, events=None, routes=ROUTES, **kw):
    return Observations(
        lab="t", source="a", destination="10.0.1.2", proto="tcp", port=22, marker=40000, sightings=sightings,
        nft_events=events or {}, trace_table=OWN,
        routes=lambda node, dst, src, iif: routes[(node, iif)],
        bridge_of=lambda node, ifname: None, fdb=lambda node, bridge, mac: None,
        conntrack=lambda node: [], **kw)


PROBE = [
    _s(1.0, "a", "eth0", "out", "10.0.0.1", "10.0.1.2"),
    _s(1.1, "r", "eth0", "in", "10.0.0.1", "10.0.1.2"),
    _s(1.2, "r", "eth1", "out", "10.0.0.1", "10.0.1.2"),
    _s(1.3, "b", "eth0", "in", "10.0.0.1", "10.0.1.2"),
]
SYNACK = [
    _s(2.0, "b", "eth0", "out", "10.0.1.2", "10.0.0.1", 22, 40000, "SA", ip_id=2),
    _s(2.1, "r", "eth1", "in", "10.0.1.2", "10.0.0.1", 22, 40000, "SA", ip_id=2),
    _s(2.2, "r", "eth0", "out", "10.0.1.2", "10.0.0.1", 22, 40000, "SA", ip_id=2),
    _s(2.3, "a", "eth0", "in", "10.0.1.2", "10.0.0.1", 22, 40000, "SA", ip_id=2),
]


def test_answered_through_a_router():
    result = assemble(_obs(list(reversed(PROBE + SYNACK))))
    assert (result.result, result.by) == (ANSWERED, "b")
    assert result.forward.nodes == ["a", "r", "b"] and result.reply.nodes == ["b", "r", "a"]
    assert path_line(result.forward, result) == (
        "route default via 10.0.0.254 dev eth0 -> [a eth0] -> [r eth0] -> route 10.0.1.0/24 dev eth1 -> "
        "[r eth1] -> [b eth0] -> local 10.0.1.2 -> answered")
    assert result.forward.hops[1].route["command"] == "ip route get 10.0.1.2 from 10.0.0.1 iif eth0"
    text = render_text(result)
    assert "result: answered" in text and "  reply: route default via 10.0.1.254 dev eth0 -> [b eth0]" in text
    assert json.loads(json.dumps(result.to_dict()))["forward"]["nodes"] == ["a", "r", "b"]


def test_retransmissions_are_not_extra_hops():
    again = _s(2.0, "a", "eth0", "out", "10.0.0.1", "10.0.1.2", ip_id=5)
    result = assemble(_obs(PROBE + [again]))
    assert result.forward.nodes == ["a", "r", "b"]


def test_nft_policy_drop_names_the_node_and_chain():
    lines = ["trace id 1 inet vnetlab input packet: iif \"eth0\" ip saddr 10.0.0.1 ip daddr 10.0.1.2 "
             "tcp sport 40000 tcp dport 22 tcp flags == syn",
             "trace id 1 inet vnetlab input policy drop"]
    events = {"b": [parse_trace_line(line) for line in lines]}
    result = assemble(_obs(PROBE, events))
    assert (result.result, result.by) == (DROPPED, "b")
    assert result.reason == "dropped by table inet vnetlab chain input policy drop at b"
    assert path_line(result.forward, result).endswith(
        "local 10.0.1.2 -> nft: dropped by table inet vnetlab chain input policy drop -> dropped at b")


def test_events_of_the_reply_do_not_count_for_the_probe():
    lines = ["trace id 2 inet vnetlab output packet: ip saddr 10.0.1.2 ip daddr 10.0.0.1 "
             "tcp sport 22 tcp dport 40000 tcp flags == syn | ack",
             "trace id 2 inet vnetlab output policy drop"]
    events = {"b": [parse_trace_line(line) for line in lines]}
    result = assemble(_obs(PROBE, events))
    assert result.forward.hops[-1].nft == []
    assert result.result != DROPPED or result.by != "b"


def test_icmp_unreachable_quoting_the_probe_is_a_refusal_by_its_sender():
    error = Sighting(2.0, "b", "eth0", "out", 4, "", "icmp", "10.0.1.2", "10.0.0.1", icmp_type=3, icmp_code=3,
                     inner=("tcp", "10.0.0.1", "10.0.1.2", 40000, 22), ip_id=3)
    result = assemble(_obs(PROBE + [error]))
    assert (result.result, result.by) == (REFUSED, "b")
    assert result.reason == "refused by b: ICMP port unreachable from 10.0.1.2"
    assert result.reply.nodes == ["b"]


def test_route_failure_at_a_router_is_the_drop():
    routes = dict(ROUTES)
    routes[("r", "eth0")] = RouteAnswer("10.0.1.2", False, kind="unreachable", error="Network is unreachable",
                                        iif="eth0")
    result = assemble(_obs(PROBE[:2], routes=routes))
    assert (result.result, result.by) == (DROPPED, "r")
    assert result.reason == "dropped at r: no route to 10.0.1.2 (Network is unreachable)"


def test_unanswered_arp_is_lost_with_last_place_seen():
    routes = dict(ROUTES)
    arp = Sighting(1.15, "r", "eth1", "out", 4, "", "arp", "10.0.1.254", "10.0.1.2", icmp_type=1)
    result = assemble(_obs(PROBE[:2] + [arp], routes=routes))
    assert (result.result, result.last_seen) == (LOST, "[r eth0]")
    assert result.reason == "lost: no answer to ARP who-has 10.0.1.2 (asked by [r eth1]); last seen at [r eth0]"
    assert path_line(result.forward, result).endswith("-> lost (last seen at [r eth0])")


def test_nat_rewrite_is_shown_per_hop():
    natted = [PROBE[0], PROBE[1], _s(1.2, "r", "eth1", "out", "203.0.113.10", "10.0.1.2"), PROBE[3]]
    obs = _obs(natted)
    obs.conntrack = lambda node: [f"entry in {node}"]
    result = assemble(obs)
    router = result.forward.hops[1]
    assert router.nat == ["SNAT 10.0.0.1:40000 -> 203.0.113.10:40000"] and router.conntrack == ["entry in r"]


# -- traced checks ------------------------------------------------------------------------
def test_judge_trace_via_and_dropped_by():
    result = assemble(_obs(PROBE + SYNACK))
    ok, detail = judge_trace(Check.model_validate({"from": "a", "to": "b", "via": ["r"]}), result)
    assert ok and detail == "trace: a -> r -> b, answered (b)"
    ok, detail = judge_trace(Check.model_validate({"from": "a", "to": "b", "via": ["r", "x"]}), result)
    assert not ok and "did not pass x" in detail
    check = Check.model_validate({"from": "a", "to": "b:22", "proto": "tcp", "expect": "filtered",
                                  "dropped_by": "b"})
    assert not judge_trace(check, result)[0]
    lines = ["trace id 1 inet vnetlab input packet: ip saddr 10.0.0.1 ip daddr 10.0.1.2 tcp sport 40000 "
             "tcp dport 22 tcp flags == syn", "trace id 1 inet vnetlab input policy drop"]
    dropped = assemble(_obs(PROBE, {"b": [parse_trace_line(line) for line in lines]}))
    assert judge_trace(check, dropped)[0]


def test_dropped_by_needs_an_expectation_of_not_getting_through():
    with pytest.raises(ValueError, match="dropped_by"):
        Check.model_validate({"from": "a", "to": "b", "expect": "reach", "dropped_by": "b"})
    assert Check.model_validate({"from": "a", "to": "b"}).via == []


# -- OVS -----------------------------------------------------------------------------------
OFPROTO_DROP = """\
Flow: icmp,in_port=3,vlan_tci=0x0000,dl_src=02:00:00:00:00:66,dl_dst=00:00:00:00:00:00,nw_src=10.0.0.66

bridge("br0")
-------------
 0. ip,nw_src=10.0.0.66, priority 100
    drop

Final flow: unchanged
Megaflow: recirc_id=0,eth,ip,in_port=3,nw_src=10.0.0.66,nw_frag=no
Datapath actions: drop
"""
OFPROTO_NORMAL = """\
bridge("br0")
-------------
 0. priority 0
    NORMAL
     -> no learned MAC for destination, flooding

Final flow: unchanged
Datapath actions: 1,3,4
"""


def test_parse_ofproto_trace_names_the_matching_flow():
    dropped = parse_ofproto_trace(OFPROTO_DROP)
    assert dropped.dropped and dropped.bridge == "br0"
    assert dropped.flows == ("table 0: ip,nw_src=10.0.0.66, priority 100 -> drop",)
    assert dropped.describe() == "dropped by OVS br0 flow 'table 0: ip,nw_src=10.0.0.66, priority 100 -> drop'"
    normal = parse_ofproto_trace(OFPROTO_NORMAL)
    assert not normal.dropped and normal.actions == "1,3,4"
    assert normal.flows == ("table 0: priority 0 -> NORMAL (no learned MAC for destination, flooding)",)
    assert parse_ofproto_trace("ovs-appctl: cannot connect") is None


def test_flow_fields_for_ofproto_trace():
    assert flow_fields("p1", "tcp", "10.0.0.1", "10.0.0.2", 40000, 80, None, "02:00:00:00:00:01",
                       "02:00:00:00:00:02") == ("in_port=p1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=40000,"
                                                "tp_dst=80,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02")
    assert flow_fields("p3", "icmp", "10.0.0.66", "10.0.0.1", None, None, 8, "") == \
        "in_port=p3,icmp,nw_src=10.0.0.66,nw_dst=10.0.0.1,icmp_type=8,icmp_code=0"


def test_ovs_flow_drop_ends_the_trace_at_the_switch():
    probe = [_s(1.0, "a", "eth0", "out", "10.0.0.1", "10.0.1.2"), _s(1.1, "sw", "p1", "in", "10.0.0.1", "10.0.1.2")]
    obs = _obs(probe, routes_from=lambda node, ifname: node != "sw",
               ovs=lambda node, ifname, s, mac: parse_ofproto_trace(OFPROTO_DROP) if node == "sw" else None)
    result = assemble(obs)
    assert (result.result, result.by) == (DROPPED, "sw")
    assert result.forward.hops[1].route is None
    assert result.reason == "dropped by OVS br0 flow 'table 0: ip,nw_src=10.0.0.66, priority 100 -> drop' at sw"


def test_host_unreachable_names_the_neighbour_that_never_answered():
    error = Sighting(2.0, "r", "eth0", "out", 4, "", "icmp", "10.0.0.254", "10.0.0.1", icmp_type=3, icmp_code=1,
                     inner=("tcp", "10.0.0.1", "10.0.1.2", 40000, 22), ip_id=3)
    routes = dict(ROUTES)
    routes[("r", "")] = RouteAnswer("10.0.0.1", True, dev="eth0", matched="10.0.0.0/24")
    obs = _obs(PROBE[:2] + [error], routes=routes,
               neighbour=lambda node, ip: "FAILED" if (node, ip) == ("r", "10.0.1.2") else None)
    result = assemble(obs)
    assert (result.result, result.by) == (DROPPED, "r")
    assert result.reason == ("dropped by r: ICMP host unreachable from 10.0.0.254 — "
                             "no ARP answer for 10.0.1.2 (neighbour FAILED)")


# -- the record of a trace's tables (what up removes after a killed trace)


def test_trace_record_round_trips_and_names_only_our_tables():
    from vnetlab.executors.processes import ProcessRecord
    from vnetlab.executors.trace_tables import TraceRecord

    record = TraceRecord("vnetlab_trace_1a2b", ("lab-b", "lab-r"), ProcessRecord(pid=42, starttime=7))
    data = json.loads(json.dumps(record.to_dict()))
    assert data["family"] == "inet" and TraceRecord.from_dict(data) == record
    for bad in ({**data, "table": "vnetlab"},  # the lab's own ruleset: never a trace's
                {**data, "table": "vnetlab_trace_1; flush ruleset"},  # names reach nft unquoted
                {**data, "table": "filter"}, {**data, "family": "ip"},
                {**data, "namespaces": "lab-b"}, {**data, "owner": {"pid": 42}}):
        with pytest.raises(ValueError):
            TraceRecord.from_dict(bad)
