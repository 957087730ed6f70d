"""`vnetlab graph` and its renderers: DOT that Graphviz reads (clusters for
hypervisors), Mermaid with subgraphs, the JSON, one self-contained HTML page,
Graphviz's layout as positions, and the command's exit codes."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

from vnetlab import cli
from vnetlab.io import topology_render as render
from vnetlab.io.topology import topology_of
from vnetlab.model import load_lab, load_lab_text

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
STATIC = pathlib.Path(__file__).resolve().parents[2] / "src" / "vnetlab" / "web" / "static"
DOT = shutil.which("dot") or "dot"  # Graphviz: make install installs it (Debian's graphviz)


def tap() -> dict:
    return topology_of(load_lab(EXAMPLES / "proxmox-tap.yaml"))


def test_dot_is_read_by_graphviz_with_a_cluster_for_the_hypervisor():
    text = render.to_dot(tap())
    assert 'subgraph "cluster_pve" {' in text
    cluster = text.split('subgraph "cluster_pve" {')[1].split("}")[0]
    assert '"pve/vmbr0" [label="vmbr0\\n192.168.1.10/24"' in cluster and '"vm100"' not in cluster
    assert '"pve/vmbr0" -- "vm100" [label="tap100i0 —\\neth0 192.168.1.100/24"' in text
    done = subprocess.run([DOT, "-Tsvg"], input=text.encode(), capture_output=True, check=True)
    svg = ET.fromstring(done.stdout)
    titles = {el.text for el in svg.iter("{http://www.w3.org/2000/svg}title")}
    assert {"cluster_pve", "pve/vmbr0", "vm100", "vm101", "lan", "gw", "pc"} <= titles
    assert sum(1 for t in titles if t and "--" in t) == 5  # one drawn edge per link


def test_svg_png_pdf_come_from_graphviz():
    t = tap()
    assert render.render(t, "svg").lstrip().startswith(b"<?xml")
    assert render.render(t, "png").startswith(b"\x89PNG")
    assert render.render(t, "pdf").startswith(b"%PDF")


def test_names_and_descriptions_are_quoted_in_dot_and_mermaid():
    spec = load_lab_text('lab: q\ndescription: \'say "hi" <b>&</b>\'\nnodes:\n  a: {}\n', "q.yaml")
    t = topology_of(spec)
    assert 'label="q — say \\"hi\\" <b>&</b>"' in render.to_dot(t)
    assert "<b>" not in render.to_mermaid(t)


def test_live_state_is_drawn_cut_red_dashed_impaired_orange():
    spec = load_lab(EXAMPLES / "proxmox-tap.yaml")
    t = topology_of(spec, {"cut": ["vm100:eth0"], "impaired": {"pc:eth0": {"text": "loss 5%", "mechanism": "netem"}},
                           "checks": {"at": "x", "results": [{"index": 0, "ok": False, "observed": "no-reach"}]}})
    dot = render.to_dot(t)
    line = next(l for l in dot.splitlines() if '"pve/vmbr0" -- "vm100"' in l)
    assert 'style=dashed' in line and '#d62728' in line
    line = next(l for l in dot.splitlines() if '"pc" -- "lan"' in l)
    assert "pc: loss 5%" in line and "#ff7f0e" in line
    assert re.search(r'"vm100" \[.*color="#d62728"', dot)
    mmd = render.to_mermaid(t)
    assert "stroke-dasharray" in mmd and "stroke:#ff7f0e" in mmd and "class n2 failed" in mmd


def test_mermaid_flowchart_with_a_subgraph_per_hypervisor():
    text = render.to_mermaid(tap())
    lines = text.splitlines()
    assert lines[0] == "flowchart TB"
    start = lines.index('  subgraph n0["pve"]')
    assert lines[start + 1].startswith('    n1["vmbr0<br/>192.168.1.10/24"]') and lines[start + 2] == "  end"
    links = [l for l in lines if "---|" in l]
    assert len(links) == 5 and links[0] == '  n1 ---|"tap100i0 — eth0 192.168.1.100/24"| n2'


def test_json_round_trips_and_html_inlines_the_libraries_and_the_data():
    t = tap()
    assert json.loads(render.to_json(t)) == t
    page = render.to_html({**t, "description": "</script><script>alert(1)</script>"})
    cytoscape = (STATIC / "vendor" / "cytoscape.min.js").read_text()
    assert cytoscape in page and (STATIC / "topology.js").read_text() in page
    assert re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)=", page) is None  # nothing fetched
    data = page.split("const TOPOLOGY = ", 1)[1].split(";\n", 1)[0]
    assert json.loads(data)["nodes"] == t["nodes"]
    assert page.count("</script>") == 3  # the description cannot close a script early
    assert "VnetlabMap.draw(" in page


def test_positions_come_from_graphviz_for_every_leaf_node():
    t = render.with_positions(tap())
    leaves = {n["id"] for n in t["nodes"] if not n.get("compound")}
    assert set(t["positions"]) == leaves
    top, bottom = t["positions"]["pve/vmbr0"]["y"], t["positions"]["vm100"]["y"]
    assert top < bottom  # y grows downwards, as on a screen: the hypervisor above its guests


def test_plain_lines_with_quoted_names_are_split():
    assert render._plain_words('node "pve/vmbr0" 1.5 2 0.9 0.5 "vm\\"x" solid') == [
        "node", "pve/vmbr0", "1.5", "2", "0.9", "0.5", 'vm"x', "solid"]


def test_a_bad_extension_exits_2_listing_the_formats(tmp_path, capsys):
    assert cli.main(["graph", str(EXAMPLES / "red-blue.yaml"), "-o", str(tmp_path / "x.gif")]) == 2
    err = capsys.readouterr().err
    assert "cannot tell the format from .gif" in err
    assert ".svg, .png, .pdf, .dot, .mmd, .json, .html" in err
    assert not list(tmp_path.iterdir())


def test_graph_writes_each_format_of_a_file(tmp_path, capsys):
    for ext in ("dot", "mmd", "json", "html", "svg"):
        out = tmp_path / f"t.{ext}"
        assert cli.main(["graph", str(EXAMPLES / "proxmox-tap.yaml"), "-o", str(out), "--json"]) == 0
        said = json.loads(capsys.readouterr().out)
        assert said == {"output": str(out), "format": ext, "lab": "pvetap", "live": False, "nodes": 7, "edges": 5,
                        "groups": 0}
        assert out.stat().st_size > 0
    assert json.loads((tmp_path / "t.json").read_text())["format"] == "vnetlab-topology/1"
    assert "positions" in json.loads((tmp_path / "t.json").read_text())
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []


def test_graph_to_stdout_prints_dot(capsys):
    assert cli.main(["graph", str(EXAMPLES / "red-blue.yaml"), "-o", "-"]) == 0
    assert capsys.readouterr().out.startswith('graph "redblue" {')


def test_without_graphviz_svg_exits_3_and_names_the_package(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot on it
    assert cli.main(["graph", str(EXAMPLES / "red-blue.yaml"), "-o", str(tmp_path / "x.svg")]) == 3
    assert "apt-get install graphviz" in capsys.readouterr().err
    assert cli.main(["graph", str(EXAMPLES / "red-blue.yaml"), "-o", str(tmp_path / "x.json")]) == 0
    assert "positions" not in json.loads((tmp_path / "x.json").read_text())  # the JSON needs no Graphviz


def test_an_invalid_lab_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lab: bad\nnodes:\n  a: {kind: toaster}\n")
    assert cli.main(["graph", str(bad), "-o", str(tmp_path / "x.dot")]) == 2
    assert re.search(r"bad\.yaml:3: ", capsys.readouterr().err)


def star(hosts: int, parallel: int = 1, extra: int = 0) -> dict:
    """A router, a switch with ``hosts`` hosts, ``parallel`` links router–server, ``extra`` lone nodes."""
    pairs = ", ".join(f"s{i}: {{address: 10.9.{i}.1/30}}" for i in range(parallel))
    lines = ["lab: star", "nodes:", "  sw: {kind: switch}",
             f"  gw: {{kind: router, interfaces: {{eth0: {{address: 10.0.0.1/24}}, {pairs}}}}}",
             f"  srv: {{interfaces: {{{', '.join(f'g{i}: {{address: 10.9.{i}.2/30}}' for i in range(parallel))}}}}}"]
    lines += [f"  h{i}: {{interfaces: {{eth0: {{address: 10.0.{i // 250}.{i % 250 + 2}/16}}}}}}" for i in range(hosts)]
    lines += [f"  x{i}: {{}}" for i in range(extra)]
    lines += ["links:", "  - [gw:eth0, sw:p0]"] + [f"  - [gw:s{i}, srv:g{i}]" for i in range(parallel)]
    lines += [f"  - [h{i}:eth0, sw:p{i + 1}]" for i in range(hosts)]
    return topology_of(load_lab_text("\n".join(lines) + "\n", "star.yaml"), expand=True)


def layout(text: str) -> tuple[float, float, dict[str, tuple[float, float]]]:
    plain = subprocess.run([DOT, "-Tplain"], input=text.encode(), capture_output=True, check=True).stdout.decode()
    words = [render._plain_words(line) for line in plain.splitlines()]
    width, height = next((float(w[2]), float(w[3])) for w in words if w and w[0] == "graph")
    return width, height, {w[1]: (float(w[2]), float(w[3])) for w in words if w and w[0] == "node"}


def test_many_hosts_on_a_switch_are_drawn_in_rows_under_it_not_one_wide_rank():
    text = render.to_dot(star(60))
    assert '"sw" -- "h0"' in text and '"h0" -- "sw"' not in text  # the switch above its hosts
    assert "concentrate=true" in text and text.count("[style=invis]") > 0
    assert '"h5" [label="h5\\neth0 10.0.0.7/16 — p6"' in text  # the link's label in the host's box
    width, height, at = layout(text)
    rows = {round(y, 2) for name, (x, y) in at.items() if name.startswith("h")}
    assert len(rows) >= 4 and all(y < at["sw"][1] for name, (x, y) in at.items() if name.startswith("h"))
    assert width / height < 4  # one rank of 60 labelled hosts: about 40 times wider than high
    assert render.to_dot(star(render.WRAP)).count("[style=invis]") == 0  # a few hosts stay in one row


def test_wrapped_big_graph_keeps_parallel_links_apart_and_stays_a_few_times_wider_than_high():
    t = star(render.BIG + 10, parallel=2)
    text = render.to_dot(t)
    assert "splines=line" not in text and "concentrate=true" in text
    between = [line for line in text.splitlines() if '"gw" -- "srv"' in line]
    assert len(between) == 2 and all("label=" in line for line in between)  # concentrate would merge them
    assert "label=" not in next(line for line in text.splitlines() if '"gw" -- "sw"' in line)  # big: no end labels
    svg = ET.fromstring(subprocess.run([DOT, "-Tsvg"], input=text.encode(), capture_output=True, check=True).stdout)
    titles = [el.text for el in svg.iter("{http://www.w3.org/2000/svg}title")]
    assert titles.count("gw--srv") == 2
    width, height, _ = layout(text)
    assert width / height < 5


def test_with_thousands_of_hosts_the_rows_get_fewer_so_dot_stays_fast():
    t = star(1500)
    rows, _ = render._wrapped(t, big=True)
    crossed = sum(r * len(row) for r, row in enumerate(rows["sw"]))  # ranks the edges to lower rows cross
    assert crossed <= render.CROSSINGS
    assert len(rows["sw"]) > 1 and sum(map(len, rows["sw"])) == 1500
    assert len(render._wrapped(star(60), big=False)[0]["sw"]) > 4  # a few dozen: rows by the aspect alone
