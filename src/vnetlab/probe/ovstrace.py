"""What an Open vSwitch bridge of the lab did with a packet: ``ofproto/trace``.

OVS in a lab runs as a per-node daemon pair (:mod:`vnetlab.executors.ovs`);
``ovs-appctl ofproto/trace BRIDGE FLOW`` asks that node's ovs-vswitchd which
flows a packet with these fields matches and what the datapath would do.
:func:`parse_ofproto_trace` reads its answer (pure, tested without root).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Optional

_ENTRY = re.compile(r"^\s*(?P<table>\d+)\. (?P<match>.+)$")
_BRIDGE = re.compile(r'^bridge\("(?P<bridge>[^"]+)"\)$')


@dataclasses.dataclass(frozen=True)
class OvsVerdict:
    """The flows a packet matched on one OVS bridge and the datapath's actions."""

    bridge: str
    flows: tuple[str, ...]  # "table 0: ip,nw_src=10.0.0.66, priority 100 -> drop"
    actions: str  # the datapath actions: "drop", or datapath output port numbers "1,3"

    @property
    def dropped(self) -> bool:
        """Whether the bridge dropped the packet."""
        return self.actions == "drop"

    def describe(self) -> str:
        """``dropped by OVS br0 flow 'table 0: ip,nw_src=10.0.0.66, priority 100 -> drop'``."""
        last = f" flow '{self.flows[-1]}'" if self.flows else ""
        if self.dropped:
            return f"dropped by OVS {self.bridge}{last}"
        return f"OVS {self.bridge}{last}"


def parse_ofproto_trace(text: str) -> Optional[OvsVerdict]:
    """The verdict in ``ovs-appctl ofproto/trace`` output; None if it has none."""
    bridge = ""
    flows: list[str] = []
    actions: Optional[str] = None
    current: Optional[list[str]] = None
    for line in text.splitlines():
        found = _BRIDGE.match(line.strip())
        if found:
            bridge = bridge or found.group("bridge")
            continue
        entry = _ENTRY.match(line)
        if entry:
            current = [f"table {entry.group('table')}: {entry.group('match').strip()}"]
            flows.append("")
            continue
        if line.startswith("Datapath actions:"):
            actions = line.split(":", 1)[1].strip()
            current = None
            continue
        if current is not None and line.startswith("    ") and line.strip():
            step = line.strip()
            if step.startswith("->"):  # NORMAL's note: "forwarding to learned port", "flooding"
                current[-1] += f" ({step[2:].strip()})"
            else:
                current.append(step)
            flows[-1] = f"{current[0]} -> {', '.join(current[1:])}"
        elif not line.strip():
            current = None
    if actions is None:
        return None
    return OvsVerdict(bridge, tuple(f for f in flows if f), actions)


def flow_fields(ifname: str, proto: str, src: str, dst: str, sport: Optional[int], dport: Optional[int],
                icmp_type: Optional[int], dl_src: str, dl_dst: str = "") -> str:
    """The packet as ``ofproto/trace`` flow syntax (IPv6 addresses make an IPv6 flow:
    ``tcp6,ipv6_src=...``; ``icmp`` then means ICMPv6)."""
    if ipaddress.ip_address(src).version == 6:
        fields = [f"in_port={ifname}", f"{proto}6", f"ipv6_src={src}", f"ipv6_dst={dst}"]
        icmp = ("icmpv6_type", "icmpv6_code")
    else:
        fields = [f"in_port={ifname}", proto, f"nw_src={src}", f"nw_dst={dst}"]
        icmp = ("icmp_type", "icmp_code")
    if proto in ("tcp", "udp") and sport is not None:
        fields += [f"tp_src={sport}", f"tp_dst={dport}"]
    if proto == "icmp" and icmp_type is not None:
        fields += [f"{icmp[0]}={icmp_type}", f"{icmp[1]}=0"]
    if dl_src:
        fields.append(f"dl_src={dl_src}")
    if dl_dst:
        fields.append(f"dl_dst={dl_dst}")
    return ",".join(fields)


def ofproto_trace(netns_name: str, ifname: str, flow: str) -> Optional[OvsVerdict]:
    """Asks the node's ovs-vswitchd what it does with ``flow`` arriving on
    ``ifname``; None when the node has no OVS or ``ifname`` is no OVS port."""
    from vnetlab.host.ovs_paths import node_rundir, vsctl
    from vnetlab.host.ovs_tools import run_tool

    rundir = node_rundir(netns_name)
    if rundir is None:
        return None
    bridge = run_tool(rundir, vsctl(rundir, "port-to-br", ifname), check=False)
    if bridge.returncode != 0 or not bridge.stdout.strip():
        return None
    answer = run_tool(rundir, ["ovs-appctl", "ofproto/trace", bridge.stdout.strip(), flow], check=False)
    if answer.returncode != 0:
        return None
    return parse_ofproto_trace(answer.stdout)
