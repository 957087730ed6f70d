"""capture, reach, scan and sockets on real labs (issue 5)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import textwrap
import time

import yaml

from conftest import VNETLAB, cli, copy_example, exited, lab_namespaces
from vnetlab.host import netns, state
from vnetlab.agents import supervisor
from vnetlab.probe.capture import read_pcapng


def _start_capture(*args: str) -> subprocess.Popen:
    """Starts `vnetlab capture ...` and returns once every tcpdump listens."""
    proc = subprocess.Popen([*VNETLAB, "capture", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    assert line.startswith("capturing on"), line + proc.stderr.read()
    return proc


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _wait_gone(pid: int, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not exited(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert exited(pid), f"process {pid} outlived the killed capture"


def test_capture_of_every_interface_shows_one_connection_before_and_after_snat(tmp_path):
    path = copy_example(tmp_path, "capture.yaml", lab="obscap")
    pcapng = tmp_path / "nat.pcapng"
    cli("up", path, check=True)
    try:
        proc = _start_capture("obscap", "-w", str(pcapng), "-f", "tcp port 80")
        try:
            cli("check", path, check=True)  # the seen_as check opens the connection
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl-C: the file must still be complete
            out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "packets captured: client:eth0" in out and "kernel dropped 0" in out

        read = subprocess.run(["tcpdump", "-r", str(pcapng), "-n"], capture_output=True, text=True)
        assert read.returncode == 0, read.stderr
        assert "10.0.0.10" in read.stdout and "203.0.113.1." in read.stdout

        fields = subprocess.run(
            ["tshark", "-r", str(pcapng), "-T", "fields", "-e", "frame.interface_name", "-e", "ip.src",
             "-e", "ip.dst", "-e", "tcp.dstport", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.seq_raw"],
            capture_output=True, text=True, check=True).stdout
        syns = [line.split("\t") for line in fields.splitlines() if line.split("\t")[3:6] == ["80", "1", "0"]]
        seen = {iface: (src, dst, seq) for iface, src, dst, _, _, _, seq in syns}
        assert set(seen) == {"client:eth0", "gw:eth0", "gw:eth1", "server:eth0"}
        assert seen["client:eth0"][0] == seen["gw:eth0"][0] == "10.0.0.10"      # before SNAT
        assert seen["gw:eth1"][0] == seen["server:eth0"][0] == "203.0.113.1"    # after SNAT
        assert len({dst for _, dst, _ in seen.values()}) == 1
        assert len({seq for _, _, seq in seen.values()}) == 1  # one and the same connection

        contents = read_pcapng(pcapng.read_bytes())
        names = [name for name, _, _ in contents.interfaces]
        assert names == ["client:eth0", "gw:eth0", "gw:eth1", "server:eth0"]
        stamps = [p.ts_ns for p in contents.packets]
        assert stamps == sorted(stamps)
        assert sorted(contents.stats) == [0, 1, 2, 3]
    finally:
        cli("down", "obscap", check=True)
    assert lab_namespaces("obscap") == []


def test_live_capture_prints_one_line_per_packet_and_stops_after_count(tmp_path):
    path = copy_example(tmp_path, "capture.yaml", lab="obscapl")
    cli("up", path, check=True)
    try:
        proc = _start_capture("obscapl", "client:eth0", "gw", "-f", "icmp", "-c", "2")
        cli("exec", "obscapl", "client", "--", "ping", "-c", "1", "-W", "1", "203.0.113.80")  # the request is what counts
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        lines = out.splitlines()
        assert len(lines) == 2
        assert lines[0].split()[1] == "client:eth0" and "10.0.0.10 > 203.0.113.80: ICMP echo request" in lines[0]
        assert lines[1].split()[1] == "gw:eth0"  # the same request, one hop on, in time order
        assert "2 packets captured: client:eth0 1, gw:eth0 1, gw:eth1 0" in err

        bad = cli("capture", "obscapl", "client", "-f", "tcp port", "-c", "1")
        assert bad.returncode == 2 and "client:eth0" in bad.stderr
        missing = cli("capture", "obscapl", "client:eth9", "-c", "1")
        assert missing.returncode == 2 and "no interface 'eth9'" in missing.stderr

        # a capture killed with SIGKILL leaves no tcpdump behind (they would pin the namespaces)
        proc = _start_capture("obscapl")
        guards = _children(proc.pid)
        tcpdumps = [pid for guard in guards for pid in _children(guard)]
        assert len(guards) == len(tcpdumps) == 4
        proc.kill()
        proc.wait()
        for pid in guards + tcpdumps:
            _wait_gone(pid)
    finally:
        cli("down", "obscapl", check=True)


def test_reach_matrix_of_tenants_matches_the_segments(tmp_path):
    path = copy_example(tmp_path, "tenants.yaml", lab="obsten")
    with open(path) as handle:
        spec = yaml.safe_load(handle)
    segment = {}
    for a, b in spec["links"]:
        for end, other in ((a, b), (b, a)):
            node, other_node = end.split(":")[0], other.split(":")[0]
            if spec["nodes"][other_node].get("kind") == "switch":
                segment[node] = other_node
    hosts = [n for n in spec["nodes"] if n in segment]
    cli("up", path, check=True)
    try:
        result = cli("reach", "obsten", "--json", "--timeout", "2", check=True)  # slack for a busy machine
        data = json.loads(result.stdout)
        assert data["nodes"] == hosts
        observed = {(s, t): cell["ok"] for s, row in data["matrix"].items() for t, cell in row.items()}
        expected = {(s, t): segment[s] == segment[t] for s in hosts for t in hosts if s != t}
        assert observed == expected, json.dumps(data["matrix"], indent=1)
        # a2 -> b1 (192.168.1.10) gets a reply — from a1, its twin in tenant A
        assert "answered by a1" in data["matrix"]["a2"]["b1"]["detail"]
        table = cli("reach", "obsten", check=True).stdout
        assert "✓" in table and "✗" in table
    finally:
        cli("down", "obsten", check=True)


SERVICES_LAB = """\
    lab: obssvc
    nodes:
      a:
        interfaces: {eth0: {address: 10.0.0.1/24}}
      b:
        interfaces: {eth0: {address: 10.0.0.2/24}}
        services: [{listen: tcp/80}, {listen: tcp/22}, {listen: udp/53}]
    links:
      - [a:eth0, b:eth0]
    """


def test_scan_and_sockets_agree_with_the_services(tmp_path):
    path = tmp_path / "svc.yaml"
    path.write_text(textwrap.dedent(SERVICES_LAB))
    cli("up", str(path), check=True)
    listener = client = None
    try:
        supervisor_pid = supervisor.read_pidfile(state.lab_dir("obssvc")).pid
        data = json.loads(cli("sockets", "obssvc", "b", "--listening", "--json", check=True).stdout)
        listening = {(s["proto"], s["local_port"]): s for s in data["sockets"]}
        assert set(listening) == {("tcp", 80), ("tcp", 22), ("udp", 53)}
        for entry in listening.values():
            assert [o["pid"] for o in entry["owners"]] == [supervisor_pid]
        assert listening[("tcp", 22)]["state"] == "LISTEN" and listening[("udp", 53)]["state"] == "UNCONN"

        # an established connection between sockets this test holds
        with netns.entered("obssvc-b"):
            listener = socket.create_server(("10.0.0.2", 9000))
        with netns.entered("obssvc-a"):
            client = socket.create_connection(("10.0.0.2", 9000), timeout=2)
        data = json.loads(cli("sockets", "obssvc", "a", "--json", check=True).stdout)
        established = [s for s in data["sockets"] if s["state"] == "ESTAB"]
        assert [(s["peer"], s["peer_port"]) for s in established] == [("10.0.0.2", 9000)]
        assert [o["pid"] for o in established[0]["owners"]] == [os.getpid()]
        text = cli("sockets", "obssvc", "b", check=True).stdout
        assert "*:80" in text and f'pid={supervisor_pid}' in text

        for extra in ([], ["--no-nmap"]):
            report = json.loads(cli("scan", "obssvc", "a", "b", "-p", "22-23,80", "--json", *extra, check=True).stdout)
            assert report["scanner"].startswith("nmap" if not extra else "built-in")
            assert {p["port"]: p["state"] for p in report["ports"]} == {22: "open", 23: "closed", 80: "open"}
        bad = cli("scan", "obssvc", "a", "b", "-p", "80-22")
        assert bad.returncode == 2 and "write 22-80" in bad.stderr
    finally:
        for sock in (client, listener):
            if sock is not None:
                sock.close()
        cli("down", "obssvc", check=True)
