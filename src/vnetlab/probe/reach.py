"""``vnetlab reach``: the reachability matrix between every node that has an address.

Every node pings (or, with a TCP port, connects to) every other node's
address — its first, preferring IPv4, as checks do — all at once, in-process
(:func:`vnetlab.probe.icmp.ping_many`, :func:`vnetlab.probe.transport.tcp_probe_many`).

Two things make a naive matrix lie, and both are handled here:

- The kernel's neighbour (ARP) table is one table for every namespace,
  holding at most ``net.ipv4.neigh.default.gc_thresh3`` entries (1024 by
  default). A matrix needing more entries than that fails in ways that look
  like unreachability, so :func:`neighbour_budget` estimates the need before
  anything is sent, and :func:`reach_matrix` refuses a matrix that does not fit.
- Two nodes may hold the same address (isolated tenants). A reply from that
  address proves nothing about *which* node answered, so for such targets
  the answering MAC (the source's neighbour entry) is compared to the
  intended node's interface; a probe answered by the wrong twin is ✗.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import time
from typing import Callable, Optional

from vnetlab.model.targets import resolve_target
from vnetlab.host import neigh, netns
from vnetlab.model.schema import LabSpec
from vnetlab.probe.icmp import PingProbe, ping_many
from vnetlab.probe.transport import OPEN, PortProbe, tcp_probe_many
from vnetlab.errors import EnvironmentProblem

DEFAULT_GC_THRESH3 = 1024
# Leave room for entries other labs and the host hold at the same time.
NEIGHBOUR_HEADROOM = 0.9


class NeighbourTableTooSmall(EnvironmentProblem):
    """The matrix needs more neighbour entries than the kernel-wide table holds."""


@dataclasses.dataclass(frozen=True)
class Cell:
    """One (source, target) pair of the matrix."""

    source: str
    target: str
    address: str
    ok: bool
    detail: str


@dataclasses.dataclass
class ReachMatrix:
    """The whole matrix: the nodes in file order, their usual addresses, the cells
    (each with the address actually probed: of a family its source has)."""

    lab: str
    proto: str  # icmp | tcp
    port: Optional[int]
    nodes: list[str]
    addresses: dict[str, str]
    cells: dict[tuple[str, str], Cell]
    seconds: float
    neighbour_entries: int

    def reachable(self) -> int:
        """How many pairs got through."""
        return sum(cell.ok for cell in self.cells.values())

    def to_dict(self) -> dict:
        """Plain data for ``--json``: ``matrix[source][target] = {ok, detail}``."""
        return {
            "lab": self.lab, "proto": self.proto, "port": self.port, "nodes": self.nodes,
            "addresses": self.addresses, "pairs": len(self.cells), "reachable": self.reachable(),
            "seconds": round(self.seconds, 3), "neighbour_entries": self.neighbour_entries,
            "matrix": {s: {t: {"ok": c.ok, "address": c.address, "detail": c.detail}
                           for (s2, t), c in self.cells.items() if s2 == s} for s in self.nodes},
        }


def node_addresses(spec: LabSpec) -> dict[str, str]:
    """Each node with an address -> the address probes go to (file order)."""
    result = {}
    for name in spec.nodes:
        try:
            result[name] = resolve_target(spec, name)[0]
        except ValueError:
            continue  # no address: not part of the matrix
    return result


def _interfaces_of(spec: LabSpec, node: str) -> list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
    return [ipaddress.ip_interface(text) for interface in spec.nodes[node].interfaces.values()
            for text in interface.all_addresses()]


class _Routing:
    """Each node's connected subnets and static routes, parsed once."""

    def __init__(self, spec: LabSpec) -> None:
        self.interfaces = {node: _interfaces_of(spec, node) for node in spec.nodes}
        self.routes: dict[str, list[tuple[ipaddress._BaseNetwork, Optional[str]]]] = {}
        for node, spec_node in spec.nodes.items():
            routes = self.routes[node] = []
            for route in spec_node.routes:
                if route.to != "default":
                    routes.append((ipaddress.ip_network(route.to), route.via))
                    continue
                # a default route covers the family of its gateway, or both for a device route
                versions = [ipaddress.ip_address(route.via).version] if route.via else [4, 6]
                routes += [(ipaddress.ip_network("0.0.0.0/0" if v == 4 else "::/0"), route.via) for v in versions]

    def next_hop(self, node: str, target: ipaddress._BaseAddress) -> Optional[str]:
        """The neighbour ``node`` needs to resolve to send to ``target`` (from the
        file's connected subnets and static routes; None: no route, or local)."""
        own = self.interfaces[node]
        if any(i.ip == target for i in own):
            return None
        if any(target in i.network for i in own):
            return str(target)
        best: Optional[tuple[int, Optional[str]]] = None
        for network, via in self.routes[node]:
            better = best is None or network.prefixlen > best[0]
            if network.version == target.version and target in network and better:
                best = (network.prefixlen, via)
        if best is None:
            return None
        return best[1] if best[1] is not None else str(target)  # a device route resolves the target itself


def neighbour_budget(spec: LabSpec, pairs: list[tuple[str, str]], addresses: dict[str, str],
                     routing: Optional[_Routing] = None) -> int:
    """About how many IPv4 neighbour entries probing ``pairs`` creates.

    Each source resolves the next hop towards each target, and each target
    resolves the next hop back; a forwarding node in between is counted
    when it is itself a source (which it is whenever it has an address).
    """
    routing = routing or _Routing(spec)
    parsed = {node: ipaddress.ip_address(address) for node, address in addresses.items()}
    entries: set[tuple[str, str]] = set()
    for source, target in pairs:
        for node, towards in ((source, parsed[target]), (target, parsed[source])):
            if towards.version != 4:
                continue
            hop = routing.next_hop(node, towards)
            if hop is not None:
                entries.add((node, hop))
    return len(entries)


def neighbour_limit() -> int:
    """The kernel-wide IPv4 neighbour table's hard limit (gc_thresh3), read from the host."""
    try:
        return neigh.read_limits(4)["gc_thresh3"]
    except (OSError, ValueError):
        return DEFAULT_GC_THRESH3


def _owner_mac(namespace: str, address: str) -> Optional[str]:
    """The MAC of the interface holding ``address`` in ``namespace``."""
    from pyroute2 import IPRoute

    with netns.entered(namespace):
        ipr = IPRoute(groups=0)
    try:
        for msg in ipr.get_addr():
            if msg.get("IFA_ADDRESS") == address:
                link = ipr.get_links(msg["index"])[0]
                return link.get("IFLA_ADDRESS")
    finally:
        ipr.close()
    return None


def _neighbour_mac(namespace: str, address: str) -> Optional[str]:
    from pyroute2 import IPRoute

    with netns.entered(namespace):
        ipr = IPRoute(groups=0)
    try:
        for msg in ipr.get_neighbours(dst=address):
            if msg.get("NDA_LLADDR"):
                return msg.get("NDA_LLADDR")
    finally:
        ipr.close()
    return None


def _who_answered(spec: LabSpec, namespace_of: Callable[[str], str], source: str, target: str,
                  address: str, holders: list[str]) -> tuple[bool, str]:
    """For an address several nodes hold: did ``target`` (not a twin) answer?"""
    hop = _Routing(spec).next_hop(source, ipaddress.ip_address(address))
    if hop != address:
        return True, f"{address} is also held by {', '.join(h for h in holders if h != target)}; " \
                     f"routed, so which one answered is unknown"
    seen = _neighbour_mac(namespace_of(source), address)
    if seen is None:
        return False, f"no neighbour entry for {address} after the reply"
    for holder in holders:
        if _owner_mac(namespace_of(holder), address) == seen:
            if holder == target:
                return True, f"answered by {target} ({seen})"
            return False, f"{address} answered by {holder} ({seen}), not by {target}"
    return False, f"{address} answered by {seen}, which is no interface of {', '.join(holders)}"


def reach_matrix(spec: LabSpec, namespace_of: Callable[[str], str], *, tcp_port: Optional[int] = None,
                 timeout: float = 1.0, nodes: Optional[list[str]] = None,
                 make_room: Optional[Callable[[int], object]] = None) -> ReachMatrix:
    """Probes every ordered pair of nodes that have addresses, in parallel.

    Args:
        spec: the running lab's spec.
        namespace_of: node name -> namespace.
        tcp_port: connect to this TCP port instead of pinging.
        timeout: seconds each probe may take.
        nodes: only these nodes (default: every node with an address).
        make_room: called with the IPv4 neighbour entries the matrix needs
            when the kernel-wide table is too small for them, before giving
            up (e.g. :func:`vnetlab.host.neigh.make_room` for the lab).

    Raises:
        NeighbourTableTooSmall: the matrix would need more neighbour entries
            than the kernel-wide table holds; nothing was sent.
        KeyError: a node in ``nodes`` has no address or does not exist.
    """
    addresses = node_addresses(spec)
    if nodes is not None:
        missing = [n for n in nodes if n not in addresses]
        if missing:
            raise KeyError(f"no address to probe on: {', '.join(missing)} (nodes with addresses: "
                           f"{', '.join(addresses)})")
        addresses = {n: addresses[n] for n in nodes}
    names = list(addresses)
    pairs = [(s, t) for s in names for t in names if s != t]
    routing = _Routing(spec)
    needed = neighbour_budget(spec, pairs, addresses, routing)
    limit = neighbour_limit()
    if needed > limit * NEIGHBOUR_HEADROOM and make_room is not None:
        make_room(needed)
        limit = neighbour_limit()
    if needed > limit * NEIGHBOUR_HEADROOM:
        fitting = _fitting_nodes(spec, names, addresses, int(limit * NEIGHBOUR_HEADROOM), routing)
        raise NeighbourTableTooSmall(
            f"this matrix of {len(names)} nodes ({len(pairs)} pairs) needs about {needed} ARP entries, but the "
            f"kernel's neighbour table, shared by every namespace, holds at most {limit} "
            f"(net.ipv4.neigh.default.gc_thresh3); nothing was sent — rerun with --raise-neigh-limit (raises "
            f"the host's limits until 'vnetlab down {spec.lab}' restores them), or probe a smaller matrix, e.g. "
            f"--nodes {','.join(names[:fitting])} ({fitting} nodes), or several in turn"
        )
    own_addresses: dict[str, set[str]] = {n: {str(i.ip) for i in routing.interfaces[n]} for n in spec.nodes}
    target_of = {(s, t): _pair_address(routing, s, t, addresses[t]) for s, t in pairs}
    holders = {a: [n for n in spec.nodes if a in own_addresses[n]] for a in set(target_of.values())}
    cells: dict[tuple[str, str], Cell] = {}
    runnable = []
    for source, target in pairs:
        address = target_of[(source, target)]
        if address in own_addresses[source]:
            cells[(source, target)] = Cell(source, target, address, False,
                                           f"{address} is also {source}'s own address: a probe never leaves {source}")
        else:
            runnable.append((source, target))
    started = time.monotonic()
    if tcp_port is None:
        results = ping_many([PingProbe(namespace_of(s), target_of[(s, t)]) for s, t in runnable], timeout=timeout)
        outcomes = [(r.ok, r.detail) for r in results]
    else:
        port_results = tcp_probe_many([PortProbe(namespace_of(s), target_of[(s, t)], tcp_port) for s, t in runnable],
                                      timeout=timeout)
        outcomes = [(r.state == OPEN, f"{r.state}: {r.detail}") for r in port_results]
    seconds = time.monotonic() - started
    for (source, target), (ok, detail) in zip(runnable, outcomes):
        address = target_of[(source, target)]
        if ok and len(holders[address]) > 1:
            ok, detail = _who_answered(spec, namespace_of, source, target, address, holders[address])
        cells[(source, target)] = Cell(source, target, address, ok, detail)
    ordered = {(s, t): cells[(s, t)] for s, t in pairs}
    return ReachMatrix(spec.lab, "tcp" if tcp_port else "icmp", tcp_port, names, addresses, ordered, seconds, needed)


def _pair_address(routing: _Routing, source: str, target: str, default: str) -> str:
    """The target's address a probe from ``source`` goes to: its usual one
    (first, IPv4 first) unless the source has no address of that family and
    the target has one of a family the source has."""
    families = {i.version for i in routing.interfaces[source]}
    if ipaddress.ip_address(default).version in families:
        return default
    return next((str(i.ip) for i in routing.interfaces[target] if i.version in families), default)


def _fitting_nodes(spec: LabSpec, names: list[str], addresses: dict[str, str], budget: int,
                   routing: _Routing) -> int:
    """How many of the first ``names`` make a matrix within ``budget`` entries."""
    low, high = 1, len(names)
    while low < high:
        middle = (low + high + 1) // 2
        subset = names[:middle]
        pairs = [(s, t) for s in subset for t in subset if s != t]
        if neighbour_budget(spec, pairs, addresses, routing) <= budget:
            low = middle
        else:
            high = middle - 1
    return low
