"""Services and seen_as, without a kernel: plan ops, config, the report line, the verdict."""

from __future__ import annotations

import json

import pytest

from vnetlab.probe.checks import judge_seen_as
from vnetlab.compile import compile_lab
from vnetlab.executors.apply import apply_plan
from vnetlab.executors.fake import FakeBackend
from vnetlab.agents.services import (
    ServiceSpec,
    format_client,
    http_response,
    parse_report,
    report_line,
)
from vnetlab.agents.supervisor import SupervisorConfig
from vnetlab.model.schema import LabSpec
from vnetlab.plan import Op, Plan, PumpFrames, RunService, StopService
from vnetlab.probe.transport import PortProbe, PortResult

SPEC = LabSpec.model_validate({
    "lab": "svc",
    "nodes": {
        "a": {"interfaces": {"eth0": {"address": "10.0.0.1/24"}}},
        "b": {"interfaces": {"eth0": {"address": "10.0.0.2/24"}},
              "services": [{"listen": "tcp/80"}, {"listen": "udp/53"},
                           {"command": ["python3", "-m", "http.server", "8000"]}]},
    },
    "links": [["a:eth0", "b:eth0"]],
})


# -- plan ops


@pytest.mark.parametrize("op", [
    RunService("svc-b", node="b", listen="tcp/80"),
    RunService("svc-b", node="b", command=("python3", "-m", "http.server", "8000")),
    StopService("svc-b", node="b", listen="udp/53"),
    StopService("svc-b", node="b", command=("sleep", "60")),
    RunService("svc-b", node="b", command=("sh", "setup.sh"), oneshot=True),
])
def test_service_ops_round_trip_through_json(op):
    data = json.loads(json.dumps(op.to_dict()))
    assert Op.from_dict(data) == op


def test_service_ops_render_as_commands():
    listen = RunService("svc-b", node="b", listen="tcp/80")
    assert listen.commands() == [[
        "#", "the lab supervisor listens on tcp/80 in svc-b and answers with the client's address"]]
    command = RunService("svc-b", node="b", command=("python3", "-m", "http.server", "8000"))
    assert command.commands() == [["ip", "netns", "exec", "svc-b", "python3", "-m", "http.server", "8000", "&"]]
    assert StopService("svc-b", node="b", command=("sleep", "60")).commands()[0][0] == "#"
    # A oneshot is run in the foreground: up waits for it.
    assert RunService("svc-b", node="b", command=("sh", "setup.sh"), oneshot=True).commands() == [
        ["ip", "netns", "exec", "svc-b", "sh", "setup.sh"]]


def test_oneshot_reaches_the_plan_and_the_supervisor_config(tmp_path):
    from vnetlab.executors.supervisor_backend import SupervisorBackend

    spec = LabSpec.model_validate({"lab": "svc", "nodes": {"b": {"services": [
        {"command": ["sh", "setup.sh"], "oneshot": True}, {"command": ["sleep", "60"]}]}}})
    ops = [op for op in compile_lab(spec).ops if isinstance(op, RunService)]
    assert [op.oneshot for op in ops] == [True, False]
    backend = SupervisorBackend("svc", str(tmp_path))
    assert backend.apply(ops[0]) == StopService("svc-b", node="b", command=("sh", "setup.sh"), oneshot=True)
    backend.apply(ops[1])
    config = backend._config(generation=1)
    assert config.services == (ServiceSpec("svc-b", "b", command=("sh", "setup.sh"), oneshot=True),
                               ServiceSpec("svc-b", "b", command=("sleep", "60")))
    data = json.loads(json.dumps(config.to_dict()))
    assert data["services"][0]["oneshot"] is True and "oneshot" not in data["services"][1]
    assert SupervisorConfig.from_dict(data) == config


def test_every_service_compiles_to_one_run_service_in_the_processes_phase():
    plan = compile_lab(SPEC)
    ops = [op for op in plan.ops if isinstance(op, RunService)]
    assert ops == [
        RunService("svc-b", node="b", listen="tcp/80"),
        RunService("svc-b", node="b", listen="udp/53"),
        RunService("svc-b", node="b", command=("python3", "-m", "http.server", "8000")),
    ]
    first_service = plan.ops.index(ops[0])
    kernel_objects = [i for i, op in enumerate(plan.ops) if op.name in ("add_address", "link_state", "add_route")]
    assert max(kernel_objects) < first_service  # services start once their node's network is up


def test_service_ops_apply_roll_back_and_reapply_as_no_ops():
    backend = FakeBackend()
    plan = compile_lab(SPEC)
    apply_plan(plan, [backend])
    assert ("svc-b", "b", "tcp/80", None) in backend.services
    again = apply_plan(plan, [backend])
    assert again.changed == []
    inverse = backend.apply(StopService("svc-b", node="b", listen="tcp/80"))
    assert inverse == RunService("svc-b", node="b", listen="tcp/80")


def test_supervisor_backend_collects_pumps_and_services(tmp_path):
    from vnetlab.executors.supervisor_backend import SupervisorBackend

    backend = SupervisorBackend("svc", str(tmp_path))
    run = RunService("svc-b", node="b", listen="tcp/80")
    assert backend.apply(run) == StopService("svc-b", node="b", listen="tcp/80")
    assert backend.apply(run) is None
    assert backend.apply(PumpFrames("svc-p", ifname="tap0", peer_netns="svc-v", peer_ifname="eth0")) is not None
    config = backend._config(generation=7)
    assert config.services == (ServiceSpec("svc-b", "b", listen="tcp/80"),)
    assert SupervisorConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert backend.apply(StopService("svc-b", node="b", listen="tcp/80")) == run
    assert backend.services == {}


# -- supervisor config


def test_supervisor_config_reads_services():
    config = SupervisorConfig.from_dict({"lab": "x", "pumps": [], "generation": 3, "services": [
        {"netns": "x-b", "node": "b", "listen": "tcp/80"},
        {"netns": "x-b", "node": "b", "command": ["sleep", "60"]},
    ]})
    assert config.generation == 3
    assert config.services[1] == ServiceSpec("x-b", "b", command=("sleep", "60"))


@pytest.mark.parametrize("service, message", [
    ({"netns": "x-b", "node": "b"}, "exactly one"),
    ({"netns": "x-b", "node": "b", "listen": "tcp/80", "command": ["x"]}, "exactly one"),
    ({"netns": "x-b", "node": "b", "listen": "sctp/80"}, "tcp/PORT"),
    ({"netns": "x-b", "node": "b", "listen": "tcp/0"}, "tcp/PORT"),
    ({"netns": "x-b", "node": "b", "command": []}, "non-empty"),
    ({"netns": "x-b", "node": "b", "command": "sleep 60"}, "non-empty"),
    ({"node": "b", "listen": "tcp/80"}, "netns"),
    ({"netns": "x-b", "node": "b", "listen": "tcp/80", "oneshot": True}, "only for a command"),
    ({"netns": "x-b", "node": "b", "command": ["x"], "oneshot": "yes"}, "true or false"),
])
def test_supervisor_config_refuses_bad_services(service, message):
    with pytest.raises(ValueError, match=message):
        SupervisorConfig.from_dict({"lab": "x", "services": [service]})


def test_supervisor_config_refuses_a_listener_twice():
    twice = {"netns": "x-b", "node": "b", "listen": "tcp/80"}
    with pytest.raises(ValueError, match="more than once"):
        SupervisorConfig.from_dict({"lab": "x", "services": [twice, dict(twice)]})


# -- the report line


def test_report_line_and_http_response():
    assert report_line("web", "tcp/80", ("203.0.113.10", 40312)) == \
        b"vnetlab-service node=web listen=tcp/80 client=203.0.113.10:40312\n"
    assert report_line("web", "udp/53", ("fd00::1", 5)) == \
        b"vnetlab-service node=web listen=udp/53 client=[fd00::1]:5\n"
    response = http_response(ServiceSpec("x-web", "web", listen="tcp/80"), ("10.0.0.1", 1234))
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.0 200 OK"
    assert f"Content-Length: {len(body)}".encode() in head
    assert body == b"vnetlab-service node=web listen=tcp/80 client=10.0.0.1:1234\n"


def test_ipv4_mapped_clients_are_shown_as_ipv4():
    assert format_client(("::ffff:10.0.0.1", 80, 0, 0)) == ("10.0.0.1", 80)
    assert format_client(("fd00::1", 80, 0, 0)) == ("fd00::1", 80)
    assert format_client(("10.0.0.1", 80)) == ("10.0.0.1", 80)


@pytest.mark.parametrize("data, ip, port", [
    (b"HTTP/1.0 200 OK\r\n\r\nvnetlab-service node=web listen=tcp/80 client=203.0.113.10:40312\n",
     "203.0.113.10", 40312),
    (b"vnetlab probe\nvnetlab-service node=web listen=udp/53 client=[fd00::1]:5\n", "fd00::1", 5),
    (b"vnetlab-service node=web listen=udp/53 client=[FD00:0::1]:5", "fd00::1", 5),
    # an echo quoting a fake report first: the service's own line is the last one
    (b"vnetlab-service node=x listen=udp/1 client=1.2.3.4:1\n"
     b"vnetlab-service node=web listen=udp/53 client=10.0.0.1:9\n", "10.0.0.1", 9),
])
def test_parse_report(data, ip, port):
    report = parse_report(data)
    assert report is not None and (report.client_ip, report.client_port) == (ip, port)
    assert report.node in ("web",)


@pytest.mark.parametrize("data", [
    b"", b"HTTP/1.0 200 OK\r\n\r\n<html>", b"vnetlab-service node=web listen=tcp/80 client=nonsense:80",
    b"vnetlab-service node=web listen=tcp/80 client=10.0.0.1", b"vnetlab-service node=web listen=tcp/80",
])
def test_parse_report_refuses_what_no_service_said(data):
    assert parse_report(data) is None


# -- the verdict


def _result(state: str, reply: bytes = b"") -> PortResult:
    return PortResult(PortProbe("svc-a", "10.0.0.2", 80, converse=True), state, "connected in 0.1 ms", reply)


def test_seen_as_passes_only_for_the_expected_source():
    reply = b"vnetlab-service node=b listen=tcp/80 client=10.10.10.100:5000\n"
    assert judge_seen_as(_result("open", reply), "10.10.10.100")[:2] == (True, "open, seen as 10.10.10.100")
    ok, observed, detail = judge_seen_as(_result("open", reply), "203.0.113.10")
    assert not ok and observed == "open, seen as 10.10.10.100"
    assert detail.startswith("open, seen as 10.10.10.100 (expected 203.0.113.10)")


def test_seen_as_without_a_service_or_an_open_port_fails_saying_why():
    ok, observed, detail = judge_seen_as(_result("open", b"SSH-2.0-OpenSSH\r\n"), "10.0.0.1")
    assert not ok and observed == "open, source unknown"
    assert detail.startswith("open, but no vnetlab service answered (cannot tell the source)")
    ok, observed, _ = judge_seen_as(_result("filtered"), "10.0.0.1")
    assert not ok and observed == "filtered"


def test_plan_with_services_round_trips():
    plan = compile_lab(SPEC)
    again = Plan(plan.lab, [Op.from_dict(d) for d in json.loads(plan.to_json())["ops"]])
    assert again.ops == plan.ops
