"""Firewall and NAT labs end to end: rule changes touch one node's table only,
a drop-everything firewall cannot stop `down`, the host ruleset stays as it was."""

from __future__ import annotations

import json

import pytest

from conftest import cli, copy_example, lab_namespaces
from vnetlab.host import run, state

pytestmark = pytest.mark.integration


def ruleset(ns: str) -> str:
    return run.run(ns, ["nft", "list", "ruleset"], capture_output=True, text=True, check=True).stdout


def test_changed_rule_replaces_only_that_nodes_table(tmp_path):
    path = copy_example(tmp_path, "docker-bridge.yaml", lab="fwchg")
    try:
        cli("up", path, check=True)
        before = {node: ruleset(f"fwchg-{node}") for node in ("dockerhost", "c1", "client")}
        assert "DOCKER-ISOLATION" in before["dockerhost"] and before["c1"] == ""
        # Publish a second port: only dockerhost's table may change.
        text = open(path).read().replace(
            'forward: [{in: eth0, proto: tcp, port: 8080, to: "c1:80"}]',
            'forward: [{in: eth0, proto: tcp, port: 8080, to: "c1:80"}, {in: eth0, proto: tcp, port: 8081, to: "c1:80"}]')
        open(path, "w").write(text)
        report = json.loads(cli("up", path, "--json", check=True).stdout)
        assert report["changed"] == 1, report
        after = {node: ruleset(f"fwchg-{node}") for node in before}
        assert "8081" in after["dockerhost"] and "8081" not in before["dockerhost"]
        assert after["c1"] == before["c1"] and after["client"] == before["client"]
        assert cli("check", "fwchg").returncode == 0
    finally:
        cli("down", "fwchg")
    assert lab_namespaces("fwchg") == []


def test_drop_everything_firewall_still_goes_down(tmp_path):
    path = tmp_path / "wall.yaml"
    path.write_text("""
lab: wall
nodes:
  a:
    interfaces: {eth0: {address: 10.9.0.1/24}}
    firewall:
      input: {policy: drop}
      forward: {policy: drop}
      output: {policy: drop}
    services: [{listen: tcp/80}]
  b:
    interfaces: {eth0: {address: 10.9.0.2/24}}
links: [[a:eth0, b:eth0]]
checks:
  - {from: b, to: a, expect: no-reach}
  - {from: b, to: "a:80", proto: tcp, expect: filtered}
  - {from: a, to: b, expect: no-reach}
""")
    try:
        cli("up", str(path), check=True)
        assert cli("check", "wall").returncode == 0
    finally:
        down = cli("down", "wall")
    assert down.returncode == 0, down.stderr
    assert lab_namespaces("wall") == [] and not state.lab_dir("wall") in state.lab_names()
