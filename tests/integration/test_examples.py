"""Every example lab: up -> checks pass -> re-up changes nothing -> down leaves nothing."""

from __future__ import annotations

import json
import os

import pytest

from conftest import EXAMPLES, cli, lab_namespaces
from vnetlab.executors import state
from vnetlab.lab import Lab
from vnetlab.observe.snapshot import read_namespace

pytestmark = pytest.mark.integration

EXAMPLE_FILES = sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".yaml"))


def ifindexes(lab: Lab) -> dict[tuple[str, str], tuple[int, str]]:
    """(node, ifname) -> (ifindex, MAC) of every interface of a running lab."""
    found = {}
    for node in lab.spec.nodes:
        for link in read_namespace(lab.namespace_of(node))["links"]:
            found[(node, link["name"])] = (link["index"], link["mac"])
    return found


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_up_check_reup_down(name):
    path = os.path.join(EXAMPLES, name)
    lab = Lab.load(path)
    try:
        up = cli("up", path, "--json", check=True)
        assert json.loads(up.stdout)["changed"] > 0
        assert sorted(lab_namespaces(lab.name)) == sorted(lab.namespace_of(n) for n in lab.spec.nodes)

        checked = cli("check", lab.name, "--json")
        report = json.loads(checked.stdout)
        failures = [r for r in report["results"] if not r["ok"]]
        assert checked.returncode == 0 and not failures, failures
        assert report["passed"] == len(lab.spec.checks)

        before = ifindexes(lab)
        again = json.loads(cli("up", path, "--json", check=True).stdout)
        assert again["changed"] == 0, "re-up of an unchanged lab must change nothing"
        assert ifindexes(lab) == before, "re-up re-created an interface"
    finally:
        down = cli("down", lab.name)
    assert down.returncode == 0, down.stderr
    assert lab_namespaces(lab.name) == []
    assert not os.path.exists(state.lab_dir(lab.name))
