"""Waiting, at the end of ``up``, until the lab forwards (DESIGN.md invariant 8).

Applying a plan returns when the kernel and Open vSwitch have *accepted*
every change, not when the lab carries traffic: a Linux bridge port turns
forwarding when the kernel's link watcher has seen its carrier, an OVS port
goes live and a bond member is enabled on ovs-vswitchd's next main-loop
pass, and LACP needs a LACPDU from each side. A packet sent in between is
dropped (an ARP request the kernel resends only a second later). So
``up`` ends with :func:`wait_until_forwarding`, which polls until:

- every **Linux bridge port** is forwarding (``brport`` state 3), read with
  one ``RTM_GETLINK`` dump of family ``AF_BRIDGE`` per namespace
  (``IFLA_PROTINFO`` → ``IFLA_BRPORT_STATE``), on the kernel backend's own
  netlink socket of that namespace: 15–25 ms for a 1,000-port bridge,
  where sysfs (``brport/state``) is 60 ms for the 1,000 reads alone, after a
  process with its own mount namespace and sysfs (1.3 s via ``ip netns exec``);
- every **OVS port** is live: its OpenFlow port state (``ovs-ofctl -O
  OpenFlow13 show``) has ``LIVE``, which ofproto sets once the port has
  carrier (and, for a bond member, LACP lets it in) — what the datapath
  uses to forward;
- every **OVS bond** has each member enabled (``ovs-appctl bond/show``,
  what the bond hashes or fails over across), an active member in
  active-backup mode, and ``lacp_status: negotiated`` where the bond runs
  LACP (802.3ad / balance-tcp, at ``lacp-time=fast``).

Only ports that can come up are waited for: a TAP nobody pumps (no link in
the file) never has carrier, and an interface the plan keeps down (both ends
of a cable cut with ``vnetlab link … down``) has none either. The wait is bounded; a port that never comes
up fails ``up`` with a message naming it and its state.

The decisions (:func:`bridge_port_problem`, :func:`ovs_port_problem`,
:func:`bond_problem`) and the parsers are pure, for the unit tests.
"""

from __future__ import annotations

import re
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Optional, Sequence

from vnetlab.host import nlmsg
from vnetlab.errors import Failed
from vnetlab.names import split_namespace
from vnetlab.plan import (
    CreateBridge, CreateTap, Op, OvsAddBond, OvsAddBridge, OvsAddPort, PumpFrames, SetLinkState, SetMaster,
)

if TYPE_CHECKING:
    from vnetlab.executors.kernel import KernelBackend

FORWARDING_TIMEOUT = 10.0  # seconds: fast LACP sends a LACPDU a second; the kernel and OVS need milliseconds
POLL_INTERVAL = 0.02       # seconds between two looks

BRPORT_FORWARDING = 3
BRPORT_STATES = {0: "disabled", 1: "listening", 2: "learning", 3: "forwarding", 4: "blocking"}

# rtnetlink (linux/rtnetlink.h, linux/if_link.h)
RTM_NEWLINK, RTM_GETLINK = 16, 18
NLM_F_DUMP = 0x300
IFLA_IFNAME, IFLA_PROTINFO = 3, 12
IFLA_BRPORT_STATE = 1
_IFINFO = struct.Struct("=BxHiII")
DUMP_SEQ = 0  # the kernel backend numbers its own requests from 1: a reply to this dump is never one of theirs


class NotForwarding(Failed, RuntimeError):
    """A port of the lab did not come up within the wait."""


# --------------------------------------------------------------------------- what to wait for


@dataclass(frozen=True)
class BridgePort:
    """A port of a Linux bridge."""

    netns: str
    bridge: str
    port: str


@dataclass(frozen=True)
class OvsPort:
    """A port of an OVS bridge (``port`` is the bridge itself for its local port)."""

    netns: str
    rundir: str
    bridge: str
    port: str


@dataclass(frozen=True)
class OvsBond:
    """A bond port of an OVS bridge."""

    netns: str
    rundir: str
    bond: str
    members: tuple[str, ...]
    mode: str
    lacp: bool


@dataclass
class Targets:
    """Everything of a lab that must forward before ``up`` returns."""

    bridge_ports: list[BridgePort] = field(default_factory=list)
    ovs_ports: list[OvsPort] = field(default_factory=list)
    bonds: list[OvsBond] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.bridge_ports or self.ovs_ports or self.bonds)


def targets_of(ops: Sequence[Op]) -> Targets:
    """What a plan's lab needs forwarding: its Linux bridge ports, OVS ports and bonds.

    A TAP without a frame pump is left out (nothing gives it carrier), and so
    is an OVS bridge's local port unless the plan brings it up."""
    linux_bridges = {(op.netns, op.ifname) for op in ops if isinstance(op, CreateBridge)}
    taps = {(op.netns, op.ifname) for op in ops if isinstance(op, CreateTap)}
    pumped = {end for op in ops if isinstance(op, PumpFrames)
              for end in ((op.netns, op.ifname), (op.peer_netns, op.peer_ifname))}
    dead = taps - pumped
    raised = {(op.netns, op.ifname) for op in ops if isinstance(op, SetLinkState) and op.up}
    dead |= {(op.netns, op.ifname) for op in ops if isinstance(op, SetLinkState) and not op.up}  # cut cables
    found = Targets()
    for op in ops:
        if isinstance(op, SetMaster) and (op.netns, op.master) in linux_bridges and (op.netns, op.ifname) not in dead:
            found.bridge_ports.append(BridgePort(op.netns, op.master, op.ifname))
        elif isinstance(op, OvsAddBridge) and (op.netns, op.bridge) in raised:
            found.ovs_ports.append(OvsPort(op.netns, op.rundir, op.bridge, op.bridge))
        elif isinstance(op, OvsAddPort) and (op.netns, op.port) not in dead:
            found.ovs_ports.append(OvsPort(op.netns, op.rundir, op.bridge, op.port))
        elif isinstance(op, OvsAddBond):
            members = tuple(m for m in op.members if (op.netns, m) not in dead)
            if members:
                found.bonds.append(OvsBond(op.netns, op.rundir, op.bond, members, op.mode, op.lacp))
    return found


# --------------------------------------------------------------------------- what counts as ready


def bridge_port_problem(state: Optional[int]) -> Optional[str]:
    """None when a Linux bridge port in ``state`` forwards; else what it is.

    Only forwarding (3) passes: disabled (no carrier yet), listening and
    learning (STP's waiting states) and blocking all drop frames."""
    if state == BRPORT_FORWARDING:
        return None
    if state is None:
        return "not a bridge port (yet)"
    return f"{BRPORT_STATES.get(state, 'unknown')} (brport state {state}; 3 = forwarding)"


def ovs_port_problem(states: Optional[frozenset[str]]) -> Optional[str]:
    """None when an OVS port with OpenFlow port ``states`` is live; else what it is."""
    if states is None:
        return "not on the bridge (yet)"
    if "LIVE" in states and not states & {"LINK_DOWN", "BLOCKED"}:
        return None
    return f"not live (OpenFlow port state: {' '.join(sorted(states)) or '0'})"


@dataclass(frozen=True)
class BondStatus:
    """One bond as ``ovs-appctl bond/show`` reports it."""

    members: dict[str, str]          # member -> "enabled" | "disabled"
    active: Optional[str] = None     # the active member, if any
    lacp_status: Optional[str] = None  # "negotiated" | "configured" | "off" ...


def bond_problem(bond: OvsBond, status: Optional[BondStatus]) -> Optional[str]:
    """None when ``bond`` forwards as ``status`` shows; else what is missing."""
    if status is None:
        return "not on the bridge (yet)"
    if bond.lacp and status.lacp_status != "negotiated":
        return f"LACP not negotiated (lacp_status: {status.lacp_status or 'none'})"
    down = [m for m in bond.members if status.members.get(m) != "enabled"]
    if down:
        return "member " + ", ".join(f"{m} {status.members.get(m, 'missing')}" for m in down)
    if bond.mode == "active-backup" and status.active is None:
        return "no active member"
    return None


# --------------------------------------------------------------------------- parsing


def brport_states(messages: Iterable[bytes]) -> dict[str, int]:
    """Port name -> brport state, from the replies of an ``AF_BRIDGE`` link dump.

    ``IFLA_PROTINFO`` is nested (``IFLA_BRPORT_*``) on current kernels and a
    bare state byte on very old ones."""
    states: dict[str, int] = {}
    for msg in messages:
        attrs = nlmsg.attributes(msg, 16 + _IFINFO.size)
        protinfo = attrs.get(IFLA_PROTINFO)
        if IFLA_IFNAME not in attrs or not protinfo:
            continue
        raw = protinfo if len(protinfo) == 1 else nlmsg.attributes(protinfo, 0).get(IFLA_BRPORT_STATE)
        if raw:
            states[attrs[IFLA_IFNAME].rstrip(b"\0").decode()] = raw[0]
    return states


_OFCTL_PORT = re.compile(r"^ +(?:\d+|LOCAL)\((?P<name>[^)]+)\):")
_OFCTL_STATE = re.compile(r"^ +state:(?P<flags>.*)$")


def ofctl_port_states(text: str) -> dict[str, frozenset[str]]:
    """Port name -> OpenFlow state flags, from ``ovs-ofctl -O OpenFlow13 show BRIDGE``."""
    states: dict[str, frozenset[str]] = {}
    port = None
    for line in text.splitlines():
        named = _OFCTL_PORT.match(line)
        if named:
            port = named["name"]
            continue
        flags = _OFCTL_STATE.match(line)
        if flags and port is not None:
            states[port] = frozenset(flag for flag in flags["flags"].split() if flag != "0")
            port = None
    return states


_BOND_HEADER = re.compile(r"^---- (?P<name>\S+) ----$")
_BOND_MEMBER = re.compile(r"^member (?P<name>\S+): (?P<state>\w+)$")
_BOND_ACTIVE = re.compile(r"^active member mac: \S+\((?P<name>[^)]+)\)$")
_BOND_LACP = re.compile(r"^lacp_status: (?P<status>\S+)$")


def bond_statuses(text: str) -> dict[str, BondStatus]:
    """Bond name -> status, from ``ovs-appctl bond/show`` (every bond of a switch)."""
    found: dict[str, dict] = {}
    current: Optional[dict] = None
    for line in text.splitlines():
        if (match := _BOND_HEADER.match(line)):
            current = found.setdefault(match["name"], {"members": {}, "active": None, "lacp_status": None})
        elif current is None:
            continue
        elif (match := _BOND_MEMBER.match(line)):
            current["members"][match["name"]] = match["state"]
        elif (match := _BOND_ACTIVE.match(line)):
            current["active"] = match["name"]
        elif (match := _BOND_LACP.match(line)):
            current["lacp_status"] = match["status"]
    return {name: BondStatus(**values) for name, values in found.items()}


# --------------------------------------------------------------------------- reading the lab


def _node_of(netns_name: str) -> str:
    return split_namespace(netns_name)[1] or netns_name


class _Reader:
    """One look at the lab: each namespace dumped once, each switch asked once."""

    def __init__(self, kernel: KernelBackend, run_tool: Callable):
        self._kernel, self._run_tool = kernel, run_tool
        self._brports: dict[str, dict[str, int]] = {}
        self._ofports: dict[tuple[str, str], dict[str, frozenset[str]]] = {}
        self._bonds: dict[str, dict[str, BondStatus]] = {}

    def bridge_port(self, target: BridgePort) -> Optional[str]:
        if target.netns not in self._brports:
            body = _IFINFO.pack(socket.AF_BRIDGE, 0, 0, 0, 0)
            replies = self._kernel.space(target.netns).request(RTM_GETLINK, NLM_F_DUMP, body, DUMP_SEQ)
            self._brports[target.netns] = brport_states(msg for kind, msg in replies if kind == RTM_NEWLINK)
        problem = bridge_port_problem(self._brports[target.netns].get(target.port))
        return problem and f"{_node_of(target.netns)}:{target.port} on bridge {target.bridge} is {problem}"

    def ovs_port(self, target: OvsPort) -> Optional[str]:
        key = (target.rundir, target.bridge)
        if key not in self._ofports:
            shown = self._run_tool(target.rundir, ["ovs-ofctl", "-O", "OpenFlow13", "show", target.bridge],
                                   check=False)
            self._ofports[key] = ofctl_port_states(shown.stdout)
        problem = ovs_port_problem(self._ofports[key].get(target.port))
        return problem and f"{_node_of(target.netns)}:{target.port} on OVS bridge {target.bridge} is {problem}"

    def bond(self, target: OvsBond) -> Optional[str]:
        if target.rundir not in self._bonds:
            shown = self._run_tool(target.rundir, ["ovs-appctl", "bond/show"], check=False)
            self._bonds[target.rundir] = bond_statuses(shown.stdout)
        problem = bond_problem(target, self._bonds[target.rundir].get(target.bond))
        return problem and f"{_node_of(target.netns)}:{target.bond} (OVS bond, {target.mode}): {problem}"


def pending(targets: Targets, kernel: KernelBackend, run_tool: Callable) -> list[tuple[object, str]]:
    """(target, what is wrong) for every target that does not forward yet (one look)."""
    reader = _Reader(kernel, run_tool)
    found = []
    for check, items in ((reader.bridge_port, targets.bridge_ports), (reader.ovs_port, targets.ovs_ports),
                         (reader.bond, targets.bonds)):
        for item in items:
            problem = check(item)
            if problem:
                found.append((item, problem))
    return found


def wait_until_forwarding(ops: Sequence[Op], kernel: KernelBackend, timeout: float = FORWARDING_TIMEOUT,
                          interval: float = POLL_INTERVAL, run_tool: Optional[Callable] = None) -> float:
    """Returns once every bridge port, OVS port and bond of the plan's lab
    forwards (see the module docstring); returns the seconds it waited.

    Args:
        ops: the lab's whole plan (after a converging ``up`` too).
        kernel: the KernelBackend that applied it (its netlink sockets are reused).
        timeout: how long to wait at most.
        interval: seconds between two looks.
        run_tool: runs an ovs-* client (default :func:`vnetlab.host.ovs_tools.run_tool`).

    Raises:
        NotForwarding: something was still not forwarding after ``timeout``
            seconds; the message names each such port and its state.
    """
    targets = targets_of(ops)
    if not targets:
        return 0.0
    if run_tool is None:
        from vnetlab.host.ovs_tools import run_tool
    start = time.monotonic()
    while True:
        waiting = pending(targets, kernel, run_tool)
        if not waiting:
            return time.monotonic() - start
        if time.monotonic() - start >= timeout:
            lab = split_namespace(ops[0].netns)[0]
            raise NotForwarding(
                f"the lab does not forward {timeout:g} s after it was built: "
                + "; ".join(problem for _, problem in waiting)
                + f" — look at both ends of those cables (vnetlab status {lab}) and, for a bond, at "
                "ovs-appctl bond/show and lacp/show inside its node")
        # What forwards stays so: look again only at what did not.
        still = {id(item) for item, _ in waiting}
        targets = Targets(*([t for t in group if id(t) in still]
                            for group in (targets.bridge_ports, targets.ovs_ports, targets.bonds)))
        time.sleep(interval)
