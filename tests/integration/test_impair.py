"""Link impairments and cable cuts on the real kernel, measured coarsely with real traffic.

One lab for the module: a—b delayed both ways (the userspace path here: this
kernel has no netem), c—d rate-limited (tbf), e—f plain (changed while the
lab runs with ``vnetlab impair``, one key at a time), and an OVS
active-backup bond s1 ⇄ tor with a host h behind the switch (``vnetlab link``).
Benchmarks of the same (accuracy, throughput) are in benchmarks/impair.py;
these only check that each key has its effect.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import VNETLAB, cli, lab_namespaces
from vnetlab.compile import compile_lab
from vnetlab.executors import capabilities
from vnetlab.host import netns, state
from vnetlab.errors import BadInput
from vnetlab.lab import Lab, NoSuchNode, NotALinkEnd

pytestmark = pytest.mark.integration

LAB = "impt"
LAB_FILE = f"""
lab: {LAB}
nodes:
  a: {{interfaces: {{eth0: {{address: 10.71.1.1/24}}}}}}
  b: {{interfaces: {{eth0: {{address: 10.71.1.2/24}}}}}}
  c: {{interfaces: {{eth0: {{address: 10.71.2.1/24}}}}}}
  d: {{interfaces: {{eth0: {{address: 10.71.2.2/24}}}}}}
  e: {{interfaces: {{eth0: {{address: 10.71.3.1/24}}}}}}
  f: {{interfaces: {{eth0: {{address: 10.71.3.2/24}}}}}}
  s1:
    interfaces:
      eno1: {{}}
      eno2: {{}}
      bond0: {{type: bond, members: [eno1, eno2], mode: active-backup}}
      br0: {{type: bridge, ports: [bond0], address: 10.71.4.1/24}}
  tor: {{kind: switch}}
  h: {{interfaces: {{eth0: {{address: 10.71.4.2/24}}}}}}
  pve:
    interfaces:
      tap100i0: {{type: tap}}
      vmbr0: {{type: bridge, ports: [tap100i0], address: 10.71.5.1/24}}
  vm: {{kind: vm, interfaces: {{eth0: {{address: 10.71.5.100/24}}}}}}
links:
  - {{ends: [a:eth0, b:eth0], delay: 20ms}}
  - {{ends: [c:eth0, d:eth0], rate: 8mbit}}
  - [e:eth0, f:eth0]
  - [s1:eno1, tor:p1]
  - [s1:eno2, tor:p2]
  - [h:eth0, tor:p3]
  - [pve:tap100i0, vm:eth0]
"""

# A TCP sink: prints the bytes it got and the rate after the first 128 KiB (a
# token bucket lets its bucket through at once), then exits.
SINK = r"""
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); print("ready", flush=True)
c, _ = s.accept(); got = 0; mark = None
while True:
    data = c.recv(65536)
    if not data:
        break
    got += len(data)
    if mark is None and got >= 131072:
        mark = (time.monotonic(), got)
print(got, (got - mark[1]) * 8 / (time.monotonic() - mark[0]), flush=True)
"""
SEND = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2]))); c.sendall(b"x" * int(sys.argv[3])); c.close()
"""
ECHO = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); print("ready", flush=True)
c, _ = s.accept()
while True:
    data = c.recv(65536)
    if not data:
        break
    c.sendall(data)
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    path = tmp_path_factory.mktemp("impair") / "impt.yaml"
    path.write_text(LAB_FILE)
    cli("up", str(path), check=True)
    record = None
    try:
        from vnetlab.agents import supervisor

        record = supervisor.read_pidfile(state.lab_dir(LAB))
        yield Lab.load(str(path))
    finally:
        down = cli("down", LAB)
        assert down.returncode == 0, down.stderr
    assert lab_namespaces(LAB) == [] and not os.path.exists(state.lab_dir(LAB))
    from vnetlab.host import processes

    assert record is not None and not processes.is_running(record), "the supervisor carrying the ends outlived down"


def ping(lab: Lab, node: str, address: str, count: int = 5, interval: float = 0.05, wait: float = 1) -> dict:
    """received, rtts (ms) and whether duplicates came back."""
    out = lab.node(node).run(["ping", "-n", "-c", str(count), "-i", str(interval), "-W", str(wait), address],
                             capture_output=True, text=True).stdout
    rtts = [float(x) for x in re.findall(r"time=([\d.]+) ms", out)]
    received = re.search(r"(\d+) received", out)
    return {"received": int(received.group(1)) if received else 0, "rtts": rtts, "dup": "DUP!" in out, "out": out}


def transfer_rate(lab: Lab, src: str, dst: str, address: str, size: int = 640_000) -> float:
    """bit/s of a TCP transfer of ``size`` bytes from ``src`` to ``dst`` (after its first 128 KiB)."""
    sink = lab.node(dst).popen([sys.executable, "-c", SINK, address, "5001"], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout.readline().strip() == "ready"
        lab.node(src).run([sys.executable, "-c", SEND, address, "5001", str(size)], check=True, timeout=30)
        got, rate = sink.stdout.readline().split()
        assert int(got) == size
        return float(rate)
    finally:
        sink.kill()
        sink.wait()


def impair(*args: str) -> subprocess.CompletedProcess:
    return cli("impair", LAB, *args, check=True)


def _index(ns: str, ifname: str) -> int:
    """The interface's index (the same index: the same device, never made again)."""
    with netns.entered(ns):
        return socket.if_nametoindex(ifname)


# -- what the file asks for -----------------------------------------------------
def test_a_delayed_link_answers_after_both_delays(lab):
    # A capture on the impaired interface sees what it sends, as with netem (after the impairment).
    dump = lab.node("a").popen(["tcpdump", "-n", "-l", "-c", "2", "-i", "eth0", "icmp[icmptype] == icmp-echo"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dump.stderr.readline()  # "listening on eth0 …"
    result = ping(lab, "a", "10.71.1.2")
    captured, _ = dump.communicate(timeout=5)
    assert captured.count("ICMP echo request") == 2, captured
    assert result["received"] == 5
    assert min(result["rtts"]) >= 40.0, result["out"]  # 20 ms each way
    assert sorted(result["rtts"])[2] < 60.0, result["out"]  # (the first waits for ARP, delayed as well)
    ends = {e["end"]: e for e in json.loads(impair("--json").stdout)["ends"]}
    mechanism = "netem" if capabilities.impairment_features().netem else "userspace"
    assert ends["a:eth0"]["mechanism"] == ends["b:eth0"]["mechanism"] == mechanism
    assert ends["a:eth0"]["origin"] == "file" and ends["a:eth0"]["text"] == "delay 20ms"


def test_a_rate_limited_link_carries_no_more_than_its_rate(lab):
    rate = transfer_rate(lab, "c", "d", "10.71.2.2")
    print(f"tbf 8mbit: {rate / 1e6:.2f} Mbit/s")
    assert 4e6 < rate < 8.4e6  # under the limit, and not far under it
    status = json.loads(cli("status", LAB, "--json", check=True).stdout)
    ends = {link["end"]: link for link in status["links"]}
    expected = "netem" if capabilities.impairment_features().netem else "tbf"
    assert ends["c:eth0"]["mechanism"] == expected and ends["c:eth0"]["kernel"].startswith(expected)


def test_a_reboot_keeps_the_links_impairment_at_both_ends(lab):
    lab.reboot("b")  # b's end is made again, and a's (the veth's other end) with it
    assert min(ping(lab, "a", "10.71.1.2", count=3)["rtts"]) >= 40.0
    assert cli("status", LAB, "--check-drift").returncode == 0


# -- one key at a time, changed while the lab runs -------------------------------
def test_loss_of_100_percent_passes_nothing(lab):
    impair("e:eth0", "--loss", "100%")  # the command line once; the API below (the same path, in-process)
    try:
        assert ping(lab, "e", "10.71.3.2", count=4, wait=0.5)["received"] == 0
    finally:
        lab.reset_impairment("e:eth0")
    assert ping(lab, "e", "10.71.3.2", count=2)["received"] == 2


def test_duplicate_jitter_reorder_corrupt_and_limit_each_show(lab):
    try:
        lab.impair("e:eth0", duplicate="100%")
        assert ping(lab, "e", "10.71.3.2", count=2)["dup"]

        lab.impair("e:eth0", delay="20ms", jitter="10ms")
        rtts = ping(lab, "e", "10.71.3.2", count=12, interval=0.03)["rtts"]
        assert len(rtts) == 12 and min(rtts) >= 9.0 and max(rtts) - min(rtts) > 4.0, rtts  # 20 ± 10 ms one way

        lab.impair("e:eth0", delay="40ms", reorder="50%")
        rtts = ping(lab, "e", "10.71.3.2", count=16, interval=0.02)["rtts"]
        assert any(rtt < 20 for rtt in rtts) and any(rtt >= 40 for rtt in rtts), rtts  # some jump the queue

        lab.impair("e:eth0", corrupt="100%")
        assert ping(lab, "e", "10.71.3.2", count=10, interval=0.02, wait=0.5)["received"] <= 5  # one bit, anywhere

        lab.impair("e:eth0", delay="100ms", limit=3)
        burst = ping(lab, "e", "10.71.3.2", count=20, interval=0.01, wait=1)  # ~10 in flight, 3 may wait
        assert 1 <= burst["received"] <= 12, burst["out"]
    finally:
        lab.reset_impairment("e:eth0")


def test_a_rate_alone_in_userspace_with_a_delay(lab):
    assert lab.impair("e:eth0", rate="8mbit", delay="1ms").mechanism == (
        "netem" if capabilities.impairment_features().netem else "userspace")
    try:
        rate = transfer_rate(lab, "e", "f", "10.71.3.2")
        print(f"userspace 8mbit: {rate / 1e6:.2f} Mbit/s")
        assert 4e6 < rate < 8.4e6
    finally:
        lab.reset_impairment("e:eth0")


def test_impair_changes_a_running_link_without_making_it_again(lab):
    before = (_index(f"{LAB}-e", "eth0"), _index(f"{LAB}-f", "eth0"))
    echo = lab.node("f").popen([sys.executable, "-c", ECHO, "10.71.3.2", "5002"], stdout=subprocess.PIPE, text=True)
    try:
        assert echo.stdout.readline().strip() == "ready"
        with netns.entered(f"{LAB}-e"):
            conn = socket.create_connection(("10.71.3.2", 5002), timeout=5)
        try:
            conn.sendall(b"one")
            assert conn.recv(16) == b"one"
            shown = impair("e:eth0", "--delay", "60ms").stdout
            assert "delay 60ms" in shown and "set while the lab runs" in shown
            started = time.monotonic()
            conn.sendall(b"two")
            assert conn.recv(16) == b"two"  # the same connection, now 60 ms slower
            assert time.monotonic() - started >= 0.055
            listed = {e.end: e for e in lab.impairments()}
            assert listed["e:eth0"].origin == "runtime" and listed["e:eth0"].impairment.text() == "delay 60ms"
            assert cli("status", LAB, "--check-drift").returncode == 0  # a change by vnetlab is not drift
            lab.clear_impairment("e:eth0")
            started = time.monotonic()
            conn.sendall(b"three")
            assert conn.recv(16) == b"three" and time.monotonic() - started < 0.03
        finally:
            conn.close()
    finally:
        echo.kill()
        echo.wait()
        lab.reset_impairment("e:eth0")
    assert (_index(f"{LAB}-e", "eth0"), _index(f"{LAB}-f", "eth0")) == before


def test_tc_by_hand_is_drift_and_up_puts_the_file_back(lab, tmp_path_factory):
    lab.node("c").run(["tc", "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", "1mbit", "burst", "32k",
                       "latency", "50ms"], check=True)
    egress = "clsact" if not capabilities.impairment_features().netem else "root"
    lab.node("a").run(["tc", "qdisc", "del", "dev", "eth0", egress], check=True)
    lab.node("e").run(["tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "2mbit", "burst", "32k",
                       "latency", "50ms"], check=True)
    lab.node("tor").run(["ip", "link", "set", "p3", "down"], check=True)  # a cable cut by hand
    status = cli("status", LAB, "--check-drift")
    assert status.returncode == 1
    assert "c eth0: tbf rate 1mbit" in status.stdout and "changed by hand?" in status.stdout
    assert "a eth0: impairment delay 20ms" in status.stdout and "missing" in status.stdout
    assert "e eth0: extra tbf rate 2mbit" in status.stdout
    assert "tor p3: down (expected up)" in status.stdout
    assert ping(lab, "a", "10.71.1.2", count=2)["rtts"][-1] < 40  # one direction only now
    cli("up", lab.source, check=True)
    assert cli("status", LAB, "--check-drift").returncode == 0
    assert min(ping(lab, "a", "10.71.1.2", count=3)["rtts"]) >= 40.0
    assert lab.node("e").run(["tc", "qdisc", "show", "dev", "eth0"], capture_output=True,
                             text=True).stdout.split()[1] == "noqueue"
    assert ping(lab, "h", "10.71.4.1", count=2)["received"] == 2


# -- cables -----------------------------------------------------------------------
def bond_active(lab: Lab) -> str:
    shown = lab.node("s1").run(["ovs-appctl", "bond/show", "bond0"], capture_output=True, text=True,
                               check=True).stdout
    return re.search(r"active member mac: \S+\((\w+)\)", shown).group(1)


def test_link_down_makes_the_bond_fail_over_and_up_restores_it(lab):
    active = bond_active(lab)
    other = {"eno1": "eno2", "eno2": "eno1"}[active]
    pinger = lab.node("h").popen(["ping", "-n", "-i", "0.03", "-c", "40", "-W", "1", "10.71.4.1"],
                                 stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    shown = cli("link", LAB, f"s1:{active}", "down", check=True).stdout
    assert "cut" in shown
    out, _ = pinger.communicate(timeout=20)
    seqs = sorted(int(m) for m in re.findall(r"icmp_seq=(\d+)", out))
    assert seqs and seqs[-1] >= 36, f"traffic did not survive the cut:\n{out}"
    assert bond_active(lab) == other
    for ns, ifname in ((f"{LAB}-s1", active), (f"{LAB}-tor", {"eno1": "p1", "eno2": "p2"}[active])):
        shown = subprocess.run(["ip", "-n", ns, "link", "show", ifname], capture_output=True, text=True).stdout
        assert "state DOWN" in shown and ",UP" not in shown, shown  # both ends down: neither has carrier
    status = cli("status", LAB, "--check-drift")
    assert status.returncode == 0 and "cut cables" in status.stdout  # a cut by vnetlab is not drift
    assert cli("up", lab.source, check=True)  # up keeps the cable cut
    assert "state DOWN" in subprocess.run(["ip", "-n", f"{LAB}-s1", "link", "show", active],
                                          capture_output=True, text=True).stdout
    assert not lab.replug(f"s1:{active}").cut  # (vnetlab link … up, in-process)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        shown = lab.node("s1").run(["ovs-appctl", "bond/show", "bond0"], capture_output=True, text=True).stdout
        if f"member {active}: enabled" in shown:
            break
        time.sleep(0.1)
    assert f"member {active}: enabled" in shown and f"member {other}: enabled" in shown
    assert cli("status", LAB, "--check-drift").returncode == 0


def test_a_vm_links_taps_are_impaired_and_cut_likewise(lab):
    assert lab.impair("vm:eth0", delay="30ms").mechanism in ("netem", "userspace")
    try:
        assert min(ping(lab, "vm", "10.71.5.1", count=3)["rtts"]) >= 30.0
        assert lab.cut("pve:tap100i0").cut
        assert ping(lab, "vm", "10.71.5.1", count=2, wait=0.5)["received"] == 0
        for ns, ifname in ((f"{LAB}-pve", "tap100i0"), (f"{LAB}-vm", "eth0")):
            shown = subprocess.run(["ip", "-n", ns, "link", "show", ifname], capture_output=True, text=True).stdout
            assert "state DOWN" in shown and ",UP" not in shown, shown
        assert not lab.replug("vm:eth0").cut
        assert ping(lab, "vm", "10.71.5.1", count=2)["received"] == 2
    finally:
        lab.reset_impairment("vm:eth0")
    assert max(ping(lab, "vm", "10.71.5.1", count=2)["rtts"]) < 30.0


def test_bad_ends_exit_2(lab):
    result = cli("impair", LAB, "a:eth7", "--delay", "1ms")
    assert result.returncode == 2 and "a:eth7 is not the end of a link of lab impt" in result.stderr, result.stderr
    with pytest.raises(NoSuchNode, match="has no node 'zz'"):
        lab.impair("zz:eth0", delay="1ms")
    with pytest.raises(NotALinkEnd, match="s1:bond0 is not the end of a link"):
        lab.cut("s1:bond0")
    with pytest.raises(BadInput, match="jitter needs a delay"):
        lab.impair("e:eth0", jitter="1ms")


# -- nothing left behind ------------------------------------------------------------
def test_sigkill_of_up_after_the_tap_was_made_leaves_nothing_after_down(tmp_path):
    path = tmp_path / "killimp.yaml"
    path.write_text("lab: killimp\n" + LAB_FILE.split("\n", 2)[2].split("  c:")[0]
                    + "links:\n  - {ends: [a:eth0, b:eth0], delay: 20ms, loss: 1%}\n")
    spec = Lab.load(str(path)).spec
    ops = compile_lab(spec, capabilities.impairment_features()).ops
    first = next(i for i, op in enumerate(ops, 1) if op.name == "set_impairment")
    for step, what in ((first + 1, "after one end's impairment"),):
        env = {**os.environ, "VNETLAB_TEST_SIGKILL_AT_STEP": str(step)}
        killed = subprocess.run([*VNETLAB, "up", str(path), "-q"], env=env, capture_output=True)
        assert killed.returncode == -signal.SIGKILL, what
        if ops[first - 1].mechanism == "userspace":
            shown = subprocess.run(["ip", "-n", "killimp-a", "link", "show", "eth0-imp"], capture_output=True)
            assert shown.returncode == 0, f"{what}: the TAP was made before the kill"
        down = cli("down", "killimp")
        assert down.returncode == 0, down.stderr
        assert lab_namespaces("killimp") == [] and not os.path.exists(state.lab_dir("killimp")), what
