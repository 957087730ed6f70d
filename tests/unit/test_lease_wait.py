"""How ``up``'s wait for leases (executors/leases.py) judges what the supervisor reports,
without a kernel: a dnsmasq that exited fails it at once, in dnsmasq's own words; a client
that gets nothing fails it naming the client and its server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vnetlab.compile.dnsmasq import SlaacClient
from vnetlab.executors import leases
from vnetlab.host import processes
from vnetlab.plan import RunDhcpClient, RunDhcpServer

SERVER = RunDhcpServer("t-srv", node="srv", command=("dnsmasq", "--conf-file=/x.conf"), config="/x.conf",
                       leases="/x.leases", ready="udp/67")
CLIENT = RunDhcpClient("t-c1", node="c1", command=("busybox", "udhcpc", "-i", "eth0"), ifname="eth0",
                       server="srv:eth0")


def _services(rundir, *entries):
    (rundir / "services.json").write_text(json.dumps({"generation": 1, "services": list(entries)}))


def test_a_dnsmasq_that_exited_fails_up_at_once_with_its_output(tmp_path):
    (tmp_path / "service-srv-1.log").write_text(
        "--- 2026-01-01 00:00:00 starting in t-srv: dnsmasq\n"
        "dnsmasq: failed to bind DHCP server socket: Address already in use\n")
    _services(tmp_path, {"netns": "t-srv", "node": "srv", "command": list(SERVER.command), "state": "restarting",
                         "exit_status": 2, "log": "service-srv-1.log"})
    with pytest.raises(leases.AddressTimeout) as caught:
        leases.wait_for_addresses([SERVER, CLIENT], [], str(tmp_path), timeout=5)
    message = str(caught.value)
    assert message.startswith("dnsmasq of node srv exited with status 2 (config /x.conf)")
    assert "failed to bind DHCP server socket: Address already in use" in message


@pytest.fixture
def udhcpc():
    """A process standing in for a running udhcpc (it shrugs off the SIGUSR1 nudges)."""
    proc = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGUSR1, "
                             "signal.SIG_IGN); print('ready', flush=True); time.sleep(30)"], stdout=subprocess.PIPE)
    assert proc.stdout.readline() == b"ready\n"
    yield processes.ProcessRecord.of(proc.pid)
    proc.kill()
    proc.wait()


def test_a_client_without_a_lease_is_named_with_its_server(tmp_path, udhcpc):
    (tmp_path / "service-c1-1.log").write_text("--- 2026-01-01 00:00:00 starting in t-c1: udhcpc\n"
                                               "udhcpc: broadcasting discover\n")
    _services(tmp_path, {"netns": "t-c1", "node": "c1", "command": list(CLIENT.command), "state": "running",
                         **udhcpc.to_dict(), "log": "service-c1-1.log"})
    slaac = SlaacClient("t-c1", "c1", "eth1", "fd00:3::/64", "")
    with pytest.raises(leases.AddressTimeout) as caught:
        leases.wait_for_addresses([CLIENT], [slaac], str(tmp_path), timeout=0.05)
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("c1:eth0 got no DHCP lease within 0.05 s (its server: srv:eth0); udhcpc's last output")
    assert "    udhcpc: broadcasting discover" in lines
    assert "c1:eth1 formed no SLAAC address in fd00:3::/64 within 0.05 s — no interface of its L2 segment " \
           "advertises a prefix (ra:)" in lines


def test_a_client_whose_udhcpc_exited_fails_at_once(tmp_path):
    _services(tmp_path, {"netns": "t-c1", "node": "c1", "command": list(CLIENT.command), "state": "failed",
                         "exit_status": 1})
    with pytest.raises(leases.AddressTimeout) as caught:
        leases.wait_for_addresses([CLIENT], [], str(tmp_path), timeout=5)
    assert str(caught.value).startswith("c1:eth0 got no DHCP lease: its udhcpc exited (its server: srv:eth0)")


def test_nothing_to_wait_for_returns_at_once(tmp_path):
    assert leases.wait_for_addresses([], [], str(tmp_path)) == 0.0
