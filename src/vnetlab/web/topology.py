"""The topology JSON the map draws (``vnetlab-topology/1``, issue16-contract.md §1).

The full builder is ``vnetlab.io.topology.topology_of`` and ``Lab.topology``
(the graph branch). Until they are on main, :func:`minimal` builds the same
shape from the lab file alone — nodes, hypervisor compounds with their
bridges, edges with their ends, the checks with their last results — without
live link state, collapsing or positions; :func:`of_lab` and :func:`of_spec`
are the one place that calls it (each a one-line switch to the real builder).
"""

from __future__ import annotations

from typing import Any, Optional

FORMAT = "vnetlab-topology/1"


def of_lab(lab: Any, expand: bool = False, last: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The live topology of a running ``vnetlab.lab.Lab`` (``last``: its last check results).

    Once ``Lab.topology`` is on main this is ``return lab.topology(expand=expand)``.
    """
    return minimal(lab.spec, live=True, last=last)


def of_spec(spec: Any, expand: bool = False) -> dict[str, Any]:
    """The topology of a lab file that is not running.

    Once ``vnetlab.io.topology`` is on main this is ``return topology_of(spec, None, expand=expand)``.
    """
    return minimal(spec, live=False)


def _addresses(interface: Any) -> list[str]:
    found = [interface.address] if interface.address is not None else []
    return [str(a) for a in found + list(interface.addresses)]


def minimal(spec: Any, live: bool, last: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The contract's shape from ``spec`` alone (a ``LabSpec``): no state, no groups, no positions."""
    from vnetlab.model.schema import link_ends

    nodes: list[dict[str, Any]] = []
    ports: dict[tuple[str, str], str] = {}  # (node, interface) -> the leaf id its edges start at
    for name, node in spec.nodes.items():
        bridges = {ifname: iface for ifname, iface in node.interfaces.items() if iface.type == "bridge"}
        hypervisor = bool(bridges) and node.kind != "switch"
        kind = "hypervisor" if hypervisor else node.kind
        own = [a for iface in node.interfaces.values() if iface.type != "bridge" for a in _addresses(iface)]
        nodes.append({"id": name, "kind": kind, "label": name, "parent": None, "compound": hypervisor,
                      "addresses": own, "details": ["forwarding"] if node.forwards else [], "classes": [kind]})
        if not hypervisor:
            continue
        for ifname, bridge in bridges.items():
            bridge_id = f"{name}/{ifname}"
            nodes.append({"id": bridge_id, "kind": "bridge", "label": ifname, "parent": name,
                          "addresses": _addresses(bridge), "backend": bridge.backend, "controller": bridge.controller,
                          "vlan_aware": bridge.vlan_aware, "classes": ["bridge"]})
            for port in bridge.ports:
                ports[(name, port)] = bridge_id
    compounds = {n["id"] for n in nodes if n.get("compound")}
    edges: list[dict[str, Any]] = []
    stacks: set[str] = set()
    for number, link in enumerate(spec.links):
        ends = []
        leaves = []
        for end in link_ends(link):
            node_name, _, ifname = str(end).partition(":")
            node = spec.nodes.get(node_name)
            iface = node.interfaces.get(ifname) if node is not None else None
            leaf = ports.get((node_name, ifname), node_name)
            if leaf == node_name and node_name in compounds:
                leaf = f"{node_name}/@"
                stacks.add(node_name)
            leaves.append(leaf)
            ends.append({"node": node_name, "interface": ifname,
                         "addresses": _addresses(iface) if iface is not None else [],
                         "vlan": iface.vlan if iface is not None else None,
                         "trunk": iface.trunk if iface is not None else None, "bond": None,
                         "tap": bool(iface is not None and iface.type == "tap")})
        edge: dict[str, Any] = {"id": f"link:{number}", "source": leaves[0], "target": leaves[-1], "ends": ends,
                                "label": " — ".join(e["interface"] for e in ends)}
        if live:
            edge["state"] = {"cut": False, "up": True, "impaired": None}
        edges.append(edge)
    for name in stacks:
        nodes.append({"id": f"{name}/@", "kind": "stack", "label": name, "parent": name, "addresses": [],
                      "classes": ["stack"]})
    return {"format": FORMAT, "lab": spec.lab, "description": spec.description, "live": live, "nodes": nodes,
            "edges": edges, "checks": check_rows(spec, last), "collapsed": {"threshold": 20, "groups": 0}}


def check_rows(spec: Any, last: Optional[dict[str, Any]] = None) -> list[dict[str, Any]]:
    """The file's checks as the topology lists them, with the last results (``{"at", "results"}``) when given."""
    results = {row.get("index"): row for row in (last or {}).get("results") or () if isinstance(row, dict)}
    rows = []
    for index, check in enumerate(spec.checks):
        result = results.get(index)
        kind = getattr(check, "proto", None) or getattr(check, "kind", None)
        rows.append({"index": index, "label": check.label(), "kind": kind, **check_ends(spec, check),
                     "ok": result.get("ok") if result else None, "observed": result.get("observed") if result else None,
                     "detail": result.get("detail", "") if result else "",
                     "at": (last or {}).get("at") if result else None})
    return rows


def check_ends(spec: Any, check: Any) -> dict[str, Any]:
    """Where a check starts (``from``), what it aims at (``to`` as written, ``to_node`` when that is a
    node) and the node a state check reads (``node``); None where there is none."""
    from vnetlab.model.targets import split_host_port

    source = getattr(check, "from_", None)
    target = getattr(check, "to", None)
    to_node = None
    if isinstance(target, str):
        split = split_host_port(target)
        name = split[0] if split is not None else target
        to_node = name if name in spec.nodes else None
    return {"from": source, "to": target, "to_node": to_node, "node": getattr(check, "node", None)}
