"""A lab as a picture's data: nodes, edges, checks (``vnetlab-topology/1``).

:func:`topology_of` turns a ``LabSpec`` (and, for a running lab, its live
state) into the JSON-able dict that ``vnetlab graph`` renders (DOT, Mermaid,
SVG, an HTML page) and the web UI draws — one picture for both. Pure: no
kernel, no files; the live state is handed in (``Lab.topology`` gathers it).

What the picture shows:

* A node holding bridges (any node but a switch with ``type: bridge``
  interfaces — a Proxmox host, a Docker host) is a compound ``hypervisor``
  node whose bridges are its children; the edges of bridge ports (TAPs,
  uplinks, a bond's members) start at the bridge, the edges of its other
  interfaces at its ``NODE/@`` child (the host's own IP stack). Guests stay
  outside.
* Each edge is one link of the file (``link:N``); its two ``ends`` carry the
  interface, addresses, VLAN access tag or trunk, the bond it belongs to,
  whether it is a TAP, and the file's impairment.
* Leaf hosts (one link) hanging off the same neighbour fold into one
  ``group`` node "N hosts" (``group:NEIGHBOUR``, one edge ``links:NEIGHBOUR``
  standing for their links) when there are more than ``threshold`` of them,
  unless ``expand``; hosts a failing check names stay drawn.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from vnetlab.compile.impair import end_impairments
from vnetlab.model.bridges import ASSUMED, SWITCH_BRIDGE, bridge_settings, bridges_of, resolve_backend
from vnetlab.model.l2names import vlan_device_parts
from vnetlab.model.schema import Check, Interface, LabSpec, Node, StateCheck, link_ends, node_of
from vnetlab.model.targets import split_host_port

FORMAT = "vnetlab-topology/1"
DEFAULT_THRESHOLD = 20
STACK = "@"  # NODE/@: a hypervisor's own interfaces that are not bridge ports
LEAF_KINDS = ("host", "vm")  # what folds into a group


def topology_of(spec: LabSpec, live: Optional[dict[str, Any]] = None, *, expand: bool = False,
                threshold: int = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """The lab as the topology JSON (``vnetlab-topology/1``, see the module's doc).

    Args:
        spec: the lab file.
        live: the running lab's state, or None for a file. Keys (all optional):
            ``cut`` (ends ``node:if`` whose cable is cut), ``impaired`` (end ->
            ``{"text", "mechanism"}`` in force), ``up`` (end -> whether the
            interface is operationally up), ``backends`` (``node/bridge`` ->
            ``linux``/``ovs`` as the lab was built), ``checks`` (the last check
            run: ``{"at", "results": [{"index", "ok", "observed", "detail"}]}``).
        expand: draw every host (no groups).
        threshold: fold a neighbour's leaf hosts when there are more than this.

    Returns:
        A dict of plain JSON types: format, lab, description, live, nodes, edges,
        checks, collapsed (``positions`` is added by the renderers' layout).
    """
    state = live or {}
    backends = dict(state.get("backends") or {})
    nodes: list[dict[str, Any]] = []
    ends_to: dict[tuple[str, str], str] = {}  # (node, ifname) -> the leaf node id its edge starts at
    kinds: dict[str, str] = {}
    for name, node in spec.nodes.items():
        made = _node_entries(spec, name, node, backends)
        nodes += made
        for entry in made:
            kinds[entry["id"]] = entry["kind"]
    ports = {name: _bridge_ports(spec, name, spec.nodes[name]) for name, kind in kinds.items() if kind == "hypervisor"}
    stacks_needed: set[str] = set()
    file_impaired = end_impairments(spec)
    edges = []
    for index, link in enumerate(spec.links):
        both = []
        for end in link_ends(link):
            owner, _, ifname = end.partition(":")
            both.append(_end(spec, owner, ifname, file_impaired))
        source, target = (_endpoint(e["node"], e["interface"], kinds, ports) for e in both)
        for point in (source, target):
            if point.endswith("/" + STACK):
                stacks_needed.add(point)
        edges.append({
            "id": f"link:{index}", "source": source, "target": target, "ends": both,
            "label": f"{both[0]['interface']} — {both[1]['interface']}",
            "classes": _edge_classes(both),
        })
    nodes = _with_stacks(spec, nodes, stacks_needed, ports)
    checks = _checks(spec, state.get("checks"))
    if live is not None:
        _apply_live(nodes, edges, checks, state)
    keep = {name for c in checks if c["ok"] is False for name in (c["from"], c["to_node"], c["node"]) if name}
    nodes, edges, groups, folded = _collapse(nodes, edges, threshold, keep) if not expand else (nodes, edges, 0, {})
    return {
        "format": FORMAT, "lab": spec.lab, "description": spec.description, "live": live is not None,
        "nodes": nodes, "edges": edges, "checks": checks,
        "collapsed": {"threshold": threshold, "groups": groups, "folded": folded},
    }


# -- nodes ----------------------------------------------------------------------------------------

def _details(node: Node) -> list[str]:
    details = []
    if node.forwards and node.kind != "switch":
        details.append("forwarding")
    if node.nat is not None and node.nat.masquerade:
        details.append("masquerade out " + ", ".join(dict.fromkeys(m.out for m in node.nat.masquerade)))
    for forward in node.nat.forward if node.nat is not None else ():
        details.append(f"{forward.proto}/{forward.port} → {forward.to}")
    if node.firewall is not None:
        chains = [f"{chain} {getattr(node.firewall, chain).policy}" for chain in ("input", "forward", "output")
                  if getattr(node.firewall, chain) is not None]
        details.append("firewall: " + ", ".join(chains))
    listening = [s.listen for s in node.services if s.listen]
    if listening:
        details.append("listens " + ", ".join(listening))
    return details


def _addresses(iface: Interface) -> list[str]:
    return iface.written_addresses()


def _bridge_entry(spec: LabSpec, name: str, node: Node, bridge, backends: dict[str, str],
                  own_id: str, parent: Optional[str], kind: str) -> dict[str, Any]:
    flows, controller = bridge_settings(node, bridge)
    backend = backends.get(f"{name}/{bridge.name}") or resolve_backend(node, bridge, ASSUMED)
    declared = node.interfaces.get(bridge.name) or Interface()
    vlan_devices = []
    for ifname, iface in node.interfaces.items():
        parts = vlan_device_parts(ifname, iface) if iface.type == "vlan" else None
        if parts is not None and parts[0] == bridge.name:
            vlan_devices.append(f"{ifname} (VLAN {parts[1]})" + "".join(f" {a}" for a in _addresses(iface)))
    classes = [kind] + (["ovs"] if backend == "ovs" else []) + (["controller"] if controller else []) \
        + (["vlan-aware"] if bridge.vlan_aware else [])
    details = vlan_devices + ([f"{len(flows)} flow{'s' if len(flows) != 1 else ''}"] if flows else [])
    return {"id": own_id, "kind": kind, "label": bridge.name if kind == "bridge" else name, "parent": parent,
            "addresses": _addresses(declared), "backend": backend, "controller": controller,
            "vlan_aware": bridge.vlan_aware, "ports": list(bridge.ports), "details": details, "classes": classes}


def _node_entries(spec: LabSpec, name: str, node: Node, backends: dict[str, str]) -> list[dict[str, Any]]:
    bridges = bridges_of(spec, name, node)
    common = {"description": node.description}
    if node.kind == "switch":
        main = next(b for b in bridges if b.name == SWITCH_BRIDGE)
        entry = _bridge_entry(spec, name, node, main, backends, name, None, "switch")
        entry.update(common, details=_details(node) + entry["details"])
        extra = [_bridge_entry(spec, name, node, b, backends, f"{name}/{b.name}", None, "bridge")
                 for b in bridges if b is not main]  # a switch's further bridges: rare, drawn beside it
        return [entry] + extra
    if bridges:
        entry = {"id": name, "kind": "hypervisor", "label": name, "parent": None, "compound": True,
                 "addresses": [], "details": _details(node), "classes": ["hypervisor"], **common}
        return [entry] + [_bridge_entry(spec, name, node, b, backends, f"{name}/{b.name}", name, "bridge")
                          for b in bridges]
    addresses = [a for iface in node.interfaces.values() for a in _addresses(iface)]
    return [{"id": name, "kind": node.kind, "label": name, "parent": None, "addresses": addresses,
             "details": _details(node), "classes": [node.kind], **common}]


def _with_stacks(spec: LabSpec, nodes: list[dict[str, Any]], needed: set[str],
                 ports: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """Adds each needed ``NODE/@`` after its hypervisor's bridges (parents come before children)."""
    result = []
    for position, entry in enumerate(nodes):
        result.append(entry)
        owner = entry.get("parent")
        following = nodes[position + 1].get("parent") if position + 1 < len(nodes) else None
        if owner is None or following == owner or f"{owner}/{STACK}" not in needed:
            continue
        node = spec.nodes[owner]
        ported = ports[owner]
        addresses = [a for ifname, iface in node.interfaces.items()
                     if iface.type != "bridge" and ifname not in ported and not _on_bridge(node, ifname)
                     for a in _addresses(iface)]
        result.append({"id": f"{owner}/{STACK}", "kind": "stack", "label": owner, "parent": owner,
                       "addresses": addresses, "details": [], "classes": ["stack"]})
    return result


def _on_bridge(node: Node, ifname: str) -> bool:
    """A VLAN device on a bridge (vmbr0.20): shown with its bridge."""
    iface = node.interfaces[ifname]
    parts = vlan_device_parts(ifname, iface) if iface.type == "vlan" else None
    return parts is not None and (node.interfaces.get(parts[0]) or Interface()).type == "bridge"


# -- edges ----------------------------------------------------------------------------------------

def _bridge_ports(spec: LabSpec, name: str, node: Node) -> dict[str, str]:
    """Interface -> the bridge its link joins: a port's bridge; a bond member's, the bond's;
    the parent of VLAN devices that are ports (Proxmox's eno1.10 in vmbr0v10), their first bridge's."""
    ports: dict[str, str] = {}
    for bridge in bridges_of(spec, name, node):
        for port in bridge.ports:
            ports.setdefault(port, bridge.name)
            iface = node.interfaces.get(port) or Interface()
            for member in iface.members:
                ports.setdefault(member, bridge.name)
            parts = vlan_device_parts(port, iface) if iface.type == "vlan" else None
            if parts is not None:
                ports.setdefault(parts[0], bridge.name)
    return ports


def _tagged(node: Node, ifname: str) -> list[int]:
    """The VLAN ids of the VLAN devices on ``ifname``: what its cable carries tagged."""
    found = []
    for name, iface in node.interfaces.items():
        parts = vlan_device_parts(name, iface) if iface.type == "vlan" else None
        if parts is not None and parts[0] == ifname:
            found.append(parts[1])
    return sorted(found)


def _endpoint(owner: str, ifname: str, kinds: dict[str, str], ports: dict[str, dict[str, str]]) -> str:
    if kinds.get(owner) != "hypervisor":
        return owner
    bridge = ports[owner].get(ifname)
    return f"{owner}/{bridge}" if bridge is not None else f"{owner}/{STACK}"


def _end(spec: LabSpec, owner: str, ifname: str, file_impaired: dict) -> dict[str, Any]:
    node = spec.nodes[owner]
    iface = node.interfaces.get(ifname) or Interface()
    bond = next((name for name, other in node.interfaces.items()
                 if other.type == "bond" and ifname in other.members), None)
    port = node.interfaces.get(bond) if bond is not None else iface  # a bond's VLAN settings are the bond's
    impaired = file_impaired.get((owner, ifname))
    trunk = list(port.trunk) if port.trunk else _tagged(node, bond or ifname) or None
    return {"node": owner, "interface": ifname, "addresses": _addresses(iface),
            "vlan": port.vlan, "trunk": trunk, "bond": bond,
            "tap": iface.type == "tap", "impairment": impaired.text() if impaired is not None else None}


def _edge_classes(ends: list[dict[str, Any]]) -> list[str]:
    classes = []
    if any(e["tap"] for e in ends):
        classes.append("tap")
    if any(e["trunk"] for e in ends):
        classes.append("trunk")
    if any(e["vlan"] is not None for e in ends):
        classes.append("vlan")
    if any(e["bond"] for e in ends):
        classes.append("bond")
    if any(e["impairment"] for e in ends):
        classes.append("impaired")
    return classes


def end_text(end: dict[str, Any]) -> str:
    """An edge end as a picture labels it: ``eno1 (bond0) trunk 10,20`` / ``eth0 10.0.0.1/24``."""
    parts = [end["interface"]]
    if end.get("bond"):
        parts.append(f"({end['bond']})")
    if end.get("vlan") is not None:
        parts.append(f"VLAN {end['vlan']}")
    if end.get("trunk"):
        parts.append("trunk " + ",".join(str(v) for v in end["trunk"]))
    parts += end.get("addresses") or []
    return " ".join(parts)


# -- checks and the live state --------------------------------------------------------------------

def _owners(spec: LabSpec) -> dict[str, Optional[str]]:
    """Static address (no prefix) -> the one node that has it (None: several do, as tenants' twins)."""
    owners: dict[str, Optional[str]] = {}
    for name, node in spec.nodes.items():
        for iface in node.interfaces.values():
            for address in iface.all_addresses():
                ip = address.partition("/")[0]
                owners[ip] = name if owners.get(ip, name) == name else None
    return owners


def _target_node(spec: LabSpec, to: str, owners: dict[str, Optional[str]]) -> Optional[str]:
    """The node a probe's ``to`` aims at: named (``vm101``, ``vm101:22``) or by its own address."""
    split = split_host_port(to)
    host = split[0] if split is not None else to
    return host if host in spec.nodes else owners.get(host)


def _checks(spec: LabSpec, last: Optional[dict[str, Any]]) -> list[dict[str, Any]]:
    owners = _owners(spec) if spec.checks else {}
    results = {r.get("index"): r for r in (last or {}).get("results") or () if isinstance(r, dict)}
    at = (last or {}).get("at")
    found = []
    for index, check in enumerate(spec.checks):
        probe = isinstance(check, Check)
        result = results.get(index)
        found.append({
            "index": index, "label": check.label(),
            "kind": check.proto if probe else (check.kind if isinstance(check, StateCheck) else "step"),
            "from": check.from_ if probe else None, "to": check.to if probe else None,
            "to_node": _target_node(spec, check.to, owners) if probe else None,
            "node": None if probe else node_of(check),
            "ok": result.get("ok") if result is not None else None,
            "observed": result.get("observed") if result is not None else None,
            "detail": result.get("detail", "") if result is not None else "",
            "at": at if result is not None else None,
        })
    return found


def _apply_live(nodes: list[dict[str, Any]], edges: list[dict[str, Any]], checks: list[dict[str, Any]],
                state: dict[str, Any]) -> None:
    cut = set(state.get("cut") or ())
    impaired = dict(state.get("impaired") or {})
    up = dict(state.get("up") or {})
    for edge in edges:
        names = [f"{e['node']}:{e['interface']}" for e in edge["ends"]]
        held = {name: impaired[name] for name in names if impaired.get(name)}
        known = [up[name] for name in names if name in up]
        is_cut = any(name in cut for name in names)
        edge["state"] = {"cut": is_cut, "up": (all(known) and not is_cut) if known else (False if is_cut else None),
                         "impaired": held or None}
        classes = [c for c in edge["classes"] if c != "impaired"]
        classes += (["cut"] if is_cut else []) + (["impaired"] if held else []) \
            + (["down"] if edge["state"]["up"] is False and not is_cut else [])
        edge["classes"] = classes
    subjects: dict[str, list[bool]] = {}
    for check in checks:
        if check["ok"] is not None:
            subjects.setdefault(check["from"] or check["node"], []).append(check["ok"])
    for node in nodes:
        verdicts = subjects.get(node["id"])
        if verdicts:
            node["checks"] = {"passed": sum(verdicts), "failed": len(verdicts) - sum(verdicts)}
            node["classes"] = node["classes"] + ["check-failed" if not all(verdicts) else "check-passed"]


# -- folding many hosts ---------------------------------------------------------------------------

def _collapse(nodes: list[dict[str, Any]], edges: list[dict[str, Any]], threshold: int,
              keep: Iterable[str]) -> tuple[list, list, int, dict[str, str]]:
    """Folds each neighbour's leaf hosts into one group node when more than ``threshold``."""
    kept = set(keep)
    by_id = {n["id"]: n for n in nodes}
    degree: dict[str, int] = {}
    for edge in edges:
        for point in (edge["source"], edge["target"]):
            degree[point] = degree.get(point, 0) + 1
    leaves: dict[str, list[tuple[str, dict[str, Any]]]] = {}  # neighbour -> [(leaf, its edge)]
    for edge in edges:
        for leaf, other in ((edge["source"], edge["target"]), (edge["target"], edge["source"])):
            node = by_id.get(leaf)
            if node is not None and node["kind"] in LEAF_KINDS and degree[leaf] == 1 and leaf not in kept \
                    and leaf != other:
                leaves.setdefault(other, []).append((leaf, edge))
    folded: dict[str, str] = {}
    group_nodes, group_edges = [], []
    dropped_edges: set[str] = set()
    for neighbour, members in leaves.items():
        if len(members) <= threshold:
            continue
        group = f"group:{neighbour}"
        names = [leaf for leaf, _ in members]
        for leaf, edge in members:
            folded[leaf] = group
            dropped_edges.add(edge["id"])
        kinds = {by_id[leaf]["kind"] for leaf in names}
        noun = "VMs" if kinds == {"vm"} else "hosts"
        states = [edge.get("state") for _, edge in members if edge.get("state")]
        cut = sum(1 for s in states if s["cut"])
        impaired = sum(1 for s in states if s["impaired"])
        classes = ["group"] + (["check-failed"] if any("check-failed" in by_id[n]["classes"] for n in names) else [])
        group_nodes.append({"id": group, "kind": "group", "label": f"{len(names)} {noun}", "parent": None,
                            "count": len(names), "members": names, "addresses": [], "details": [],
                            "classes": classes})
        edge = {"id": f"links:{neighbour}", "source": neighbour, "target": group, "ends": [],
                "label": f"{len(names)} links", "members": [e["id"] for _, e in members],
                "classes": ["group"] + (["cut"] if cut else []) + (["impaired"] if impaired else [])}
        if states:
            edge["state"] = {"cut": bool(cut), "up": None, "impaired": None, "cut_count": cut,
                             "impaired_count": impaired}
        group_edges.append(edge)
    if not group_nodes:
        return nodes, edges, 0, {}
    nodes = [n for n in nodes if n["id"] not in folded] + group_nodes
    edges = [e for e in edges if e["id"] not in dropped_edges] + group_edges
    return nodes, edges, len(group_nodes), folded
