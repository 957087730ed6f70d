"""Trace one real packet through a running lab, hop by hop, with the kernel's reasons.

:func:`trace` sends ONE marked probe (ICMP or ICMPv6 echo with a distinctive
id, or a TCP SYN / UDP datagram from a distinctive source port, over IPv4 or
IPv6) from a socket opened inside the source node, and watches it everywhere
at once:

1. where it was seen — a tcpdump in every node (:mod:`vnetlab.probe.sightings`),
   with the addresses it carried on each interface, so NAT is visible;
2. the route that sent it on — the FIB answer in each node, as
   ``ip [-6] route get D [from S iif I]`` gives it (:mod:`vnetlab.probe.fib`);
3. the bridge port a Linux bridge chose — the FDB entry for the frame's
   destination MAC, or flood; on an Open vSwitch bridge, the flows
   ``ovs-appctl ofproto/trace`` says the packet matches (:mod:`vnetlab.probe.ovstrace`);
4. nftables verdicts — the kernel's own trace events, from a separate
   short-lived table (:mod:`vnetlab.probe.nftrace`);
5. conntrack's NAT translation where the addresses changed;
6. the end: answered, delivered, refused (and by whom), dropped (where and
   by what) or lost (with the last place it was seen, and the ARP request or
   NDP neighbour solicitation nobody answered).

Then the reply's path, the same way. :func:`assemble` turns the observations
into a :class:`TraceResult` and is pure; :func:`render_text` prints it.
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import random
import re
import socket
import struct
import subprocess
import threading
import time
from typing import Any, Callable, Optional, Sequence

from vnetlab.host import netns
from vnetlab.executors import trace_tables
from vnetlab.host import run as runner
from vnetlab.executors.trace_tables import TABLE_PREFIX
from vnetlab.model.targets import format_target
from vnetlab.probe.fib import NodeView, RouteAnswer
from vnetlab.probe.icmp import UNREACH_V4, UNREACH_V6, build_echo_request, parse_icmpv4, parse_icmpv6
from vnetlab.probe.nftrace import NftTracer, TraceEvent, Verdict, by_trace_id, tracing, verdicts
from vnetlab.probe.ovstrace import OvsVerdict, flow_fields, ofproto_trace
from vnetlab.probe.transport import queue_icmp_errors
from vnetlab.probe import tcpdump
from vnetlab.probe.sightings import (
    ECHO_REPLY, ECHO_REQUEST, ICMP_ERRORS, ND_ADVERT, ND_SOLICIT, Capture, Sighting, capture_filter, parse_pcap,
    wait_ready,
)

ANSWERED, DELIVERED, REFUSED, DROPPED, LOST = "answered", "delivered", "refused", "dropped", "lost"
PROTOS = ("icmp", "tcp", "udp")
FAMILIES = (4, 6)
MARKER_RANGE = (33000, 60999)  # source ports / ICMP ids the probe is marked with
SETTLE = 0.15  # seconds to let the last packets reach the captures
PCAP_HEADER = 24  # a capture this long holds no packet
PAYLOAD_PREFIX = b"vnetlab-trace "
# Socket options Python does not name: queue ICMP errors on the socket's error queue.
ICMP_NAME = {4: "ICMP", 6: "ICMPv6"}
UNREACHABLE = {4: 3, 6: 1}  # the destination-unreachable type
UNREACH_CODES = {4: UNREACH_V4, 6: UNREACH_V6}
# Unreachable codes that mean "someone said no" (a reject rule, a closed port, a prohibit route).
REFUSING_CODES = {4: (2, 3, 9, 10, 13), 6: (1, 4, 5, 6)}
# The unreachable code a router sends when the next hop never answered ARP / NDP.
NEIGHBOUR_FAILED = {4: 1, 6: 3}
ICMP_TYPE_NAMES = {4: {0: "echo reply", 8: "echo request", 11: "time exceeded", 12: "parameter problem"},
                   6: {128: "echo request", 129: "echo reply", 2: "packet too big", 3: "time exceeded",
                       4: "parameter problem"}}


@dataclasses.dataclass
class Hop:
    """One visit of the packet to one node."""

    node: str
    seen: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # interface, dir, addresses, ts
    route: Optional[dict[str, Any]] = None
    bridges: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # bridge, decision, port(s)
    ovs: list[str] = dataclasses.field(default_factory=list)  # what ofproto/trace said per OVS bridge
    nft: list[str] = dataclasses.field(default_factory=list)
    nat: list[str] = dataclasses.field(default_factory=list)
    conntrack: list[str] = dataclasses.field(default_factory=list)
    tokens: list[str] = dataclasses.field(default_factory=list)  # this hop in the packet-flow line


@dataclasses.dataclass
class Leg:
    """One direction: the probe, or the reply (or the error/RST sent back)."""

    what: str  # e.g. "tcp 10.0.0.1:40000 > 10.0.1.2:22 SYN"
    hops: list[Hop]

    @property
    def nodes(self) -> list[str]:
        """The nodes passed, in order (a node visited twice appears twice)."""
        return [hop.node for hop in self.hops]


@dataclasses.dataclass
class TraceResult:
    """What happened to the probe."""

    lab: str
    source: str
    destination: str
    proto: str
    port: Optional[int]
    marker: int
    result: str  # answered | delivered | refused | dropped | lost
    by: str  # the node that answered, refused or dropped it; the last node it was seen in when lost
    reason: str
    forward: Leg
    reply: Optional[Leg] = None
    last_seen: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready data (what ``vnetlab trace --json`` prints)."""
        data = dataclasses.asdict(self)
        data["path"] = path_line(self.forward, self)
        data["reply_path"] = path_line(self.reply, None) if self.reply else None
        data["forward"]["nodes"] = self.forward.nodes
        if self.reply:
            data["reply"]["nodes"] = self.reply.nodes
        return data

    def passed(self, node: str) -> bool:
        """Whether the probe was seen in ``node``."""
        return node in self.forward.nodes


@dataclasses.dataclass
class Observations:
    """Everything :func:`trace` gathered; :func:`assemble` interprets it (pure)."""

    lab: str
    source: str
    destination: str
    proto: str
    port: Optional[int]
    marker: int
    sightings: list[Sighting]
    nft_events: dict[str, list[TraceEvent]]  # node -> events
    trace_table: str
    routes: Callable[[str, str, str, str], RouteAnswer]  # (node, dst, src, iif) -> the FIB answer
    bridge_of: Callable[[str, str], Optional[str]]  # (node, ifname) -> its Linux bridge, if a port
    fdb: Callable[[str, str, str], Optional[str]]  # (node, bridge, mac) -> the port the FDB names
    conntrack: Callable[[str], list[str]]  # node -> its conntrack entries for the probe, rendered
    routes_from: Callable[[str, str], bool] = lambda node, ifname: True  # (node, if) -> meets the IP layer
    neighbour: Callable[[str, str], Optional[str]] = lambda node, ip: None  # (node, ip) -> NUD state
    # (node, ifname, sighting, destination MAC) -> ofproto/trace's verdict; None where no OVS port
    ovs: Callable[[str, str, Sighting, str], Optional[OvsVerdict]] = lambda node, ifname, s, mac: None
    send_error: int = 0  # errno the source socket got, 0 if none
    mac_owner: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)  # (node, if) -> MAC


# -- classification ----------------------------------------------------------
def is_probe(s: Sighting, proto: str, marker: int) -> bool:
    """The probe itself, in any NATed form."""
    if proto == "icmp":
        return s.proto == "icmp" and s.icmp_type == ECHO_REQUEST[s.family] and s.icmp_id == marker
    if s.proto != proto or s.sport != marker:
        return False
    return proto == "udp" or ("S" in s.flags and "A" not in s.flags)


def is_reply(s: Sighting, proto: str, marker: int) -> bool:
    """The answer to the probe: echo reply, SYN-ACK or RST, a UDP datagram back."""
    if proto == "icmp":
        return s.proto == "icmp" and s.icmp_type == ECHO_REPLY[s.family] and s.icmp_id == marker
    if s.proto != proto or s.dport != marker:
        return False
    return proto == "udp" or ("S" in s.flags and "A" in s.flags) or "R" in s.flags


def is_error(s: Sighting, proto: str, marker: int) -> bool:
    """An ICMP or ICMPv6 error that quotes the probe."""
    return s.proto == "icmp" and s.icmp_type in ICMP_ERRORS[s.family] and s.inner is not None \
        and s.inner[0] == proto and s.inner[3] == marker


def _first_copy(sightings: list[Sighting]) -> list[Sighting]:
    """Only the first transmission (its copy id, which NAT keeps), not retransmissions."""
    if not sightings:
        return []
    first = sightings[0].copy_id
    return [s for s in sightings if s.copy_id == first]


def _order(sightings: list[Sighting]) -> list[Sighting]:
    # Same timestamp: a send comes before the receive it causes.
    return sorted(sightings, key=lambda s: (s.ts, 0 if s.direction == "out" else 1))


def _event_kind(events: list[TraceEvent], proto: str, marker: int) -> str:
    """Whether one traced packet (its events) was the probe or the reply."""
    packet = next((e for e in events if e.kind == "packet"), None)
    if packet is None:
        return ""
    text = packet.rule
    if proto == "icmp":
        if packet.echo_id() != marker:
            return ""
        return "probe" if "echo-request" in text else "reply" if "echo-reply" in text else ""
    sport, dport = packet.field(f"{proto} sport"), packet.field(f"{proto} dport")
    if proto == "tcp":
        flags = re.search(r"tcp flags == (\S+(?: \| \S+)*)", text)
        names = set(flags.group(1).replace("|", " ").split()) if flags else set()
        if sport == str(marker) and names == {"syn"}:
            return "probe"
        if dport == str(marker) and ({"syn", "ack"} <= names or "rst" in names):
            return "reply"
        return ""
    return "probe" if sport == str(marker) else "reply" if dport == str(marker) else ""


def node_verdicts(obs: Observations, node: str, kind: str) -> list[Verdict]:
    """The nft verdicts of ``node`` for the probe (``kind`` probe) or the reply."""
    found = []
    for events in by_trace_id(obs.nft_events.get(node, [])).values():
        if _event_kind(events, obs.proto, obs.marker) == kind:
            found.extend(verdicts(events, obs.trace_table))
    return found


# -- assembly ---------------------------------------------------------------
def _visits(sightings: list[Sighting]) -> list[list[Sighting]]:
    visits: list[list[Sighting]] = []
    for s in sightings:
        if visits and visits[-1][0].node == s.node:
            visits[-1].append(s)
        else:
            visits.append([s])
    return visits


def _addresses(s: Sighting) -> str:
    return format_target(s.src, s.sport)


def _dest(s: Sighting) -> str:
    return format_target(s.dst, s.dport)


def _build_leg(obs: Observations, sightings: list[Sighting], kind: str, source_node: str) -> tuple[Leg, list]:
    """Hops of one direction; also returns the drops found [(node, verdict or route)]."""
    hops: list[Hop] = []
    problems: list[tuple[str, Any]] = []
    visits = _visits(sightings)
    if not visits and kind == "probe":
        visits = [[]]
    for number, visit in enumerate(visits):
        node = visit[0].node if visit else source_node
        hop = Hop(node)
        for s in visit:
            hop.seen.append({"interface": s.ifname, "dir": s.direction, "src": _addresses(s), "dst": _dest(s),
                             "ts": round(s.ts, 6)})
        ins = [s for s in visit if s.direction == "in"]
        outs = [s for s in visit if s.direction == "out"]
        l3_in = [s for s in ins if obs.bridge_of(node, s.ifname) is None and obs.routes_from(node, s.ifname)]
        originated = number == 0 and not ins
        route: Optional[RouteAnswer] = None
        if l3_in or originated:
            after = outs[-1] if outs else (l3_in[-1] if l3_in else None)
            before = l3_in[-1] if l3_in else None
            dst = after.dst if after is not None else obs.destination
            if before is not None:
                route = obs.routes(node, dst, before.src, before.ifname)
            else:
                route = obs.routes(node, dst, "", "")
            hop.route = dataclasses.asdict(route) | {"text": route.describe(),
                                                     "command": route.command(before.src if before else "")}
            if not route.ok:
                problems.append((node, route))
        first, last = (visit[0], visit[-1]) if visit else (None, None)
        if first is not None and l3_in:
            # On the reply, a rewrite is the NAT of the probe undone by conntrack.
            snat, dnat = ("SNAT", "DNAT") if kind == "probe" else ("reverse NAT src", "reverse NAT dst")
            if (first.src, first.sport) != (last.src, last.sport):
                hop.nat.append(f"{snat} {_addresses(first)} -> {_addresses(last)}")
            if (first.dst, first.dport) != (last.dst, last.dport):
                hop.nat.append(f"{dnat} {_dest(first)} -> {_dest(last)}")
            if hop.nat:
                hop.conntrack = obs.conntrack(node)
        found = node_verdicts(obs, node, kind)
        hop.nft = [v.describe() for v in found]
        drop = next((v for v in found if v.dropped), None)
        if drop is not None:
            problems.append((node, drop))
        switched = {}  # in-interface -> OVS verdict, for frames an OVS bridge of this node took in
        for s in ins:
            if s not in l3_in and obs.bridge_of(node, s.ifname) is None:
                verdict = obs.ovs(node, s.ifname, s, _receiver_mac(obs, s, sightings))
                if verdict is not None:
                    switched[s.ifname] = verdict
                    hop.ovs.append(verdict.describe())
                    if verdict.dropped:
                        problems.append((node, verdict))
        # The packet-flow tokens: where it came in, the decisions, where it went out.
        decided = False
        told_bridges: set[str] = set()

        def decisions() -> list[str]:
            tokens = []
            if route is not None:
                tokens.append(f"local {route.dst}" if route.kind == "local" else route.describe())
            tokens.extend(f"nft: {v.describe()}" for v in found if v.rule and not v.dropped)
            tokens.extend(hop.nat)
            if drop is not None:
                tokens.append(f"nft: {drop.describe()}")
            return tokens

        for s in visit:
            if s.direction == "in" and s.ifname in switched:
                hop.tokens.append(s.point)
                hop.tokens.append(switched[s.ifname].describe())
                continue
            if s.direction == "out" and not decided:
                hop.tokens.extend(decisions())
                decided = True
            bridge = obs.bridge_of(node, s.ifname)
            if s.direction == "out" and bridge is not None and bridge not in told_bridges:
                told_bridges.add(bridge)
                decision = _bridge_decision(obs, node, bridge, s, visit, sightings)
                hop.bridges.append(decision)
                hop.tokens.append(decision["text"])
            if not hop.tokens or hop.tokens[-1] != s.point:
                hop.tokens.append(s.point)
        if not decided:
            hop.tokens.extend(decisions())
        hops.append(hop)
    return Leg(_describe_packet(sightings[0] if sightings else None, obs, kind), hops), problems


def _receiver_mac(obs: Observations, sent: Sighting, leg: list[Sighting]) -> str:
    """The frame's destination MAC: that of the interface that next receives it as addressed to itself."""
    later = [s for s in leg if s.ts >= sent.ts and s.direction == "in" and s.pkttype == 0 and s.node != sent.node]
    return obs.mac_owner.get((later[0].node, later[0].ifname), "") if later else ""


def _bridge_decision(obs: Observations, node: str, bridge: str, out: Sighting, visit: list[Sighting],
                     leg: list[Sighting]) -> dict[str, Any]:
    ports = sorted({s.ifname for s in visit if s.direction == "out" and obs.bridge_of(node, s.ifname) == bridge})
    mac = _receiver_mac(obs, out, leg)
    port = obs.fdb(node, bridge, mac) if mac else None
    if len(ports) > 1:
        text = f"bridge {bridge}: flood to {', '.join(ports)}" + (f" ({mac} not in fdb)" if mac and not port else "")
        decision = "flood"
    elif port:
        text = f"bridge {bridge}: fdb {mac} -> port {port}"
        decision = "fdb"
    else:
        text = f"bridge {bridge}: port {ports[0]}" + (f" ({mac} not in fdb: flood)" if mac else "")
        decision = "flood" if mac else "port"
    return {"bridge": bridge, "decision": decision, "mac": mac, "port": port or "", "ports": ports, "text": text}


def icmp_name(family: int, icmp_type: Optional[int], code: Optional[int]) -> str:
    """``echo request``, ``port unreachable``, ``time exceeded`` ... for ICMP (4) or ICMPv6 (6)."""
    if icmp_type == UNREACHABLE[family]:
        return UNREACH_CODES[family].get(code, f"unreachable code {code}")
    return ICMP_TYPE_NAMES[family].get(icmp_type, f"type {icmp_type}")


def _describe_packet(s: Optional[Sighting], obs: Observations, kind: str) -> str:
    if s is None:
        return f"{obs.proto} to {format_target(obs.destination, obs.port)} (never sent)"
    if s.proto == "icmp":
        return f"{ICMP_NAME[s.family].lower()} {s.src} > {s.dst} {icmp_name(s.family, s.icmp_type, s.icmp_code)}"
    flags = f" {s.flags}" if s.flags else ""
    return f"{s.proto} {s.addresses()}{flags}"


def assemble(obs: Observations) -> TraceResult:
    """Interprets the observations of one trace (pure)."""
    ordered = _order(obs.sightings)
    probe = _first_copy([s for s in ordered if is_probe(s, obs.proto, obs.marker)])
    replies = _first_copy([s for s in ordered if is_reply(s, obs.proto, obs.marker)])
    errors = _first_copy([s for s in ordered if is_error(s, obs.proto, obs.marker)])
    forward, problems = _build_leg(obs, probe, "probe", obs.source)
    back = replies or errors
    reply = _build_leg(obs, back, "reply", back[0].node)[0] if back else None
    last = probe[-1].point if probe else ""
    result = dict(result=LOST, by=probe[-1].node if probe else obs.source, reason="lost without trace")
    if back:
        first = back[0]
        origin = first.node
        if replies and not ("R" in first.flags):
            result = dict(result=ANSWERED, by=origin, reason=f"answered by {origin}: {reply.what}")
        elif replies:
            why = _nft_reason(problems, origin, rejected=True)
            result = dict(result=REFUSED, by=origin, reason=f"refused by {origin}: TCP RST" + why)
        else:
            family = first.family
            unreachable = first.icmp_type == UNREACHABLE[family]
            refusing = unreachable and first.icmp_code in REFUSING_CODES[family]
            why = _nft_reason(problems, origin, rejected=True) if refusing else _route_reason(problems, origin)
            if unreachable and first.icmp_code == NEIGHBOUR_FAILED[family]:
                why += _neighbour_reason(obs, forward, origin)
            code = icmp_name(family, first.icmp_type, first.icmp_code)
            result = dict(result=REFUSED if refusing else DROPPED, by=origin,
                          reason=f"{'refused' if refusing else 'dropped'} by {origin}: {ICMP_NAME[family]} {code} "
                                 f"from {first.src}" + why)
    elif problems:
        node, problem = problems[0]
        if isinstance(problem, Verdict):
            result = dict(result=REFUSED if problem.rejected else DROPPED, by=node,
                          reason=f"{problem.describe()} at {node}")
        elif isinstance(problem, OvsVerdict):
            result = dict(result=DROPPED, by=node, reason=f"{problem.describe()} at {node}")
        else:
            result = dict(result=DROPPED, by=node, reason=f"dropped at {node}: {problem.describe()}")
    elif obs.send_error:
        result = dict(result=DROPPED, by=obs.source,
                      reason=f"{obs.source} could not send it: {errno.errorcode.get(obs.send_error, obs.send_error)}")
    elif probe and forward.hops and forward.hops[-1].route and forward.hops[-1].route.get("kind") == "local":
        node = forward.hops[-1].node
        result = dict(result=DELIVERED, by=node, reason=f"delivered to {node} (no reply)")
    elif not probe:
        result["reason"] = _never_left(obs)
    elif probe:
        unanswered = _unanswered_neighbour(ordered, probe[-1])
        if unanswered:
            result["reason"] = f"lost: {unanswered}; last seen at {last}"
        else:
            result["reason"] = f"lost without trace; last seen at {last}"
    return TraceResult(obs.lab, obs.source, obs.destination, obs.proto, obs.port, obs.marker,
                       forward=forward, reply=reply, last_seen=last, **result)


def _never_left(obs: Observations) -> str:
    """Why a probe that no interface ever saw did not leave its source: most often the next hop
    of its route does not answer ARP (or NDP), so the kernel holds the packet and drops it."""
    route = obs.routes(obs.source, obs.destination, "", "")
    if not route.ok or route.kind != "unicast":
        return f"lost without trace: {obs.source} did not send it ({route.describe()})"
    nexthop = route.via or obs.destination
    state = obs.neighbour(obs.source, nexthop)
    asked = "no neighbour advertisement" if ":" in nexthop else "no ARP answer"
    via = "the gateway" if route.via else "the destination, on-link"
    return (f"never left {obs.source}: {asked} for {nexthop} ({via} of {route.describe()}; "
            f"neighbour {state or 'unresolved'})")


def _nft_reason(problems: list, node: str, rejected: bool) -> str:
    for where, problem in problems:
        if where == node and isinstance(problem, Verdict) and (problem.rejected or not rejected):
            return f" — {problem.describe()}"
    return ""


def _neighbour_reason(obs: Observations, forward: Leg, node: str) -> str:
    """Why ``node`` said host (address) unreachable: its next hop never answered ARP / NDP."""
    hop = next((h for h in reversed(forward.hops) if h.node == node and h.route and h.route["ok"]), None)
    if hop is None:
        return ""
    nexthop = hop.route["via"] or hop.route["dst"]
    state = obs.neighbour(node, nexthop)
    if state is None or "REACHABLE" in state or "PERMANENT" in state:
        return ""
    asked = "no neighbour advertisement" if ":" in nexthop else "no ARP answer"
    return f" — {asked} for {nexthop} (neighbour {state})"


def _route_reason(problems: list, node: str) -> str:
    for where, problem in problems:
        if where == node and isinstance(problem, RouteAnswer):
            return f" — {problem.describe()}"
    return ""


# (question, answer) of neighbour resolution: ARP request/reply opcodes, NDP solicitation/advertisement.
_NEIGHBOUR_ASK_ANSWER = {"arp": (1, 2), "ndp": (ND_SOLICIT, ND_ADVERT)}


def _unanswered_neighbour(ordered: list[Sighting], last: Sighting) -> str:
    """The ARP request or neighbour solicitation that the node where the probe was
    last seen sent after it, and nobody answered ('' if none)."""
    for s in ordered:
        if s.proto not in _NEIGHBOUR_ASK_ANSWER or s.node != last.node or s.direction != "out" \
                or s.ts < last.ts - 0.001:
            continue
        ask, answer = _NEIGHBOUR_ASK_ANSWER[s.proto]
        if s.icmp_type != ask:
            continue
        if not any(a.proto == s.proto and a.icmp_type == answer and a.src == s.dst and a.node == last.node
                   for a in ordered):
            if s.proto == "ndp":
                return f"no answer to neighbour solicitation for {s.dst} (asked by {s.point})"
            return f"no answer to ARP who-has {s.dst} (asked by {s.point})"
    return ""


# -- rendering --------------------------------------------------------------
def path_line(leg: Optional[Leg], result: Optional[TraceResult]) -> str:
    """The packet-flow line: ``[a eth0] -> [sw p1] -> ... -> delivered``."""
    if leg is None:
        return ""
    tokens = [token for hop in leg.hops for token in hop.tokens]
    if result is not None and result.result == LOST:
        tokens.append(f"lost (last seen at {result.last_seen})" if result.last_seen else "lost")
    elif result is not None:
        tokens.append(result.result if result.result in (ANSWERED, DELIVERED) else f"{result.result} at {result.by}")
    else:
        tokens.append("back at the source")
    return " -> ".join(tokens)


def render_text(result: TraceResult) -> str:
    """The trace as text: the packet-flow lines, then every hop in detail."""
    target = format_target(result.destination, result.port)
    lines = [f"trace {result.lab}: {result.source} -> {target} {result.proto} (marker {result.marker})",
             f"  {path_line(result.forward, result)}"]
    if result.reply:
        lines.append(f"  reply: {path_line(result.reply, None)}")
    lines.append(f"result: {result.result} — {result.reason}")
    for title, leg in (("probe", result.forward), ("reply", result.reply)):
        if leg is None:
            continue
        lines.append(f"{title}: {leg.what}")
        for number, hop in enumerate(leg.hops, start=1):
            lines.append(f"  {number}. {hop.node}")
            for seen in hop.seen:
                lines.append(f"     {seen['dir']:>3} {seen['interface']:<12} {seen['src']} > {seen['dst']}")
            for bridge in hop.bridges:
                lines.append(f"     {bridge['text']}")
            for verdict in hop.ovs:
                lines.append(f"     {verdict}")
            if hop.route:
                lines.append(f"     {hop.route['text']}    [{hop.route['command']}]")
            for verdict in hop.nft:
                lines.append(f"     nft: {verdict}")
            for nat in hop.nat:
                lines.append(f"     {nat}")
            for entry in hop.conntrack:
                lines.append(f"     conntrack: {entry}")
    return "\n".join(lines)


# -- conntrack ----------------------------------------------------------------
def parse_conntrack(line: str) -> Optional[tuple[dict[str, str], dict[str, str]]]:
    """(original, reply) tuples of one ``conntrack -L`` line; None if it has no tuples."""
    original: dict[str, str] = {}
    reply: dict[str, str] = {}
    for token in line.split():
        key, eq, value = token.partition("=")
        if not eq or key not in ("src", "dst", "sport", "dport", "type", "code", "id"):
            continue
        target = original if key not in original else reply
        if key in target:
            continue
        target[key] = value
    return (original, reply) if original and reply else None


def format_conntrack(original: dict[str, str], reply: dict[str, str]) -> str:
    """``original 10.10.10.100:40000 > 198.51.100.80:80, reply 198.51.100.80:80 > 203.0.113.10:40000``
    (IPv6 with ports as ``[fd00::1]:40000``)."""
    def side(t: dict[str, str]) -> str:
        if "sport" in t:
            return f"{format_target(t['src'], int(t['sport']))} > {format_target(t['dst'], int(t['dport']))}"
        return f"{t['src']} > {t['dst']}" + (f" id {t['id']}" if "id" in t else "")
    return f"original {side(original)}, reply {side(reply)}"


def conntrack_argv(proto: str, family: int) -> list[str]:
    """``conntrack -L`` for the probe's protocol and family (ICMPv6 has its own protocol name)."""
    if family == 6:
        return ["conntrack", "-L", "-f", "ipv6", "-p", "icmpv6" if proto == "icmp" else proto]
    return ["conntrack", "-L", "-p", proto]


def _conntrack_entries(netns_name: str, proto: str, marker: int, family: int) -> list[str]:
    try:
        done = runner.run(netns_name, conntrack_argv(proto, family), capture_output=True, text=True, timeout=5)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return ["(conntrack not available — apt-get install conntrack)"]
    entries = []
    for line in done.stdout.splitlines():
        parsed = parse_conntrack(line)
        if parsed is None:
            continue
        original, reply = parsed
        if str(marker) in (original.get("sport"), original.get("id"), reply.get("dport")):
            entries.append(format_conntrack(original, reply))
    return entries


# -- the probe ------------------------------------------------------------------
def _send_probe(netns_name: str, proto: str, dst: str, port: Optional[int], marker: int,
                timeout: float) -> int:
    """Sends the probe from inside ``netns_name`` and waits for an answer.

    Returns:
        0, or the errno of a failure the source saw at once (ENETUNREACH ...).
    """
    payload = PAYLOAD_PREFIX + str(marker).encode()
    v6 = ipaddress.ip_address(dst).version == 6
    family = socket.AF_INET6 if v6 else socket.AF_INET
    kind = {"icmp": (socket.SOCK_RAW, socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP),
            "tcp": (socket.SOCK_STREAM, 0), "udp": (socket.SOCK_DGRAM, 0)}[proto]
    with netns.entered(netns_name):
        sock = socket.socket(family, *kind)
    with sock:
        sock.settimeout(timeout)
        try:
            if proto == "icmp":
                sock.sendto(build_echo_request(marker, 1, v6=v6, payload=payload), (dst, 0))
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    sock.settimeout(max(deadline - time.monotonic(), 0.001))
                    data, sender = sock.recvfrom(2048)
                    # A raw ICMPv6 socket reads no IP header; a raw ICMP socket does.
                    answer = parse_icmpv6(data, ipaddress.ip_address(sender[0])) if v6 else parse_icmpv4(data)
                    if answer is not None and answer.ident == marker:
                        return 0
                return 0
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("::" if v6 else "0.0.0.0", marker))
            if proto == "tcp":
                # Linger 0: close with a RST, so no half-open connection stays at the server.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                queue_icmp_errors(sock, socket.AF_INET6 if v6 else socket.AF_INET)  # see there: why
                sock.connect((dst, port))
                return 0
            sock.connect((dst, port))
            sock.send(payload)
            sock.recv(2048)
            return 0
        except (ConnectionRefusedError, socket.timeout):
            return 0  # an answer (RST, ICMP) or none: the captures tell which
        except OSError as exc:
            return exc.errno or 0


# -- the whole trace --------------------------------------------------------------
def trace(spec: Any, namespace_of: Callable[[str], str], source: str, destination: str, proto: str = "icmp",
          port: Optional[int] = None, timeout: float = 1.0, family: Optional[int] = None) -> TraceResult:
    """Sends one marked probe from ``source`` and reports its path and the reply's.

    Args:
        spec: the running lab's :class:`vnetlab.model.schema.LabSpec`.
        namespace_of: maps a node name to its namespace name.
        source: the node the probe starts from.
        destination: a node name, a name the lab's DNS serves, an IPv4 or IPv6 address, or one of them
            with a port (``node:80``, ``10.0.0.2:80``, ``[fd00::2]:80``).
        proto: icmp, tcp or udp (tcp and udp need ``port``).
        port: the destination port.
        timeout: seconds to wait for an answer.
        family: 4 or 6 to trace a node's IPv4 or IPv6 address (without it,
            a node stands for its first address, preferring IPv4).

    Raises:
        ValueError: bad source, destination, proto, port or family.
        FileNotFoundError: a node's namespace is missing (lab not up).
    """
    from vnetlab.model.targets import resolve_target
    from vnetlab.probe.held import held_addresses

    if source not in spec.nodes:
        raise ValueError(f"{source!r} is not a node of lab {spec.lab!r} (nodes: {', '.join(spec.nodes)})")
    if proto not in PROTOS:
        raise ValueError(f"unknown proto {proto!r} — use icmp, tcp or udp")
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown IP version {family!r} — use 4 or 6")
    dst, embedded_port = resolve_target(spec, destination, family, held_addresses(spec, namespace_of))
    port = port if port is not None else embedded_port
    if proto != "icmp" and port is None:
        raise ValueError(f"proto {proto} needs a port — give --port N or DST:PORT")
    if proto == "icmp" and port is not None:
        raise ValueError("icmp has no ports — drop the port or use --proto tcp/udp")
    dst_family = ipaddress.ip_address(dst).version
    nodes = list(spec.nodes)
    names = {node: namespace_of(node) for node in nodes}
    for node, ns in names.items():
        if not netns.exists(ns):
            raise FileNotFoundError(f"namespace {ns} of node {node} does not exist — is the lab up? "
                                    "(vnetlab up LABFILE)")
    marker = _claim_marker()
    try:
        return _trace(spec, source, proto, dst, port, timeout, dst_family, marker, nodes, names)
    finally:
        _release_marker(marker)


# Markers of the traces running in this process: traces at the same time (trace_many) never share one.
_MARKERS: set[int] = set()
TOOLS = ("tcpdump", "nft", "conntrack")  # the programs a trace runs


def missing(exc: FileNotFoundError) -> Exception:
    """What a :func:`trace`'s ``FileNotFoundError`` means, to raise in its place (the CLI and the
    web say the same): a program of :data:`TOOLS` not installed (``EnvironmentProblem``, with the
    ``apt-get`` line), else a node's namespace gone (``LookupError``: the lab is not up)."""
    from vnetlab.errors import EnvironmentProblem

    if exc.filename in TOOLS:
        return EnvironmentProblem(f"{exc.filename} is not installed — apt-get install {exc.filename}")
    return LookupError(str(exc))


_MARKERS_LOCK = threading.Lock()


def _claim_marker() -> int:
    with _MARKERS_LOCK:
        while True:
            marker = random.randint(*MARKER_RANGE)
            if marker not in _MARKERS:
                _MARKERS.add(marker)
                return marker


def _release_marker(marker: int) -> None:
    with _MARKERS_LOCK:
        _MARKERS.discard(marker)


def _trace(spec: Any, source: str, proto: str, dst: str, port: Optional[int], timeout: float, dst_family: int,
           marker: int, nodes: list[str], names: dict[str, str]) -> TraceResult:
    table = f"{TABLE_PREFIX}{marker:x}"
    views: dict[str, NodeView] = {}

    def view(node: str) -> NodeView:
        # Opened only for nodes the packet reached: a big lab's other nodes cost just a tcpdump.
        if node not in views:
            views[node] = NodeView(names[node])
        return views[node]

    try:
        nft_nodes = [node for node in nodes if _has_ruleset(names[node])]
        captures = [Capture(node, names[node], capture_filter(proto, marker, dst_family)) for node in nodes]
        tracers = [NftTracer(names[node], table, proto, marker) for node in nft_nodes]
        try:
            for capture in captures:
                capture.start()
            # Recorded before the tables exist: if this process is killed, `up` removes them.
            with trace_tables.recorded(spec.lab, table, [names[node] for node in nft_nodes]), tracing(tracers):
                wait_ready(captures)
                send_error = _send_probe(names[source], proto, dst, port, marker, timeout)
                time.sleep(SETTLE + tcpdump.delivery_delay())
        finally:
            for capture in captures:
                capture.interrupt()  # all at once; then collect each
            for capture in captures:
                capture.stop()
        sightings = []
        for capture in captures:
            if len(capture.raw) > PCAP_HEADER:
                ifnames = {index: link.name for index, link in view(capture.node).links.items()}
                sightings.extend(parse_pcap(capture.raw, capture.node, ifnames))
        view(source)
        obs = Observations(
            lab=spec.lab, source=source, destination=dst, proto=proto, port=port, marker=marker,
            sightings=sightings, nft_events={t_node: t.events for t_node, t in zip(nft_nodes, tracers)},
            trace_table=table, send_error=send_error,
            routes=lambda node, d, s, iif: view(node).route_get(d, s, iif),
            bridge_of=lambda node, ifname: _bridge_name(view(node), ifname),
            routes_from=lambda node, ifname: view(node).routes_from(ifname, dst_family),
            neighbour=lambda node, ip: view(node).neighbour(ip),
            ovs=lambda node, ifname, s, mac: ofproto_trace(names[node], ifname, flow_fields(
                ifname, s.proto, s.src, s.dst, s.sport, s.dport, s.icmp_type, s.mac, mac)),
            fdb=lambda node, bridge, mac: _fdb_port(view(node), bridge, mac),
            mac_owner={(node, link.name): link.mac.lower() for node, seen in views.items()
                       for link in seen.links.values()},
            conntrack=lambda node: _conntrack_entries(names[node], proto, marker, dst_family),
        )
        return assemble(obs)
    finally:
        for opened in views.values():
            opened.close()


def _bridge_name(view: NodeView, ifname: str) -> Optional[str]:
    bridge = view.bridge_of(ifname)
    return bridge.name if bridge is not None else None


def _fdb_port(view: NodeView, bridge: str, mac: str) -> Optional[str]:
    link = view.by_name(bridge)
    return view.fdb(link).get(mac.lower()) if link is not None else None


# Traces run at the same time by trace_many: each starts a tcpdump (and an nft
# monitor) in every node, so a big lab's traces still run one after another.
TRACE_WORKERS = 4
TRACE_CAPTURES = 64  # tcpdumps the traces at the same time may run together


@dataclasses.dataclass(frozen=True)
class TraceRequest:
    """The arguments of one :func:`trace` (but the lab's)."""

    source: str
    destination: str
    proto: str = "icmp"
    port: Optional[int] = None
    timeout: float = 1.0
    family: Optional[int] = None


def trace_many(spec: Any, namespace_of: Callable[[str], str],
               requests: Sequence[TraceRequest]) -> list[TraceResult | Exception]:
    """Runs every trace of ``requests``, several at once in a small lab, and returns their results
    in the order asked (an exception where :func:`trace` raised one).

    Each trace marks its probe with its own marker (source port or echo id),
    so its captures, nft trace events and conntrack entries are its own; the
    others' trace tables are left out of its verdicts. In a lab of more than
    ``TRACE_CAPTURES // TRACE_WORKERS`` nodes fewer run at once, and in one of
    ``TRACE_CAPTURES`` nodes or more, one at a time; so do they in rootless
    mode, whose capture program delivers its packets late.
    """
    def one(request: TraceRequest) -> TraceResult | Exception:
        try:
            return trace(spec, namespace_of, request.source, request.destination, proto=request.proto,
                         port=request.port, timeout=request.timeout, family=request.family)
        except Exception as exc:  # noqa: BLE001 — handed back to the caller, in its place
            return exc

    # dumpcap (rootless) hands packets over on a timer: traces at the same time would add to the
    # load that already makes it late, so those run one after another, as a big lab's do.
    workers = 1 if len(requests) < 2 or tcpdump.delivery_delay() else \
        max(1, min(TRACE_WORKERS, len(requests), TRACE_CAPTURES // max(1, len(spec.nodes))))
    if workers == 1:
        return [one(request) for request in requests]
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, requests))


def _has_ruleset(netns_name: str) -> bool:
    from vnetlab.executors.nftables import run_nft

    return bool(run_nft(netns_name, "list tables\n").strip())
