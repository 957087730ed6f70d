"""Every example lab: up -> checks pass -> re-up changes nothing -> down leaves nothing."""

from __future__ import annotations

import json
import os
import re

import pytest

from conftest import EXAMPLES, cli, lab_namespaces
from vnetlab.host import state
from vnetlab.lab import Lab
from vnetlab.observe.snapshot import read_namespace
from vnetlab.plan import SetMaster

pytestmark = pytest.mark.integration

EXAMPLE_FILES = sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".yaml"))


def ifindexes(lab: Lab) -> dict[tuple[str, str], tuple[int, str]]:
    """(node, ifname) -> (ifindex, MAC) of every interface of a running lab."""
    found = {}
    for node in lab.spec.nodes:
        for link in read_namespace(lab.namespace_of(node))["links"]:
            found[(node, link["name"])] = (link["index"], link["mac"])
    return found


FORWARDS = {"forwarding", "LIVE", "enabled"}  # a Linux bridge port, an OVS port, an OVS bond member


def bridge_port_states(lab: Lab) -> dict[str, str]:
    """The state of every bridge port of a running lab, as the tools read it
    (not vnetlab's own wait): Linux bridge ports from ``ip -d -j link``, OVS
    ports from their OpenFlow state, bond members from ``ovs-appctl bond/show``."""
    found = {}
    for node in lab.spec.nodes:
        handle = lab.node(node)
        shown = handle.run(["ip", "-d", "-j", "link", "show"], capture_output=True, text=True, check=True)
        for link in json.loads(shown.stdout):
            info = link.get("linkinfo", {})
            if info.get("info_slave_kind") == "bridge":
                found[f"{node}:{link['ifname']}"] = info["info_slave_data"]["state"]
        if not os.path.isdir(os.path.join(state.lab_dir(lab.name), "ovs", node)):
            continue
        bridges = handle.run(["ovs-vsctl", "list-br"], capture_output=True, text=True, check=True).stdout.split()
        for bridge in bridges:
            ports = handle.run(["ovs-ofctl", "-O", "OpenFlow13", "show", bridge], capture_output=True, text=True,
                               check=True).stdout
            for port, flags in re.findall(r"^ +\S+\((\S+)\):.*?\n +state: +([^\n]*)", ports, re.M | re.S):
                found[f"{node}:{bridge}:{port}"] = flags.strip()
        bonds = handle.run(["ovs-appctl", "bond/show"], capture_output=True, text=True, check=True).stdout
        for member, status in re.findall(r"^member (\S+): (\w+)$", bonds, re.M):
            found[f"{node}:bond member {member}"] = status
    return found


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_up_check_reup_down(name):
    path = os.path.join(EXAMPLES, name)
    lab = Lab.load(path)
    try:
        up = cli("up", path, "--json", check=True)
        assert json.loads(up.stdout)["changed"] > 0
        assert sorted(lab_namespaces(lab.name)) == sorted(lab.namespace_of(n) for n in lab.spec.nodes)
        ports = bridge_port_states(lab)  # invariant 8: right after up, every bridge port forwards
        assert len(ports) >= sum(isinstance(op, SetMaster) for op in lab.plan().ops)
        assert {port: s for port, s in ports.items() if s not in FORWARDS} == {}

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
