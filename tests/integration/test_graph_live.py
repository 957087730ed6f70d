"""`vnetlab graph LAB`: a running lab's picture carries its live state — a cable
cut with `vnetlab link`, an impairment set with `vnetlab impair`, an interface
set down by hand, and the results of the last `vnetlab check` (kept in the
lab's checks.json). One lab for the module; each test undoes what it changed."""

from __future__ import annotations

import json
import os

import pytest

from conftest import cli, lab_namespaces
from vnetlab.host import state

pytestmark = pytest.mark.integration

LAB = "graphl"
LAB_FILE = f"""
lab: {LAB}
nodes:
  pve:
    interfaces:
      eno1: {{}}
      tap100i0: {{type: tap}}
      vmbr0: {{type: bridge, ports: [eno1, tap100i0], address: 10.72.0.10/24}}
  vm100: {{kind: vm, interfaces: {{eth0: {{address: 10.72.0.100/24}}}}}}
  lan: {{kind: switch}}
  a: {{interfaces: {{eth0: {{address: 10.72.0.1/24}}}}}}
  b: {{interfaces: {{eth0: {{address: 10.72.0.2/24}}}}}}
links:
  - [pve:tap100i0, vm100:eth0]
  - [pve:eno1, lan:p1]
  - [a:eth0, lan:p2]
  - [b:eth0, lan:p3]
checks:
  - {{from: a, to: vm100, expect: reach}}
  - {{from: a, to: b, expect: no-reach}}
"""


@pytest.fixture(scope="module")
def lab_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("graph") / "graphl.yaml"
    path.write_text(LAB_FILE)
    cli("up", str(path), check=True)
    try:
        yield path
    finally:
        down = cli("down", LAB)
        assert down.returncode == 0, down.stderr
    assert lab_namespaces(LAB) == [] and not os.path.exists(state.lab_dir(LAB))


def live(tmp_path) -> dict:
    out = tmp_path / "live.json"
    cli("graph", LAB, "-o", str(out), check=True)
    return json.loads(out.read_text())


def edge_of(topology: dict, end: str) -> dict:
    node, _, ifname = end.partition(":")
    [found] = [e for e in topology["edges"]
               if any(x["node"] == node and x["interface"] == ifname for x in e["ends"])]
    return found


def test_a_fresh_lab_is_drawn_live_as_its_file_is(lab_file, tmp_path):
    t = live(tmp_path)
    cli("graph", str(lab_file), "-o", str(tmp_path / "file.json"), check=True)
    drawn = json.loads((tmp_path / "file.json").read_text())
    assert t["live"] is True and drawn["live"] is False
    assert [n["id"] for n in t["nodes"]] == [n["id"] for n in drawn["nodes"]]
    assert [(e["source"], e["target"]) for e in t["edges"]] == [(e["source"], e["target"]) for e in drawn["edges"]]
    assert edge_of(t, "pve:tap100i0")["source"] == "pve/vmbr0"
    assert all(e["state"] == {"cut": False, "up": True, "impaired": None} for e in t["edges"]), t["edges"]
    assert [c["ok"] for c in t["checks"]] == [None, None]  # no check run yet
    assert set(t["positions"]) >= {"pve/vmbr0", "vm100", "lan", "a", "b"}


def test_a_cut_cable_is_drawn_cut_and_plugging_it_back_clears_it(lab_file, tmp_path):
    cli("link", LAB, "a:eth0", "down", check=True)
    try:
        cut = edge_of(live(tmp_path), "a:eth0")
        assert cut["state"]["cut"] is True and cut["state"]["up"] is False and "cut" in cut["classes"]
        dot = cli("graph", LAB, "-o", "-", check=True).stdout
        line = next(l for l in dot.splitlines() if l.strip().startswith('"a" -- "lan"'))
        assert "style=dashed" in line
    finally:
        cli("link", LAB, "a:eth0", "up", check=True)
    back = edge_of(live(tmp_path), "a:eth0")
    assert back["state"] == {"cut": False, "up": True, "impaired": None} and "cut" not in back["classes"]


def test_an_impaired_end_is_drawn_with_what_it_does(lab_file, tmp_path):
    cli("impair", LAB, "b:eth0", "--delay", "20ms", "--loss", "1%", check=True)
    try:
        slow = edge_of(live(tmp_path), "b:eth0")
        held = slow["state"]["impaired"]["b:eth0"]
        assert "delay 20ms" in held["text"] and "loss 1%" in held["text"] and held["origin"] == "runtime"
        assert "impaired" in slow["classes"] and slow["state"]["cut"] is False
    finally:
        cli("impair", LAB, "b:eth0", "--clear", check=True)
    assert edge_of(live(tmp_path), "b:eth0")["state"]["impaired"] is None


def test_an_interface_set_down_in_a_shell_is_drawn_down(lab_file, tmp_path):
    cli("exec", LAB, "vm100", "--", "ip", "link", "set", "eth0", "down", check=True)
    try:
        down = edge_of(live(tmp_path), "vm100:eth0")
        assert down["state"]["up"] is False and down["state"]["cut"] is False and "down" in down["classes"]
    finally:
        cli("exec", LAB, "vm100", "--", "ip", "link", "set", "eth0", "up", check=True)
    assert edge_of(live(tmp_path), "vm100:eth0")["state"]["up"] is True


def test_the_last_check_run_colours_the_picture(lab_file, tmp_path):
    # a and b share the switch, so "a must not reach b" fails: one passed, one failed
    done = cli("check", LAB, "--json")
    assert done.returncode == 1, done.stderr
    kept = json.loads((open(os.path.join(state.lab_dir(LAB), "checks.json"))).read())
    assert (kept["passed"], kept["failed"]) == (1, 1) and kept["at"].endswith("Z")
    t = live(tmp_path)
    assert [(c["ok"], c["observed"]) for c in t["checks"]] == [(True, "reach"), (False, "reach")]
    assert all(c["at"] == kept["at"] for c in t["checks"])
    a = next(n for n in t["nodes"] if n["id"] == "a")
    assert "check-failed" in a["classes"] and a["checks"] == {"passed": 1, "failed": 1}
    svg = tmp_path / "live.svg"
    cli("graph", LAB, "-o", str(svg), check=True)
    assert svg.read_text().lstrip().startswith("<?xml") and "#d62728" in svg.read_text()  # a's red outline
