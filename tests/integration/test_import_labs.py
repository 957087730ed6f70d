"""Imported real-world files: up -> the generated checks pass -> down leaves nothing (issue 11)."""

from __future__ import annotations

import json
import os

import pytest

from conftest import cli, lab_namespaces
from vnetlab.host import state

pytestmark = pytest.mark.integration

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "unit", "fixtures")
CASES = [
    ("interfaces", "interfaces/pve-docs-network-01", "impbridge"),   # the default bridged setup
    ("interfaces", "interfaces/pve-docs-network-03", "impnat"),      # masquerading, routed to the router
    ("interfaces", "interfaces/pve-docs-network-07", "impvlan"),     # VLAN-aware bridge, host in VLAN 5
    ("interfaces", "interfaces/handwritten-ovs-vlan", "impovs"),     # OVS bridge with an internal VLAN port
    ("interfaces", "interfaces/handwritten-ovs-bond", "impovsbond"),  # OVS balance-slb bond, VLAN 10 management
    ("proxmox", "proxmox-roots/nat", "improot"),                     # a ROOT tree with a sourced file
    ("proxmox", "proxmox-roots/vlan", "impvlanvm"),                  # tagged guests, host in VLAN 5
    # Host address untagged on a VLAN-aware vmbr0, guests tagged, routed beyond the trunk: needs
    # the bridge's own port in VLAN 1 on OVS, and routers at the guests' gateways.
    ("proxmox", "proxmox-roots/vlan-untagged", "impvlanut"),
]


@pytest.mark.parametrize("kind, source, name", CASES, ids=[c[2] for c in CASES])
def test_imported_lab_up_check_down(tmp_path, kind, source, name):
    out = tmp_path / f"{name}.yaml"
    imported = cli("import", kind, os.path.join(FIXTURES, source), "--name", name, "-o", str(out))
    assert imported.returncode == 0, imported.stderr
    try:
        cli("up", str(out), check=True)
        checked = cli("check", name, "--json")
        report = json.loads(checked.stdout)
        failures = [r for r in report["results"] if not r["ok"]]
        assert checked.returncode == 0 and not failures, failures
        names = {r["check"] for r in report["results"]}
        assert any(n.startswith("admin reaches") and n.endswith(":8006") for n in names)
        assert report["passed"] >= 3
    finally:
        down = cli("down", name)
    assert down.returncode == 0, down.stderr
    assert lab_namespaces(name) == []
    assert not os.path.exists(state.lab_dir(name))
