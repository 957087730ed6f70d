"""examples/sdn-controller.yaml end to end (root): three hosts on an OVS
switch driven by the built-in OpenFlow 1.3 controller, through the CLI."""

from __future__ import annotations

import os
import re

import pytest

from conftest import cli, copy_example, lab_namespaces
from vnetlab.agents import controller

pytestmark = pytest.mark.integration

LAB = "sdnt"
RUNDIR = f"/run/vnetlab/{LAB}"


def processes_of_lab() -> list[str]:
    """Command lines of processes that mention the lab's run directory or the controller."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if RUNDIR + "/" in cmdline or (f"{LAB}-sw" in cmdline and "vnetlab.agents.controller" in cmdline):
            found.append(f"{pid}: {cmdline}")
    return found


def test_sdn_example_hosts_reach_each_other_through_controller_flows(tmp_path):
    path = copy_example(tmp_path, "sdn-controller.yaml", lab=LAB)
    try:
        cli("up", path, check=True)
        result = cli("check", path)
        assert result.returncode == 0, result.stdout + result.stderr

        flows = cli("exec", LAB, "sw", "--", "ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "br0", check=True).stdout
        assert "NORMAL" not in flows
        assert re.search(rf"cookie={controller.COOKIE:#x},.* priority=0 actions=CONTROLLER:65535", flows), flows
        learned = [line for line in flows.splitlines()
                   if f"cookie={controller.COOKIE:#x}" in line and "dl_dst=" in line]
        assert len(learned) >= 6, flows  # at least both directions of the three pairs the checks pinged
        # The hosts' packets went through those flows, not only through the controller.
        assert any(int(re.search(r"n_packets=(\d+)", line).group(1)) > 0 for line in learned), flows

        # A plain OpenFlow 1.0 ovs-ofctl works too: the bridge speaks 1.0 as well as 1.3.
        plain = cli("exec", LAB, "sw", "--", "ovs-ofctl", "dump-flows", "br0", check=True).stdout
        assert "dl_dst=" in plain and "NXST_FLOW" in plain

        with open(os.path.join(RUNDIR, "service-sw-1.log")) as handle:
            log = handle.read()
        assert "ready: listening on tcp:127.0.0.1:6653" in log
        assert "learned " in log and "flow installed: in_port=" in log
    finally:
        cli("down", LAB)
    assert lab_namespaces(LAB) == []
    assert processes_of_lab() == []
    assert not os.path.exists(RUNDIR)
