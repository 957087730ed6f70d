"""Checks, trace and the reachability matrix, as the API answers them.

Each takes the request's raw values, checks them as the CLI's arguments are
checked (the same messages), runs the probe of ``vnetlab.probe`` and returns
plain data: the check run as ``Lab.check`` keeps it (``probe.checks.check_record``),
``TraceResult.to_dict()`` plus the path as a list of hops, ``ReachMatrix.to_dict()``.
"""

from __future__ import annotations

from typing import Any, Optional

from vnetlab.errors import BadInput, EnvironmentProblem
from vnetlab.names import node_name

MAX_TIMEOUT = 10.0  # seconds a probe of the page may wait (the CLI's --timeout has no cap)


class BadRequest(BadInput, ValueError):
    """A request value the CLI would refuse too (400)."""


def run_checks(lab: Any) -> dict[str, Any]:
    """``POST /api/labs/LAB/checks``: runs the file's checks; ``Lab.check`` keeps them as the
    last results, and the answer is that record (what ``GET`` answers until the next run)."""
    from vnetlab.probe.checks import check_record

    results = lab.check()
    return lab.last_checks() or check_record(lab.name, lab.spec, results)  # None: it went down meanwhile


def _timeout(value: object, default: float = 1.0) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_TIMEOUT:
        raise BadRequest(f"timeout {value!r}: give seconds, more than 0 and at most {MAX_TIMEOUT:g}")
    return float(value)


def _port(value: object) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise BadRequest(f"port {value!r}: ports are 1 to 65535")
    return value


def _proto(value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BadRequest(f"unknown proto {value!r} — use {', '.join(allowed)}")
    return str(value)


def trace(lab: Any, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/labs/LAB/trace`` with ``{"from", "to", "proto", "port", "timeout", "family"}``."""
    from vnetlab.probe.trace import missing, render_text, trace as run_trace

    source = node_name(body.get("from"))
    target = body.get("to")
    if not isinstance(target, str) or not target or len(target) > 100:
        raise BadRequest("to: give a node, an address, or NODE:PORT / IP:PORT")
    proto = _proto(body.get("proto", "icmp"), ("icmp", "tcp", "udp"))
    family = body.get("family")
    if family not in (None, 4, 6):
        raise BadRequest(f"family {family!r}: use 4 or 6")
    try:
        result = run_trace(lab.spec, lab.namespace_of, source, target, proto=proto, port=_port(body.get("port")),
                           timeout=_timeout(body.get("timeout")), family=family)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    except FileNotFoundError as exc:
        raise missing(exc) from None
    data = result.to_dict()
    data["path_line"] = data.pop("path")
    data["path"] = hops(result.forward, result)
    data["reply_hops"] = hops(result.reply, None) if result.reply else []
    data["text"] = render_text(result)
    return data


def hops(leg: Any, result: Any) -> list[dict[str, Any]]:
    """A trace leg as the map draws it: ``[{"node", "interfaces", "reason", "dropped"}]``, one per visit.

    The node that dropped or refused the probe is the last visit to it; its
    reason is the trace's (the rule, the missing route), the others' what
    their bridge, route and firewall decided.
    """
    from vnetlab.probe.trace import DROPPED, REFUSED

    rows = []
    stop = None
    if result is not None and result.result in (DROPPED, REFUSED):
        stop = max((i for i, hop in enumerate(leg.hops) if hop.node == result.by), default=None)
    for index, hop in enumerate(leg.hops):
        parts = [bridge.get("text", "") for bridge in hop.bridges] + list(hop.ovs)
        if hop.route:
            parts.append(hop.route.get("text", ""))
        parts += [f"nft: {verdict}" for verdict in hop.nft] + list(hop.nat)
        dropped = index == stop
        reason = result.reason if dropped else "; ".join(p for p in parts if p)
        rows.append({"node": hop.node, "interfaces": [seen.get("interface") for seen in hop.seen],
                     "reason": reason, "dropped": dropped, "details": [p for p in parts if p]})
    return rows


def reach(lab: Any, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /api/labs/LAB/reach`` with ``{"proto": "icmp"}`` or ``{"proto": "tcp", "port": 22}``
    (optional ``nodes``: a list, ``timeout``: seconds per probe)."""
    from vnetlab.probe.reach import NeighbourTableTooSmall, reach_matrix

    proto = _proto(body.get("proto", "icmp"), ("icmp", "tcp"))
    port = _port(body.get("port"))
    if proto == "tcp" and port is None:
        raise BadRequest("proto tcp needs a port, e.g. {\"proto\": \"tcp\", \"port\": 22}")
    if proto == "icmp" and port is not None:
        raise BadRequest("icmp has no ports — drop the port or use proto tcp")
    nodes = body.get("nodes")
    if nodes is not None:
        if not isinstance(nodes, list):
            raise BadRequest("nodes: give a list of node names")
        nodes = [node_name(n) for n in nodes]
    try:
        matrix = reach_matrix(lab.spec, lab.namespace_of, tcp_port=port, timeout=_timeout(body.get("timeout")),
                              nodes=nodes)
    except NeighbourTableTooSmall as exc:
        raise EnvironmentProblem(str(exc)) from None
    return matrix.to_dict()
