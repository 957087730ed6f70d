"""vnetlab web's API against real labs, in-process (TestClient): up and down as jobs with
progress, the live topology, a router's panel, checks, a trace dropped at the server's
rule, the reach matrix, a capture tshark reads, a shell in a node over a websocket.

One pair of labs (firewall-debug and proxmox-tap) serves every test of the module.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import copy_example, exited, lab_namespaces
from vnetlab.web.app import create_app
from vnetlab.web.security import Served

pytestmark = pytest.mark.integration

TOKEN = "integration-token"
PORT = 8080
BASE = f"http://127.0.0.1:{PORT}"
FW, PVE = "webfw", "webpve"


def _poll(c, job: str, seen: list) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = c.get(f"/api/jobs/{job}").json()
        seen.append(state)
        if state["state"] != "running":
            return state
        time.sleep(0.02)
    raise AssertionError(f"job {job} did not finish: {seen[-1]}")


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """The app with both labs brought up through it (and down through it at the end)."""
    from starlette.testclient import TestClient

    labs = tmp_path_factory.mktemp("web-labs")
    copy_example(labs, "firewall-debug.yaml", lab=FW)
    copy_example(labs, "proxmox-tap.yaml", lab=PVE)
    app = create_app(str(labs), TOKEN, Served("127.0.0.1", PORT))
    jobs: dict[str, list] = {}
    with TestClient(app, base_url=BASE, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        try:
            for name, file in ((FW, "firewall-debug.yaml"), (PVE, "proxmox-tap.yaml")):
                started = c.post("/api/labs", json={"file": file})
                assert started.status_code == 202, started.text
                jobs[name] = []
                _poll(c, started.json()["job"], jobs[name])
            c.jobs, c.labs = jobs, labs
            yield c
        finally:
            for name in (FW, PVE):
                stopped = c.delete(f"/api/labs/{name}")
                if stopped.status_code == 202:
                    assert _poll(c, stopped.json()["job"], [])["state"] == "done"
    assert lab_namespaces(FW) == [] and lab_namespaces(PVE) == []


def test_up_ran_as_a_job_with_progress(web):
    for name in (FW, PVE):
        seen = web.jobs[name]
        final = seen[-1]
        assert final["state"] == "done" and final["error"] is None and final["action"] == "up", final
        # the total is the plan's op count, known only from Lab.up's progress calls
        assert final["total"] and final["total"] > 20 and final["done"] == final["total"], final
        assert seen[0]["state"] == "running"  # the answer came before the lab was up


def test_the_listing_shows_them_running(web):
    data = web.get("/api/labs").json()
    running = {row["lab"]: row for row in data["running"]}
    assert running[FW] == {"lab": FW, "file": "firewall-debug.yaml", "nodes": 4}
    assert running[PVE]["file"] == "proxmox-tap.yaml" and running[PVE]["nodes"] == 6
    assert {row["file"]: row["running"] for row in data["files"]} == {"firewall-debug.yaml": True,
                                                                      "proxmox-tap.yaml": True}


def test_up_again_while_running_converges_as_a_job(web):
    started = web.post("/api/labs", json={"file": "firewall-debug.yaml"})
    assert started.status_code == 202
    assert _poll(web, started.json()["job"], [])["state"] == "done"


def test_live_topology_of_the_hypervisor(web):
    started = time.perf_counter()
    answer = web.get(f"/api/labs/{PVE}/topology")
    seconds = time.perf_counter() - started
    data = answer.json()
    assert answer.status_code == 200 and data["live"] is True and data["lab"] == PVE
    taps = sorted(e["ends"][0]["interface"] for e in data["edges"] if e["source"] == "pve/vmbr0" and e["ends"][0]["tap"])
    assert taps == ["tap100i0", "tap101i0"]
    assert seconds < 1.0, f"/topology took {seconds:.3f} s"
    print(f"\n/api/labs/{PVE}/topology: {seconds * 1000:.1f} ms", file=sys.stderr)


def test_a_link_set_down_in_a_shell_shows_in_the_next_poll(web):
    from vnetlab.lab import Lab

    pc = Lab.running(PVE).node("pc")
    pc.run(["ip", "link", "set", "eth0", "down"], check=True)
    try:
        edge = next(e for e in web.get(f"/api/labs/{PVE}/topology").json()["edges"]
                    if any(end["node"] == "pc" for end in e["ends"]))
        assert edge["state"]["up"] is False, edge
    finally:
        pc.run(["ip", "link", "set", "eth0", "up"], check=True)
    edge = next(e for e in web.get(f"/api/labs/{PVE}/topology").json()["edges"] if e["id"] == edge["id"])
    assert edge["state"]["up"] is True


def test_the_first_request_of_a_map_gets_graphviz_positions(web):
    data = web.get(f"/api/labs/{PVE}/topology?positions=1").json()
    if shutil.which("dot") is None:
        pytest.fail("graphviz is not installed (make install installs it)")
    assert {"pve/vmbr0", "vm100", "vm101"} <= set(data["positions"])


def test_a_routers_panel(web):
    data = web.get(f"/api/labs/{FW}/nodes/gw").json()
    assert data["kind"] == "router" and data["forwarding"]["ipv4"] is True
    assert "10.0.0.0/24 dev eth2 proto kernel" in data["routes"]
    addresses = {i["name"]: i["addresses"] for i in data["interfaces"]}
    assert addresses["eth0"] == ["192.168.50.1/24"] and addresses["eth2"] == ["10.0.0.1/24"]
    assert data["nft"] == "" and data["ovs"] is None


def test_a_servers_panel_has_its_ruleset_and_listener(web):
    data = web.get(f"/api/labs/{FW}/nodes/server").json()
    assert data["forwarding"]["ipv4"] is False
    assert "policy drop" in data["nft"] and "192.168.60.0/24" in data["nft"]
    assert any(s["local"] == "*:22" and s["state"] == "LISTEN" for s in data["sockets"]), data["sockets"]
    assert data["services"] and data["services"][0]["listen"] == "tcp/22"
    assert web.get(f"/api/labs/{FW}/nodes/nosuch").status_code == 404


def test_an_ovs_switchs_panel_has_its_flows(web):
    copy_example(web.labs, "ovs-bad-neighbor.yaml", lab="webovs")
    started = web.post("/api/labs", json={"file": "ovs-bad-neighbor.yaml"})
    try:
        assert _poll(web, started.json()["job"], [])["state"] == "done"
        data = web.get("/api/labs/webovs/nodes/sw").json()
        flows = [flow["flow"] for flow in data["ovs"]["br0"]["flows"]]
        assert any("nw_src=10.0.0.66" in flow and "actions=drop" in flow for flow in flows), flows
    finally:
        assert _poll(web, web.delete("/api/labs/webovs").json()["job"], [])["state"] == "done"
    assert lab_namespaces("webovs") == []


def test_checks_run_and_are_kept_as_the_last(web):
    answer = web.post(f"/api/labs/{FW}/checks")
    data = answer.json()
    assert answer.status_code == 200 and (data["passed"], data["failed"]) == (3, 0), data
    first = data["results"][0]
    assert (first["index"], first["from"], first["to"], first["observed"]) == (0, "admin", "server:22", "filtered")
    last = web.get(f"/api/labs/{FW}/checks").json()
    assert [r["ok"] for r in last["results"]] == [True, True, True]


def test_trace_is_dropped_at_the_servers_rule(web):
    answer = web.post(f"/api/labs/{FW}/trace", json={"from": "admin", "to": "server", "proto": "tcp", "port": 22})
    data = answer.json()
    assert answer.status_code == 200 and data["result"] == "dropped" and data["by"] == "server", data
    assert [h["node"] for h in data["path"]] == ["admin", "gw", "server"]
    assert [h["dropped"] for h in data["path"]] == [False, False, True]
    assert "policy drop" in data["path"][-1]["reason"]
    assert data["text"].startswith(f"trace {FW}: admin -> ") and "dropped" in data["path_line"]
    bad = web.post(f"/api/labs/{FW}/trace", json={"from": "admin", "to": "server", "proto": "tcp"})
    assert bad.status_code == 400 and "needs a port" in bad.json()["error"]


def test_reach_matrix(web):
    icmp = web.post(f"/api/labs/{FW}/reach", json={"proto": "icmp"}).json()
    assert (icmp["pairs"], icmp["reachable"]) == (12, 12)
    tcp = web.post(f"/api/labs/{FW}/reach", json={"proto": "tcp", "port": 22, "nodes": ["admin", "guest", "server"]})
    matrix = tcp.json()["matrix"]
    assert matrix["guest"]["server"]["ok"] is True and matrix["admin"]["server"]["ok"] is False


def test_a_capture_while_pinging_downloads_a_pcapng_tshark_reads(web, tmp_path):
    from vnetlab.lab import Lab

    started = web.post(f"/api/labs/{FW}/captures", json={"interfaces": ["server:eth0"], "filter": "icmp"})
    assert started.status_code == 201, started.text
    capture = started.json()["id"]
    Lab.running(FW).node("admin").run(["ping", "-c", "3", "-i", "0.2", "10.0.0.10"], capture_output=True, check=True)
    deadline = time.monotonic() + 5
    while web.get(f"/api/labs/{FW}/captures/{capture}").json()["packets"] < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert web.get(f"/api/labs/{FW}/captures/{capture}/file").status_code == 409  # still running
    stopped = web.post(f"/api/labs/{FW}/captures/{capture}/stop").json()
    assert stopped["running"] is False and stopped["packets"] == 6, stopped
    download = web.get(f"/api/labs/{FW}/captures/{capture}/file")
    assert download.headers["content-type"] == "application/vnd.tcpdump.pcap"
    assert f'filename="{FW}-{capture}.pcapng"' in download.headers["content-disposition"]
    path = tmp_path / "capture.pcapng"
    path.write_bytes(download.content)
    if shutil.which("tshark") is None:
        pytest.fail("tshark is not installed (make install installs it)")
    read = subprocess.run(["tshark", "-r", str(path)], capture_output=True, text=True, check=True)
    assert read.stdout.count("Echo (ping) request") == 3 and read.stdout.count("Echo (ping) reply") == 3


def test_a_shell_in_a_node_runs_ip_and_is_killed_when_the_socket_closes(web):
    from vnetlab.web.nodes import namespace_processes

    with web.websocket_connect(f"ws://127.0.0.1:{PORT}/api/labs/{FW}/nodes/admin/shell",
                               headers={"Origin": BASE}) as ws:
        ws.send_text(json.dumps({"resize": [100, 30]}))
        ws.send_bytes(b"stty size; ip -br addr\n")
        seen = b""
        while b"192.168.50.10/24" not in seen:
            seen += ws.receive_bytes()
        while b"\n" not in seen[seen.index(b"192.168.50.10/24"):]:
            seen += ws.receive_bytes()
        shells = [p for p in namespace_processes(f"{FW}-admin") if "bash" in p["command"] or "sh" in p["command"]]
        assert shells, "no shell process inside the node"
    text = seen.decode(errors="replace")
    assert "30 100" in text  # the resize reached the pty
    assert any(line.startswith("eth0") and "192.168.50.10/24" in line for line in text.splitlines()), text
    deadline = time.monotonic() + 5
    while not all(exited(p["pid"]) for p in shells) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(exited(p["pid"]) for p in shells), "the shell outlived its websocket"


def test_ctrl_c_stops_the_server_its_shells_and_captures(web, tmp_path):
    """The real command: Ctrl-C ends it with exit 0, after killing its shells (and what they
    started) and stopping its captures, whose files are deleted; the labs stay up."""
    import glob

    import httpx
    from websockets.sync.client import connect

    from conftest import VNETLAB
    from vnetlab.host import state
    from vnetlab.web.nodes import namespace_processes

    before = set(glob.glob(os.path.join(state.lab_dir(FW), "web-capture-*")))
    server = subprocess.Popen([*VNETLAB, "web", "--labs", str(tmp_path), "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        base, token = server.stdout.readline().split()[1].split("/?token=")
        headers = {"Authorization": f"Bearer {token}"}
        c = httpx.Client(base_url=base, headers=headers, timeout=30)
        with connect(base.replace("http:", "ws:") + f"/api/labs/{FW}/nodes/guest/shell",
                     additional_headers={**headers, "Origin": base}) as ws:
            ws.send(b"sleep 600 & echo started-$((6*7))\n")
            seen = b""
            while b"started-42" not in seen:
                seen += ws.recv(timeout=10)
            inside = [p["pid"] for p in namespace_processes(f"{FW}-guest")]
            assert len(inside) >= 2, inside  # the shell and its sleep
            capture = c.post(f"/api/labs/{FW}/captures", json={"interfaces": ["guest:eth0"]})
            assert capture.status_code == 201, capture.text
            files = set(glob.glob(os.path.join(state.lab_dir(FW), "web-capture-*"))) - before
            assert len(files) == 1
            server.send_signal(signal.SIGINT)
            assert server.wait(20) == 0, server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    deadline = time.monotonic() + 5
    while not all(exited(pid) for pid in inside) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(exited(pid) for pid in inside), "a shell outlived the server"
    assert namespace_processes(f"{FW}-guest") == []  # no shell, no sleep, no tcpdump left in the node
    assert not any(os.path.exists(file) for file in files), "the capture's file was left"
    assert "stopped" in server.stderr.read()
    assert web.get(f"/api/labs/{FW}/nodes/guest").status_code == 200  # the lab is still up


def test_an_ordinary_users_server_is_reachable_and_builds_in_the_users_lab_root():
    """Rootless: the server listens on the host (a browser there reaches it) while its labs live
    in the user's lab root; Ctrl-C stops it and nothing is left."""
    import httpx

    from rootless_users import made_users

    with made_users(1) as (user,):
        server = user.popen("web", "--labs", user.examples, "--port", "0", stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline()
            assert line.startswith("open http://127.0.0.1:"), line + server.stderr.read()
            url = line.split()[1]
            base, token = url.split("/?token=")
            c = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
            assert c.get("/api/labs").status_code == 200
            job = c.post("/api/labs", json={"file": "red-blue.yaml"}).json()["job"]
            assert _poll(c, job, [])["state"] == "done"
            assert os.path.isdir(os.path.join(user.run_root, "redblue"))  # the user's run root, not /run/vnetlab
            assert not os.path.exists("/run/vnetlab/redblue")
            assert c.get("/api/labs/redblue/topology").json()["live"] is True
            assert _poll(c, c.delete("/api/labs/redblue").json()["job"], [])["state"] == "done"
        finally:
            for pid in user.processes():  # Ctrl-C, to the server itself (runuser ignores SIGINT)
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    if b"vnetlab.cli\0web" in handle.read():
                        os.kill(pid, signal.SIGINT)
            try:
                server.wait(20)
            finally:
                if server.poll() is None:
                    user.kill_all()
        assert server.returncode == 0, server.stderr.read()
        left = user.leftovers()
        assert not left, left


def test_a_capture_lives_in_the_labs_run_directory_and_goes_with_down(web):
    """A capture's file is private, in the lab's run directory (not $TMPDIR, where a killed server
    would leave it), and `down` takes it away, a running capture stopped first. (FW is brought up
    again at the end: the host is as the test found it.)"""
    from vnetlab.host import state
    from vnetlab.lab import Lab

    started = web.post(f"/api/labs/{FW}/captures", json={"interfaces": ["server:eth0"], "filter": "icmp"})
    assert started.status_code == 201, started.text
    capture = started.json()["id"]
    Lab.running(FW).node("admin").run(["ping", "-c", "1", "10.0.0.10"], capture_output=True, check=True)
    files = [os.path.join(state.lab_dir(FW), name) for name in os.listdir(state.lab_dir(FW))
             if name.startswith(f"web-capture-{capture}-")]
    assert len(files) == 1, os.listdir(state.lab_dir(FW))
    assert os.stat(files[0]).st_mode & 0o777 == 0o600
    stopped = web.delete(f"/api/labs/{FW}")  # while the capture runs
    assert stopped.status_code == 202, stopped.text
    assert _poll(web, stopped.json()["job"], [])["state"] == "done"
    assert not os.path.exists(files[0]) and not os.path.exists(state.lab_dir(FW))
    assert web.get(f"/api/labs/{FW}/captures/{capture}").status_code == 404
    assert lab_namespaces(FW) == []
    again = web.post("/api/labs", json={"file": "firewall-debug.yaml"})
    assert again.status_code == 202, again.text
    assert _poll(web, again.json()["job"], [])["state"] == "done"
