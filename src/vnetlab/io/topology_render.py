"""The topology JSON (:mod:`vnetlab.io.topology`) as pictures: DOT, Mermaid, an
HTML page, and SVG/PNG/PDF laid out by Graphviz; and Graphviz's layout as
``positions`` for the web map, so the browser and the CLI draw the same picture.

Returns text or bytes; writes nothing and prints nothing (the CLI does).
Graphviz runs as ``dot`` with an argv list, the graph on its stdin.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from importlib.resources import files
from typing import Any, Optional

from vnetlab.errors import EnvironmentProblem, OperationFailed
from vnetlab.io.topology import end_text

GRAPHVIZ_FORMATS = ("svg", "png", "pdf")
FORMATS = ("svg", "png", "pdf", "dot", "mmd", "json", "html")
BIG = 400  # nodes: above this Graphviz gets the cheaper options (no end labels; straight edges unless wrapped)
DOT_TIMEOUT = 120.0
# A node with more than WRAP leaves (nodes with one link, e.g. a switch's hosts) gets them in rows
# under it instead of one rank as wide as all of them: the 1,000 hosts of an expanded lab would
# else make a picture (and a web map) 200 times wider than high. The rows aim at ASPECT
# (width / height) over all such leaves.
WRAP = 8
ASPECT = 2.0
# An edge to a leaf r rows down crosses r ranks, and dot's work grows with all such crossings: with
# more leaves the rows get fewer (wider), their sum kept under this (1,000 hosts: about 9,500)
CROSSINGS = 12_000

# kind -> DOT node attributes
_SHAPES = {
    "host": 'shape=box, style="rounded,filled", fillcolor="#ffffff"',
    "vm": 'shape=box3d, style=filled, fillcolor="#eef4ff"',
    "router": 'shape=ellipse, style=filled, fillcolor="#fff3c4"',
    "switch": 'shape=box, style=filled, fillcolor="#d9ecff"',
    "bridge": 'shape=box, style=filled, fillcolor="#d9ecff"',
    "stack": 'shape=oval, style=filled, fillcolor="#ffffff"',
    "group": 'shape=folder, style=filled, fillcolor="#eeeeee"',
}
_OVS_FILL = "#d8f5d0"
# class -> DOT attributes, for a node or an edge with that class; the first class listed that
# it has wins (a cut trunk is drawn cut; a node whose checks failed and passed, failed)
_NODE_CLASSES = (
    ("check-failed", 'color="#d62728", penwidth=2.5'),
    ("check-passed", 'color="#2ca02c", penwidth=2.5'),
)
_EDGE_CLASSES = (
    ("cut", 'color="#d62728", style=dashed, penwidth=2, fontcolor="#d62728"'),
    ("down", 'color="#d62728", style=dotted'),
    ("impaired", 'color="#ff7f0e", penwidth=2, fontcolor="#c05800"'),
    ("trunk", "penwidth=2.5"),
    ("bond", 'color="#555555:#555555"'),
)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _node_label(node: dict[str, Any], addresses: bool = True) -> str:
    lines = [node["label"]]
    if node.get("backend") == "ovs":
        lines[0] += " (OVS)"
    if node.get("vlan_aware"):
        lines.append("VLAN-aware")
    if node.get("controller"):
        lines.append(f"controller {node['controller']}")
    if addresses:
        lines += node.get("addresses") or []
    lines += node.get("details") or []
    return "\n".join(lines)


def _dot_label(node: dict[str, Any]) -> str:
    # a host's addresses are on its links' ends; a bridge's and a stack's are its own
    return _node_label(node, addresses=node["kind"] in ("bridge", "switch", "stack"))


def _class_attrs(item: dict[str, Any], table: tuple[tuple[str, str], ...]) -> list[str]:
    """The DOT attributes of the first class in ``table`` that ``item`` (a node or an edge) has."""
    classes = item.get("classes") or ()
    return next(([attrs] for name, attrs in table if name in classes), [])


def _node_style(node: dict[str, Any]) -> str:
    attrs = [_SHAPES.get(node["kind"], "shape=box")]
    if node.get("backend") == "ovs":
        attrs.append(f'fillcolor="{_OVS_FILL}"')
    attrs += _class_attrs(node, _NODE_CLASSES)
    return ", ".join(attrs)


def _edge_label(edge: dict[str, Any], big: bool, leaf: Optional[str] = None) -> list[str]:
    """The lines of a link's label: its ends (not when ``big``), a group's count, impairments;
    ``leaf``'s end first, on one line, for the label written in that leaf's box."""
    ends = edge.get("ends") or []
    if leaf is not None and ends and ends[0]["node"] != leaf:
        ends = ends[::-1]
    between = " — " if leaf else " —\n"
    label = [f"{end_text(ends[0])}{between}{end_text(ends[1])}"] if ends and not big else []
    if edge.get("members"):
        label.append(edge["label"])
    state = edge.get("state") or {}
    impaired = state.get("impaired") or {}
    for end in ends:
        name = f"{end['node']}:{end['interface']}"
        text = (impaired.get(name) or {}).get("text") or (end.get("impairment") if not state else None)
        if text:
            label.append(f"{end['node']}: {text}")
    return label


def _edge_attrs(edge: dict[str, Any], big: bool, labelled: bool = True) -> list[str]:
    label = _edge_label(edge, big) if labelled else []
    attrs = [f"label={_quote(chr(10).join(label))}"] if label else []
    return attrs + _class_attrs(edge, _EDGE_CLASSES)


def _wrapped(topology: dict[str, Any], big: bool) -> tuple[dict[str, list[list[str]]], dict[str, str]]:
    """The leaves of each node with more than :data:`WRAP` of them, in rows (node id -> rows of
    leaf ids, in the topology's order), and each such leaf's box label (its link's label in it).
    A leaf is a top-level, non-compound node with one edge."""
    degree: dict[str, int] = {}
    for edge in topology["edges"]:
        for end in (edge["source"], edge["target"]):
            degree[end] = degree.get(end, 0) + 1
    leafy = {n["id"]: n for n in topology["nodes"] if not n.get("parent") and not n.get("compound")}

    def leaf(node_id: str) -> bool:
        return node_id in leafy and degree[node_id] == 1

    under: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for edge in topology["edges"]:
        for one, other in ((edge["source"], edge["target"]), (edge["target"], edge["source"])):
            if leaf(one) and not leaf(other):
                under.setdefault(other, []).append((one, edge))
    under = {node: leaves for node, leaves in under.items() if len(leaves) > WRAP}
    boxed = {one: "\n".join([_dot_label(leafy[one])] + _edge_label(edge, big, one))
             for leaves in under.values() for one, edge in leaves}
    if not boxed:
        return {}, {}
    # a box's size as Graphviz makes it (Helvetica 10: ~5.6 points a character, 12 a line, margins),
    # with the gaps between columns (nodesep) and rows (ranksep)
    lines = [label.split("\n") for label in boxed.values()]
    column = sum(max(54.0, 17 + 5.6 * max(map(len, box))) for box in lines) / len(lines) + 21.6
    row = sum(max(36.0, 7 + 12.0 * len(box)) for box in lines) / len(lines) + 43.2
    columns = math.sqrt(ASPECT * len(boxed) * row / column)  # over all wrapped leaves: width / height ≈ ASPECT
    most = max(1, int(2 * CROSSINGS / len(boxed)) + 1)  # rows: a leaf crosses (rows - 1) / 2 ranks on average
    rows = {}
    for node, leaves in under.items():
        width = min(len(leaves), max(3, math.ceil(columns * len(leaves) / len(boxed)), math.ceil(len(leaves) / most)))
        rows[node] = [[one for one, _ in leaves[i:i + width]] for i in range(0, len(leaves), width)]
    return rows, boxed


def to_dot(topology: dict[str, Any]) -> str:
    """The topology as a Graphviz graph: a cluster per hypervisor holding its bridges; a node's
    many leaves in rows under it (:data:`WRAP`)."""
    nodes = topology["nodes"]
    big = len(nodes) > BIG
    wrapped, boxed = _wrapped(topology, big)
    # Wrapped leaves: their edges are written node -- leaf (dot ranks an edge's tail above its head);
    # each row is held one rank under the one above by invisible edges, the edges to the lower rows
    # do not rank their leaf (constraint=false) and share their way down beside the rows
    # (concentrate) instead of taking a place each in every row they cross — the edges of a
    # node's leaves look like a bus; a leaf's link label is written in its box (an edge label
    # in the middle of a shared way would name no link).
    upper = {leaf: node for node, rows in wrapped.items() for row in rows for leaf in row}
    above = {leaf: over for rows in wrapped.values() for up, row in zip(rows, rows[1:]) for over, leaf in zip(up, row)}
    title = topology["lab"] + (f" — {topology['description']}" if topology.get("description") else "")
    layout = ", concentrate=true, outputorder=edgesfirst" if wrapped else ", splines=line" if big else ""
    out = [f"graph {_quote(topology['lab'])} {{",
           f"  graph [label={_quote(title)}, labelloc=t, fontname=Helvetica, fontsize=14, "
           f"nodesep=0.3, ranksep=0.6{layout}];",
           '  node [fontname=Helvetica, fontsize=10, margin="0.12,0.05"];',
           '  edge [fontname=Helvetica, fontsize=8, labelfontsize=8, color="#444444"];']
    children: dict[str, list[dict[str, Any]]] = {}
    for node in nodes:
        if node.get("parent"):
            children.setdefault(node["parent"], []).append(node)
    for node in nodes:
        if node.get("parent"):
            continue
        if node.get("compound"):
            out.append(f"  subgraph {_quote('cluster_' + node['id'])} {{")
            out.append(f"    label={_quote(_node_label(node))}; style=\"rounded,filled\"; fillcolor=\"#f6f6f6\"; "
                       f"color=\"#888888\"; fontname=Helvetica; fontsize=11;")
            for child in children.get(node["id"], ()):
                out.append(f"    {_quote(child['id'])} [label={_quote(_dot_label(child))}, {_node_style(child)}];")
            out.append("  }")
        else:
            label = boxed.get(node["id"]) or _dot_label(node)
            out.append(f"  {_quote(node['id'])} [label={_quote(label)}, {_node_style(node)}];")
    pairs: dict[frozenset[str], int] = {}
    for edge in topology["edges"]:
        pair = frozenset((edge["source"], edge["target"]))
        pairs[pair] = pairs.get(pair, 0) + 1
    for edge in topology["edges"]:
        source, target = edge["source"], edge["target"]
        if upper.get(source) == target:
            source, target = target, source
        # concentrate would draw unlabelled links between the same two nodes as one: label them
        parallel = bool(wrapped) and pairs[frozenset((source, target))] > 1
        attrs = _edge_attrs(edge, big and not parallel, labelled=target not in upper)
        if target in above:
            attrs.append("constraint=false")
        out.append(f"  {_quote(source)} -- {_quote(target)}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
        if target in above:  # (next to the leaf's own edge: dot keeps the columns better, and is faster)
            out.append(f"  {_quote(above[target])} -- {_quote(target)} [style=invis];")
    out.append("}")
    return "\n".join(out) + "\n"


# -- Mermaid --------------------------------------------------------------------------------------

_MERMAID_SHAPES = {"router": ("((", "))"), "switch": ("[", "]"), "bridge": ("[", "]"), "vm": ("[[", "]]"),
                   "group": ("[/", "/]"), "stack": ("([", "])"), "host": ("(", ")")}


def _mermaid_text(text: str) -> str:
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def to_mermaid(topology: dict[str, Any]) -> str:
    """The topology as a Mermaid flowchart: a subgraph per hypervisor."""
    ids = {node["id"]: f"n{i}" for i, node in enumerate(topology["nodes"])}
    out = ["flowchart TB"]
    children: dict[str, list[dict[str, Any]]] = {}
    for node in topology["nodes"]:
        if node.get("parent"):
            children.setdefault(node["parent"], []).append(node)

    def shape(node: dict[str, Any], indent: str) -> str:
        left, right = _MERMAID_SHAPES.get(node["kind"], ("[", "]"))
        label = "<br/>".join(_mermaid_text(line) for line in _node_label(node).split("\n"))
        return f'{indent}{ids[node["id"]]}{left}"{label}"{right}'

    for node in topology["nodes"]:
        if node.get("parent"):
            continue
        if node.get("compound"):
            out.append(f'  subgraph {ids[node["id"]]}["{_mermaid_text(node["label"])}"]')
            out += [shape(child, "    ") for child in children.get(node["id"], ())]
            out.append("  end")
        else:
            out.append(shape(node, "  "))
    styles = []
    for number, edge in enumerate(topology["edges"]):
        ends = edge.get("ends") or []
        label = " — ".join(end_text(e) for e in ends) if ends else edge["label"]
        out.append(f'  {ids[edge["source"]]} ---|"{_mermaid_text(label)}"| {ids[edge["target"]]}')
        classes = edge.get("classes") or ()
        if "cut" in classes:
            styles.append(f"  linkStyle {number} stroke:#d62728,stroke-width:2px,stroke-dasharray:5 5")
        elif "impaired" in classes:
            styles.append(f"  linkStyle {number} stroke:#ff7f0e,stroke-width:2px")
    out += styles
    out += ["  classDef ovs fill:#d8f5d0", "  classDef failed stroke:#d62728,stroke-width:3px",
            "  classDef passed stroke:#2ca02c,stroke-width:3px"]
    for node in topology["nodes"]:
        classes = node.get("classes") or ()
        for name, mark in (("ovs", "ovs"), ("check-failed", "failed"), ("check-passed", "passed")):
            if name in classes:
                out.append(f"  class {ids[node['id']]} {mark}")
    return "\n".join(out) + "\n"


# -- JSON and HTML --------------------------------------------------------------------------------

def to_json(topology: dict[str, Any]) -> str:
    """The topology JSON as a file holds it."""
    return json.dumps(topology, indent=1, ensure_ascii=False) + "\n"


def _script_safe(text: str) -> str:
    """JSON that cannot close the <script> element it sits in."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _static(name: str) -> str:
    return (files("vnetlab") / "web" / "static" / name).read_text(encoding="utf-8")


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
  html, body {{ margin: 0; height: 100%; font-family: Helvetica, Arial, sans-serif; }}
  #map {{ position: absolute; top: 2.4em; bottom: 0; left: 0; right: 18em; }}
  header {{ height: 2.4em; line-height: 2.4em; padding: 0 1em; background: #333; color: #fff; }}
  #details {{ position: absolute; top: 2.4em; bottom: 0; right: 0; width: 17em; padding: .5em;
              overflow: auto; border-left: 1px solid #ccc; font-size: 13px; background: #fafafa; }}
  #details h4 {{ margin: .8em 0 .2em; }} #details ul {{ margin: 0; padding-left: 1.2em; }}
  #details .pass {{ color: #2ca02c; }} #details .fail {{ color: #d62728; }}
</style>
</head>
<body>
<header>{title}</header>
<div id="map"></div>
<div id="details"></div>
<script>{cytoscape}</script>
<script>{topology_js}</script>
<script>
const TOPOLOGY = {data};
(function () {{
  const details = document.getElementById("details");
  function add(parent, tag, text, cls) {{
    const el = document.createElement(tag);
    if (text !== undefined) {{ el.textContent = text; }}
    if (cls) {{ el.className = cls; }}
    parent.appendChild(el);
    return el;
  }}
  function list(title, items) {{
    if (!items || !items.length) {{ return; }}
    add(details, "h4", title);
    const ul = add(details, "ul");
    items.forEach(function (item) {{ add(ul, "li", item); }});
  }}
  function checks(filter) {{
    const rows = TOPOLOGY.checks.filter(filter);
    if (!rows.length) {{ return; }}
    add(details, "h4", "checks");
    const ul = add(details, "ul");
    rows.forEach(function (c) {{
      add(ul, "li", (c.ok === null ? "· " : c.ok ? "✓ " : "✗ ") + c.label + (c.observed ? " — " + c.observed : ""),
          c.ok === null ? "" : c.ok ? "pass" : "fail");
    }});
  }}
  function show(kind, id) {{
    details.textContent = "";
    if (kind === "node") {{
      const n = TOPOLOGY.nodes.find(function (x) {{ return x.id === id; }});
      add(details, "h3", n.label + " (" + n.kind + (n.backend ? ", " + n.backend : "") + ")");
      if (n.description) {{ add(details, "p", n.description); }}
      if (n.controller) {{ add(details, "p", "controller " + n.controller); }}
      list("addresses", n.addresses);
      list("details", n.details);
      list("ports", n.ports);
      list("hosts", n.members);
      checks(function (c) {{ return c.from === id || c.node === id || c.to_node === id; }});
    }} else if (kind === "edge") {{
      const e = TOPOLOGY.edges.find(function (x) {{ return x.id === id; }});
      add(details, "h3", e.label);
      list("ends", (e.ends || []).map(function (end) {{
        return end.node + ": " + VnetlabMap.endText(end) + ((end.addresses || []).length ? " " + end.addresses.join(" ") : "")
          + (end.tap ? " (TAP)" : "") + (end.impairment ? " — " + end.impairment : "");
      }}));
      const st = e.state;
      if (st) {{
        list("state", [st.cut ? "cable cut" : st.up === false ? "down" : st.up ? "up" : "state unknown"].concat(
          Object.keys(st.impaired || {{}}).map(function (k) {{ return k + ": " + st.impaired[k].text; }})));
      }}
    }} else {{
      add(details, "h3", TOPOLOGY.lab + (TOPOLOGY.live ? " (live)" : ""));
      add(details, "p", "Click a node or a link.");
      checks(function () {{ return true; }});
    }}
  }}
  window.vnetlabMap = VnetlabMap.draw(document.getElementById("map"), TOPOLOGY, {{onSelect: show}});
  show(null, null);
}})();
</script>
</body>
</html>
"""


def to_html(topology: dict[str, Any]) -> str:
    """One self-contained page: cytoscape.js, the map's script and the topology, inlined."""
    title = topology["lab"] + (f" — {topology['description']}" if topology.get("description") else "")
    from html import escape

    return _PAGE.format(title=escape(title), cytoscape=_static("vendor/cytoscape.min.js"),
                        topology_js=_static("topology.js"), data=_script_safe(json.dumps(topology)))


# -- Graphviz -------------------------------------------------------------------------------------

def graphviz() -> str:
    """The path of Graphviz's ``dot``.

    Raises:
        EnvironmentProblem: Graphviz is not installed (exit 3).
    """
    found = shutil.which("dot")
    if found is None:
        raise EnvironmentProblem("Graphviz's dot is not installed — install it: apt-get install graphviz "
                                 "(or write .dot, .mmd, .json or .html, which need no Graphviz)")
    return found


def run_graphviz(dot_text: str, fmt: str, dot: Optional[str] = None) -> bytes:
    """Graphviz's output (``svg``, ``png``, ``pdf``, ``json``, ``plain``) for ``dot_text``."""
    argv = [dot or graphviz(), f"-T{fmt}"]
    try:
        done = subprocess.run(argv, input=dot_text.encode(), capture_output=True, timeout=DOT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise OperationFailed(f"Graphviz took over {DOT_TIMEOUT:.0f} s to lay the graph out — "
                              "draw it folded (without --expand) or as .mmd/.json") from None
    if done.returncode != 0:
        raise OperationFailed(f"Graphviz failed (exit {done.returncode}): "
                              f"{done.stderr.decode(errors='replace').strip()[:400]}")
    return done.stdout


def render(topology: dict[str, Any], fmt: str) -> bytes:
    """The topology in format ``fmt`` (one of :data:`FORMATS`) as the file's bytes."""
    if fmt in GRAPHVIZ_FORMATS:
        return run_graphviz(to_dot(topology), fmt)
    text = {"dot": to_dot, "mmd": to_mermaid, "json": to_json, "html": to_html}[fmt](topology)
    return text.encode("utf-8")


def positions(topology: dict[str, Any], dot: Optional[str] = None) -> dict[str, dict[str, float]]:
    """Graphviz's layout of the topology's leaf nodes: id -> ``{"x", "y"}`` in points,
    y growing downwards (as on a screen; compound nodes are placed around their children)."""
    plain = run_graphviz(to_dot(topology), "plain", dot).decode("utf-8", errors="replace")
    found: dict[str, dict[str, float]] = {}
    height = 0.0
    for line in plain.splitlines():
        words = _plain_words(line)
        if not words:
            continue
        if words[0] == "graph" and len(words) >= 4:
            height = float(words[3])
        elif words[0] == "node" and len(words) >= 4:
            found[words[1]] = {"x": round(float(words[2]) * 72, 1), "y": round((height - float(words[3])) * 72, 1)}
    return found


def with_positions(topology: dict[str, Any]) -> dict[str, Any]:
    """The topology with Graphviz's ``positions`` when ``dot`` is installed (else as it was)."""
    dot = shutil.which("dot")
    if dot is None:
        return topology
    return {**topology, "positions": positions(topology, dot)}


def _plain_words(line: str) -> list[str]:
    """The words of a line of ``dot -Tplain`` (names may be quoted, with \\" inside)."""
    words, word, quoted, escaped, inside = [], [], False, False, False
    for char in line:
        if inside:
            if escaped:
                word.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                inside = False
            else:
                word.append(char)
        elif char == '"':
            inside = quoted = True
        elif char == " ":
            if word or quoted:
                words.append("".join(word))
            word, quoted = [], False
        else:
            word.append(char)
    if word or quoted:
        words.append("".join(word))
    return words
