"""DHCP, DNS and router advertisements in a lab (issue 13), on the real kernel:
dnsmasq on LXC's lxcbr0, udhcpc clients with vnetlab's hook, SLAAC.

One lab serves most tests (built once for the module); two small ones check
that two labs on one subnet keep to themselves and that a SIGKILLed ``up``
whose client waits for a lease leaves nothing after ``down``. The host guard
(conftest) checks that the host's /etc/resolv.conf and /etc/hosts keep their
bytes through every test.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import time

import pytest

from conftest import VNETLAB, cli, lab_namespaces
from vnetlab.agents import services
from vnetlab.agents.dhcp_hook import read_lease
from vnetlab.host import processes, state
from vnetlab.lab import Lab
from vnetlab.observe.drift import drift

LAB = "dhcpint"
LXC = """
lab: LABNAME
nodes:
  host:
    kind: router
    interfaces:
      lxcbr0:
        type: bridge
        ports: [v1, v2, v3]
        addresses: [10.0.3.1/24, fd00:3::1/64]
        dhcp: {range: 10.0.3.100-10.0.3.200, lease: 2m,
               hosts: [{name: web, mac: "02:00:00:00:00:10", address: 10.0.3.10}]}
        ra: {prefix: "fd00:3::/64"}
        dns: {records: {db: 10.0.3.20}}
      v1: {}
      v2: {}
      v3: {}
  c1:
    interfaces:
      eth0: {addresses: [dhcp, slaac]}
  web:
    interfaces:
      eth0: {address: dhcp, mac: "02:00:00:00:00:10"}
  files:
    interfaces:
      eth0: {address: 10.0.3.5/24}
links:
  - [host:v1, c1:eth0]
  - [host:v2, web:eth0]
  - [host:v3, files:eth0]
"""


def lab_text(lab: str) -> str:
    return LXC.replace("LABNAME", lab)


def write_lab(folder, lab: str, text: str | None = None) -> str:
    path = folder / f"{lab}.yaml"
    path.write_text(text if text is not None else lab_text(lab))
    return str(path)


@pytest.fixture(scope="module")
def lxc(tmp_path_factory):
    lab = Lab.load(write_lab(tmp_path_factory.mktemp("dhcp"), LAB))
    started = time.monotonic()
    lab.up()
    lab.up_seconds = time.monotonic() - started
    try:
        yield lab
    finally:
        lab.down()


def entry_of(lab: str, node: str, program: str) -> dict:
    """The supervisor's services.json entry of ``node``'s ``program`` (dnsmasq, busybox)."""
    found = [e for e in services.read_state(state.lab_dir(lab)).get("services", [])
             if e.get("node") == node and e.get("command", [""])[0] == program]
    assert len(found) == 1, found
    return found[0]


def run(lab: Lab, node: str, *argv: str) -> str:
    return lab.node(node).run(list(argv), capture_output=True, text=True, check=True).stdout


def test_clients_hold_leases_when_up_returns_and_the_reservation_is_honoured(lxc):
    rundir = state.lab_dir(LAB)
    c1, web = read_lease(rundir, "c1", "eth0"), read_lease(rundir, "web", "eth0")
    assert web["address"] == "10.0.3.10/24"  # dhcp-host by its MAC
    address = ipaddress.ip_interface(c1["address"])
    assert ipaddress.ip_address("10.0.3.100") <= address.ip <= ipaddress.ip_address("10.0.3.200")
    shown = run(lxc, "c1", "ip", "-4", "-o", "address", "show", "dev", "eth0")
    assert str(address) in shown and "dynamic" in shown  # the kernel holds it with the lease's lifetime
    assert "default via 10.0.3.1 dev eth0 proto dhcp" in run(lxc, "c1", "ip", "route")
    with open(os.path.join(rundir, "dnsmasq-host.leases")) as handle:
        leases = handle.read()
    assert "02:00:00:00:00:10 10.0.3.10 web" in leases and f"{address.ip} c1" in leases
    assert lxc.up_seconds < 5, f"up took {lxc.up_seconds:.2f} s"


def test_names_resolve_through_the_labs_dns_inside_nodes(lxc):
    assert run(lxc, "c1", "getent", "ahostsv4", "web").split()[0] == "10.0.3.10"  # a leased client's name
    assert run(lxc, "c1", "getent", "ahostsv4", "db").split()[0] == "10.0.3.20"   # a record of the file
    assert run(lxc, "c1", "getent", "ahostsv4", f"files.{LAB}.lab").split()[0] == "10.0.3.5"  # a static node
    assert run(lxc, "files", "getent", "ahostsv4", "c1").split()[0] == \
        read_lease(state.lab_dir(LAB), "c1", "eth0")["address"].split("/")[0]
    resolv = run(lxc, "c1", "cat", "/etc/resolv.conf")
    assert "nameserver 10.0.3.1" in resolv and f"search {LAB}.lab" in resolv  # the node's own file, from its lease
    assert "nameserver 10.0.3.1" in run(lxc, "files", "cat", "/etc/resolv.conf")
    assert "127.0.1.1\tc1" in run(lxc, "c1", "cat", "/etc/hosts")


def test_slaac_forms_an_address_in_the_advertised_prefix(lxc):
    shown = run(lxc, "c1", "ip", "-6", "-o", "address", "show", "dev", "eth0", "scope", "global")
    addresses = [ipaddress.ip_interface(line.split()[3]) for line in shown.splitlines()]
    assert any(a.ip in ipaddress.ip_network("fd00:3::/64") for a in addresses), shown
    assert "tentative" not in shown
    run(lxc, "c1", "ping", "-6", "-c1", "-W1", "fd00:3::1")


def test_dnsmasq_reads_no_host_file(lxc):
    entry = entry_of(LAB, "host", "dnsmasq")
    assert {"--no-hosts", "--no-resolv", "--keep-in-foreground"} <= set(entry["command"])
    with open(os.path.join(state.lab_dir(LAB), entry["log"])) as handle:
        log = handle.read()
    assert "started, version" in log
    assert "/etc/hosts" not in log and "/etc/resolv.conf" not in log and "/etc/dnsmasq" not in log
    open_files = {os.readlink(f"/proc/{entry['pid']}/fd/{fd}") for fd in os.listdir(f"/proc/{entry['pid']}/fd")}
    assert not [path for path in open_files if path.startswith("/etc/")], open_files


def test_a_renewal_extends_the_lease(lxc):
    rundir = state.lab_dir(LAB)
    before = read_lease(rundir, "c1", "eth0")
    client = processes.ProcessRecord.from_dict(entry_of(LAB, "c1", "busybox"))
    assert processes.send_signal(client, signal.SIGUSR1)  # what udhcpc does at half the lease (T1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        now = read_lease(rundir, "c1", "eth0")
        if now is not None and now["time"] > before["time"]:
            break
        time.sleep(0.02)
    assert now["event"] == "renew" and now["address"] == before["address"], now
    assert now["client_pid"] == client.pid


def test_a_lost_lease_is_drift_and_up_gets_it_back(lxc):
    address = read_lease(state.lab_dir(LAB), "c1", "eth0")["address"]
    run(lxc, "c1", "ip", "address", "del", address, "dev", "eth0")
    changes = drift(LAB).drift
    assert [(c.kind, c.obj) for c in changes] == [("lease", "eth0")], [c.describe(LAB) for c in changes]
    lxc.up()
    assert address.split("/")[0] in run(lxc, "c1", "ip", "-4", "address", "show", "dev", "eth0")
    assert drift(LAB).drift == []


def test_a_killed_dnsmasq_is_restarted_and_keeps_its_leases(lxc):
    entry = entry_of(LAB, "host", "dnsmasq")
    os.kill(entry["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the supervisor restarts it after half a second
        fresh = entry_of(LAB, "host", "dnsmasq")
        if fresh.get("state") == "running" and fresh.get("pid") != entry["pid"]:
            break
        time.sleep(0.05)
    assert fresh["pid"] != entry["pid"]
    assert run(lxc, "c1", "getent", "ahostsv4", "web").split()[0] == "10.0.3.10"  # it re-read its lease file


def test_rebooting_the_server_gives_its_clients_their_leases_again(lxc):
    before = read_lease(state.lab_dir(LAB), "web", "eth0")
    report = lxc.reboot("host")  # its veths, and so the clients' eth0, are made anew
    assert report.ok
    after = read_lease(state.lab_dir(LAB), "web", "eth0")
    assert after["address"] == before["address"] and after["client_pid"] != before["client_pid"]
    assert drift(LAB).drift == []
    assert run(lxc, "c1", "getent", "ahostsv4", "web").split()[0] == "10.0.3.10"


def test_two_labs_on_one_subnet_keep_to_themselves(lxc, tmp_path):
    other = "dhcpint2"
    text = lab_text(other)
    lab = Lab.load(write_lab(tmp_path, other, text))
    lab.up()
    try:
        mine = read_lease(state.lab_dir(other), "c1", "eth0")
        assert ipaddress.ip_interface(mine["address"]) in ipaddress.ip_network("10.0.3.0/24")
        with open(os.path.join(state.lab_dir(other), "dnsmasq-host.leases")) as handle:
            theirs = handle.read()
        with open(os.path.join(state.lab_dir(LAB), "dnsmasq-host.leases")) as handle:
            ours = handle.read()
        mac = lab.node("c1").run(["cat", "/sys/class/net/eth0/address"], capture_output=True,
                                 text=True).stdout.strip()
        assert mac in theirs and mac not in ours  # each dnsmasq saw only its own lab's DISCOVERs
        assert read_lease(state.lab_dir(other), "c1", "eth0")["server"] == "10.0.3.1"
    finally:
        lab.down()


def test_a_sigkilled_up_whose_client_waits_leaves_nothing_after_down(tmp_path):
    lab = "dhcpkill"
    path = write_lab(tmp_path, lab, f"""
lab: {lab}
nodes:
  srv:
    interfaces:
      eth0: {{address: 10.0.7.1/24, dhcp: {{range: 10.0.7.100-10.0.7.150}}, dns: {{}}}}
  c1:
    interfaces:
      eth0: {{address: 10.0.7.2/24}}
      eth1: {{address: dhcp}}
  lonely:
    interfaces:
      eth0: {{address: 10.0.8.2/24}}
links:
  - [srv:eth0, c1:eth0]
  - [c1:eth1, lonely:eth0]
""")
    up = subprocess.Popen([*VNETLAB, "up", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        running = []
        while time.monotonic() < deadline and len(running) < 2:
            running = [e for e in services.read_state(state.lab_dir(lab)).get("services", [])
                       if e.get("state") == "running"] if os.path.isdir(state.lab_dir(lab)) else []
            time.sleep(0.02)
        assert len(running) == 2, running  # dnsmasq, and the udhcpc that gets no answer on eth1
        assert up.poll() is None  # still waiting for the lease
        up.kill()
        up.wait()
        pids = [processes.ProcessRecord.from_dict(e) for e in running]
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    result = cli("down", lab)
    assert result.returncode == 0, result.stderr
    assert not [p for p in pids if processes.is_running(p)]
    assert lab_namespaces(lab) == [] and not os.path.exists(state.lab_dir(lab))


def test_up_fails_naming_the_client_without_a_server(tmp_path):
    lab = "dhcpnone"
    path = write_lab(tmp_path, lab, f"""
lab: {lab}
nodes:
  a:
    interfaces:
      eth0: {{address: 10.0.9.1/24}}
  b:
    interfaces:
      eth0: {{address: dhcp}}
links:
  - [a:eth0, b:eth0]
""")
    from vnetlab.executors import leases

    saved = leases.ADDRESS_TIMEOUT
    try:
        leases.ADDRESS_TIMEOUT = 1.5
        with pytest.raises(leases.AddressTimeout) as caught:
            Lab.load(path).up()
    finally:
        leases.ADDRESS_TIMEOUT = saved
    message = str(caught.value)
    assert "b:eth0 got no DHCP lease" in message and "no interface of its L2 segment serves DHCP" in message
    assert "udhcpc: started" in message or "udhcpc" in message
    assert lab_namespaces(lab) == [] and not os.path.exists(state.lab_dir(lab))  # a failed first up leaves nothing

