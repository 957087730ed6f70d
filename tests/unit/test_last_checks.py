"""`Lab.check` keeps its results as the lab's last (checks.json in its run
directory, written whole), and `Lab.last_checks` / the topology read them."""

from __future__ import annotations

import json
import pathlib

from vnetlab import lab as lab_module
from vnetlab.host import state
from vnetlab.io.topology import topology_of
from vnetlab.lab import Lab
from vnetlab.probe import checks
from vnetlab.probe.checks import CheckResult, check_record

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def fake_results(spec):
    found = []
    for index, check in enumerate(spec.checks):
        ok = index != 1
        found.append(CheckResult(check, ok, "reach" if ok else "no-reach", "" if ok else "timeout", "192.168.1.101"))
    return found


def test_check_record_has_one_row_per_check_with_its_index_and_ends():
    spec = Lab.load(EXAMPLES / "proxmox-tap.yaml").spec
    record = check_record("pvetap", spec, fake_results(spec), at="2026-12-02T16:00:00Z")
    assert (record["lab"], record["at"], record["passed"], record["failed"]) == (
        "pvetap", "2026-12-02T16:00:00Z", 5, 1)
    first, second = record["results"][:2]
    assert first == {"index": 0, "check": "vm100 -> vm101 icmp reach", "kind": "probe", "expect": "reach",
                     "observed": "reach", "ok": True, "target": "192.168.1.101", "detail": "",
                     "from": "vm100", "to": "vm101", "node": None}
    assert (second["index"], second["ok"], second["from"]) == (1, False, "pc")


def test_lab_check_keeps_the_last_results_and_the_topology_shows_them(tmp_path, monkeypatch):
    monkeypatch.setattr(state, "RUN_ROOT", str(tmp_path))
    monkeypatch.setattr(lab_module, "require_root", lambda action: None)
    monkeypatch.setattr(checks, "run_checks", lambda spec, namespace_of: fake_results(spec))
    lab = Lab.load(EXAMPLES / "proxmox-tap.yaml")
    assert lab.last_checks() is None  # before any run
    (tmp_path / "pvetap").mkdir()
    results = lab.check()
    assert [r.ok for r in results] == [True, False, True, True, True, True]
    kept = json.loads((tmp_path / "pvetap" / "checks.json").read_text())
    assert kept["failed"] == 1 and kept["results"][1]["observed"] == "no-reach"
    assert lab.last_checks() == kept
    assert [p.name for p in (tmp_path / "pvetap").iterdir()] == ["checks.json"]  # no temporary left
    t = topology_of(lab.spec, {"checks": lab.last_checks()})
    assert [c["ok"] for c in t["checks"]] == [True, False, True, True, True, True]
    assert t["checks"][1]["at"] == kept["at"] and t["checks"][1]["detail"] == "timeout"
    (tmp_path / "pvetap" / "checks.json").write_text("{half")
    assert lab.last_checks() is None  # a broken file is no last run
