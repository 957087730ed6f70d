"""Desired Plan + observed lab -> the differences, and the ops that remove them (pure).

The plan is the desired state: its ops are idempotent "ensure" steps, so
re-applying it adds what is missing and fixes wrong values. What the plan
alone cannot do is *remove* things (objects dropped from the file, objects
added by hand) or notice a hand-made change that an ensure step would not
see (an edited nft rule under an unchanged table comment). This module
compares the objects the plan declares with the objects observed in the
running lab (:class:`Observed`, filled by ``observe/drift.py`` or by a test)
and names every difference as a :class:`Change`: its sign (``+`` create,
``-`` remove, ``~`` change), kind, object, expected and found values, the
ops that make it right, and whether it is *drift* (a hand-made change to the
lab as it was last applied) or a change of the file.

An object is keyed by ``(kind, netns, ident)``, the identity key each op
declares itself (``Op.objects``); kinds: node, link, link-state, master, mtu,
address, route, sysctl, ruleset, trace-table, service, pump, ovs-daemons,
ovs-bridge, ovs-port, ovs-flows, lease (a DHCP client holds one), impairment (what
an interface's root qdisc, or its egress redirect into the lab supervisor, does to what
it sends). Ops that are not ``observed`` (other
backends' ops) are left to their own idempotent apply; their string fields
claim interface names, so an interface such an op made is never taken for a
hand-made extra.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from typing import Any, Collection, Iterable, Mapping, Optional

from vnetlab.model.impairment import Impairment
from vnetlab.plan import (
    ClearImpairment, DeleteAddress, DeleteLink, DeleteNamespace, DeleteRoute, DeleteRuleset, Key, Op, OvsDeleteBridge,
    OvsDeletePort, Plan, SetMaster, StopPump, StopService, ovs_vlans,
)
from vnetlab.plan.addresses import norm_route as _norm_route
from vnetlab.plan.services import service_ident as _service_ident

__all__ = ["Change", "Diff", "Key", "Observed", "ObservedImpairment", "ObservedLink", "ObservedService", "diff",
           "impairment_text", "ovs_vlans", "wanted_objects"]

# Kinds of interface an extra (undeclared) one may be removed as: what a
# person makes by hand with ``ip link add``. Others (e.g. OVS's userspace
# ports) belong to daemons and are reported, never deleted.
REMOVABLE_LINK_KINDS = frozenset({"veth", "bridge", "dummy", "vlan", "macvlan", "ipvlan", "vxlan", "bond"})
# Route protocols the kernel adds by itself (connected routes, IPv6 RA), and
# DHCP clients' (vnetlab's udhcpc hook adds its default route "proto dhcp").
KERNEL_ROUTE_PROTOS = frozenset({2, 9, 16})
FORCED_RULESET = "modified"  # the observed value of a table edited by hand

# Removal order: what depends on something goes before it.
_REMOVE_ORDER = ("service", "pump", "impairment", "trace-table", "ruleset", "route", "address", "master", "ovs-port",
                 "ovs-bridge", "link", "node")


@dataclass
class ObservedLink:
    """One interface as the kernel has it."""

    kind: str
    up: bool = True
    master: Optional[str] = None
    mac: Optional[str] = None
    mtu: Optional[int] = None
    addresses: tuple[str, ...] = ()  # without the dynamic ones
    dynamic: tuple[str, ...] = ()    # addresses with a lifetime: a DHCP lease's, or SLAAC's (not drift)


@dataclass
class ObservedService:
    """One service the supervisor was told to run."""

    node: str
    listen: Optional[str] = None
    command: Optional[tuple[str, ...]] = None
    running: bool = True
    state: str = "running"
    oneshot: bool = False

    @property
    def as_wanted(self) -> bool:
        """Running, or a oneshot that finished with exit 0."""
        return self.running or (self.oneshot and self.state == "done")


@dataclass
class ObservedImpairment:
    """What an interface does to what it sends, as read back.

    ``value`` equals the wanted value of a SetImpairment (``{"mechanism": …,
    **impairment}``) when the kernel (and, for the userspace path, the
    supervisor's config) holds exactly that; otherwise it is ``text``.
    ``mechanism`` and ``tap``: what ClearImpairment takes away."""

    value: Any
    text: str
    mechanism: str = "tbf"
    tap: Optional[str] = None


def impairment_text(value: Any) -> str:
    """A wanted impairment value as a person reads it: 'delay 20ms loss 1% (userspace)'."""
    if not isinstance(value, dict):
        return str(value)
    return f"{Impairment.from_dict(value).text()} ({value.get('mechanism', '?')})"


@dataclass
class Observed:
    """What runs now, per lab namespace (plain data; see ``observe/drift.py``).

    Attributes:
        namespaces: the lab's namespaces (from its journal) that exist.
        links: per namespace, interface name -> :class:`ObservedLink`.
        routes: per namespace, ``(family, to, via, dev, proto)`` tuples.
        sysctls: per namespace, the values of the keys the plan sets.
        rulesets: per namespace, the digest in the ``inet vnetlab`` table's
            comment, or ``FORCED_RULESET`` when its rules were changed since
            vnetlab applied it; absent when there is no table.
        trace_tables: per namespace, the tables (``inet vnetlab_trace_1a2b``)
            left by a ``vnetlab trace`` that was killed.
        services: per namespace, the services configured in the supervisor.
        pumps: ``(netns, ifname, peer_netns, peer_ifname)`` of configured
            pumps; ``pumps_running`` whether the supervisor that runs them does.
        ovs: per namespace with a running Open vSwitch, bridge -> port ->
            its VLAN settings (:func:`ovs_vlans`); ``ovs_rundirs`` where its
            database lives; ``ovs_flows`` per (netns, bridge) the lines of
            ``ovs-ofctl diff-flows`` between the bridge and the plan's flows
            (empty: the same; absent: not compared); ``ovs_stopped`` per
            namespace with an OVS run directory, the daemons of it that do
            not run.
        impairments: per namespace, interface -> :class:`ObservedImpairment`
            of every interface with a root qdisc or a clsact of its own;
            ``impaired_ends`` the supervisor's configured userspace ends
            (netns, ifname) -> TAP, ``impaired_values`` what it is told to do
            there (``Impairment.to_dict()`` as sorted pairs).
    """

    namespaces: set[str] = field(default_factory=set)
    links: dict[str, dict[str, ObservedLink]] = field(default_factory=dict)
    routes: dict[str, list[tuple[int, str, Optional[str], Optional[str], int]]] = field(default_factory=dict)
    sysctls: dict[str, dict[str, str]] = field(default_factory=dict)
    rulesets: dict[str, str] = field(default_factory=dict)
    trace_tables: dict[str, list[str]] = field(default_factory=dict)
    services: dict[str, list[ObservedService]] = field(default_factory=dict)
    pumps: set[tuple[str, str, str, str]] = field(default_factory=set)
    pumps_running: bool = True
    ovs: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    ovs_rundirs: dict[str, str] = field(default_factory=dict)
    ovs_flows: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    ovs_stopped: dict[str, tuple[str, ...]] = field(default_factory=dict)
    impairments: dict[str, dict[str, ObservedImpairment]] = field(default_factory=dict)
    impaired_ends: dict[tuple[str, str], str] = field(default_factory=dict)
    impaired_values: dict[tuple[str, str], tuple] = field(default_factory=dict)  # what the supervisor is told
    impaired_instances: dict[tuple[str, str], str] = field(default_factory=dict)  # which interface it holds


@dataclass(frozen=True)
class Change:
    """One difference between the file and the running lab."""

    sign: str  # '+' create, '-' remove, '~' change
    kind: str
    netns: str
    obj: str  # the object within its namespace, e.g. "eth0 10.0.0.1/24"
    expected: Optional[str]
    found: Optional[str]
    drift: bool  # a hand-made change (True) or a change of the file (False)
    ops: tuple[Op, ...] = ()

    def describe(self, lab: str) -> str:
        """One line for a person, e.g. "red eth0: address 10.0.0.1/24 missing (removed by hand?)"."""
        node = self.netns.removeprefix(f"{lab}-")
        where = f"{node} {self.obj}" if self.kind in ("link-state", "master", "mtu", "address", "link",
                                                      "impairment") else node
        if self.kind == "node":
            text = {"+": "namespace missing" if self.drift else "new node",
                    "-": "node removed from the file"}.get(self.sign, "")
            return f"{node}: {text}"
        if self.kind == "address":
            ifname, _, address = self.obj.partition(" ")
            where = f"{node} {ifname}"
            if self.sign == "+":
                return f"{where}: address {address} missing (removed by hand?)" if self.drift \
                    else f"{where}: address {address}"
            return f"{where}: extra address {address}" if self.drift else f"{where}: address {address} removed"
        if self.kind == "route":
            if self.sign == "+":
                return f"{node}: route {self.obj} missing (removed by hand?)" if self.drift \
                    else f"{node}: route {self.obj}"
            return f"{node}: extra route {self.obj}" if self.drift else f"{node}: route {self.obj} removed"
        if self.kind == "impairment":
            if self.sign == "+":
                return f"{where}: impairment {self.expected} missing (removed by hand?)" if self.drift \
                    else f"{where}: impairment {self.expected}"
            if self.sign == "-":
                return f"{where}: extra {self.found} (not in the file: set by hand with tc?)" if self.drift \
                    else f"{where}: impairment {self.found} removed"
            return f"{where}: {self.found} (expected {self.expected})" + (" — changed by hand?" if self.drift else "")
        if self.kind == "link-state":
            if self.sign == "+":
                return f"{where}: set {self.expected}" + (" (interface missing)" if self.drift else "")
            return f"{where}: {self.found} (expected {self.expected})"
        if self.kind == "master":
            if self.sign == "+":
                return f"{where}: into bridge {self.expected}" + (" (interface missing)" if self.drift else "")
            return f"{where}: master {self.found or 'none'} (expected {self.expected or 'none'})"
        if self.kind == "link":
            if self.sign == "+":
                return f"{where}: interface missing" if self.drift else f"{where}: new interface"
            if self.sign == "-":
                return f"{where}: extra interface ({self.found})" if self.drift else f"{where}: interface removed"
            return f"{where}: {self.found} (expected {self.expected}); re-created"
        if self.kind == "mtu":
            if self.sign == "+":
                return f"{where}: set mtu {self.expected}" + (" (interface missing)" if self.drift else "")
            return f"{where}: mtu {self.found} (expected {self.expected})"
        if self.kind == "sysctl":
            return f"{node}: sysctl {self.obj} = {self.found} (expected {self.expected})"
        if self.kind == "ruleset":
            if self.sign == "+":
                return f"{node}: nft table {self.obj} missing" if self.drift else f"{node}: new nft table {self.obj}"
            if self.sign == "-":
                return f"{node}: nft table {self.obj} " + ("not in the file" if self.drift else "removed")
            return f"{node}: nft table {self.obj} changed" + (" by hand" if self.drift else "")
        if self.kind == "trace-table":
            return f"{node}: nft table {self.obj} left behind by a trace that was killed"
        if self.kind == "ovs-daemons":
            return f"{node}: Open vSwitch {self.found}"
        if self.kind == "service":
            if self.sign == "~":
                if self.expected == "done":
                    return f"{node}: service {self.obj} did not finish with exit 0 ({self.found})"
                return f"{node}: service {self.obj} not running ({self.found})"
            return f"{node}: service {self.obj} " + ("added" if self.sign == "+" else "removed")
        if self.kind == "lease":
            return f"{node} {self.obj}: no DHCP lease (its leased address is gone); its udhcpc is restarted"
        if self.kind == "ovs-flows":
            return f"{node}: OpenFlow table of {self.obj} differs ({self.found})"
        if self.kind in ("ovs-bridge", "ovs-port"):
            what = "OVS bridge" if self.kind == "ovs-bridge" else "OVS port"
            if self.sign == "~":
                return f"{node}: {what} {self.obj}: {self.found} (expected {self.expected})"
            if self.sign == "+":
                return f"{node}: {what} {self.obj} missing" if self.drift else f"{node}: new {what} {self.obj}"
            return f"{node}: extra {what} {self.obj}" if self.drift else f"{node}: {what} {self.obj} removed"
        if self.kind == "pump":
            if self.sign == "~":
                return f"{node}: tap pump {self.obj} not running ({self.found})"
            return f"{node}: tap pump {self.obj} " + ("added" if self.sign == "+" else "removed")
        return f"{node}: {self.kind} {self.obj} {self.sign}"

    def to_dict(self, lab: str) -> dict[str, Any]:
        """The change as JSON-able data."""
        return {"sign": self.sign, "kind": self.kind, "node": self.netns.removeprefix(f"{lab}-"),
                "netns": self.netns, "object": self.obj, "expected": self.expected, "found": self.found,
                "drift": self.drift, "message": self.describe(lab),
                "commands": [c for op in self.ops for c in op.commands()]}


@dataclass
class Diff:
    """Every difference, and the ops ``up`` runs to remove them."""

    lab: str
    changes: list[Change] = field(default_factory=list)
    desired: Optional[Plan] = None

    @property
    def drift(self) -> list[Change]:
        """Only the hand-made changes."""
        return [c for c in self.changes if c.drift]

    def removals(self) -> list[Op]:
        """The ops that remove or replace, in dependency order (run before the plan)."""
        ops: list[Op] = []
        for kind in _REMOVE_ORDER:
            for change in self.changes:
                if change.kind != kind:
                    continue
                ops += [op for op in change.ops if _is_removal(op) and op not in ops]
        return ops

    def converge_ops(self) -> list[Op]:
        """What ``up`` applies on a running lab: the removals, then, in plan
        order, the plan's ops for what is missing or wrong, every op in a
        namespace that is being made, and every op of a kind this module
        does not observe (other backends' idempotent ensures). A table
        edited by hand is re-applied unconditionally."""
        forced = {c.netns for c in self.changes if c.kind == "ruleset" and c.sign == "~"}
        made = {c.netns for c in self.changes if c.kind == "node" and c.sign == "+"}
        needed = {id(op) for c in self.changes if c.sign != "-" for op in c.ops}
        # The kernel drops routes through an address or interface that goes:
        # those namespaces' routes are ensured again (present ones stay).
        rerouted = {c.netns for c in self.changes if c.kind in ("address", "link") and c.sign in "-~"}
        ops = self.removals()
        for op in self.desired.ops if self.desired is not None else ():
            if not (id(op) in needed or op.netns in made or getattr(op, "peer_netns", None) in made
                    or (op.follows_links and op.netns in rerouted) or not op.observed):
                continue  # observed as it should be: not touched
            if op.netns in forced:
                op = op.unconditional()  # the hand-edited table: never "already there"
            ops.append(op)
        return ops

    def after_reboot_of(self, netns: str, relinked: Mapping[str, Collection[str]]) -> "Diff":
        """The part of this diff a reboot of the node in ``netns`` repairs: every change in its
        own namespace; elsewhere what its shutdown took away — its veths' far ends (``relinked``:
        namespace -> interface names) and what sat on them, processes that stopped — but never
        what someone changed there by hand: an object added (``-``), an edited nft table, a
        sysctl's value (but a re-made far end's own), OpenFlow flows. A node's reboot leaves its
        neighbours' runtime state as it was."""
        def kept(change: Change) -> bool:
            if change.netns == netns:
                return True
            if change.sign == "-":
                return False
            if change.sign == "~" and change.kind in ("ruleset", "sysctl", "ovs-flows"):
                return change.kind == "sysctl" and any(f".{ifname}." in change.obj
                                                       for ifname in relinked.get(change.netns, ()))
            return True

        return Diff(self.lab, [change for change in self.changes if kept(change)], self.desired)

    def restarts(self) -> list[Op]:
        """StopService ops for services that failed while their supervisor
        runs, and for DHCP clients that lost their lease: applied (and the
        supervisor reloaded) before the plan, so the plan's RunService starts
        them afresh. A stopped supervisor is simply started again by the plan."""
        return [op.inverse()
                for c in self.changes if c.kind in ("service", "lease") and c.sign == "~" and c.found != "stopped"
                for op in c.ops]

    def lines(self) -> list[str]:
        """``vnetlab plan`` output: one line per change, then its commands."""
        out = []
        for change in self.changes:
            origin = "drift" if change.drift else "file"
            out.append(f"{change.sign} {change.describe(self.lab)}    [{origin}]")
            for op in change.ops:
                out += [f"    {line}" for line in op.command_lines()]
        return out


def _is_removal(op: Op) -> bool:
    return op.is_removal()


# -- desired objects -------------------------------------------------------
@dataclass
class _Wanted:
    """The objects a plan declares: key -> (value, ops that make it)."""

    values: dict[Key, Any] = field(default_factory=dict)
    ops: dict[Key, list[Op]] = field(default_factory=dict)
    route_dev: dict[Key, Optional[str]] = field(default_factory=dict)
    claimed: set[tuple[str, str]] = field(default_factory=set)  # (netns, name) known to other backends

    def put(self, key: Key, value: Any, op: Op) -> None:
        self.values[key] = value
        self.ops.setdefault(key, []).append(op)


def wanted_objects(plan: Plan) -> _Wanted:
    """The objects ``plan`` declares, keyed ``(kind, netns, ident)`` (as each op declares them)."""
    wanted = _Wanted()
    for op in plan.ops:
        for key, value in op.objects():
            wanted.put(key, value, op)
            if key[0] == "route":
                wanted.route_dev[key] = op.dev  # a route may be pinned to its interface
        if getattr(op, "tap", None) and op.name == "set_impairment":
            wanted.claimed.add((op.netns, op.tap))  # the userspace path's TAP is the impairment's
        if not op.observed:
            ns = op.netns
            for value in dataclasses.asdict(op).values():
                for item in value if isinstance(value, (list, tuple)) else (value,):
                    if isinstance(item, str):
                        wanted.claimed.add((ns, item))
    return wanted


def _link_specs(plan: Optional[Plan]) -> dict[tuple[str, str], Op]:
    """(netns, ifname) -> the op that creates it, both ends of a veth."""
    specs: dict[tuple[str, str], Op] = {}
    for op in plan.ops if plan is not None else ():
        for key, _ in op.objects():
            if key[0] == "link":
                specs[(key[1], key[2])] = op
    return specs


# -- the comparison --------------------------------------------------------
def diff(desired: Plan, observed: Observed, applied: Optional[Plan] = None) -> Diff:
    """The differences between ``desired`` and ``observed``.

    Args:
        desired: the plan of the lab file as it is now.
        observed: the running lab.
        applied: the plan last applied (from the run directory); tells drift
            (a hand-made change to an object it declares, or an extra object)
            from a change of the file. None: everything counts as drift.
    """
    want = wanted_objects(desired)
    before = wanted_objects(applied) if applied is not None else want
    specs_now, specs_before = _link_specs(desired), _link_specs(applied)
    result = Diff(lab=desired.lab, desired=desired)
    changes: list[Change] = []

    def is_drift(key: Key) -> bool:
        return applied is None or (key in before.values and before.values[key] == want.values.get(key))

    def extra_is_drift(key: Key) -> bool:
        return applied is None or key not in before.values

    def add(sign: str, key: Key, expected: Any, found: Any, ops: Iterable[Op], drift: bool) -> None:
        changes.append(Change(sign, key[0], key[1], key[2], None if expected is None else str(expected),
                              None if found is None else str(found), drift, tuple(ops)))

    # Nodes: missing ones are made by the plan; removed ones take everything inside along.
    wanted_ns = {key[1] for key in want.values if key[0] == "node"}
    doomed = observed.namespaces - wanted_ns
    absent = wanted_ns - observed.namespaces
    for ns in sorted(absent):
        key = ("node", ns, "")
        add("+", key, "present", None, want.ops[key], is_drift(key))
    for ns in sorted(doomed):
        key = ("node", ns, "")
        add("-", key, None, "present", [DeleteNamespace(ns)], extra_is_drift(key))

    # Links: a link whose definition changed in the file is re-created (with its ends).
    recreated: set[tuple[str, str]] = set()
    for (ns, ifname), spec in specs_now.items():
        old = specs_before.get((ns, ifname))
        present = ifname in observed.links.get(ns, {})
        if old is not None and old != spec and present and ns not in absent:
            ends = _ends(old)
            recreated.update(ends)
            recreated.update(_ends(spec))
    for key, value in want.values.items():
        kind, ns, ident = key
        if kind != "link" or ns in absent:
            continue
        link = observed.links.get(ns, {}).get(ident)
        if (ns, ident) in recreated:
            old = specs_before[(ns, ident)] if (ns, ident) in specs_before else None
            if old is not None and _ends(old)[0] == (ns, ident):  # once per link, from the end that makes it
                deletes = [DeleteLink(end_ns, ifname=end_if) for end_ns, end_if in _ends(old)]
                add("~", key, value, before.values.get(key), [*deletes, *want.ops[key]], False)
            continue
        if link is None:
            add("+", key, value, None, want.ops[key], is_drift(key))
        elif value.split()[0] != link.kind and link.kind in REMOVABLE_LINK_KINDS | {"tap"}:
            add("~", key, value, link.kind, [DeleteLink(ns, ifname=ident), *want.ops[key]], is_drift(key))
            recreated.add((ns, ident))

    # Per-interface and per-namespace objects.
    for key, value in want.values.items():
        kind, ns, ident = key
        if kind in ("node", "link") or ns in absent:
            continue
        links = observed.links.get(ns, {})
        ops = want.ops[key]
        if kind == "link-state":
            link = links.get(ident)
            if (ns, ident) in recreated:
                add("+", key, value, None, ops, False)
            elif link is None:
                if not _made_by_plan(key, want):
                    continue  # made by another backend's op: its own apply sees to it
                add("+", key, value, None, ops, is_drift(key))
            elif ("up" if link.up else "down") != value:
                add("~", key, value, "up" if link.up else "down", ops, is_drift(key))
        elif kind == "master":
            link = links.get(ident)
            if (ns, ident) in recreated:
                add("+", key, value, None, ops, False)
            elif link is None:
                add("+", key, value, None, ops, is_drift(key))
            elif link.master != value:
                add("~", key, value, link.master, ops, is_drift(key))
        elif kind == "mtu":
            link = links.get(ident)
            if (ns, ident) in recreated:
                add("+", key, value, None, ops, False)
            elif link is None:
                add("+", key, value, None, ops, is_drift(key))
            elif link.mtu is not None and link.mtu != value:
                add("~", key, value, link.mtu, ops, is_drift(key))
        elif kind == "address":
            ifname, _, address = ident.partition(" ")
            link = links.get(ifname)
            if (ns, ifname) in recreated:
                add("+", key, value, None, ops, False)  # comes back with its re-created interface
            elif link is None or address not in link.addresses:
                add("+", key, value, None, ops, is_drift(key))
        elif kind == "route":
            dev = want.route_dev.get(key)
            found = [r for r in observed.routes.get(ns, []) if _norm_route(r[0], r[1], r[2]) == ident
                     and (dev is None or r[3] == dev) and (r[3] is None or (ns, r[3]) not in recreated)]
            if not found:
                add("+", key, value, None, ops, is_drift(key))
        elif kind == "sysctl":
            current = observed.sysctls.get(ns, {}).get(ident)
            if current is not None and current != value:
                add("~", key, value, current, ops, is_drift(key))
        elif kind == "ruleset":
            current = observed.rulesets.get(ns)
            if current is None:
                add("+", key, "present", None, ops, is_drift(key))
            elif current != value:
                hand = current == FORCED_RULESET
                add("~", key, value, current, ops, is_drift(key) or hand)
        elif kind == "service":
            matches = [s for s in observed.services.get(ns, [])
                       if _service_ident(s.listen, s.command, s.oneshot) == ident]
            if not matches:
                add("+", key, value, None, ops, is_drift(key))
            elif not matches[0].as_wanted:
                add("~", key, value, matches[0].state, ops, True)
        elif kind in ("ovs-bridge", "ovs-port") and ns in observed.ovs:
            bridges = observed.ovs[ns]
            bridge, _, port = ident.partition(" ")
            if kind == "ovs-bridge" and bridge not in bridges:
                add("+", key, value, None, ops, is_drift(key))
            elif kind == "ovs-port" and port not in bridges.get(bridge, {}):
                add("+", key, value, None, ops, is_drift(key))
            elif kind == "ovs-port" and bridges[bridge][port] != value:
                add("~", key, value, bridges[bridge][port], ops, is_drift(key))
        elif kind == "ovs-daemons" and observed.ovs_stopped.get(ns):
            # Never a change of the file: a daemon was killed or crashed. StartOvs restarts it, and
            # converging re-applies every OVS op of the node (its bridges, ports and flows).
            add("~", key, value, f"{', '.join(observed.ovs_stopped[ns])} not running", ops, True)
        elif kind == "ovs-flows" and observed.ovs_flows.get((ns, ident)):
            lines = observed.ovs_flows[(ns, ident)]
            added, removed = sum(x.startswith("+") for x in lines), sum(x.startswith("-") for x in lines)
            add("~", key, value, f"{added} to add, {removed} to remove", ops, is_drift(key))
        elif kind == "lease":
            # Only while its udhcpc runs: a client that is not running is a service change (restarted anyway).
            op = ops[0]
            ident_of = _service_ident(op.listen, op.command, op.oneshot)
            running = any(_service_ident(s.listen, s.command, s.oneshot) == ident_of and s.running
                          for s in observed.services.get(ns, []))
            link = links.get(ident)
            if running and link is not None and not any(":" not in a for a in link.dynamic):
                add("~", key, value, "no leased address", ops, True)
        elif kind == "impairment":
            found = observed.impairments.get(ns, {}).get(ident)
            wanted_text = impairment_text(value)
            if (ns, ident) in recreated:
                changes.append(Change("+", kind, ns, ident, wanted_text, None, False, tuple(ops)))
            elif found is None:
                changes.append(Change("+", kind, ns, ident, wanted_text, None, is_drift(key), tuple(ops)))
            elif found.value != value:
                changes.append(Change("~", kind, ns, ident, wanted_text, found.text, is_drift(key), tuple(ops)))
        elif kind == "pump":
            op = ops[0]
            if (ns, op.ifname, op.peer_netns, op.peer_ifname) not in observed.pumps:
                add("+", key, value, None, ops, is_drift(key))
            elif not observed.pumps_running:
                add("~", key, value, "supervisor stopped", ops, True)

    # Extras: observed objects the plan does not declare.
    for ns in sorted(observed.namespaces - doomed):
        links = observed.links.get(ns, {})
        for ifname, link in sorted(links.items()):
            key = ("link", ns, ifname)
            if ifname == "lo" or key in want.values or (ns, ifname) in want.claimed or (ns, ifname) in recreated:
                continue
            if link.kind in REMOVABLE_LINK_KINDS or (link.kind == "tap" and key in before.values):
                add("-", key, None, link.kind, [DeleteLink(ns, ifname=ifname)], extra_is_drift(key))
            continue
        for ifname, link in sorted(links.items()):
            if ("link", ns, ifname) not in want.values and ifname != "lo":
                continue  # removed, or not ours: its addresses go with it or stay alone
            mkey = ("master", ns, ifname)
            if link.master is not None and mkey not in want.values and (ns, link.master) not in want.claimed \
                    and (ns, ifname) not in want.claimed:
                add("-", mkey, None, link.master, [SetMaster(ns, ifname=ifname, master=None)],
                    extra_is_drift(mkey))
            for address in link.addresses:
                akey = ("address", ns, f"{ifname} {address}")
                if akey not in want.values and _removable_address(address):
                    add("-", akey, None, "present", [DeleteAddress(ns, ifname=ifname, address=address)],
                        extra_is_drift(akey))
        for family, to, via, dev, proto in observed.routes.get(ns, []):
            if proto in KERNEL_ROUTE_PROTOS:
                continue
            rkey = ("route", ns, _norm_route(family, to, via))
            wanted_dev = want.route_dev.get(rkey, "?")
            if rkey in want.values and wanted_dev in (None, dev):
                continue
            if dev is not None and ("link", ns, dev) not in want.values and dev != "lo":
                continue  # goes with its interface
            add("-", rkey, None, f"dev {dev}" if dev else "present",
                [DeleteRoute(ns, to=to, via=via, dev=dev, family=family)], extra_is_drift(rkey))
        rkey = ("ruleset", ns, "inet vnetlab")
        if ns in observed.rulesets and rkey not in want.values:
            add("-", rkey, None, observed.rulesets[ns], [DeleteRuleset(ns)], extra_is_drift(rkey))
        for table in observed.trace_tables.get(ns, ()):
            family, _, name = table.partition(" ")
            add("-", ("trace-table", ns, table), None, "present", [DeleteRuleset(ns, table=name, family=family)],
                True)  # vnetlab's own leftover, never in a file
    for ns, bridges in sorted(observed.ovs.items()):
        if ns in doomed or ns not in observed.ovs_rundirs:
            continue
        rundir = observed.ovs_rundirs[ns]
        for bridge, ports in sorted(bridges.items()):
            bkey = ("ovs-bridge", ns, bridge)
            if bkey not in want.values:
                add("-", bkey, None, "present", [OvsDeleteBridge(ns, rundir=rundir, bridge=bridge)],
                    extra_is_drift(bkey))
                continue
            for port, vlans in sorted(ports.items()):
                pkey = ("ovs-port", ns, f"{bridge} {port}")
                if pkey not in want.values:
                    add("-", pkey, None, vlans, [OvsDeletePort(ns, rundir=rundir, bridge=bridge, port=port)],
                        extra_is_drift(pkey))
    # Impairments nobody asked for (a qdisc set by hand), and userspace ends the supervisor still carries.
    for ns, ends in sorted(observed.impairments.items()):
        if ns in doomed:
            continue
        for ifname, found in sorted(ends.items()):
            ikey = ("impairment", ns, ifname)
            if ikey in want.values or ("link", ns, ifname) not in want.values or (ns, ifname) in recreated:
                continue
            changes.append(Change("-", "impairment", ns, ifname, None, found.text, extra_is_drift(ikey),
                                  (ClearImpairment(ns, ifname=ifname, mechanism=found.mechanism, tap=found.tap),)))
    for (ns, ifname), tap in sorted(observed.impaired_ends.items()):
        ikey = ("impairment", ns, ifname)
        if ikey in want.values or ifname in observed.impairments.get(ns, {}) or ns not in observed.namespaces:
            continue
        clear = ClearImpairment(ns, ifname=ifname, mechanism="userspace", tap=tap)
        changes.append(Change("-", "impairment", ns, ifname, None, f"carried by the supervisor into {tap}",
                              extra_is_drift(ikey), (clear,)))
    # Services and pumps: also those of removed nodes (the supervisor lets go of their namespaces).
    for ns, services in sorted(observed.services.items()):
        for service in services:
            skey = ("service", ns, _service_ident(service.listen, service.command, service.oneshot))
            if skey not in want.values:
                add("-", skey, None, service.state, [StopService(ns, node=service.node, listen=service.listen,
                                                                 command=service.command, oneshot=service.oneshot)],
                    extra_is_drift(skey))
    for ns, ifname, peer_ns, peer_if in sorted(observed.pumps):
        pkey = ("pump", ns, f"{ifname} <-> {peer_ns}:{peer_if}")
        if pkey not in want.values:
            add("-", pkey, None, "present", [StopPump(ns, ifname=ifname, peer_netns=peer_ns, peer_ifname=peer_if)],
                extra_is_drift(pkey))
    result.changes = _ordered(changes)
    return result


def _ends(op: Op) -> list[tuple[str, str]]:
    """The interfaces an op makes: (netns, ifname) of each, the op's own first."""
    ends = [(key[1], key[2]) for key, _ in op.objects() if key[0] == "link"]
    return ends or [(op.netns, getattr(op, "ifname", ""))]


def _made_by_plan(key: Key, want: _Wanted) -> bool:
    _, ns, ifname = key
    return ("link", ns, ifname) in want.values or ifname == "lo"


def _removable_address(address: str) -> bool:
    """Loopback and IPv6 link-local addresses are the kernel's own, not drift."""
    iface = ipaddress.ip_interface(address)
    return not (iface.ip.is_loopback or (iface.version == 6 and iface.ip.is_link_local))


def _ordered(changes: list[Change]) -> list[Change]:
    """Removals first (in dependency order), then changes and additions by kind."""
    rank = {kind: i for i, kind in enumerate(_REMOVE_ORDER)}
    build = {k: i for i, k in enumerate(("node", "sysctl", "link", "ovs-daemons", "ovs-bridge", "ovs-port", "master",
                                         "mtu", "address", "link-state", "route", "ovs-flows", "ruleset", "impairment",
                                         "pump", "service"))}
    removals = sorted((c for c in changes if c.sign == "-"), key=lambda c: rank.get(c.kind, 99))
    others = sorted((c for c in changes if c.sign != "-"), key=lambda c: build.get(c.kind, 99))
    return removals + others
