"""`make demo` draws each example lab's live picture while it is up
(build/demo/LAB_FILE.svg) and ends saying where the pictures are and how to open
the web UI; without Graphviz it says so in one line and goes on. The labs here
are stand-ins (no kernel): what is under test is the demo's own work."""

from __future__ import annotations

import pathlib
import shutil
import xml.etree.ElementTree as ET

from vnetlab.cli import demo
from vnetlab.errors import OperationFailed
from vnetlab.io import topology_render
from vnetlab.io.topology import topology_of
from vnetlab.model import load_lab

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
SVG = "{http://www.w3.org/2000/svg}"


class StandIn:
    """A lab that comes up, checks and goes down without touching the kernel."""

    events: list[str] = []

    def __init__(self, path: str) -> None:
        self.spec = load_lab(path)
        self.name = self.spec.lab

    @classmethod
    def load(cls, path: str) -> "StandIn":
        return cls(path)

    def up(self) -> None:
        self.events.append(f"up {self.name}")

    def check(self) -> list:
        return []

    def topology(self) -> dict:
        self.events.append(f"topology {self.name}")
        return topology_of(self.spec, {"cut": [], "impaired": {}, "checks": None})

    def down(self) -> None:
        self.events.append(f"down {self.name}")


def run_demo(tmp_path, monkeypatch, capsys, *names: str) -> tuple[int, str]:
    folder = tmp_path / "labs"
    folder.mkdir()
    for name in names:
        shutil.copy(EXAMPLES / name, folder / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(demo, "Lab", StandIn)
    monkeypatch.setattr(demo, "render_table", lambda results, console: None)
    monkeypatch.setattr(demo, "_course_demo", lambda console: 0)
    monkeypatch.setattr(demo, "SHOWN_PLAN", "")  # (its plan is not the demo's pictures)
    StandIn.events = []
    code = demo.main([str(folder)])
    return code, capsys.readouterr().out


def test_each_lab_is_drawn_while_it_is_up_and_the_end_says_where_and_how_to_open_the_web_ui(
        tmp_path, monkeypatch, capsys):
    code, out = run_demo(tmp_path, monkeypatch, capsys, "proxmox-tap.yaml", "tenants.yaml")
    assert code == 0
    assert StandIn.events == ["up pvetap", "topology pvetap", "down pvetap", "up tenants", "topology tenants",
                              "down tenants"]  # drawn between up and down: the live picture
    svg = ET.parse(tmp_path / "build" / "demo" / "proxmox-tap.svg").getroot()
    titles = {el.text for el in svg.iter(f"{SVG}title")}
    assert {"cluster_pve", "pve/vmbr0", "vm100", "vm101"} <= titles
    assert (tmp_path / "build" / "demo" / "tenants.svg").stat().st_size > 0
    flat = " ".join(out.split())
    assert "2 pictures of the labs as they ran: build/demo/*.svg" in flat
    assert f".venv/bin/vnetlab web --labs {tmp_path / 'labs'}" in flat
    assert "picture (s)" in flat


def test_without_graphviz_one_line_says_so_and_the_demo_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo.shutil, "which", lambda name: None)
    code, out = run_demo(tmp_path, monkeypatch, capsys, "red-blue.yaml")
    assert code == 0
    assert StandIn.events == ["up redblue", "down redblue"]
    assert [line for line in out.splitlines() if "Graphviz" in line] == [
        "no pictures: Graphviz's dot is not installed (apt-get install graphviz)"]
    assert not (tmp_path / "build").exists()
    assert "pictures of the labs" not in out and "vnetlab web --labs" in " ".join(out.split())


def test_a_picture_graphviz_fails_on_is_one_line_and_the_lab_still_goes_down(tmp_path, monkeypatch, capsys):
    def fails(topology, fmt):
        raise OperationFailed("Graphviz failed (exit 1): syntax error")

    monkeypatch.setattr(topology_render, "render", fails)
    code, out = run_demo(tmp_path, monkeypatch, capsys, "red-blue.yaml")
    assert code == 0 and StandIn.events[-1] == "down redblue"
    assert "no picture of redblue: Graphviz failed (exit 1): syntax error" in out
    assert not list((tmp_path / "build" / "demo").iterdir())
    assert "pictures of the labs as they ran" not in out
