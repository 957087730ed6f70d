"""The shapes of vnetlab web's answers with no lab running, its jobs (one per lab,
progress, failures), and the pure pieces: the trace path as hops, route lines, the
shell's resize frames, the topology built from a file. In-process, no root."""

from __future__ import annotations

import os
import threading
import time

import pytest

from vnetlab.web import nodes, probes, shell
from web_helpers import client, labs  # noqa: F401 (labs: a fixture)


def test_labs_lists_the_files_with_their_lab_and_problems(labs):
    answer = client(labs).get("/api/labs")
    assert answer.status_code == 200
    data = answer.json()
    assert data["running"] == []
    rows = {row["file"]: row for row in data["files"]}
    assert rows["proxmox-tap.yaml"] == {"file": "proxmox-tap.yaml", "lab": "pvetap", "running": False,
                                        "description": "A hypervisor with vmbr0, an uplink and two TAP-attached VMs",
                                        "problem": None}
    assert rows["broken.yml"]["lab"] == "broken" and "toaster" in rows["broken.yml"]["problem"]


def test_a_changed_file_is_read_again(labs):
    c = client(labs)
    assert c.get("/api/labs").json()["files"][1]["lab"] == "fwdebug"
    path = labs / "firewall-debug.yaml"
    path.write_text(path.read_text().replace("lab: fwdebug", "lab: fwfixed"))
    assert c.get("/api/labs").json()["files"][1]["lab"] == "fwfixed"


def test_the_topology_of_a_file(labs):
    data = client(labs).get("/api/files/proxmox-tap.yaml/topology").json()
    assert data["format"] == "vnetlab-topology/1" and data["lab"] == "pvetap" and data["live"] is False
    by_id = {node["id"]: node for node in data["nodes"]}
    assert by_id["pve"]["kind"] == "hypervisor" and by_id["pve"]["compound"] is True
    assert by_id["pve/vmbr0"]["parent"] == "pve" and by_id["pve/vmbr0"]["addresses"] == ["192.168.1.10/24"]
    taps = [e for e in data["edges"] if e["source"] == "pve/vmbr0" and e["target"] in ("vm100", "vm101")]
    assert len(taps) == 2 and all(e["ends"][0]["tap"] for e in taps)
    assert {e["id"] for e in data["edges"]} == {f"link:{n}" for n in range(5)}
    assert len(data["checks"]) == 6 and data["checks"][1]["from"] == "pc" and data["checks"][1]["to_node"] == "vm100"
    assert all(check["ok"] is None for check in data["checks"])


@pytest.mark.parametrize("method, path", [
    ("get", "/api/labs/fwdebug/topology"), ("get", "/api/labs/fwdebug/nodes/admin"),
    ("get", "/api/labs/fwdebug/checks"), ("post", "/api/labs/fwdebug/checks"),
    ("post", "/api/labs/fwdebug/reach"), ("post", "/api/labs/fwdebug/captures"), ("delete", "/api/labs/fwdebug"),
])
def test_a_lab_that_is_not_up_is_404(labs, method, path):
    answer = getattr(client(labs), method)(path)
    assert answer.status_code == 404 and "not up" in answer.json()["error"]


@pytest.mark.parametrize("path", ["/api/jobs/j9", "/api/jobs/x", "/api/labs/fwdebug/captures/c1",
                                  "/api/labs/fwdebug/captures/c1/file", "/api/nothing", "/api/labs/a/b/c/d"])
def test_unknown_things_are_404_json(labs, path):
    answer = client(labs).get(path)
    assert answer.status_code == 404 and answer.json()["error"]


def test_a_body_that_is_not_a_json_object_is_400(labs):
    c = client(labs)
    for body in (b"{", b"[1, 2]", b"\"x\""):
        answer = c.post("/api/labs", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 400 and "JSON object" in answer.json()["error"]


def test_the_page_is_index_html_or_says_it_is_missing(labs):
    answer = client(labs).get("/")
    assert answer.status_code == 200
    assert "<html" in answer.text.lower() or "not installed" in answer.text


def test_static_files_are_served_from_the_package(labs):
    answer = client(labs).get("/static/vendor/cytoscape.min.js")
    assert answer.status_code == 200 and len(answer.content) > 100_000
    assert client(labs).get("/static/../web/app.py").status_code == 404


def test_the_course_listing_and_an_exercise(labs):
    c = client(labs)
    listing = c.get("/api/course").json()
    assert listing["student"] and any(row["id"] == "routing" for row in listing["exercises"])
    assert all(row["status"] in ("not started", "running", "passed", "broken") for row in listing["exercises"])
    exercise = c.get("/api/course/routing").json()
    assert exercise["id"] == "routing" and exercise["text"] and exercise["tasks"]
    assert exercise["running"] is False and exercise["hints_shown"] == {} and exercise["grade"] is None
    assert c.get("/api/course/nosuchexercise").status_code == 404
    hint = c.post("/api/course/routing/hint")
    assert hint.status_code == 404 and "has not started" in hint.json()["error"]
    answered = c.post("/api/course/routing/answer", json={"task": "forwarding", "value": "1"})
    assert answered.status_code == 404 and "has not started" in answered.json()["error"]
    for bad in ({"task": "../x", "value": "1"}, {"task": "forwarding", "value": ["1"]}, {}):
        assert c.post("/api/course/routing/answer", json=bad).status_code == 400


def test_starting_an_exercise_is_a_job_and_a_running_one_is_409(labs, monkeypatch):
    from vnetlab.course import session
    from vnetlab.host import state

    started = []
    monkeypatch.setattr(session, "start", lambda ref, student, progress_report=None: started.append((ref, student)))
    c = client(labs)
    job = c.post("/api/course/routing/start")
    assert job.status_code == 202
    assert _wait(c, job.json()["job"])["state"] == "done" and started == [("routing", session.default_student())]
    lab = c.get("/api/course/routing").json()["lab"]
    os.makedirs(os.path.join(state.RUN_ROOT, lab))  # as if it ran
    again = c.post("/api/course/routing/start")
    assert again.status_code == 409 and "running already" in again.json()["error"]


# -- jobs ------------------------------------------------------------------------
def _wait(c, job: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = c.get(f"/api/jobs/{job}").json()
        if state["state"] != "running":
            return state
        time.sleep(0.01)
    raise AssertionError(f"job {job} still running")


def test_up_runs_as_a_job_with_progress_and_one_job_per_lab(labs, monkeypatch):
    from vnetlab.lab import Lab

    release, steps = threading.Event(), []

    def up(self, progress=None, **kwargs):
        for step in (1, 2):
            progress(step, 4)
            steps.append(step)
        release.wait(10)
        progress(3, 4)

    monkeypatch.setattr(Lab, "up", up)
    c = client(labs)
    started = c.post("/api/labs", json={"file": "firewall-debug.yaml"})
    assert started.status_code == 202
    job = started.json()["job"]
    while len(steps) < 2:
        time.sleep(0.01)
    assert c.get(f"/api/jobs/{job}").json() == {"id": job, "action": "up", "lab": "fwdebug", "state": "running",
                                               "done": 2, "total": 4, "error": None, "file": "firewall-debug.yaml"}
    again = c.post("/api/labs", json={"file": "firewall-debug.yaml"})
    assert again.status_code == 409 and "busy" in again.json()["error"]
    release.set()
    assert _wait(c, job) == {"id": job, "action": "up", "lab": "fwdebug", "state": "done", "done": 4, "total": 4,
                             "error": None, "file": "firewall-debug.yaml"}
    assert c.post("/api/labs", json={"file": "firewall-debug.yaml"}).status_code == 202  # free again


def test_a_failed_up_is_a_failed_job_with_its_message(labs, monkeypatch):
    from vnetlab.errors import EnvironmentProblem
    from vnetlab.lab import Lab

    def up(self, progress=None, **kwargs):
        raise EnvironmentProblem("vnetlab up needs root")

    monkeypatch.setattr(Lab, "up", up)
    c = client(labs)
    state = _wait(c, c.post("/api/labs", json={"file": "proxmox-tap.yaml"}).json()["job"])
    assert state["state"] == "failed" and state["error"] == "vnetlab up needs root"


def test_shutdown_waits_for_a_running_job(labs, monkeypatch):
    from vnetlab.lab import Lab

    finished = threading.Event()

    def up(self, progress=None, **kwargs):
        time.sleep(0.3)
        finished.set()

    monkeypatch.setattr(Lab, "up", up)
    with client(labs) as c:  # the context runs the app's lifespan: leaving it is the server's shutdown
        assert c.post("/api/labs", json={"file": "proxmox-tap.yaml"}).status_code == 202
    assert finished.is_set()


# -- pure pieces -------------------------------------------------------------------
def test_trace_hops_mark_the_drop_with_the_trace_reason():
    from vnetlab.probe.trace import Hop, Leg, TraceResult

    forward = Leg("tcp 192.168.50.10:40000 > 10.0.0.10:22 SYN", [
        Hop("admin", seen=[{"interface": "eth0"}], route={"text": "route default via 192.168.50.1 dev eth0"}),
        Hop("gw", seen=[{"interface": "eth0"}, {"interface": "eth2"}], route={"text": "route 10.0.0.0/24 dev eth2"}),
        Hop("server", seen=[{"interface": "eth0"}], nft=["dropped by table inet vnetlab chain input policy drop"]),
    ])
    result = TraceResult("fwdebug", "admin", "10.0.0.10", "tcp", 22, 7, "dropped", "server",
                         "dropped by policy drop at server", forward)
    hops = probes.hops(forward, result)
    assert [h["node"] for h in hops] == ["admin", "gw", "server"]
    assert [h["dropped"] for h in hops] == [False, False, True]
    assert hops[2]["reason"] == "dropped by policy drop at server"
    assert hops[1] == {"node": "gw", "interfaces": ["eth0", "eth2"], "reason": "route 10.0.0.0/24 dev eth2",
                       "dropped": False, "details": ["route 10.0.0.0/24 dev eth2"]}
    delivered = TraceResult("fwdebug", "admin", "10.0.0.10", "icmp", None, 7, "answered", "server", "", forward)
    assert not any(h["dropped"] for h in probes.hops(forward, delivered))


def test_route_lines_read_like_ip_route():
    assert nodes.route_line({"to": "default", "via": "10.0.0.1", "dev": "eth0", "proto": 4}) == \
        "default via 10.0.0.1 dev eth0 proto static"
    assert nodes.route_line({"to": "10.0.0.0/24", "via": None, "dev": "eth2", "proto": 2}) == \
        "10.0.0.0/24 dev eth2 proto kernel"


def test_interface_rows_say_no_carrier():
    row = nodes.interface_row({"name": "eth0", "kind": "veth", "up": True, "carrier": False, "state": "DOWN",
                               "mac": "02:00:00:00:00:01", "mtu": 1500, "master": None,
                               "addresses": ["10.0.0.1/24"], "dynamic": ["10.0.0.9/24"]})
    assert row["state"] == "NO-CARRIER" and row["addresses"] == ["10.0.0.1/24", "10.0.0.9/24"]


@pytest.mark.parametrize("text, size", [('{"resize": [120, 40]}', (120, 40)), ('{"resize": [0, 40]}', None),
                                        ('{"resize": "big"}', None), ("ls\n", None), ('{"resize": [1, 2, 3]}', None)])
def test_shell_resize_frames(text, size):
    assert shell.control(text) == size


def test_request_values_are_checked_like_the_cli_arguments():
    with pytest.raises(probes.BadRequest, match="ports are 1 to 65535"):
        probes._port(70000)
    with pytest.raises(probes.BadRequest, match="ports are 1 to 65535"):
        probes._port(True)
    with pytest.raises(probes.BadRequest, match="timeout"):
        probes._timeout(0)
    with pytest.raises(probes.BadRequest, match="unknown proto"):
        probes._proto("sctp", ("icmp", "tcp"))


def test_positions_are_added_when_asked_for(labs):
    import shutil

    c = client(labs)
    assert "positions" not in c.get("/api/files/proxmox-tap.yaml/topology").json()
    laid_out = c.get("/api/files/proxmox-tap.yaml/topology?positions=1").json()
    if shutil.which("dot") is None:  # make install installs graphviz; without it the map lays itself out
        assert "positions" not in laid_out
    else:
        assert set(laid_out["positions"]) >= {"pve/vmbr0", "vm100", "vm101", "gw", "pc"}
        assert all(set(p) == {"x", "y"} for p in laid_out["positions"].values())


def test_single_flight_shares_one_computation_and_its_failure():
    from vnetlab.web.jobs import SingleFlight

    flight, started, release, calls, answers = SingleFlight(), threading.Event(), threading.Event(), [], []

    def compute():
        calls.append(1)
        started.set()
        release.wait(5)
        return {"n": len(calls)}

    first = threading.Thread(target=lambda: answers.append(flight.run("k", compute)))
    first.start()
    started.wait(5)
    running, waiting = flight._running["k"], threading.Event()
    result = running.result
    running.result = lambda *args: (waiting.set(), result(*args))[1]  # tells when the second caller waits
    second = threading.Thread(target=lambda: answers.append(flight.run("k", compute)))
    second.start()
    assert waiting.wait(5)
    release.set()
    first.join(5)
    second.join(5)
    assert calls == [1] and answers == [{"n": 1}, {"n": 1}]
    assert flight.run("k", compute) == {"n": 2}  # done: the next call computes again
    assert flight.run("other", lambda: 7) == 7

    def fail():
        raise LookupError("lab 'x' is not up")

    with pytest.raises(LookupError):
        flight.run("k", fail)
    assert flight.run("k", lambda: 8) == 8  # a failure is not kept


def test_an_answer_is_recorded_in_the_students_progress(labs):
    import json as json_module

    from vnetlab.course import progress
    from vnetlab.course.exercise import load
    from vnetlab.course.session import default_student
    from vnetlab.host import state

    rendered = load("recon", default_student())
    os.makedirs(state.lab_dir(rendered.lab_name))  # as `course start` leaves it: the lab's copy and the progress
    with open(os.path.join(state.lab_dir(rendered.lab_name), "lab.json"), "w") as handle:
        json_module.dump({"source": rendered.path, "spec": {"lab": rendered.lab_name, "nodes": {}}}, handle)
    progress.write(rendered.lab_name, progress.Progress("recon", rendered.path, rendered.student))
    answered = client(labs).post("/api/course/recon/answer", json={"task": "tcp-port", "value": 8443})
    assert answered.status_code == 200, answered.text
    assert answered.json() == {"exercise": "recon", "task": "tcp-port", "value": "8443"}
    assert progress.read(rendered.lab_name).answers == {"tcp-port": "8443"}
    wrong = client(labs).post("/api/course/recon/answer", json={"task": "no-such-task", "value": 1})
    assert wrong.status_code in (400, 404) and "no-such-task" in wrong.json()["error"]
