"""The built-in OpenFlow 1.3 controller against a real Open vSwitch (root).

Each test starts its own OVS (ovsdb-server + ovs-vswitchd on the userspace
datapath) inside a scratch namespace, with its database, sockets and logs
in a temporary directory (OVS_RUNDIR and friends point there, so the
host's OVS is never involved), one bridge ``br0`` in ``fail_mode=secure``
pointing at tcp:127.0.0.1:6653 (as a lab's ``controller: builtin`` bridge
does), and three hosts on veth ports; the test then starts the controller. Everything is
named with this process's pid and removed in the fixture's teardown.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import exited
from vnetlab.agents import controller
from vnetlab.host import run

pytestmark = pytest.mark.integration

PID = os.getpid()
PORT = 6653
HOSTS = ("h1", "h2", "h3")


def ip_of(index: int) -> str:
    return f"10.77.0.{index + 1}"


def mac_of(index: int) -> str:
    return f"02:00:00:77:00:{index + 1:02x}"


@dataclasses.dataclass
class Switch:
    """A scratch OVS in namespace ``ns`` with hosts ``hosts`` (namespace names)."""

    ns: str
    hosts: list[str]
    rundir: str
    env: dict[str, str]
    ctl: subprocess.Popen | None = None
    ctl_log: str = ""

    def ovs(self, *argv: str, check: bool = True) -> str:
        result = run.run(self.ns, list(argv), env=self.env, capture_output=True, text=True, timeout=20)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr}")
        return result.stdout

    def vsctl(self, *argv: str) -> str:
        return self.ovs("ovs-vsctl", f"--db=unix:{self.rundir}/db.sock", "--timeout=10", *argv)

    def dump_flows(self, *extra: str) -> str:
        return self.ovs("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "br0", *extra)

    def start_controller(self) -> None:
        self.ctl_log = os.path.join(self.rundir, "controller.log")
        with open(self.ctl_log, "ab") as log:
            self.ctl = run.popen(self.ns, [sys.executable, "-m", "vnetlab.agents.controller",
                                           "--listen", f"tcp:127.0.0.1:{PORT}", "--idle-timeout", "30"],
                                 stdout=log, stderr=subprocess.STDOUT, die_with_parent=True)
        assert controller.wait_listening(self.ns, PORT, 10), self.log()
        # OVS retries a refused controller after 1, 2, 4, 8 s: allow for that.
        assert controller.wait_configured(self.dump_flows, 15), self.log()

    def stop_controller(self) -> None:
        if self.ctl is not None and self.ctl.poll() is None:
            self.ctl.send_signal(signal.SIGTERM)
            try:
                self.ctl.wait(5)
            except subprocess.TimeoutExpired:
                self.ctl.kill()
                self.ctl.wait()

    def log(self) -> str:
        with open(self.ctl_log) as handle:
            return handle.read()

    def ping(self, src: int, dst: int, deadline: int = 3) -> bool:
        """One echo reply from host ``dst`` to host ``src`` within ``deadline`` seconds."""
        result = run.run(self.hosts[src], ["ping", "-n", "-q", "-c", "1", "-w", str(deadline), ip_of(dst)],
                         capture_output=True)
        return result.returncode == 0


def _pid_from(path: str) -> int | None:
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (FileNotFoundError, ValueError):
        return None


@pytest.fixture
def switch():
    """A scratch OVS switch with three hosts; controller not started."""
    if shutil.which("ovs-vswitchd") is None:  # pragma: no cover - the image has it
        pytest.fail("ovs-vswitchd not found: apt-get install openvswitch-switch")
    rundir = tempfile.mkdtemp(prefix="ctl")  # short: OVS's unix socket paths must fit 108 bytes
    env = {**os.environ, "OVS_RUNDIR": rundir, "OVS_DBDIR": rundir, "OVS_LOGDIR": rundir,
           "OVS_SYSCONFDIR": rundir}
    sw = Switch(ns=f"ctl{PID}sw", hosts=[f"ctl{PID}{h}" for h in HOSTS], rundir=rundir, env=env)
    made: list[str] = []
    try:
        for name in (sw.ns, *sw.hosts):
            subprocess.run(["ip", "netns", "add", name], check=True)
            made.append(name)
        subprocess.run(["ip", "-n", sw.ns, "link", "set", "lo", "up"], check=True)
        for index, host in enumerate(sw.hosts):
            port = f"p{index + 1}"
            for argv in (["ip", "-n", host, "link", "add", "eth0", "address", mac_of(index), "type", "veth",
                          "peer", "name", port, "netns", sw.ns],
                         ["ip", "-n", host, "addr", "add", f"{ip_of(index)}/24", "dev", "eth0"],
                         ["ip", "-n", host, "link", "set", "eth0", "up"],
                         ["ip", "-n", sw.ns, "link", "set", port, "up"]):
                subprocess.run(argv, check=True)
            # TCP across the userspace datapath needs TX checksum offload off on both ends.
            run.run(host, ["ethtool", "-K", "eth0", "tx", "off"], capture_output=True, check=True)
            run.run(sw.ns, ["ethtool", "-K", port, "tx", "off"], capture_output=True, check=True)
        subprocess.run(["ovsdb-tool", "create", f"{rundir}/conf.db",
                        "/usr/share/openvswitch/vswitch.ovsschema"], check=True, env=env)
        sw.ovs("ovsdb-server", f"{rundir}/conf.db", f"--remote=punix:{rundir}/db.sock",
               f"--pidfile={rundir}/ovsdb-server.pid", f"--unixctl={rundir}/ovsdb-server.ctl",
               f"--log-file={rundir}/ovsdb-server.log", "--detach")
        sw.vsctl("--no-wait", "init")
        sw.ovs("ovs-vswitchd", f"unix:{rundir}/db.sock", f"--pidfile={rundir}/ovs-vswitchd.pid",
               f"--unixctl={rundir}/ovs-vswitchd.ctl", f"--log-file={rundir}/ovs-vswitchd.log", "--detach")
        sw.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev",
                 "protocols=OpenFlow10,OpenFlow13", "fail_mode=secure",
                 "--", "set-controller", "br0", f"tcp:127.0.0.1:{PORT}",
                 "--", "set", "controller", "br0", "connection_mode=out-of-band",
                 *[arg for index in range(len(HOSTS))
                   for arg in ("--", "add-port", "br0", f"p{index + 1}",
                               "--", "set", "interface", f"p{index + 1}", f"ofport_request={index + 1}")])
        yield sw
    finally:
        sw.stop_controller()
        for daemon in ("ovs-vswitchd", "ovsdb-server"):
            pid = _pid_from(f"{rundir}/{daemon}.pid")
            if pid is not None:
                subprocess.run(["ovs-appctl", "-t", f"{rundir}/{daemon}.ctl", "exit"], capture_output=True,
                               env=env, timeout=10)
                for _ in range(100):
                    if exited(pid):
                        break
                    time.sleep(0.05)
                else:
                    os.kill(pid, signal.SIGKILL)
        for name in reversed(made):
            subprocess.run(["ip", "netns", "del", name], check=False)
        shutil.rmtree(rundir, ignore_errors=True)


def test_hosts_talk_only_through_the_flows_the_controller_installed(switch):
    switch.start_controller()
    pairs = [(a, b) for a in range(len(HOSTS)) for b in range(len(HOSTS)) if a != b]
    assert all(switch.ping(a, b) for a, b in pairs), switch.log()

    flows = switch.dump_flows()
    assert "NORMAL" not in flows
    assert "priority=0 actions=CONTROLLER:65535" in flows
    for a, b in pairs:  # an exact (in_port, eth_dst) flow for every pair that talked
        assert f"in_port={a + 1},dl_dst={mac_of(b)} actions=output:{b + 1}" in flows, flows
    log = switch.log()
    for index in range(len(HOSTS)):
        assert f"learned {mac_of(index)} on port {index + 1}" in log
    assert f"flow installed: in_port=1,dl_dst={mac_of(1)} -> output:2" in log

    # A plain OpenFlow 1.0 dump works too (the bridge speaks 1.0 and 1.3).
    assert f"dl_dst={mac_of(1)}" in switch.ovs("ovs-ofctl", "dump-flows", "br0")

    # Without the controller and its flows, nothing gets through: no NORMAL fallback.
    switch.stop_controller()
    switch.ovs("ovs-ofctl", "-O", "OpenFlow13", "del-flows", "br0", f"cookie={controller.COOKIE:#x}/-1")
    assert not switch.ping(0, 1, deadline=1)


def test_controller_keeps_the_bridge_s_own_flows_and_relearns_after_a_cut(switch):
    # A flow from the lab file (ovs-ofctl's default cookie 0), there before the
    # controller connects. (It must be added after set-controller: OVS flushes
    # a bridge's flows when it gets its first controller.)
    switch.ovs("ovs-ofctl", "add-flow", "br0", "priority=100,ip,nw_dst=10.77.0.3,actions=drop")
    switch.start_controller()
    assert "nw_dst=10.77.0.3 actions=drop" in switch.dump_flows()
    assert switch.ping(0, 1)
    assert not switch.ping(0, 2, deadline=1)  # the file's drop flow wins over the learning switch

    # Cutting h2's cable: the controller forgets h2 and deletes its flows towards port 2.
    subprocess.run(["ip", "-n", switch.hosts[1], "link", "set", "eth0", "down"], check=True)
    deadline = time.monotonic() + 5
    while f"dl_dst={mac_of(1)}" in switch.dump_flows() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f"dl_dst={mac_of(1)}" not in switch.dump_flows()
    assert "port 2 is down or gone: forgot 02:00:00:77:00:02" in switch.log()

    subprocess.run(["ip", "-n", switch.hosts[1], "link", "set", "eth0", "up"], check=True)
    assert switch.ping(0, 1)  # re-learned
    assert f"in_port=1,dl_dst={mac_of(1)} actions=output:2" in switch.dump_flows()

    # h2's MAC moves to port 3 (h2 takes another, h3 takes h2's): its flows to port 2 go.
    subprocess.run(["ip", "-n", switch.hosts[1], "link", "set", "eth0", "address", "02:00:00:77:00:99"],
                   check=True)
    subprocess.run(["ip", "-n", switch.hosts[2], "link", "set", "eth0", "address", mac_of(1)], check=True)
    # h3 speaks from h2's old MAC (the file's drop flow eats the reply: no matter)
    switch.ping(2, 0, deadline=1)
    assert f"{mac_of(1)} moved from port 2 to 3: its flows deleted" in switch.log()
    assert f"dl_dst={mac_of(1)} actions=output:2" not in switch.dump_flows()
