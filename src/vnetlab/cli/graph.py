"""``vnetlab graph``: the lab as a picture — SVG, PNG, PDF (laid out by Graphviz),
DOT, Mermaid, the topology JSON, or one self-contained interactive HTML page.

A lab file gives its picture; the name of a running lab adds its live state
(cut cables, impaired links, links down, the last check results).
"""

from __future__ import annotations

import argparse
import os
import sys

from vnetlab.cli.common import EXIT_OK, UsageError

FORMATS = ("svg", "png", "pdf", "dot", "mmd", "json", "html")  # io.topology_render.FORMATS, without importing it


def add_graph(command) -> None:
    p = command("graph", cmd_graph, "draw the lab: .svg .png .pdf (Graphviz), .dot, .mmd (Mermaid), .json, .html "
                                    "(interactive); a running lab's name adds its live state")
    p.add_argument("lab", metavar="LAB|LABFILE", help="a lab file, or the name of a running lab (live state)")
    p.add_argument("-o", "--output", metavar="OUT", required=True,
                   help="the file to write; its extension picks the format (- : DOT on stdout)")
    p.add_argument("--expand", action="store_true", help="draw every host (no 'N hosts' groups)")
    p.add_argument("--threshold", type=int, default=20, metavar="N",
                   help="fold a neighbour's hosts into one 'N hosts' node when it has more than N (default 20)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")


def _format_of(output: str) -> str:
    if output == "-":
        return "dot"
    ext = os.path.splitext(output)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise UsageError(f"{output}: cannot tell the format from {'.' + ext if ext else 'no extension'} — "
                         f"end the file name in one of: {', '.join('.' + f for f in FORMATS)}")
    return ext


def cmd_graph(args: argparse.Namespace) -> int:
    from vnetlab.cli.common import _load, _looks_like_file

    fmt = _format_of(args.output)
    if args.threshold < 0:
        raise UsageError(f"--threshold {args.threshold}: give 0 or more")
    from vnetlab.io import topology_render

    if fmt in topology_render.GRAPHVIZ_FORMATS:
        topology_render.graphviz()  # missing Graphviz: say so before any work (exit 3)
    if _looks_like_file(args.lab):
        from vnetlab.io.topology import topology_of

        topology = topology_of(_load(args.lab).spec, expand=args.expand, threshold=args.threshold)
    else:
        from vnetlab.lab import Lab
        from vnetlab.names import lab_name

        topology = Lab.running(lab_name(args.lab)).topology(expand=args.expand, threshold=args.threshold)
    if fmt in ("json", "html"):
        topology = topology_render.with_positions(topology)
    data = topology_render.render(topology, fmt)
    if args.output == "-":
        sys.stdout.write(data.decode("utf-8"))
    else:
        _write(args.output, data)
    if args.json:
        import json

        print(json.dumps({"output": args.output, "format": fmt, "lab": topology["lab"], "live": topology["live"],
                          "nodes": len(topology["nodes"]), "edges": len(topology["edges"]),
                          "groups": topology["collapsed"]["groups"]}))
    return EXIT_OK


def _write(path: str, data: bytes) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{path}: no such directory {folder} — make it first, or write elsewhere")
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
