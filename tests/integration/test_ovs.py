"""Open vSwitch labs on the real kernel: bonds, LACP, VLAN tags, flows, cleanup.

Every lab here runs its own ovsdb-server/ovs-vswitchd inside a lab namespace;
the host guard (conftest) checks the root namespace is untouched, and these
tests add that the host's own OVS is too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import cli, copy_example, lab_namespaces
from vnetlab.compile import compile_lab
from vnetlab.executors import capabilities, ovs
from vnetlab.host import processes, state
from vnetlab.lab import Lab
from vnetlab.plan import OvsAddBridge, StartOvs

pytestmark = pytest.mark.integration

LACP_LAB = """
lab: {lab}
nodes:
  left:
    interfaces:
      eno1: {{}}
      eno2: {{}}
      bond0: {{type: bond, members: [eno1, eno2], mode: 802.3ad}}
      br1: {{type: bridge, backend: ovs, ports: [bond0], address: 10.7.0.1/24}}
  right:
    interfaces:
      eno1: {{}}
      eno2: {{}}
      bond0: {{type: bond, members: [eno1, eno2], mode: balance-tcp}}
      br1: {{type: bridge, backend: ovs, ports: [bond0], address: 10.7.0.2/24}}
links:
  - [left:eno1, right:eno1]
  - [left:eno2, right:eno2]
checks:
  - {{from: left, to: right, expect: reach}}
"""


def host_ovs() -> tuple:
    """What the host's own OVS looks like (or that it is absent), to compare before/after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVS_")}
    shown = subprocess.run([ovs.find_binary("ovs-vsctl") or "ovs-vsctl", "--timeout=2", "show"],
                           capture_output=True, text=True, env=env)
    rundir = "/var/run/openvswitch"
    return shown.returncode, shown.stdout, sorted(os.listdir(rundir)) if os.path.isdir(rundir) else None


@pytest.fixture
def host_ovs_untouched():
    before = host_ovs()
    yield
    assert host_ovs() == before, "the host's own Open vSwitch changed"


@contextlib.contextmanager
def running(path: str):
    lab = Lab.load(path)
    try:
        cli("up", path, check=True)
        yield lab
    finally:
        down = cli("down", lab.name)
        assert down.returncode == 0, down.stderr
    assert lab_namespaces(lab.name) == []


def daemons(lab: Lab) -> list[processes.ProcessRecord]:
    """The running OVS daemons of every node of a lab (by pidfile, checked)."""
    found = []
    for node in lab.spec.nodes:
        rundir = os.path.join(state.lab_dir(lab.name), "ovs", node)
        for program in ovs.DAEMONS:
            record = ovs.daemon_record(rundir, program, lab.namespace_of(node))
            if record is not None:
                found.append(record)
    return found


def bond_show(lab: Lab, node: str, bond: str = "bond0") -> str:
    return lab.node(node).run(["ovs-appctl", "bond/show", bond], capture_output=True, text=True,
                              check=True).stdout


def test_bond_failover_keeps_traffic_flowing(tmp_path, host_ovs_untouched):
    path = copy_example(tmp_path, "proxmox-bridged.yaml", lab="ovsbond")
    with running(path) as lab:
        shown = bond_show(lab, "pve")
        active = re.search(r"active member mac: \S+\((\w+)\)", shown).group(1)
        peer = {"eno1": "p1", "eno2": "p2"}[active]
        interval = 0.05
        pinger = lab.node("pc").popen(["ping", "-n", "-i", str(interval), "-c", "100", "-W", "1",
                                       "192.168.1.100"], stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)
        lab.node("tor").run(["ip", "link", "set", peer, "down"], check=True)  # cut the active cable
        out, _ = pinger.communicate(timeout=30)
        seqs = sorted(int(m) for m in re.findall(r"icmp_seq=(\d+)", out))
        assert seqs and seqs[-1] >= 95, f"traffic did not come back after the cut:\n{out}"
        gaps = [b - a for a, b in zip(seqs, seqs[1:])]
        outage = (max(gaps) - 1) * interval
        print(f"bond failover: {max(gaps) - 1} pings lost, outage ≈ {outage:.2f} s")
        now = re.search(r"active member mac: \S+\((\w+)\)", bond_show(lab, "pve")).group(1)
        assert now != active, "the bond did not fail over to the other member"
        assert cli("check", lab.name).returncode == 0


def test_lacp_negotiates_between_two_ovs_ends(tmp_path, host_ovs_untouched):
    path = tmp_path / "lacp.yaml"
    path.write_text(LACP_LAB.format(lab="ovslacp"))
    with running(str(path)) as lab:
        deadline = time.monotonic() + 15
        shown = ""
        while time.monotonic() < deadline:  # fast LACP: a PDU per second each way
            shown = lab.node("left").run(["ovs-appctl", "lacp/show", "bond0"], capture_output=True,
                                         text=True).stdout
            if "negotiated" in shown and "current" in shown:
                break
            time.sleep(0.5)
        assert re.search(r"status: active negotiated", shown), shown
        assert "lacp_status: negotiated" in bond_show(lab, "right")
        assert "balance-tcp" in bond_show(lab, "left")  # 802.3ad on OVS is balance-tcp + LACP
        # Traffic crosses the aggregate once both ends enabled their members.
        pinged = None
        while time.monotonic() < deadline + 10:
            pinged = lab.node("left").run(["ping", "-c", "1", "-W", "1", "10.7.0.2"], capture_output=True)
            if pinged.returncode == 0:
                break
        assert pinged is not None and pinged.returncode == 0


def test_vlans_isolated_both_ways_and_tagged_on_the_trunk(tmp_path, host_ovs_untouched):
    path = copy_example(tmp_path, "proxmox-vlan.yaml", lab="ovsvlan")
    with running(path) as lab:
        report = json.loads(cli("check", lab.name, "--json").stdout)
        assert all(r["ok"] for r in report["results"]), report  # isolation checks included
        assert report["passed"] == len(lab.spec.checks)

        # Frames on the trunk carry 802.1Q tags: capture on pve's eno1.
        dump = lab.node("pve").popen(["tcpdump", "-e", "-n", "-l", "-i", "eno1", "vlan and icmp"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            dump.stderr.readline()  # "listening on eno1 ...": the capture is running
            lab.node("vm100").run(["ping", "-c", "2", "-i", "0.2", "-W", "1", "10.0.0.50"], check=True,
                                  capture_output=True)
            lab.node("vm101").run(["ping", "-c", "2", "-i", "0.2", "-W", "1", "10.0.0.60"], check=True,
                                  capture_output=True)
        finally:
            dump.terminate()
            out, _ = dump.communicate(timeout=10)
        assert "vlan 10" in out and "vlan 20" in out, out
        # An access port's VM sees no tags.
        assert lab.node("vm100").run(["ping", "-c", "1", "-W", "1", "10.0.0.101"]).returncode != 0
        assert lab.node("vm101").run(["ping", "-c", "1", "-W", "1", "10.0.0.100"]).returncode != 0


def test_bad_neighbor_drop_counter_rises_and_tools_need_no_flags(tmp_path, host_ovs_untouched):
    path = copy_example(tmp_path, "ovs-bad-neighbor.yaml", lab="ovsbn")
    with running(path) as lab:
        def drops() -> int:
            status = json.loads(cli("status", lab.name, "--json", check=True).stdout)
            flows = status["nodes"]["sw"]["ovs"]["br0"]["flows"]
            return next(f["n_packets"] for f in flows if "nw_src=10.0.0.66" in f["flow"])

        before = drops()
        lab.node("mallory").run(["ping", "-c", "3", "-i", "0.2", "-W", "1", "10.0.0.1"], capture_output=True)
        assert drops() >= before + 3
        # Plain ovs-* commands inside the node talk to the node's own switch.
        shown = cli("exec", lab.name, "sw", "--", "ovs-ofctl", "dump-flows", "br0", check=True).stdout
        assert "nw_src=10.0.0.66" in shown and "actions=drop" in shown
        assert cli("exec", lab.name, "sw", "--", "ovs-vsctl", "br-exists", "br0").returncode == 0
        protocols = lab.node("sw").run(["ovs-vsctl", "get", "bridge", "br0", "protocols"],
                                       capture_output=True, text=True, check=True).stdout
        assert "OpenFlow10" in protocols and "OpenFlow15" in protocols


def test_down_leaves_no_ovs_process_database_or_socket(tmp_path, host_ovs_untouched):
    path = copy_example(tmp_path, "ovs-bad-neighbor.yaml", lab="ovsdown")
    lab = Lab.load(path)
    with running(path):
        records = daemons(lab)
        assert len(records) == 2, "one ovsdb-server and one ovs-vswitchd for the switch node"
        rundir = os.path.join(state.lab_dir(lab.name), "ovs", "sw")
        assert os.path.exists(os.path.join(rundir, "conf.db")) and os.path.exists(os.path.join(rundir, "db.sock"))
    assert not any(processes.is_running(r) for r in records)
    assert not os.path.exists(state.lab_dir(lab.name))


def test_sigkill_mid_up_of_an_ovs_lab_then_down_leaves_nothing(tmp_path, host_ovs_untouched):
    path = copy_example(tmp_path, "ovs-bad-neighbor.yaml", lab="ovskill")
    lab = Lab.load(path)
    ops = compile_lab(lab.spec, capabilities.detect()).ops
    assert any(isinstance(op, StartOvs) for op in ops)
    step = next(i for i, op in enumerate(ops, 1) if isinstance(op, OvsAddBridge))  # daemons up, no bridge yet
    env = {**os.environ, "VNETLAB_TEST_SIGKILL_AT_STEP": str(step)}
    try:
        killed = cli("up", path, env=env)
        assert killed.returncode == -9, killed.stderr
        left = daemons(lab)
        assert len(left) == 2, "the daemons started before the kill"
    finally:
        down = cli("down", lab.name)
    assert down.returncode == 0, down.stderr
    assert not any(processes.is_running(r) for r in left)
    assert lab_namespaces(lab.name) == []
    assert not os.path.exists(state.lab_dir(lab.name))


def test_explicit_linux_backend_the_kernel_cannot_serve_exits_3(tmp_path):
    text = open(copy_example(tmp_path, "proxmox-vlan.yaml", lab="ovslnx")).read()
    text = text.replace("vlan_aware: true, ports:", "vlan_aware: true, backend: linux, ports:")
    path = tmp_path / "linux.yaml"
    path.write_text(text)
    features = capabilities.detect()
    try:
        result = cli("up", str(path))
    finally:
        cli("down", "ovslnx")
    if features.vlan_filtering and features.vlan_devices:
        assert result.returncode == 0, result.stderr  # a kernel that has them builds it on Linux
        return
    assert result.returncode == 3, result.stderr
    assert "VLAN filtering" in result.stderr and "backend: ovs" in result.stderr
    assert lab_namespaces("ovslnx") == [] and not os.path.exists(state.lab_dir("ovslnx"))


def test_down_stops_daemons_the_journal_never_heard_of(tmp_path, host_ovs_untouched):
    """An up killed between starting a daemon and journaling it: down finds it by pidfile."""
    path = copy_example(tmp_path, "ovs-bad-neighbor.yaml", lab="ovsorph")
    lab = Lab.load(path)
    try:
        cli("up", path, check=True)
        records = daemons(lab)
        assert len(records) == 2
        journal = os.path.join(state.lab_dir(lab.name), state.Journal.FILE)
        with open(journal) as handle:
            kept = [line for line in handle if '"role":"ovs' not in line]
        with open(journal, "w") as handle:
            handle.writelines(kept)
        assert not [e for e in state.Journal(lab.name).read().processes if e["role"].startswith("ovs")]
    finally:
        down = cli("down", lab.name)
    assert down.returncode == 0, down.stderr
    assert not any(processes.is_running(r) for r in records)
    assert lab_namespaces(lab.name) == []


def test_a_stale_pidfile_never_names_someone_elses_process(tmp_path):
    rundir = tmp_path / "ovs"
    rundir.mkdir()
    (rundir / "ovs-vswitchd.pid").write_text(f"{os.getpid()}\n")  # this pytest process, not OVS
    assert ovs.daemon_record(str(rundir), "ovs-vswitchd") is None
    (rundir / "ovsdb-server.pid").write_text("not a pid\n")
    assert ovs.daemon_record(str(rundir), "ovsdb-server") is None


@pytest.mark.parametrize("daemon", ovs.DAEMONS)
def test_a_killed_ovs_daemon_is_drift_and_up_repairs_it(tmp_path, host_ovs_untouched, daemon):
    path = copy_example(tmp_path, "ovs-bad-neighbor.yaml", lab="ovsdead")
    with running(path) as lab:
        assert cli("check", lab.name).returncode == 0
        rundir = os.path.join(state.lab_dir(lab.name), "ovs", "sw")
        victim = ovs.daemon_record(rundir, daemon, lab.namespace_of("sw"))  # its pid, from its pidfile
        assert victim is not None
        os.kill(victim.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while processes.is_running(victim):
            assert time.monotonic() < deadline
            time.sleep(0.02)

        status = json.loads(cli("status", lab.name, "--json").stdout)
        assert [(d["kind"], d["message"]) for d in status["drift"]] == [
            ("ovs-daemons", f"sw: Open vSwitch {daemon} not running")]
        assert cli("status", lab.name, "--check-drift").returncode == 1
        assert cli("check", lab.name).returncode == 1  # the switch forwards nothing now

        up = cli("up", path, check=True)
        assert f"~ sw: Open vSwitch {daemon} not running" in up.stdout
        assert len(daemons(lab)) == 2 and victim not in daemons(lab)
        assert cli("status", lab.name, "--check-drift").returncode == 0
        checked = cli("check", lab.name)
        assert checked.returncode == 0, checked.stdout
        flows = lab.node("sw").run(["ovs-ofctl", "dump-flows", "br0"], capture_output=True, text=True,
                                   check=True).stdout
        assert "nw_src=10.0.0.66" in flows and "actions=drop" in flows  # the file's flows, re-applied
