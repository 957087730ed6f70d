"""Trace internals without root: nft trace-event parsing, pcap parsing,
conntrack parsing, assembling hops from observations, rendering, judging
via/dropped_by checks — over IPv4 and IPv6."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import struct

import pytest

from vnetlab.probe.checks import judge_trace
from vnetlab.model.schema import Check
from vnetlab.probe.fib import RouteAnswer
from vnetlab.probe.nftrace import parse_trace_line, trace_table_script, verdicts
from vnetlab.probe.ovstrace import flow_fields, parse_ofproto_trace
from vnetlab.probe.sightings import Sighting, capture_filter, parse_pcap
from vnetlab.probe.trace import (
    ANSWERED, DROPPED, LOST, REFUSED, Observations, assemble, conntrack_argv, format_conntrack, parse_conntrack,
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


def test_verdicts_leave_out_another_trace_s_table_too():
    # A trace running at the same time (trace_many) has its own table; once our packet is marked,
    # its chains report their policy accept for it: not what the lab did.
    other = MONITOR.replace("trace id 023fe151 inet vnetlab input packet",
                            "trace id 023fe151 inet vnetlab_trace_a1b2 pre policy accept \n"
                            "trace id 023fe151 inet vnetlab_trace_a1b2 out rule meta l4proto tcp th sport 40000 "
                            "meta nftrace set 1 (verdict accept)\n"
                            "trace id 023fe151 inet vnetlab input packet", 1)
    events = [e for e in map(parse_trace_line, other.splitlines()) if e is not None]
    assert sum(e.table == "vnetlab_trace_a1b2" for e in events) == 2
    assert verdicts(events, OWN) == verdicts([e for e in events if e.table != "vnetlab_trace_a1b2"], OWN)
    assert [v.where for v in verdicts(events, OWN)] == ["table inet vnetlab chain input"] * 3


def test_trace_many_gives_each_result_in_its_place_and_markers_are_never_shared(monkeypatch):
    import threading
    import time
    import types

    from vnetlab.probe import trace as tracing

    running, seen, lock = [], [], threading.Lock()

    def fake_trace(spec, namespace_of, source, destination, **kwargs):
        marker = tracing._claim_marker()
        with lock:
            running.append(marker)
            seen.append(len(running))
        time.sleep(0.05)
        with lock:
            running.remove(marker)
        tracing._release_marker(marker)
        if destination == "bad":
            raise ValueError("no such target")
        return f"{source}->{destination}"

    monkeypatch.setattr(tracing, "trace", fake_trace)
    spec = types.SimpleNamespace(nodes={"a": 1, "b": 2}, lab="x")
    asked = [tracing.TraceRequest("a", f"b{i}") for i in range(6)] + [tracing.TraceRequest("a", "bad")]
    results = tracing.trace_many(spec, str, asked)
    assert results[:6] == [f"a->b{i}" for i in range(6)] and isinstance(results[6], ValueError)
    assert max(seen) == tracing.TRACE_WORKERS  # several at once in a small lab
    seen.clear()
    big = types.SimpleNamespace(nodes=dict.fromkeys(range(tracing.TRACE_CAPTURES)), lab="x")
    assert tracing.trace_many(big, str, asked[:3]) == ["a->b0", "a->b1", "a->b2"]
    assert max(seen) == 1  # one at a time in a big one
    seen.clear()
    monkeypatch.setattr(tracing.tcpdump, "delivery_delay", lambda: 1.0)  # rootless: dumpcap delivers late
    assert tracing.trace_many(spec, str, asked[:3]) == ["a->b0", "a->b1", "a->b2"]
    assert max(seen) == 1  # one at a time, not to add to its load
    markers = [tracing._claim_marker() for _ in range(2000)]
    assert len(set(markers)) == 2000  # claimed markers are distinct until released
    for marker in markers:
        tracing._release_marker(marker)


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
    assert out.addresses() == "10.0.0.1:40000 > 10.0.1.2:22" and out.flags == "S" and out.copy_id == 7
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
def _routes(a, b, a_gateway, b_gateway, a_net, b_net):
    """The FIB answers of a -- r -- b, keyed by (node, iif): a default route on each host."""
    return {
        ("a", ""): RouteAnswer(b, True, dev="eth0", via=a_gateway, matched="default"),
        ("r", "eth0"): RouteAnswer(b, True, dev="eth1", matched=b_net, iif="eth0"),
        ("b", "eth0"): RouteAnswer(b, True, kind="local", dev="lo", iif="eth0"),
        ("b", ""): RouteAnswer(a, True, dev="eth0", via=b_gateway, matched="default"),
        ("r", "eth1"): RouteAnswer(a, True, dev="eth0", matched=a_net, iif="eth1"),
        ("a", "eth0"): RouteAnswer(a, True, kind="local", dev="lo", iif="eth0"),
    }


ROUTES = _routes("10.0.0.1", "10.0.1.2", "10.0.0.254", "10.0.1.254", "10.0.0.0/24", "10.0.1.0/24")


def _s(ts, node, ifname, direction, src, dst, sport=40000, dport=22, flags="S", **kw):
    return Sighting(ts, node, ifname, direction, 4 if direction == "out" else 0, "", "tcp", src, dst,
                    sport, dport, flags, copy_id=kw.pop("copy_id", 1), **kw)


def _obs(sightings, events=None, routes=ROUTES, destination="10.0.1.2", proto="tcp", port=22, marker=40000, **kw):
    return Observations(
        lab="t", source="a", destination=destination, proto=proto, port=port, marker=marker, sightings=sightings,
        nft_events=events or {}, trace_table=OWN,
        routes=lambda node, dst, src, iif: routes[(node, iif)],
        bridge_of=lambda node, ifname: None, fdb=lambda node, bridge, mac: None,
        conntrack=lambda node: [], **kw)


FORWARD_HOPS = (("a", "eth0", "out"), ("r", "eth0", "in"), ("r", "eth1", "out"), ("b", "eth0", "in"))
BACK_HOPS = (("b", "eth0", "out"), ("r", "eth1", "in"), ("r", "eth0", "out"), ("a", "eth0", "in"))


def _along(make, start, hops, *args, **kw):
    """One packet's sightings at each of ``hops``, 0.1 s apart from ``start``."""
    return [make(start + n / 10, node, ifname, direction, *args, **kw)
            for n, (node, ifname, direction) in enumerate(hops)]


PROBE = _along(_s, 1.0, FORWARD_HOPS, "10.0.0.1", "10.0.1.2")
SYNACK = _along(_s, 2.0, BACK_HOPS, "10.0.1.2", "10.0.0.1", 22, 40000, "SA", copy_id=2)


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
    again = _s(2.0, "a", "eth0", "out", "10.0.0.1", "10.0.1.2", copy_id=5)
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
                     inner=("tcp", "10.0.0.1", "10.0.1.2", 40000, 22), copy_id=3)
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


# -- IPv6 ------------------------------------------------------------------------------------
def _ipv6(src, dst, next_header, body, flow=0x12345):
    return struct.pack("!IHBB16s16s", (6 << 28) | flow, len(body), next_header, 64,
                       ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed) + body


def _ndp(kind, target):
    return struct.pack("!BBHI16s", kind, 0, 0, 0, ipaddress.IPv6Address(target).packed)


def test_parse_pcap_reads_ipv6_icmpv6_quotes_and_ndp():
    syn = _ipv6("fd00::1", "fd00:1::2", 6, _tcp(40000, 22, 0x02))
    hop_by_hop = struct.pack("!BB6s", 58, 0, b"\x01\x04\x00\x00\x00\x00")  # then ICMPv6
    echo = _ipv6("fd00::1", "fd00:1::2", 0, hop_by_hop + struct.pack("!BBHHH", 128, 0, 0, 40001, 1), flow=7)
    unreachable = _ipv6("fd00:1::2", "fd00::1", 58, struct.pack("!BBHI", 1, 4, 0, 0) + syn)
    solicit = _ipv6("fd00:1::1", "ff02::1:ff00:99", 58, _ndp(135, "fd00:1::99"))
    advert = _ipv6("fd00:1::98", "fd00:1::1", 58, _ndp(136, "fd00:1::98"))
    data = _pcap(*(_record(100.0 + n / 10, packet, 2, 4, 0x86DD)
                   for n, packet in enumerate((syn, echo, unreachable, solicit, advert))))
    out, request, error, ns, na = parse_pcap(data, "r1", {2: "eth0"})
    assert (out.family, out.proto, out.flags, out.copy_id, out.ttl) == (6, "tcp", "S", 0x12345, 64)
    assert out.addresses() == "[fd00::1]:40000 > [fd00:1::2]:22"
    assert (request.proto, request.icmp_type, request.icmp_id, request.copy_id) == ("icmp", 128, 40001, 7)
    assert (error.icmp_type, error.icmp_code) == (1, 4)
    assert error.inner == ("tcp", "fd00::1", "fd00:1::2", 40000, 22)
    assert (ns.proto, ns.icmp_type, ns.src, ns.dst) == ("ndp", 135, "fd00:1::1", "fd00:1::99")
    assert (na.proto, na.icmp_type, na.src, na.dst) == ("ndp", 136, "fd00:1::98", "fd00:1::1")


def test_capture_filter_for_ipv6_keeps_the_probe_icmpv6_errors_and_ndp():
    assert capture_filter("tcp", 40000, 6) == (
        "(ip6 and tcp port 40000) or (icmp6 and (icmp6[0] = 1 or icmp6[0] = 2 or icmp6[0] = 3 or "
        "icmp6[0] = 4 or icmp6[0] = 135 or icmp6[0] = 136))")
    assert capture_filter("icmp", 40001, 6).startswith(
        "(icmp6 and (icmp6[0] = 128 or icmp6[0] = 129) and icmp6[4:2] = 40001) or")


MONITOR6 = """\
trace id 8ce5eea1 inet vnetlab_trace_beef pre packet: iif "eth0" ether saddr c6:b8:64:78:30:c6 ether daddr 02:fa:a1:1d:94:28 ip6 saddr fd71:1::10 ip6 daddr fd71:2::10 ip6 dscp cs0 ip6 ecn not-ect ip6 hoplimit 63 ip6 flowlabel 558912 ip6 nexthdr ipv6-icmp ip6 length 13 icmpv6 type echo-request icmpv6 code no-route icmpv6 parameter-problem 2621505537 @th,64,40 0x68656c6c6f 
trace id 8ce5eea1 inet vnetlab input packet: iif "eth0" ip6 saddr fd71:1::10 ip6 daddr fd71:2::10 ip6 nexthdr ipv6-icmp icmpv6 type echo-request icmpv6 code no-route icmpv6 parameter-problem 2621505537 
trace id 8ce5eea1 inet vnetlab input rule meta l4proto { icmp, ipv6-icmp } accept (verdict accept)
trace id 50adcd72 inet vnetlab output packet: oif "eth0" ip6 saddr fd71:2::10 ip6 daddr fd71:1::10 ip6 nexthdr ipv6-icmp icmpv6 type echo-reply icmpv6 code no-route icmpv6 id 40001 icmpv6 sequence 1 
trace id 50adcd72 inet vnetlab output policy accept 
trace id 77 ip6 guard fwd packet: iif "eth0" oif "eth1" ip6 saddr fd71:1::10 ip6 daddr fd71:2::10 tcp sport 40002 tcp dport 8080 tcp flags == syn 
trace id 77 ip6 guard fwd rule ip6 daddr fd71:2::10 tcp dport 8080 drop (verdict drop)
"""


def test_ipv6_trace_events_give_the_echo_id_and_ip6_verdicts():
    events = [parse_trace_line(line) for line in MONITOR6.splitlines()]
    request, reply, guard = events[0], events[3], events[5]
    assert request.field("ip6 saddr") == "fd71:1::10" and request.field("icmpv6 type") == "echo-request"
    assert request.echo_id() == 40001  # nft 1.0.6 prints id and sequence as "parameter-problem"
    assert reply.echo_id() == 40001  # newer nft: "icmpv6 id"
    assert guard.field("tcp dport") == "8080" and guard.echo_id() is None
    assert [v.describe() for v in verdicts(events[5:], OWN)] == [
        "dropped by rule 'ip6 daddr fd71:2::10 tcp dport 8080 drop' (table ip6 guard chain fwd)"]
    icmp = trace_table_script(OWN, "icmp", 40001)
    assert "icmpv6 type { echo-request, echo-reply } icmpv6 id 40001 meta nftrace set 1" in icmp
    assert "icmp type { echo-request, echo-reply } icmp id 40001 meta nftrace set 1" in icmp


ROUTES6 = _routes("fd00::1", "fd00:1::2", "fd00::fe", "fd00:1::fe", "fd00::/64", "fd00:1::/64")


def _s6(ts, node, ifname, direction, src, dst, icmp_type=128, **kw):
    return Sighting(ts, node, ifname, direction, 4 if direction == "out" else 0, "", kw.pop("proto", "icmp"), src,
                    dst, icmp_type=icmp_type, icmp_id=kw.pop("icmp_id", 40001), copy_id=kw.pop("copy_id", 9),
                    family=6, **kw)


def _obs6(sightings, events=None, routes=ROUTES6, proto="icmp", port=None, marker=40001, **kw):
    return _obs(sightings, events, routes, destination="fd00:1::2", proto=proto, port=port, marker=marker, **kw)


ECHO6 = _along(_s6, 1.0, FORWARD_HOPS, "fd00::1", "fd00:1::2")
ECHO6_REPLY = _along(_s6, 2.0, BACK_HOPS, "fd00:1::2", "fd00::1", 129, copy_id=3)


def test_icmpv6_echo_answered_through_a_router():
    events = {"b": [parse_trace_line(line.replace("fd71:1::10", "fd00::1").replace("fd71:2::10", "fd00:1::2"))
                    for line in MONITOR6.splitlines()[1:3]]}
    result = assemble(_obs6(list(reversed(ECHO6 + ECHO6_REPLY)), events))
    assert (result.result, result.by) == (ANSWERED, "b")
    assert result.reason == "answered by b: icmpv6 fd00:1::2 > fd00::1 echo reply"
    assert result.forward.nodes == ["a", "r", "b"] and result.reply.nodes == ["b", "r", "a"]
    assert path_line(result.forward, result) == (
        "route default via fd00::fe dev eth0 -> [a eth0] -> [r eth0] -> route fd00:1::/64 dev eth1 -> "
        "[r eth1] -> [b eth0] -> local fd00:1::2 -> "
        "nft: accepted by rule 'meta l4proto { icmp, ipv6-icmp } accept' (table inet vnetlab chain input) -> answered")
    assert result.forward.hops[1].route["command"] == "ip -6 route get fd00:1::2 from fd00::1 iif eth0"
    assert result.forward.hops[0].route["command"] == "ip -6 route get fd00:1::2"
    assert result.forward.what == "icmpv6 fd00::1 > fd00:1::2 echo request"


def test_unanswered_neighbour_solicitation_is_lost_with_last_place_seen():
    solicit = _s6(1.15, "r", "eth1", "out", "fd00:1::fe", "fd00:1::2", 135, proto="ndp")
    result = assemble(_obs6(ECHO6[:2] + [solicit]))
    assert (result.result, result.last_seen) == (LOST, "[r eth0]")
    assert result.reason == ("lost: no answer to neighbour solicitation for fd00:1::2 (asked by [r eth1]); "
                             "last seen at [r eth0]")
    advert = _s6(1.16, "r", "eth1", "in", "fd00:1::2", "fd00:1::fe", 136, proto="ndp")
    assert assemble(_obs6(ECHO6[:2] + [solicit, advert])).reason == "lost without trace; last seen at [r eth0]"


@pytest.mark.parametrize("family", [4, 6])
def test_host_unreachable_names_the_neighbour_that_never_answered(family):
    if family == 4:
        error = Sighting(2.0, "r", "eth0", "out", 4, "", "icmp", "10.0.0.254", "10.0.0.1", icmp_type=3, icmp_code=1,
                         inner=("tcp", "10.0.0.1", "10.0.1.2", 40000, 22), copy_id=3)
        observe, probe, routes, back, nexthop = _obs, PROBE[:2], dict(ROUTES), "10.0.0.1", "10.0.1.2"
        reason = "ICMP host unreachable from 10.0.0.254 — no ARP answer for 10.0.1.2"
    else:
        error = _s6(2.0, "r", "eth0", "out", "fd00::fe", "fd00::1", 1, icmp_code=3,
                    inner=("icmp", "fd00::1", "fd00:1::2", 40001, None))
        observe, probe, routes, back, nexthop = _obs6, ECHO6[:3], dict(ROUTES6), "fd00::1", "fd00:1::2"
        reason = "ICMPv6 address unreachable from fd00::fe — no neighbour advertisement for fd00:1::2"
    routes[("r", "")] = RouteAnswer(back, True, dev="eth0")
    result = assemble(observe(probe + [error], routes=routes,
                              neighbour=lambda node, ip: "FAILED" if (node, ip) == ("r", nexthop) else None))
    assert (result.result, result.by) == (DROPPED, "r")
    assert result.reason == f"dropped by r: {reason} (neighbour FAILED)"


# -- the record of a trace's tables (what up removes after a killed trace)


def test_trace_record_round_trips_and_names_only_our_tables():
    from vnetlab.host.processes import ProcessRecord
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


def test_icmpv6_port_unreachable_is_a_refusal_and_a_v6_drop_judges_dropped_by():
    probe = [dataclasses.replace(s, proto="tcp", icmp_type=None, icmp_id=None, sport=40000, dport=23, flags="S")
             for s in ECHO6]
    error = _s6(2.0, "b", "eth0", "out", "fd00:1::2", "fd00::1", 1, icmp_code=4,
                inner=("tcp", "fd00::1", "fd00:1::2", 40000, 23))
    result = assemble(_obs6(probe + [error], proto="tcp", port=23, marker=40000))
    assert (result.result, result.by) == (REFUSED, "b")
    assert result.reason == "refused by b: ICMPv6 port unreachable from fd00:1::2"
    assert result.forward.what == "tcp [fd00::1]:40000 > [fd00:1::2]:23 S"
    lines = ['trace id 1 inet vnetlab input packet: iif "eth0" ip6 saddr fd00::1 ip6 daddr fd00:1::2 '
             "tcp sport 40000 tcp dport 23 tcp flags == syn",
             'trace id 1 inet vnetlab input rule ip6 saddr fd00::/64 tcp dport 23 drop comment "no telnet" '
             "(verdict drop)"]
    dropped = assemble(_obs6(probe, {"b": [parse_trace_line(line) for line in lines]}, proto="tcp", port=23,
                             marker=40000))
    assert (dropped.result, dropped.by) == (DROPPED, "b")
    assert dropped.reason == ("dropped by rule 'ip6 saddr fd00::/64 tcp dport 23 drop comment \"no telnet\"' "
                              "(table inet vnetlab chain input) at b")
    check = Check.model_validate({"from": "a", "to": "[fd00:1::2]:23", "proto": "tcp", "expect": "filtered",
                                  "dropped_by": "b", "via": ["r"]})
    assert judge_trace(check, dropped) == (True, "trace: a -> r -> b, dropped (b)")
    assert "[fd00:1::2]:23" in render_text(dropped).splitlines()[0]


def test_conntrack_of_ipv6():
    line = ("tcp      6 119 SYN_SENT src=fd00::10 dst=fd00:1::80 sport=40000 dport=80 [UNREPLIED] "
            "src=fd00:1::80 dst=fd00:1::1 sport=80 dport=40000 mark=0 use=1")
    assert format_conntrack(*parse_conntrack(line)) == \
        "original [fd00::10]:40000 > [fd00:1::80]:80, reply [fd00:1::80]:80 > [fd00:1::1]:40000"
    echo = ("icmpv6   58 26 src=fd71:1::10 dst=fd71:2::10 type=128 code=0 id=40001 src=fd71:2::10 "
            "dst=fd71:1::10 type=129 code=0 id=40001 mark=0 use=1")
    assert format_conntrack(*parse_conntrack(echo)) == \
        "original fd71:1::10 > fd71:2::10 id 40001, reply fd71:2::10 > fd71:1::10 id 40001"
    assert conntrack_argv("icmp", 6) == ["conntrack", "-L", "-f", "ipv6", "-p", "icmpv6"]
    assert conntrack_argv("tcp", 6) == ["conntrack", "-L", "-f", "ipv6", "-p", "tcp"]
    assert conntrack_argv("udp", 4) == ["conntrack", "-L", "-p", "udp"]


def test_ipv6_route_command_and_ofproto_flow():
    assert RouteAnswer("fd00:1::2", True, iif="eth0").command("fd00::1") == \
        "ip -6 route get fd00:1::2 from fd00::1 iif eth0"
    assert flow_fields("p1", "tcp", "fd00::1", "fd00::2", 40000, 80, None, "02:00:00:00:00:01") == \
        "in_port=p1,tcp6,ipv6_src=fd00::1,ipv6_dst=fd00::2,tp_src=40000,tp_dst=80,dl_src=02:00:00:00:00:01"
    assert flow_fields("p3", "icmp", "fd00::66", "fd00::1", None, None, 128, "") == \
        "in_port=p3,icmp6,ipv6_src=fd00::66,ipv6_dst=fd00::1,icmpv6_type=128,icmpv6_code=0"


def test_a_probe_nobody_saw_is_explained_by_the_unanswered_gateway():
    result = assemble(_obs([], neighbour=lambda node, ip: "FAILED" if (node, ip) == ("a", "10.0.0.254") else None))
    assert result.result == LOST and result.by == "a"
    assert result.reason == ("never left a: no ARP answer for 10.0.0.254 (the gateway of route default via "
                             "10.0.0.254 dev eth0; neighbour FAILED)")


def test_forwarding_off_is_named_instead_of_no_route_to_host():
    answer = RouteAnswer("10.0.1.2", False, kind="unreachable", error="No route to host", iif="eth0",
                         forwarding_off=True)
    assert answer.describe().startswith("not forwarded to 10.0.1.2: forwarding is off on eth0 "
                                        "(net.ipv4.ip_forward is 0")
    assert RouteAnswer("10.0.1.2", False, error="No route to host").describe() == \
        "no route to 10.0.1.2 (No route to host)"


@pytest.mark.parametrize("tool", ["tcpdump", "nft", "conntrack"])
def test_a_missing_tool_is_the_machines_problem_with_the_package_to_install(tool):
    from vnetlab.errors import EnvironmentProblem
    from vnetlab.probe.trace import missing

    said = missing(FileNotFoundError(2, "No such file or directory", tool))
    assert isinstance(said, EnvironmentProblem)
    assert str(said) == f"{tool} is not installed — apt-get install {tool}"


def test_a_missing_namespace_is_a_lab_not_up():
    from vnetlab.probe.trace import missing

    said = missing(FileNotFoundError("namespace fw-a of node a does not exist — is the lab up?"))
    assert type(said) is LookupError and "is the lab up?" in str(said)


def test_the_cli_and_the_web_say_the_same_of_a_missing_tool(monkeypatch):
    """Both faces raise what probe.trace.missing makes of the trace's FileNotFoundError."""
    import argparse

    from vnetlab.cli import probing
    from vnetlab.errors import EnvironmentProblem
    from vnetlab.probe import trace as trace_module
    from vnetlab.web import probes

    def no_nft(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", "nft")

    class Running:
        name, spec = "fw", object()

        def namespace_of(self, node):
            return f"fw-{node}"

    monkeypatch.setattr(trace_module, "trace", no_nft)
    with pytest.raises(EnvironmentProblem) as web_said:
        probes.trace(Running(), {"from": "a", "to": "b"})
    monkeypatch.setattr(probing, "_running", lambda lab: Running())
    monkeypatch.setattr("vnetlab.lab.require_root", lambda what: None)
    args = argparse.Namespace(lab="fw", src="a", dst="b", proto="icmp", port=None, timeout=1.0, family=None, json=False)
    with pytest.raises(EnvironmentProblem) as cli_said:
        probing.cmd_trace(args)
    assert str(web_said.value) == str(cli_said.value) == "nft is not installed — apt-get install nft"
