"""Lab lifecycle invariants: crash safety, isolation, bad input, locking, exec."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import VNETLAB, cli, copy_example, lab_namespaces
from vnetlab.compile import compile_lab
from vnetlab.host import state
from vnetlab.lab import Lab

pytestmark = pytest.mark.integration


def supervisors_of(lab: str) -> list[int]:
    """PIDs of supervisor processes whose command line names this lab's run dir."""
    needle = state.lab_dir(lab).encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read()
        except OSError:
            continue
        if b"vnetlab.agents.supervisor" in cmdline and needle in cmdline:
            pids.append(int(entry))
    return pids


def assert_gone(lab: str) -> None:
    assert lab_namespaces(lab) == [], f"namespaces of {lab} leaked"
    assert not os.path.exists(state.lab_dir(lab)), f"run dir of {lab} leaked"
    deadline = time.monotonic() + 3
    while supervisors_of(lab) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert supervisors_of(lab) == [], f"supervisor of {lab} leaked"


def kill_points(path: str) -> list[int]:
    """Steps at which to SIGKILL `up`: first op, within namespaces, devices,
    addresses, the last op, and just before the supervisor starts."""
    ops = compile_lab(Lab.load(path).spec).ops
    names = [op.name for op in ops]
    first_veth = names.index("create_veth") + 1
    first_tap = names.index("create_tap") + 1
    first_addr = names.index("add_address") + 1
    return sorted({1, 2, 4, first_tap, first_veth, first_veth + 1, first_addr, len(ops), len(ops) + 1})


@pytest.mark.parametrize("when", ["steps", "timed"])
def test_sigkill_during_up_then_down_leaves_nothing(tmp_path, when):
    path = copy_example(tmp_path, "proxmox-tap.yaml", lab="killme")
    if when == "steps":
        points = [{"VNETLAB_TEST_SIGKILL_AT_STEP": str(step)} for step in kill_points(path)]
    else:
        points = [{"_delay": str(delay)} for delay in (0.05, 0.15, 0.3, 0.5)]
    for point in points:
        env = dict(os.environ)
        delay = float(point.pop("_delay", 0) or 0)
        env.update(point)
        proc = subprocess.Popen([*VNETLAB, "up", path, "-q"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if delay:
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if not delay:
            assert proc.returncode == -signal.SIGKILL, f"{point}: up was not killed"
        down = cli("down", "killme")
        assert down.returncode == 0, down.stderr
        assert_gone("killme")


def test_down_works_after_the_file_is_deleted(tmp_path):
    path = copy_example(tmp_path, "proxmox-tap.yaml", lab="gonefile")
    cli("up", path, check=True)
    os.unlink(path)
    assert cli("down", "gonefile").returncode == 0
    assert_gone("gonefile")


def test_two_labs_with_the_same_node_names_are_isolated(tmp_path):
    first = copy_example(tmp_path, "red-blue.yaml", lab="rbone")
    second_dir = tmp_path / "two"
    second_dir.mkdir()
    second = copy_example(second_dir, "red-blue.yaml", lab="rbtwo")
    try:
        cli("up", first, check=True)
        cli("up", second, check=True)
        assert cli("check", "rbone").returncode == 0
        assert cli("check", "rbtwo").returncode == 0
        cli("down", "rbone", check=True)
        assert lab_namespaces("rbone") == []
        assert len(lab_namespaces("rbtwo")) == 3
        assert cli("check", "rbtwo").returncode == 0, "down of one lab broke the other"
    finally:
        cli("down", "rbone")
        cli("down", "rbtwo")
    assert_gone("rbtwo")


def test_bad_input_creates_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lab: badlab\nnodes:\n  red:\n    interfaces:\n      eth0: {address: 10.0.0.300/24}\n"
                   "  blue:\n    kind: hots\n")
    result = cli("up", str(bad))
    assert result.returncode == 2
    assert "bad.yaml:5: nodes.red.interfaces.eth0.address" in result.stderr
    assert "bad.yaml:7: nodes.blue.kind" in result.stderr and "'hots'" in result.stderr
    assert lab_namespaces("badlab") == []
    assert not os.path.exists(state.lab_dir("badlab"))


def test_exec_passes_exit_code_and_runs_inside_the_node(tmp_path):
    path = copy_example(tmp_path, "red-blue.yaml", lab="execlab")
    try:
        cli("up", path, check=True)
        assert cli("exec", "execlab", "red", "--", "sh", "-c", "exit 7").returncode == 7
        shown = cli("exec", "execlab", "red", "--", "ip", "-o", "addr", "show", "dev", "eth0")
        assert shown.returncode == 0 and "10.0.0.1/24" in shown.stdout
        sysfs = cli("exec", "execlab", "sw", "--", "ls", "/sys/class/net")
        assert set(sysfs.stdout.split()) == {"lo", "br0", "p1", "p2"}, "exec must see the node's own /sys"
        assert cli("exec", "execlab", "nosuchnode", "--", "true").returncode == 2
        status = json.loads(cli("status", "execlab", "--json", check=True).stdout)
        assert status["nodes"]["red"]["interfaces"][1]["addresses"] == ["10.0.0.1/24"]
        assert status["nodes"]["sw"]["forwarding"] is False
    finally:
        cli("down", "execlab")
    assert_gone("execlab")


def test_router_forwarding_is_written_explicitly(tmp_path):
    path = copy_example(tmp_path, "routing.yaml", lab="fwdtest")
    try:
        cli("up", path, check=True)
        status = json.loads(cli("status", "fwdtest", "--json", check=True).stdout)
        assert status["nodes"]["r1"]["forwarding"] is True
        assert status["nodes"]["h1"]["forwarding"] is False
        routes = status["nodes"]["h1"]["routes"]
        assert {"to": "default", "via": "10.1.0.1", "dev": "eth0"}.items() <= routes[0].items() or any(
            r["to"] == "default" and r["via"] == "10.1.0.1" for r in routes)
    finally:
        cli("down", "fwdtest")


def test_a_second_up_waits_for_the_lab_lock(tmp_path):
    path = copy_example(tmp_path, "red-blue.yaml", lab="locked")
    with state.locked("locked"):
        proc = subprocess.Popen([*VNETLAB, "up", path, "-q"], stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        assert proc.poll() is None, "up did not wait for the lock"
        assert lab_namespaces("locked") == [], "up changed the lab while another held the lock"
    try:
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
        assert len(lab_namespaces("locked")) == 3
    finally:
        cli("down", "locked")
    assert_gone("locked")


def test_down_of_an_absent_lab_succeeds():
    result = cli("down", "neverup")
    assert result.returncode == 0 and "not up" in result.stdout


def test_python_api_context_manager(tmp_path):
    path = copy_example(tmp_path, "veth-to-host.yaml", lab="apilab")
    with Lab.load(path) as lab:
        assert all(result.ok for result in lab.check())
        out = lab.node("ns1").run(["ip", "-o", "-4", "addr", "show", "dev", "eth0"], capture_output=True, text=True)
        assert "10.1.1.2/24" in out.stdout
    assert_gone("apilab")
    assert sys.executable  # the API ran in this very process
