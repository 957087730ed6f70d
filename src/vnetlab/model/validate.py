"""Rules that relate several parts of a lab file (links, bridges, subnets, checks).

Runs on a LabSpec that already passed the schema, so every field has the right
type and shape. Each rule reports ``(path, message)``, where ``path`` is the
tuple of keys and indexes in the file (e.g. ``("links", 0, 1)``); the loader
turns paths into line numbers. Pure; no root.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Collection

from pydantic import ValidationError

from vnetlab.model.impairment import KEYS as IMPAIRMENT_KEYS, Impairment
from vnetlab.model.bridges import (
    ASSUMED, FEATURE_TEXT, NOTHING, SWITCH_BRIDGE, bridge_needs, bridge_settings, bridges_of, resolve_backend,
)
from vnetlab.model.kinds import MODES
from vnetlab.model.l2names import linux_bond_mode_problem, vlan_device_parts
from vnetlab.model.resolve import resolve_forward_target, resolve_hosts
from vnetlab.model.schema import (
    DYNAMIC_ADDRESSES, Check, FirewallRule, Impair, Interface, LabSpec, Link, Node, StateCheck, check_ifname, link_end_path,
    link_ends,
)
from vnetlab.model.lab_dns import lookup_served
from vnetlab.model.targets import served_names_shown

Path = tuple
SemanticProblem = tuple[Path, str]
Endpoint = tuple[str, str]  # (node, ifname)

LOOPBACK = "lo"
COMMENT_MAX = 128  # nft refuses longer comments


def semantic_problems(spec: LabSpec) -> list[SemanticProblem]:
    """Checks the cross-part rules of a schema-valid lab.

    Args:
        spec: a lab that passed schema validation.

    Returns:
        Every problem found as ``(path, "what is wrong — what to write instead")``,
        in no particular order; an empty list means the lab is consistent.
    """
    ctx = _Context(spec)
    _check_nodes(ctx)
    _check_links(ctx)
    _check_unlinked(ctx)
    _check_bridges(ctx)
    _check_addresses(ctx)
    _check_routes(ctx)
    _check_firewalls(ctx)
    _check_checks(ctx)
    _check_trace_nodes(ctx)
    _check_state_checks(ctx)
    _check_controllers(ctx)
    _check_linux_bond_modes(ctx)
    _check_l2(ctx)
    _check_macvlans(ctx)
    _check_unapplied_settings(ctx)
    _check_dynamic_addresses(ctx)
    _check_serving(ctx)
    _check_macs(ctx)
    return ctx.problems


def semantic_warnings(spec: LabSpec, missing_packages: Collection[str] = ()) -> list[SemanticProblem]:
    """What a valid lab asks for that ``up`` may refuse: on some kernels, or
    in an environment that lacks ``missing_packages`` (e.g. "os-ken").

    Args:
        spec: a lab without problems (:func:`semantic_problems` found none).
        missing_packages: the Python packages this environment lacks.

    Returns:
        ``(path, message)`` per warning, in no particular order.
    """
    warnings: list[SemanticProblem] = []
    if "os-ken" in missing_packages:
        for path, value in _controller_places(spec):
            if value == BUILTIN_CONTROLLER:
                warnings.append((path, "the built-in controller runs on the Python package os-ken, which "
                                       "is not installed here — `vnetlab up` stops with exit 3 until you "
                                       f"{OSKEN_INSTALL}"))
    warnings += _unserved_clients(spec)
    for path, key, ifname, needs in _settings_ovs_may_drop(spec):
        warnings.append((path, f"backend: auto makes {ifname} an Open vSwitch bridge on a kernel without "
                               f"{needs}, and vnetlab builds those without {key} — `vnetlab up` refuses "
                               f"the file there; set backend: linux to insist on a Linux bridge, or remove {key}"))
    return warnings


@dataclass
class _Context:
    """What the rules share: the spec, the problems so far, and link facts."""

    spec: LabSpec
    problems: list[SemanticProblem] = field(default_factory=list)
    # endpoint -> index of the (first) link that uses it; filled by _check_links
    linked: dict[Endpoint, int] = field(default_factory=dict)
    # endpoint -> bridge it is a port of; filled by _check_bridges
    port_of: dict[Endpoint, str] = field(default_factory=dict)
    valid_links: list[tuple[Endpoint, Endpoint]] = field(default_factory=list)
    # every "node:ifname" a link names, valid or not: an interface named by a
    # broken link is not also reported as "in no link" (one mistake, one message)
    mentioned: set[Endpoint] = field(default_factory=set)
    # the L2 segments, once links and bridges are checked (_segments builds them once)
    segments: "_Segments | None" = None

    def add(self, path: Path, message: str) -> None:
        self.problems.append((path, message))

    def node_names(self) -> str:
        return ", ".join(self.spec.nodes) or "(no nodes declared)"


def _iface_path(node: str, ifname: str, *rest) -> Path:
    return ("nodes", node, "interfaces", ifname, *rest)


def _is_link_end_type(type_: str | None) -> bool:
    # No type means "a veth end"; 'veth' says the same thing explicitly.
    return type_ in (None, "veth")


def _check_nodes(ctx: _Context) -> None:
    """Switches forward at layer 2 only, and their ports carry no addresses."""
    for name, node in ctx.spec.nodes.items():
        if node.kind != "switch":
            continue
        if node.routes:
            ctx.add(("nodes", name, "routes"),
                    f"switch {name} forwards at layer 2 and has no routes — "
                    "use kind: router to route, or remove routes")
        if node.forwarding:
            ctx.add(("nodes", name, "forwarding"),
                    f"switch {name} forwards at layer 2, not IP — "
                    "use kind: router for IP forwarding, or remove forwarding")
        for ifname, iface in node.interfaces.items():
            if ifname == SWITCH_BRIDGE:
                if iface.type != "bridge":
                    ctx.add(_iface_path(name, ifname),
                            f"{SWITCH_BRIDGE} is switch {name}'s own bridge — "
                            f"declare it as {SWITCH_BRIDGE}: {{type: bridge}} or rename this port")
                elif iface.ports:
                    ctx.add(_iface_path(name, ifname, "ports"),
                            f"the ports of switch {name}'s {SWITCH_BRIDGE} are its linked "
                            "interfaces — remove ports")
            elif iface.written_addresses():
                key = "address" if iface.address else "addresses"
                ctx.add(_iface_path(name, ifname, key),
                        f"{name}:{ifname} is a port of switch {name} and cannot carry an address — "
                        f"put a management address on {SWITCH_BRIDGE}: "
                        f"{{type: bridge, address: ...}} or use kind: host/router")


def _check_links(ctx: _Context) -> None:
    """Each link joins two existing, distinct, unused interfaces of two nodes."""
    for index, written in enumerate(ctx.spec.links):
        path = ("links", index)
        link = link_ends(written)
        ctx.mentioned.update(tuple(text.partition(":")[::2]) for text in link)
        if len(link) != 2:
            ctx.add(path if not isinstance(written, Link) else (*path, "ends"),
                    f"a link has exactly two ends, this one has {len(link)} — "
                    "write [node:ifname, node:ifname]")
            continue
        ends = [_resolve_end(ctx, link_end_path(written, index, pos), text) for pos, text in enumerate(link)]
        if None in ends:
            continue
        (node_a, if_a), (node_b, if_b) = ends
        if node_a == node_b:
            ctx.add(path, f"both ends are on node {node_a} — a link joins two different "
                          "nodes; to join interfaces inside one node use a bridge")
            continue
        types = [_iface_type(ctx, end) for end in ends]
        if types == ["tap", "tap"]:
            ctx.add(path, f"both ends ({link[0]}, {link[1]}) are taps — a tap's other end is "
                          "the NIC of a VM or host: link it to an interface without type")
            continue
        if isinstance(written, Link):
            _check_per_end(ctx, path, written, [node_a, node_b])
        fresh = True
        for pos, end in enumerate(ends):
            if end in ctx.linked:
                ctx.add(link_end_path(written, index, pos), f"{link[pos]} is already used by links[{ctx.linked[end]}] — "
                                      "an interface is the end of at most one link; declare "
                                      "another interface")
                fresh = False
        if fresh:
            ctx.linked.update({end: index for end in ends})
            ctx.valid_links.append((ends[0], ends[1]))


def _check_per_end(ctx: _Context, path: Path, link: Link, nodes: list[str]) -> None:
    """A mapping link's keys beyond the impairment ones name an end's node,
    each holding what that end alone does to what it sends."""
    for key, value in (link.model_extra or {}).items():
        if key not in nodes:
            ctx.add((*path, key), f"{key!r} is neither an impairment key ({', '.join(IMPAIRMENT_KEYS)}) nor the "
                                  f"node of an end ({' or '.join(nodes)}) — under an end's node name go what "
                                  "that end alone does to what it sends, e.g. " + nodes[0] + ": {delay: 50ms}")
            continue
        if not isinstance(value, dict):
            ctx.add((*path, key), f"{key}: a mapping of impairments, e.g. {key}: {{delay: 50ms, loss: 1%}}")
            continue
        try:
            Impair.model_validate(value)
        except ValidationError as exc:
            fields = [error for error in exc.errors() if error["loc"]]
            for error in fields:
                where = tuple(str(part) for part in error["loc"])
                message = error["msg"].removeprefix("Value error, ")
                if error["type"] == "extra_forbidden":
                    message = f"{where[-1]!r} is not an impairment key — use {', '.join(IMPAIRMENT_KEYS)}"
                ctx.add((*path, key, *where), message)
            if fields:
                continue
        # The rules (jitter needs a delay …) hold for what the end does: the link's keys with its own on top.
        own = Impairment.parse({k: v for k, v in value.items() if k in IMPAIRMENT_KEYS}, check=False)
        problem = link.parsed().merged(own).problem()
        if problem:
            ctx.add((*path, key), problem)


def _resolve_end(ctx: _Context, path: Path, text: str) -> Endpoint | None:
    """Parses 'node:ifname' and checks that the interface exists; None if not."""
    node_name, sep, ifname = text.partition(":")
    if not sep or not node_name or not ifname or ":" in ifname:
        ctx.add(path, f"{text!r} is not a link end — write node:ifname, e.g. red:eth0")
        return None
    node = ctx.spec.nodes.get(node_name)
    if node is None:
        ctx.add(path, f"unknown node {node_name!r} — declare it under nodes or use one of: "
                      f"{ctx.node_names()}")
        return None
    iface = node.interfaces.get(ifname)
    if iface is None and node.kind != "switch":
        known = ", ".join(node.interfaces) or "none declared"
        ctx.add(path, f"node {node_name} has no interface {ifname!r} — declare it under "
                      f"nodes.{node_name}.interfaces (known: {known})")
        return None
    if iface is None:
        # A switch's link ends are implicit, so their names were never checked.
        try:
            check_ifname(ifname)
        except ValueError as err:
            ctx.add(path, str(err))
            return None
        if ifname == SWITCH_BRIDGE:
            ctx.add(path, f"{SWITCH_BRIDGE} is switch {node_name}'s own bridge — "
                          "link another port name, e.g. p1")
            return None
    elif iface.type == "bridge":
        ctx.add(path, f"{text} is a bridge — link a port (an interface without type) and add "
                      "it to the bridge's ports")
        return None
    return node_name, ifname


def _iface_type(ctx: _Context, end: Endpoint) -> str | None:
    iface = ctx.spec.nodes[end[0]].interfaces.get(end[1])
    return iface.type if iface else None


def _check_unlinked(ctx: _Context) -> None:
    """A veth end only exists as half of a link, so it must be in one."""
    for name, node in ctx.spec.nodes.items():
        for ifname, iface in node.interfaces.items():
            if ifname == LOOPBACK or not _is_link_end_type(iface.type):
                continue
            if (name, ifname) not in ctx.mentioned:
                ctx.add(_iface_path(name, ifname),
                        f"interface {ifname} of node {name} is in no link — add a link "
                        f"[{name}:{ifname}, other:ifname] or give it a type")


def _check_bridges(ctx: _Context) -> None:
    """Bridge ports are interfaces of the same node, in one bridge, without addresses."""
    for name, node in ctx.spec.nodes.items():
        for bridge, iface in node.interfaces.items():
            if iface.type != "bridge":
                continue
            for index, port in enumerate(iface.ports):
                _check_port(ctx, name, node, bridge, port, _iface_path(name, bridge, "ports", index))


def _check_port(ctx: _Context, name: str, node: Node, bridge: str, port: str, path: Path) -> None:
    member = node.interfaces.get(port)
    if port == bridge:
        ctx.add(path, f"bridge {bridge} cannot be its own port — remove it from ports")
        return
    if member is None and not (node.kind == "switch" and (name, port) in ctx.linked):
        ctx.add(path, f"bridge {bridge} has no port {port!r} on node {name} — declare {port} "
                      f"under nodes.{name}.interfaces (and link it) or remove it from ports")
        return
    if member is not None and member.type == "bridge":
        ctx.add(path, f"bridge {port} cannot be a port of bridge {bridge} — "
                      "add its ports to one bridge instead")
        return
    if (name, port) in ctx.port_of:
        ctx.add(path, f"{port} is already a port of bridge {ctx.port_of[(name, port)]} — "
                      "a port belongs to one bridge; remove it here")
        return
    ctx.port_of[(name, port)] = bridge
    if member is not None and member.written_addresses():
        key = "address" if member.address else "addresses"
        ctx.add(_iface_path(name, port, key),
                f"{port} is a port of bridge {bridge} and cannot carry an address — "
                f"put the address on the bridge ({bridge})")


class _Segments:
    """Union-find over endpoints: which interfaces share one L2 segment."""

    def __init__(self) -> None:
        self.parent: dict[Endpoint, Endpoint] = {}

    def find(self, end: Endpoint) -> Endpoint:
        self.parent.setdefault(end, end)
        while self.parent[end] != end:
            self.parent[end] = self.parent[self.parent[end]]  # path halving
            end = self.parent[end]
        return end

    def join(self, a: Endpoint, b: Endpoint) -> None:
        self.parent[self.find(a)] = self.find(b)


def _segments(ctx: _Context) -> _Segments:
    """The lab's L2 segments (call after _check_links and _check_bridges); built once per context."""
    if ctx.segments is not None:
        return ctx.segments
    segments = _Segments()
    for a, b in ctx.valid_links:
        segments.join(a, b)
    for end, bridge in ctx.port_of.items():
        segments.join(end, (end[0], bridge))
    for end in ctx.linked:
        if ctx.spec.nodes[end[0]].kind == "switch":
            segments.join(end, (end[0], SWITCH_BRIDGE))
    ctx.segments = segments
    return segments


def _check_addresses(ctx: _Context) -> None:
    """An IP appears once per node and once per L2 segment; other segments may reuse it."""
    segments = _segments(ctx)
    on_node: dict[tuple[str, object], str] = {}
    in_segment: dict[tuple[Endpoint, object], str] = {}
    for name, node in ctx.spec.nodes.items():
        for ifname, iface in node.interfaces.items():
            for path, text in _address_paths(name, ifname, iface):
                ip = ipaddress.ip_interface(text).ip
                here = f"{name}:{ifname}"
                if (name, ip) in on_node:
                    ctx.add(path, f"{ip} is already on {on_node[(name, ip)]} — an address "
                                  "appears once per node; pick another")
                    continue
                on_node[(name, ip)] = here
                key = (segments.find((name, ifname)), ip)
                if key in in_segment:
                    ctx.add(path, f"{ip} is already used by {in_segment[key]} in the same L2 "
                                  "segment — give each interface its own address")
                    continue
                in_segment[key] = here


def _address_paths(node: str, ifname: str, iface) -> list[tuple[Path, str]]:
    """(path, text) of each static address of the interface (``dhcp`` and ``slaac`` left out)."""
    return [(path, text) for path, text in _written_address_paths(node, ifname, iface)
            if text not in DYNAMIC_ADDRESSES]


def _written_address_paths(node: str, ifname: str, iface) -> list[tuple[Path, str]]:
    if iface.address:
        return [(_iface_path(node, ifname, "address"), iface.address)]
    return [(_iface_path(node, ifname, "addresses", i), a) for i, a in enumerate(iface.addresses)]


def _check_routes(ctx: _Context) -> None:
    """Routes leave through an interface of the node, via a gateway on a connected subnet."""
    for name, node in ctx.spec.nodes.items():
        destinations: dict[object, int] = {}
        for index, route in enumerate(node.routes):
            path = ("nodes", name, "routes", index)
            if route.dev is not None and route.dev not in node.interfaces and route.dev != LOOPBACK:
                known = ", ".join(node.interfaces) or "none declared"
                ctx.add((*path, "dev"), f"node {name} has no interface {route.dev!r} — "
                                        f"use one of: {known}")
                continue
            if route.via is not None:
                _check_gateway(ctx, name, node, route.via, route.dev, (*path, "via"))
            dest = _destination(route.to, route.via)
            if dest in destinations:
                what = (f"an IPv{dest.version} default route" if route.to == "default"
                        else f"a route to {dest}")
                ctx.add((*path, "to"), f"node {name} already has {what} (routes[{destinations[dest]}]) "
                                       "— keep one")
            else:
                destinations[dest] = index


def _destination(to: str, via: str | None):
    """The route's destination network; 'default' takes its family from via (IPv4 if none)."""
    if to != "default":
        return ipaddress.ip_network(to)
    if via is not None and ipaddress.ip_address(via).version == 6:
        return ipaddress.ip_network("::/0")
    return ipaddress.ip_network("0.0.0.0/0")


def _check_gateway(ctx: _Context, name: str, node: Node, via: str, dev: str | None,
                   path: Path) -> None:
    gateway = ipaddress.ip_address(via)
    if gateway.is_link_local and gateway.version == 6:
        # fe80:: gateways are valid on any link, but only with an interface named.
        if dev is None:
            ctx.add(path, f"gateway {via} is link-local — add dev: the interface it is on")
        return
    interfaces = {dev: node.interfaces[dev]} if dev in node.interfaces else node.interfaces
    connected = [ipaddress.ip_interface(a) for i in interfaces.values() for a in i.all_addresses()]
    if any(gateway == c.ip for c in connected):
        ctx.add(path, f"gateway {via} is node {name}'s own address — use the address of "
                      "the next router")
    elif not any(gateway in c.network for c in connected):
        owner = f"interface {dev} of node {name}" if dev in node.interfaces else f"node {name}"
        have = ", ".join(str(c) for c in connected) or "no addresses"
        ctx.add(path, f"gateway {via} is not on any connected subnet of {owner} ({have}) — "
                      "use an address inside one of them or add an address")


def _check_firewalls(ctx: _Context) -> None:
    """Firewall and NAT rules name interfaces of their node, and addresses,
    CIDRs or nodes with addresses; port forwards aim into a connected subnet."""
    for name, node in ctx.spec.nodes.items():
        base = ("nodes", name)
        if node.firewall is not None:
            for chain_name in ("input", "forward", "output"):
                chain = getattr(node.firewall, chain_name)
                for index, rule in enumerate(chain.rules if chain else ()):
                    _check_rule(ctx, name, node, chain_name, rule,
                                (*base, "firewall", chain_name, "rules", index))
        if node.nat is None:
            continue
        for index, masquerade in enumerate(node.nat.masquerade):
            _check_interface(ctx, name, node, masquerade.out, (*base, "nat", "masquerade", index, "out"))
        for index, forward in enumerate(node.nat.forward):
            path = (*base, "nat", "forward", index)
            if forward.in_ is not None:
                _check_interface(ctx, name, node, forward.in_, (*path, "in"))
            target = resolve_forward_target(ctx.spec, node, forward.to)
            if isinstance(target, str):
                ctx.add((*path, "to"), target.replace("this node", f"node {name}"))


def _check_rule(ctx: _Context, name: str, node: Node, chain: str, rule: FirewallRule,
                path: Path) -> None:
    if rule.in_ is not None:
        if chain == "output":
            ctx.add((*path, "in"), "'in' never matches in the output chain — packets the node "
                                   "sends have no input interface; use 'out'")
        else:
            _check_interface(ctx, name, node, rule.in_, (*path, "in"))
    if rule.out is not None:
        if chain == "input":
            ctx.add((*path, "out"), "'out' never matches in the input chain — packets for the "
                                    "node have no output interface; use 'in'")
        else:
            _check_interface(ctx, name, node, rule.out, (*path, "out"))
    versions = {}
    for key, text in (("from", rule.from_), ("to", rule.to)):
        if text is None:
            continue
        hosts = resolve_hosts(ctx.spec, text)
        if hosts is None:
            ctx.add((*path, key), f"unknown node or address {text!r} — write an address "
                                  f"(10.0.0.1), a CIDR (10.0.0.0/24) or a node ({ctx.node_names()})")
        elif not hosts:
            ctx.add((*path, key), f"node {text} has no addresses to match — give one of its "
                                  "interfaces an address, or write an address or CIDR")
        else:
            versions[key] = {host.version for host in hosts}
    if len(versions) == 2 and not versions["from"] & versions["to"]:
        ctx.add((*path, "to"), f"'from' is IPv{min(versions['from'])} and 'to' is "
                               f"IPv{min(versions['to'])} — the rule could never match; "
                               "use addresses of one IP version")
    if rule.comment is not None and ('"' in rule.comment or "\n" in rule.comment
                                     or len(rule.comment) > COMMENT_MAX):
        ctx.add((*path, "comment"), f"a comment is one line of at most {COMMENT_MAX} characters "
                                    "without '\"' (nft quotes it with \") — shorten it")


def _check_interface(ctx: _Context, name: str, node: Node, ifname: str, path: Path) -> None:
    """``ifname`` is an interface of node ``name`` (declared, loopback, or a switch's port)."""
    known = [*node.interfaces]
    if node.kind == "switch":
        known += [SWITCH_BRIDGE] + [i for (n, i) in ctx.linked if n == name]
    if ifname in known or ifname == LOOPBACK:
        return
    ctx.add(path, f"node {name} has no interface {ifname!r} — use one of: "
                  f"{', '.join(dict.fromkeys(known)) or 'none declared'}")


def _check_checks(ctx: _Context) -> None:
    """Checks start at a node and aim at a node with an address, or at an IP."""
    for index, check in _probes(ctx.spec):
        path = ("checks", index)
        if check.from_ not in ctx.spec.nodes:
            ctx.add((*path, "from"), f"unknown node {check.from_!r} — use one of: {ctx.node_names()}")
        target = _parse_target(check.to)
        if isinstance(target, str):
            ctx.add((*path, "to"), target)
            continue
        host, port = target
        if port is not None and not 1 <= port <= 65535:
            ctx.add((*path, "to"), f"port {port} is out of range — use 1–65535")
        elif check.proto in ("tcp", "udp") and port is None:
            ctx.add((*path, "to"), f"proto: {check.proto} needs a port — write to: "
                                   f"\"{_with_port(host)}\"")
        elif check.proto == "icmp" and port is not None:
            ctx.add((*path, "to"), f"icmp has no ports — write to: {host} or set proto: tcp/udp")
        if _is_ip(host):
            continue
        node = ctx.spec.nodes.get(host)
        if node is None:
            if not lookup_served(ctx.spec, host):
                served = ", ".join(served_names_shown(ctx.spec))
                ctx.add((*path, "to"), f"unknown node {host!r} — use a node ({ctx.node_names()}), "
                                       + (f"a name the lab's DNS serves ({served}), " if served else "")
                                       + "an IP, host:port or ip:port")
        elif not any(i.all_addresses() or i.uses_dhcp or i.uses_slaac for i in node.interfaces.values()):
            ctx.add((*path, "to"), f"node {host} has no address to reach — give one of its "
                                   "interfaces an address, or aim at an IP")


def _check_trace_nodes(ctx: _Context) -> None:
    """A check's ``via`` and ``dropped_by`` name nodes of the lab (issue 5: traced checks)."""
    for index, check in _probes(ctx.spec):
        for position, node in enumerate(check.via):
            if node not in ctx.spec.nodes:
                ctx.add(("checks", index, "via", position),
                        f"unknown node {node!r} — 'via' lists nodes the packet must pass: {ctx.node_names()}")
        if check.dropped_by is not None and check.dropped_by not in ctx.spec.nodes:
            ctx.add(("checks", index, "dropped_by"),
                    f"unknown node {check.dropped_by!r} — name the node that drops it: {ctx.node_names()}")

def _check_state_checks(ctx: _Context) -> None:
    """A state check reads a node of the lab. (What it names inside the node, an interface or a
    chain, may be the student's to make, so only the node must exist beforehand.)"""
    for index, check in enumerate(ctx.spec.checks):
        if isinstance(check, StateCheck) and check.node not in ctx.spec.nodes:
            ctx.add(("checks", index, "node"),
                    f"unknown node {check.node!r} — a state check reads one of: {ctx.node_names()}")


def _probes(spec: LabSpec) -> list[tuple[int, Check]]:
    """The probe checks of the lab, with their index among all checks."""
    return [(index, check) for index, check in enumerate(spec.checks) if isinstance(check, Check)]


def _parse_target(to: str) -> tuple[str, int | None] | str:
    """Splits a check's 'to' into (host, port); returns a message if it can't."""
    if to.startswith("["):  # [fd00::1]:80 — brackets keep the port apart from the IPv6 colons
        host, sep, port = to[1:].partition("]:")
        if not sep or not _is_ip(host) or ipaddress.ip_address(host).version != 6:
            return f"{to!r} is not [IPv6]:port — write e.g. \"[fd00::1]:80\""
    elif _is_ip(to):
        return to, None
    else:
        host, sep, port = to.partition(":")
        if not sep:
            return to, None
    if not port.isdigit():
        return f"port {port!r} in {to!r} is not a number — write e.g. \"{_with_port(host)}\""
    return host, int(port)


def _with_port(host: str) -> str:
    return f"[{host}]:80" if ":" in host else f"{host}:80"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


BUILTIN_CONTROLLER = "builtin"
# OVS also speaks ssl:, but only with a private key, a certificate and a CA
# certificate set on its database (ovs-vsctl set-ssl), which a lab file has
# no way to give: such a bridge would never connect.
CONTROLLER_TRANSPORTS = ("tcp",)
OSKEN_INSTALL = "pip install 'os-ken>=4,<5'"


def controller_problem(value: str) -> str | None:
    """What is wrong with a bridge's ``controller:`` value, or None if it is
    ``builtin`` or an external controller's ``tcp:IP[:PORT]`` (IPv6 in
    brackets: ``tcp:[fd00::1]:6653``)."""
    if value == BUILTIN_CONTROLLER:
        return None
    advice = ("write builtin (vnetlab's OpenFlow 1.3 learning switch) or an external "
              "controller's address, e.g. tcp:127.0.0.1:6653")
    transport, sep, rest = value.partition(":")
    if transport == "ssl" and sep:
        return (f"controller {value!r}: ssl: needs a key and certificates (ovs-vsctl set-ssl), which a "
                f"lab file cannot give, so the bridge would never connect — only tcp:IP:PORT and builtin "
                f"are supported; {advice}")
    if not sep or transport not in CONTROLLER_TRANSPORTS:
        return f"controller {value!r} is neither builtin nor tcp:IP:PORT — {advice}"
    if rest.startswith("["):
        host, close, port = rest[1:].partition("]")
        if not close or (port and not port.startswith(":")):
            return f"controller {value!r}: an IPv6 address goes in brackets, [IP]:PORT — {advice}"
        port = port[1:]
        if not _is_ip(host) or ipaddress.ip_address(host).version != 6:
            return f"controller {value!r}: {host!r} is not an IPv6 address — {advice}"
    else:
        host, _, port = rest.partition(":")
        if not _is_ip(host) or ipaddress.ip_address(host).version != 4:
            return f"controller {value!r}: {host!r} is not an IP address — {advice}"
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        return f"controller {value!r}: port {port!r} is not 1–65535 — {advice}"
    return None


def _check_controllers(ctx: _Context) -> None:
    """A bridge's (or switch node's) ``controller:`` is builtin or an address."""
    for path, value in _controller_places(ctx.spec):
        message = controller_problem(value)
        if message is not None:
            ctx.add(path, message)


def _controller_places(spec: LabSpec) -> list[tuple[Path, str]]:
    """Every ``controller:`` of the file: (path, value)."""
    places = []
    for name, node in spec.nodes.items():
        places += [(("nodes", name, "controller"), node.controller)]
        places += [(_iface_path(name, ifname, "controller"), iface.controller)
                   for ifname, iface in node.interfaces.items()]
    return [(path, value) for path, value in places if value is not None]


UNAPPLIED_SETTINGS = ("mtu", "mac")


def _check_unapplied_settings(ctx: _Context) -> None:
    """``mtu`` and ``mac`` are set on veths, taps and Linux bridges only:
    vnetlab builds bonds, VLAN interfaces and Open vSwitch bridges without
    them, so asking for them there is an error, not a silent no-op."""

    for name, node in ctx.spec.nodes.items():
        views = {view.name: view for view in bridges_of(ctx.spec, name, node)}
        for ifname, iface in node.interfaces.items():
            for key in (k for k in UNAPPLIED_SETTINGS if getattr(iface, k) is not None):
                path = _iface_path(name, ifname, key)
                if iface.type == "bond":
                    ctx.add(path, f"{key} is not applied to bonds — set it on bond {ifname}'s members "
                                  f"({', '.join(iface.members) or 'none yet'}), or remove it")
                elif iface.type == "vlan":
                    ctx.add(path, f"{key} is not applied to VLAN interfaces — remove it ({ifname} takes "
                                  "its parent's)")
                elif iface.type == "bridge" and resolve_backend(node, views[ifname], ASSUMED) == "ovs":
                    view = views[ifname]
                    linux_would_do = resolve_backend(node, replace(view, backend="auto"), ASSUMED) == "linux"
                    ctx.add(path, f"{key} is not applied to {ifname}: it is an Open vSwitch bridge "
                                  f"({_why_ovs(name, node, view)}), and vnetlab builds those without {key} "
                                  f"— remove {key}{', or use backend: linux' if linux_would_do else ''}")


def _why_ovs(name: str, node: Node, view) -> str:
    """Why a bridge is Open vSwitch on every kernel (a model.bridges.BridgeView)."""
    if view.backend == "ovs":  # its own, or for a switch's br0 the node's
        return "it has backend: ovs" if node.interfaces[view.name].backend == "ovs" else \
            f"switch {name} has backend: ovs"
    flows, controller = bridge_settings(node, view)
    if flows or controller:
        return f"its {'flows need' if flows else 'controller needs'} Open vSwitch"
    bond = next(p for p in view.ports if linux_bond_mode_problem(getattr(node.interfaces.get(p), "mode", None)))
    return f"bond {bond}'s mode {node.interfaces[bond].mode} exists only in Open vSwitch"


def _settings_ovs_may_drop(spec: LabSpec) -> list[tuple[Path, str, str, str]]:
    """(path, key, bridge, what the kernel lacks) for each mtu/mac on a
    ``backend: auto`` bridge that is a Linux bridge only on a kernel with
    VLAN filtering, bonding or 802.1Q devices (Open vSwitch elsewhere)."""

    found = []
    for name, node in spec.nodes.items():
        for view in bridges_of(spec, name, node):
            iface = node.interfaces.get(view.name)
            keys = [k for k in UNAPPLIED_SETTINGS if iface is not None and getattr(iface, k) is not None]
            if keys and resolve_backend(node, view, ASSUMED) == "linux" \
                    and resolve_backend(node, view, NOTHING) == "ovs":
                needs = " or ".join(FEATURE_TEXT[need] for need in sorted(bridge_needs(node, view)))
                found += [(_iface_path(name, view.name, key), key, view.name, needs) for key in keys]
    return found


def _check_linux_bond_modes(ctx: _Context) -> None:
    """A bond that can only be a Linux bond (on no bridge, or on a bridge with
    ``backend: linux``) has a mode Linux bonding has (issue 4)."""
    for name, node in ctx.spec.nodes.items():
        bridge_of = {port: iface for iface in node.interfaces.values() if iface.type == "bridge"
                     for port in iface.ports}
        for ifname, iface in node.interfaces.items():
            if iface.type != "bond" or iface.mode is None:
                continue
            bridge = bridge_of.get(ifname)
            if bridge is not None and bridge.backend != "linux":
                continue  # an OVS bridge's bond port (auto picks OVS for OVS-only modes)
            message = linux_bond_mode_problem(iface.mode)
            if message is not None:
                ctx.add(_iface_path(name, ifname, "mode"), message)


def _check_l2(ctx: _Context) -> None:
    """Bonds, VLANs and OVS settings fit together (issue 4): a bond has two or
    more member NICs that are no bridge's ports; ``vlan``/``trunk`` sit on
    ports of VLAN-aware bridges; a ``type: vlan`` interface has a known
    parent; ``flows``/``controller`` are on bridges that can be OVS; an OVS
    bond is not balance-rr."""
    for name, node in ctx.spec.nodes.items():
        bridges = {b: i for b, i in node.interfaces.items() if i.type == "bridge"}
        member_of: dict[str, str] = {}
        for ifname, iface in node.interfaces.items():
            path = _iface_path(name, ifname)
            if iface.type == "bond":
                _check_bond(ctx, name, node, ifname, iface, member_of)
            elif iface.members or (iface.mode is not None and iface.type != "macvlan"):
                ctx.add((*path, "members" if iface.members else "mode"),
                        f"members and mode are for bonds — add type: bond to {ifname} or remove them")
            if iface.type == "vlan":
                parts = vlan_device_parts(ifname, iface)
                known = [*node.interfaces] + ([SWITCH_BRIDGE] if node.kind == "switch" else [])
                if parts is None:
                    ctx.add(path, f"VLAN interface {ifname} needs parent and id — write "
                                  f"{{type: vlan, parent: vmbr0, id: 20}} or name it PARENT.VID, e.g. vmbr0.20")
                elif parts[0] not in known or parts[0] == ifname:
                    ctx.add((*path, "parent") if iface.parent else path,
                            f"VLAN interface {ifname} sits on {parts[0]!r}, which node {name} does not have — "
                            f"use one of: {', '.join(n for n in known if n != ifname) or 'none declared'}")
            elif (iface.parent is not None and iface.type != "macvlan") or iface.id is not None:
                ctx.add((*path, "parent" if iface.parent is not None else "id"),
                        f"parent and id are for VLAN interfaces — add type: vlan to {ifname} or remove them")
            if iface.type != "bridge":
                for key in ("vlan_aware", "backend"):
                    if getattr(iface, key) != type(iface).model_fields[key].default:
                        ctx.add((*path, key), f"{key} is a bridge setting — put it on a bridge (type: bridge) "
                                              f"or, for a switch's br0, on the switch node")
                for key in ("flows", "controller"):
                    if getattr(iface, key):
                        ctx.add((*path, key), f"{key} {'belong' if key == 'flows' else 'belongs'} to an Open vSwitch bridge — put them on a "
                                              "bridge (type: bridge) or on a switch node")
            elif iface.backend == "linux" and (iface.flows or iface.controller):
                key = "flows" if iface.flows else "controller"
                ctx.add((*path, key), f"{key} need Open vSwitch, but bridge {ifname} has backend: linux "
                                      "— set backend: ovs (or auto)")
        for ifname, iface in node.interfaces.items():  # once every bond's members are known
            _check_vlan_port(ctx, name, node, ifname, iface, bridges, member_of)
        if node.kind != "switch":
            for key in ("flows", "controller", "vlan_aware"):
                if getattr(node, key):
                    ctx.add(("nodes", name, key), f"{key} on a node is for switches (it sets their br0) — "
                                                  f"use kind: switch, or put {key} on a bridge interface")
            if node.backend != "auto":
                ctx.add(("nodes", name, "backend"), "backend on a node is for switches (it sets their br0) — "
                                                    "use kind: switch, or put backend on a bridge interface")
        elif node.backend == "linux" and (node.flows or node.controller):
            key = "flows" if node.flows else "controller"
            ctx.add(("nodes", name, key), f"{key} need Open vSwitch, but switch {name} has backend: linux "
                                          "— set backend: ovs (or auto)")


def _check_bond(ctx: _Context, name: str, node: Node, ifname: str, iface, member_of: dict[str, str]) -> None:
    path = _iface_path(name, ifname)
    if len(iface.members) < 2:
        ctx.add((*path, "members") if iface.members else path,
                f"bond {ifname} has {len(iface.members)} member(s) — a bond joins at least two NICs, "
                "e.g. members: [eno1, eno2]")
    for index, member in enumerate(iface.members):
        where = (*path, "members", index)
        declared = node.interfaces.get(member)
        if declared is None or not _is_link_end_type(declared.type):
            what = "is not an interface of" if declared is None else f"is a {declared.type} on"
            ctx.add(where, f"bond member {member} {what} node {name} — members are NICs: interfaces "
                           f"without type, each in a link (declare {member}: {{}} and link it)")
            continue
        if member in member_of:
            ctx.add(where, f"{member} is already a member of bond {member_of[member]} — a NIC is in one bond")
            continue
        member_of[member] = ifname
        if (name, member) in ctx.port_of:
            ctx.add(where, f"{member} is a member of bond {ifname} and also a port of bridge "
                           f"{ctx.port_of[(name, member)]} — remove {member} from the bridge's ports "
                           f"and add {ifname} there instead")
    bridge = ctx.port_of.get((name, ifname))
    bridge_iface = node.interfaces.get(bridge) if bridge else None
    if iface.mode == "balance-rr" and bridge_iface is not None and (
            bridge_iface.backend == "ovs" or bridge_iface.flows or bridge_iface.controller):
        ctx.add((*path, "mode"), f"bond {ifname} is on Open vSwitch bridge {bridge}, and OVS has no "
                                 "balance-rr — use active-backup, balance-slb or balance-tcp (LACP)")


def _check_macvlans(ctx: _Context) -> None:
    """A ``type: macvlan`` interface sits on an interface of its own node (a
    macvlan lives in its parent's namespace) that is no bridge's port (the
    kernel gives a device to a bridge or to macvlans, not both), with a
    macvlan mode."""
    if not any(iface.type == "macvlan" for node in ctx.spec.nodes.values() for iface in node.interfaces.values()):
        return  # the usual case: nothing to check, and nothing to index
    linked_of: dict[str, list[str]] = {}
    for link in ctx.spec.links:
        for end in link_ends(link):
            node_name, _, ifname = end.partition(":")
            linked_of.setdefault(node_name, []).append(ifname)
    for name, node in ctx.spec.nodes.items():
        linked = linked_of.get(name, [])
        known = list(dict.fromkeys([*node.interfaces, *linked]))
        ports = {port: bridge for bridge, iface in node.interfaces.items() if iface.type == "bridge"
                 for port in iface.ports}
        if node.kind == "switch":
            ports.update({ifname: SWITCH_BRIDGE for ifname in linked})
        for ifname, iface in node.interfaces.items():
            if iface.type != "macvlan":
                continue
            path = _iface_path(name, ifname)
            others = ", ".join(n for n in known if n not in (ifname, LOOPBACK)) or "none declared"
            if iface.parent is None:
                ctx.add(path, f"macvlan interface {ifname} needs a parent — write {{type: macvlan, parent: eth0}} "
                              f"with one of node {name}'s interfaces: {others}")
            elif iface.parent not in known or iface.parent in (ifname, LOOPBACK):
                ctx.add((*path, "parent"), f"macvlan interface {ifname} sits on {iface.parent!r}, which node {name} "
                                           f"does not have — use one of: {others}")
            elif iface.parent in ports:
                ctx.add((*path, "parent"), f"{iface.parent} is a port of bridge {ports[iface.parent]}, and the "
                                           "kernel gives a device to a bridge or to macvlans, not both — put "
                                           f"{ifname} on {ports[iface.parent]} itself, or on an interface that is "
                                           "no bridge's port")


def _check_vlan_port(ctx: _Context, name: str, node: Node, ifname: str, iface, bridges: dict,
                     member_of: dict[str, str]) -> None:
    """``vlan``/``trunk`` only on a port of a VLAN-aware bridge."""
    keys = [key for key in ("vlan", "trunk") if getattr(iface, key) is not None]
    if not keys:
        return
    path = (*_iface_path(name, ifname), keys[0])
    if node.kind == "switch" and (name, ifname) in ctx.linked and (name, ifname) not in ctx.port_of:
        if not (node.vlan_aware or (bridges.get(SWITCH_BRIDGE) and bridges[SWITCH_BRIDGE].vlan_aware)):
            ctx.add(path, f"{ifname} has {keys[0]}, but switch {name} is not VLAN-aware — "
                          f"add vlan_aware: true to node {name}")
        return
    bridge = ctx.port_of.get((name, ifname))
    if bridge is None:
        owner = f" (it is a member of bond {member_of[ifname]}: put {keys[0]} on the bond)" \
            if ifname in member_of else ""
        ctx.add(path, f"{ifname} has {keys[0]} but is no bridge port{owner} — add it to the ports "
                      f"of a VLAN-aware bridge, or remove {keys[0]}")
    elif not bridges[bridge].vlan_aware:
        ctx.add(path, f"{ifname} has {keys[0]}, but bridge {bridge} is not VLAN-aware — add "
                      f"vlan_aware: true to {bridge}")


# -- DHCP, DNS and router advertisements (issue 13) ----------------------------
SERVER_KEYS = ("dhcp", "ra", "dns")


def _check_dynamic_addresses(ctx: _Context) -> None:
    """``dhcp`` and ``slaac`` appear at most once per interface, and not on an interface that serves them."""
    for name, node in ctx.spec.nodes.items():
        for ifname, iface in node.interfaces.items():
            seen: set[str] = set()
            for path, text in _written_address_paths(name, ifname, iface):
                if text not in DYNAMIC_ADDRESSES:
                    continue
                if text in seen:
                    ctx.add(path, f"{text} is already an address of {name}:{ifname} — write it once")
                    continue
                seen.add(text)
                serves = {"dhcp": iface.dhcp, "slaac": iface.ra}[text]
                if serves is not None:
                    what, example = ("a DHCP server", "10.0.3.1/24") if text == "dhcp" else \
                        ("a router advertising a prefix", "fd00:3::1/64")
                    ctx.add(path, f"{name}:{ifname} serves {'dhcp' if text == 'dhcp' else 'ra'}, and {what} does not "
                                  f"take its own address by {text} — remove {text} and give it a static address "
                                  f"(e.g. {example})")


def _static(iface: Interface, version: int) -> list:
    return [ipaddress.ip_interface(a) for a in iface.all_addresses() if ipaddress.ip_interface(a).version == version]


def _check_serving(ctx: _Context) -> None:
    """A serving interface (``dhcp``, ``ra``, ``dns``) has the static addresses its server needs:
    the DHCP range, router and reservations in one of its IPv4 subnets, the RA prefix among its IPv6
    ones; a reservation takes no address another interface of its segment has."""
    if not any(iface.serves for node in ctx.spec.nodes.values() for iface in node.interfaces.values()):
        return
    segments = _segments(ctx)
    static_in_segment: dict[tuple[Endpoint, object], str] = {}
    for name, node in ctx.spec.nodes.items():
        for ifname, iface in node.interfaces.items():
            for text in iface.all_addresses():
                static_in_segment.setdefault((segments.find((name, ifname)), ipaddress.ip_interface(text).ip),
                                             f"{name}:{ifname}")
    for name, node in ctx.spec.nodes.items():
        for ifname, iface in node.interfaces.items():
            if iface.dhcp is not None:
                _check_dhcp_server(ctx, name, ifname, iface, segments, static_in_segment)
            if iface.ra is not None:
                prefix = ipaddress.IPv6Network(iface.ra.prefix)
                have = _static(iface, 6)
                if not any(a.network == prefix for a in have):
                    shown = ", ".join(str(a) for a in have) or "no IPv6 address"
                    ctx.add(_iface_path(name, ifname, "ra", "prefix"),
                            f"{name}:{ifname} advertises {prefix} but has no address in it ({shown}) — a router "
                            f"announces a prefix of its own interface: add e.g. {prefix.network_address + 1}/64 "
                            "to its addresses")
            if iface.dns is not None and not iface.all_addresses():
                ctx.add(_iface_path(name, ifname, "dns"),
                        f"{name}:{ifname} serves dns but has no static address to answer on — give it one, "
                        "e.g. address: 10.0.3.1/24")


def _check_dhcp_server(ctx: _Context, name: str, ifname: str, iface: Interface, segments: _Segments,
                       static_in_segment: dict) -> None:
    dhcp = iface.dhcp
    base = _iface_path(name, ifname, "dhcp")
    own = _static(iface, 4)
    if not own:
        ctx.add(base, f"{name}:{ifname} serves dhcp but has no static IPv4 address — dnsmasq hands out "
                      "addresses of the subnet of its own: give it one, e.g. address: 10.0.3.1/24")
        return
    low, high = dhcp.bounds
    subnet = next((a.network for a in own if low in a.network and high in a.network), None)
    if subnet is None:
        shown = ", ".join(str(a.network) for a in own)
        ctx.add((*base, "range"), f"range {dhcp.range} is not inside a subnet of {name}:{ifname} ({shown}) — "
                                  f"hand out addresses of its own subnet, e.g. "
                                  f"{own[0].network.network_address + 100}-{own[0].network.network_address + 200}")
        return
    if low == subnet.network_address or high == subnet.broadcast_address:
        ctx.add((*base, "range"), f"range {dhcp.range} holds the {'network' if low == subnet.network_address else 'broadcast'} "
                                  f"address of {subnet} — start and end inside it")
    mine = [a.ip for a in own if low <= a.ip <= high]
    if mine:
        ctx.add((*base, "range"), f"range {dhcp.range} holds {name}:{ifname}'s own address {mine[0]} — "
                                  "leave the server's address out of the range")
    if dhcp.router is not None and ipaddress.IPv4Address(dhcp.router) not in subnet:
        ctx.add((*base, "router"), f"router {dhcp.router} is not in {subnet}, the subnet the clients get — "
                                   f"a gateway must be on their subnet, e.g. {own[0].ip}")
    segment = segments.find((name, ifname))
    names: dict[str, int] = {}
    macs: dict[str, int] = {}
    addresses: dict[object, int] = {}
    for index, host in enumerate(dhcp.hosts):
        path = (*base, "hosts", index)
        ip = ipaddress.IPv4Address(host.address)
        if host.name in names:
            ctx.add((*path, "name"), f"{host.name} is already reserved in hosts[{names[host.name]}] — give each "
                                     "reservation its own name")
        names.setdefault(host.name, index)
        if host.mac.lower() in macs:
            ctx.add((*path, "mac"), f"MAC {host.mac} is already reserved in hosts[{macs[host.mac.lower()]}] — "
                                    "one reservation per client")
        macs.setdefault(host.mac.lower(), index)
        if ip not in subnet:
            ctx.add((*path, "address"), f"{ip} is not in {subnet}, the subnet {name}:{ifname} serves — reserve "
                                        "an address of it")
            continue
        if ip in addresses:
            ctx.add((*path, "address"), f"{ip} is already reserved in hosts[{addresses[ip]}] — one client per address")
            continue
        addresses[ip] = index
        owner = static_in_segment.get((segment, ip))
        if owner is not None:
            ctx.add((*path, "address"), f"{ip} is the static address of {owner} in this segment — a client "
                                        f"given it would clash with {owner.partition(':')[0]}: reserve another")


def _check_macs(ctx: _Context) -> None:
    """Two interfaces of one L2 segment never have the same ``mac``."""
    if sum(iface.mac is not None for node in ctx.spec.nodes.values() for iface in node.interfaces.values()) < 2:
        return
    segments = _segments(ctx)
    seen: dict[tuple[Endpoint, str], str] = {}
    for name, node in ctx.spec.nodes.items():
        for ifname, iface in node.interfaces.items():
            if iface.mac is None:
                continue
            key = (segments.find((name, ifname)), iface.mac.lower())
            if key in seen:
                ctx.add(_iface_path(name, ifname, "mac"), f"MAC {iface.mac} is already {seen[key]}'s in the same L2 "
                                                          "segment — give each interface its own MAC")
                continue
            seen[key] = f"{name}:{ifname}"


def servers_of(spec: LabSpec) -> dict[Endpoint, dict[str, Endpoint]]:
    """Which interface serves each interface's L2 segment, for a valid lab:
    ``(node, ifname)`` -> ``{"dhcp": (node, ifname), "ra": ..., "dns": ...}``,
    the first interface of the segment with ``dhcp:``, ``ra:``, ``dns:``
    (itself included); an interface whose segment has no server is left out."""
    ctx = _Context(spec)
    _check_links(ctx)
    _check_bridges(ctx)
    segments = _segments(ctx)
    serving: dict[str, dict[Endpoint, Endpoint]] = {key: {} for key in SERVER_KEYS}
    for name, node in spec.nodes.items():
        for ifname, iface in node.interfaces.items():
            for key in SERVER_KEYS:
                if getattr(iface, key) is not None:
                    serving[key].setdefault(segments.find((name, ifname)), (name, ifname))
    found: dict[Endpoint, dict[str, Endpoint]] = {}
    for name, node in spec.nodes.items():
        for ifname in node.interfaces:
            for key in SERVER_KEYS:
                server = serving[key].get(segments.find((name, ifname)))
                if server is not None:
                    found.setdefault((name, ifname), {})[key] = server
    return found


def _unserved_clients(spec: LabSpec) -> list[SemanticProblem]:
    """A ``dhcp`` (``slaac``) client whose segment has no interface with ``dhcp:`` (``ra:``): warned,
    as ``up`` fails waiting for its lease (its address) — unless the server is reached in a way the
    file does not show (a VLAN, a relay)."""
    if not any(iface.uses_dhcp or iface.uses_slaac for node in spec.nodes.values()
               for iface in node.interfaces.values()):
        return []
    ctx = _Context(spec)
    _check_links(ctx)
    _check_bridges(ctx)
    segments = _segments(ctx)
    served: dict[str, set[Endpoint]] = {"dhcp": set(), "slaac": set()}
    for name, node in spec.nodes.items():
        for ifname, iface in node.interfaces.items():
            if iface.dhcp is not None:
                served["dhcp"].add(segments.find((name, ifname)))
            if iface.ra is not None:
                served["slaac"].add(segments.find((name, ifname)))
    warnings: list[SemanticProblem] = []
    for name, node in spec.nodes.items():
        for ifname, iface in node.interfaces.items():
            for path, text in _written_address_paths(name, ifname, iface):
                if text in DYNAMIC_ADDRESSES and segments.find((name, ifname)) not in served[text]:
                    server = "DHCP server (an interface with dhcp:)" if text == "dhcp" else \
                        "router advertisements (an interface with ra:)"
                    warnings.append((path, f"{name}:{ifname} takes its address by {text}, but its L2 segment has no "
                                           f"{server} — `vnetlab up` fails waiting for it; serve the segment, or "
                                           "give the interface a static address"))
    return warnings
