"""Services run by the lab supervisor, and ``seen_as`` checks, on the real kernel (root).

The supervisor tests build two namespaces on one veth directly (netns +
pyroute2 opened inside each namespace) and drive the supervisor through its
config file; the last test runs a whole lab through the CLI. Every
namespace is named with this process's pid and removed in a ``finally``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time

import pytest

from conftest import cli, lab_namespaces
from vnetlab.probe.checks import run_checks
from vnetlab.host import netns, processes
from vnetlab.agents import services, supervisor
from vnetlab.observe.snapshot import netlink_session
from vnetlab.host.processes import ProcessRecord, is_running
from vnetlab.agents.services import ServiceSpec, parse_report
from vnetlab.model.schema import LabSpec
from vnetlab.probe.transport import PortProbe, tcp_probe_many, udp_probe_many

pytestmark = pytest.mark.integration

PID = os.getpid()
NS_A, NS_B = f"vsa{PID}", f"vsb{PID}"
A4, B4, A6, B6 = "10.78.0.1", "10.78.0.2", "fd78::1", "fd78::2"
IGNORES_TERM = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                      "time.sleep(60)"]


def wait_for(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


inside = netlink_session  # an IPRoute socket opened inside a namespace


@pytest.fixture(scope="module")
def pair():
    """A (10.78.0.1, fd78::1) and B (10.78.0.2, fd78::2) on one veth."""
    made = []
    try:
        for name in (NS_A, NS_B):
            assert netns.create(name)
            made.append(name)
            with netns.entered(name):
                netns.write_sysctl("net.ipv6.conf.default.accept_dad", "0")
                netns.write_sysctl("net.ipv6.conf.all.accept_dad", "0")
        fd = netns.open_fd(NS_B)
        try:
            with inside(NS_A) as ipr:
                ipr.link("add", ifname="a0", kind="veth", peer={"ifname": "b0", "net_ns_fd": fd})
        finally:
            os.close(fd)
        for name, ifname, v4, v6 in ((NS_A, "a0", A4, A6), (NS_B, "b0", B4, B6)):
            with inside(name) as ipr:
                ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
                index = ipr.link_lookup(ifname=ifname)[0]
                ipr.addr("add", index=index, address=v4, prefixlen=24)
                ipr.addr("add", index=index, address=v6, prefixlen=64)
                ipr.link("set", index=index, state="up")
        yield NS_A, NS_B
    finally:
        for name in made:
            netns.delete(name)


@pytest.fixture
def rundir(tmp_path, pair):
    """A run directory; every supervisor and service started from it is gone afterwards."""
    path = tmp_path / "run"
    path.mkdir()
    yield str(path)
    record = supervisor.read_pidfile(str(path))
    if record is not None:
        supervisor.stop(record)
    for service in services.recorded_commands(str(path)):
        processes.stop(service, group=True)


def configure(rundir: str, *specs: ServiceSpec, generation: int = 1) -> None:
    supervisor.write_config(rundir, supervisor.SupervisorConfig(lab="vs", services=specs, generation=generation))


def listen(spec: str, ns: str = NS_B, node: str = "b") -> ServiceSpec:
    return ServiceSpec(ns, node, listen=spec)


def command(*argv: str, ns: str = NS_B, node: str = "b") -> ServiceSpec:
    return ServiceSpec(ns, node, command=tuple(argv))


def http_get(ns: str, address: str, port: int, family=socket.AF_INET) -> tuple[bytes, tuple]:
    """A plain HTTP/1.0 GET from a socket opened in ``ns``; (whole reply, our address)."""
    with netns.entered(ns):
        sock = socket.socket(family, socket.SOCK_STREAM)
    with sock:
        sock.settimeout(2.0)
        sock.connect((address, port))
        sock.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        chunks = []
        while chunk := sock.recv(4096):
            chunks.append(chunk)
        return b"".join(chunks), sock.getsockname()


def udp_ask(ns: str, address: str, port: int, payload: bytes) -> tuple[bytes, tuple]:
    with netns.entered(ns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.settimeout(2.0)
        sock.sendto(payload, (address, port))
        data, _ = sock.recvfrom(65535)
        return data, sock.getsockname()


def service_state(rundir: str) -> list[dict]:
    return services.read_state(rundir).get("services", [])


def ignores_sigterm(pid: int) -> bool:
    with open(f"/proc/{pid}/status") as handle:
        mask = next(line.split()[1] for line in handle if line.startswith("SigIgn:"))
    return bool(int(mask, 16) & (1 << (signal.SIGTERM - 1)))


def netns_inode(path: str) -> int:
    return os.stat(path).st_ino


# ------------------------------------------------------------------ built-in listeners


def test_builtin_tcp_and_udp_report_the_client_address(rundir):
    configure(rundir, listen("tcp/80"), listen("udp/53"))
    supervisor.start(rundir)

    reply, me = http_get(NS_A, B4, 80)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 OK\r\n")
    assert b"Content-Type: text/plain" in head and b"Connection: close" in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert body == f"vnetlab-service node=b listen=tcp/80 client={A4}:{me[1]}\n".encode()

    reply6, me6 = http_get(NS_A, B6, 80, socket.AF_INET6)
    assert parse_report(reply6).client_ip == A6 and parse_report(reply6).client_port == me6[1]

    data, me = udp_ask(NS_A, B4, 53, b"hello")
    assert data == b"hello" + f"vnetlab-service node=b listen=udp/53 client={A4}:{me[1]}\n".encode()

    listening = {e["listen"]: e for e in service_state(rundir)}
    assert listening["tcp/80"]["address"] == "[::]:80"  # dual-stack: IPv6 is on in B
    assert listening["udp/53"]["state"] == "listening"


def test_listener_without_ipv6_binds_ipv4_only(rundir):
    ns = f"vsc{PID}"
    assert netns.create(ns)
    try:
        with netns.entered(ns):
            netns.write_sysctl("net.ipv6.conf.all.disable_ipv6", "1")
        configure(rundir, listen("tcp/8080", ns=ns, node="c"))
        supervisor.start(rundir)
        assert service_state(rundir)[0]["address"] == "0.0.0.0:8080"
        supervisor.stop(supervisor.read_pidfile(rundir))
    finally:
        netns.delete(ns)


def test_probes_and_checks_read_the_source_the_service_saw(rundir):
    configure(rundir, listen("tcp/80"), listen("udp/53"))
    supervisor.start(rundir)
    (tcp,) = tcp_probe_many([PortProbe(NS_A, B4, 80, converse=True)], timeout=1.0)
    assert tcp.state == "open" and parse_report(tcp.reply).client_ip == A4
    (udp,) = udp_probe_many([PortProbe(NS_A, B4, 53)], timeout=1.0)
    assert udp.state == "open" and parse_report(udp.reply).client_ip == A4
    assert "vnetlab service on b" in udp.detail

    spec = LabSpec.model_validate({
        "lab": "vs",
        "nodes": {"a": {"interfaces": {"a0": {"address": f"{A4}/24"}}},
                  "b": {"interfaces": {"b0": {"address": f"{B4}/24"}}}},
        "checks": [
            {"from": "a", "to": "b:80", "proto": "tcp", "expect": "open", "seen_as": "a"},
            {"from": "a", "to": "b:53", "proto": "udp", "expect": "open", "seen_as": A4},
            {"from": "a", "to": "b:80", "proto": "tcp", "expect": "open", "seen_as": "203.0.113.10"},
            {"from": "a", "to": "b:22", "proto": "tcp", "expect": "open", "seen_as": "a"},
            {"from": "a", "to": "b:53", "proto": "udp", "expect": "open", "seen_as": "b:53"},
        ],
    })
    results = run_checks(spec, {"a": NS_A, "b": NS_B}.__getitem__)
    assert [r.ok for r in results] == [True, True, False, False, False], results
    assert results[0].observed == f"open, seen as {A4}"
    assert results[2].observed == f"open, seen as {A4}"
    assert f"seen as {A4} (expected 203.0.113.10)" in results[2].detail
    assert results[3].observed == "closed"
    assert results[4].observed == "error" and "without a port" in results[4].detail


def test_an_open_port_without_a_vnetlab_service_cannot_tell_the_source(pair):
    with netns.entered(NS_B):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with server:
        server.bind((B4, 8081))
        server.listen(4)
        spec = LabSpec.model_validate({
            "lab": "vs",
            "nodes": {"a": {"interfaces": {"a0": {"address": f"{A4}/24"}}},
                      "b": {"interfaces": {"b0": {"address": f"{B4}/24"}}}},
            "checks": [{"from": "a", "to": "b:8081", "proto": "tcp", "expect": "open", "seen_as": "a",
                        "timeout": 0.3}],
        })
        (result,) = run_checks(spec, {"a": NS_A, "b": NS_B}.__getitem__)
    assert not result.ok and result.observed == "open, source unknown"
    assert "no vnetlab service answered (cannot tell the source)" in result.detail


def test_pumps_and_listeners_share_one_loop_without_blocking(rundir):
    """A client that connects and sends nothing must not hold up other clients."""
    configure(rundir, listen("tcp/80"))
    supervisor.start(rundir)
    with netns.entered(NS_A):
        idle = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with idle:
        idle.connect((B4, 80))
        started = time.monotonic()
        reply, _ = http_get(NS_A, B4, 80)
        assert time.monotonic() - started < 0.3 and b"200 OK" in reply
        idle.settimeout(2.0)  # the idle one is answered after its 0.5 s read timeout
        assert b"200 OK" in idle.recv(4096)


# ------------------------------------------------------------------ commands


def test_command_service_runs_in_the_namespace_and_stops_with_the_supervisor(rundir):
    configure(rundir, command("sleep", "60"))
    record = supervisor.start(rundir)
    (entry,) = service_state(rundir)
    service = ProcessRecord.from_dict(entry)
    assert entry["state"] == "running" and entry["command"] == ["sleep", "60"]
    assert is_running(service)
    assert netns_inode(f"/proc/{service.pid}/ns/net") == netns_inode(netns.netns_path(NS_B))
    assert os.getpgid(service.pid) == service.pid  # its own process group
    assert os.path.exists(os.path.join(rundir, entry["log"]))

    assert supervisor.stop(record)
    assert not is_running(service)
    assert services.recorded_commands(rundir) == []


def test_sigkilled_supervisor_leaves_nothing_after_teardown(rundir):
    configure(rundir, command("sleep", "60"), command(*IGNORES_TERM))
    record = supervisor.start(rundir)
    recorded = services.recorded_commands(rundir)
    assert len(recorded) == 2 and all(is_running(r) for r in recorded)
    assert wait_for(lambda: ignores_sigterm(recorded[1].pid))

    os.kill(record.pid, signal.SIGKILL)
    assert wait_for(lambda: not is_running(record))
    # PR_SET_PDEATHSIG took the obedient one; the one ignoring SIGTERM is
    # what `down` is for: it stops every process services.json lists.
    sleeper, stubborn = recorded
    assert wait_for(lambda: not is_running(sleeper))
    assert is_running(stubborn)
    for service in services.recorded_commands(rundir):
        processes.stop(service, group=True)
    assert not any(is_running(r) for r in recorded)


def test_exited_command_is_restarted_with_backoff(rundir, tmp_path):
    flag = tmp_path / "ran-once"
    configure(rundir, command("sh", "-c", f"test -e {flag} || {{ touch {flag}; exit 3; }}; exec sleep 60"))
    supervisor.start(rundir)
    assert wait_for(lambda: service_state(rundir)[0].get("restarts") == 1
                    and service_state(rundir)[0]["state"] == "running", timeout=3.0)
    assert is_running(ProcessRecord.from_dict(service_state(rundir)[0]))


def test_start_fails_for_a_missing_program(rundir):
    configure(rundir, listen("tcp/80"), command("nosuchprogram-vnetlab"))
    with pytest.raises(RuntimeError, match="nosuchprogram-vnetlab"):
        supervisor.start(rundir)
    with netns.entered(NS_A):
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with probe:
        assert probe.connect_ex((B4, 80)) != 0  # the listener went with the failed start


def test_reload_adds_and_removes_services(rundir):
    configure(rundir, listen("tcp/80"), generation=1)
    record = supervisor.start(rundir)

    configure(rundir, listen("tcp/80"), listen("udp/53"), command("sleep", "60"), generation=2)
    assert supervisor.reload_and_wait(rundir, record, 2) == []
    assert udp_ask(NS_A, B4, 53, b"x")[0].startswith(b"xvnetlab-service")
    (service,) = services.recorded_commands(rundir)
    assert is_running(service)

    configure(rundir, listen("udp/53"), generation=3)
    assert supervisor.reload_and_wait(rundir, record, 3) == []
    assert wait_for(lambda: not is_running(service))
    with netns.entered(NS_A):
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with probe:
        assert probe.connect_ex((B4, 80)) != 0
    assert wait_for(lambda: [e.get("listen") for e in service_state(rundir)] == ["udp/53"])

    configure(rundir, listen("udp/53"), command("nosuchprogram-vnetlab"), generation=4)
    errors = supervisor.reload_and_wait(rundir, record, 4)
    assert len(errors) == 1 and "nosuchprogram-vnetlab" in errors[0]
    assert is_running(record)


# ------------------------------------------------------------------ end to end

LAB = """\
lab: {lab}
nodes:
  a:
    interfaces: {{eth0: {{address: 10.79.0.1/24}}}}
  b:
    interfaces: {{eth0: {{address: 10.79.0.2/24}}}}
    services:
      - {{listen: tcp/80}}
      - {{listen: udp/53}}
      - {{command: [sleep, "60"]}}
  sw:
    kind: switch
links:
  - [a:eth0, sw:p1]
  - [b:eth0, sw:p2]
checks:
  - {{name: tcp seen as a, from: a, to: "b:80", proto: tcp, expect: open, seen_as: a}}
  - {{name: udp seen as a, from: a, to: "b:53", proto: udp, expect: open, seen_as: 10.79.0.1}}
  - {{name: wrong source, from: a, to: "b:80", proto: tcp, expect: open, seen_as: 203.0.113.10}}
"""


def lab_processes(lab: str) -> list[ProcessRecord]:
    """Every process inside one of the lab's namespaces, or running its supervisor."""
    inodes = {netns_inode(netns.netns_path(ns)) for ns in lab_namespaces(lab)}
    rundir = os.path.join(os.environ.get("VNETLAB_RUN_DIR", "/run/vnetlab"), lab).encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                mine = rundir in handle.read() or netns_inode(f"/proc/{entry}/ns/net") in inodes
            if mine:
                found.append(ProcessRecord.of(int(entry)))
        except (OSError, ProcessLookupError):
            continue
    return found


def test_lab_with_services_up_check_status_down(tmp_path):
    lab = f"svc{PID % 10000}"
    path = tmp_path / "svc.yaml"
    path.write_text(LAB.format(lab=lab))
    inside_lab: list[ProcessRecord] = []
    try:
        started = time.monotonic()
        cli("up", str(path), check=True)
        up_seconds = time.monotonic() - started
        report = json.loads(cli("check", lab, "--json").stdout)
        ok = {r["check"]: r for r in report["results"]}
        assert ok["tcp seen as a"]["ok"] and ok["udp seen as a"]["ok"], report
        wrong = ok["wrong source"]
        assert not wrong["ok"] and "seen as 10.79.0.1 (expected 203.0.113.10)" in wrong["detail"]

        status = json.loads(cli("status", lab, "--json", check=True).stdout)
        listed = status["nodes"]["b"]["services"]
        assert [s.get("listen") or s["command"] for s in listed] == ["tcp/80", "udp/53", ["sleep", "60"]]
        assert all(s["running"] for s in listed), listed
        sleeper = listed[2]["pid"]
        inside_lab = lab_processes(lab)
        assert {p.pid for p in inside_lab} >= {sleeper, listed[0]["pid"]}  # the service and the supervisor
        text = cli("status", lab, check=True).stdout
        assert "tcp/80" in text and "sleep 60" in text

        again = json.loads(cli("up", str(path), "--json", check=True).stdout)
        assert again["changed"] == 0
        assert json.loads(cli("status", lab, "--json", check=True).stdout)["nodes"]["b"]["services"][2]["pid"] \
            == sleeper, "a re-up must not restart services"
        print(f"vnetlab up with 3 services: {up_seconds:.3f} s")
    finally:
        cli("down", lab)
    assert lab_namespaces(lab) == []
    assert inside_lab and not any(is_running(p) for p in inside_lab), "a process of the lab outlived down"


# ------------------------------------------------------------------ services that exit: up fails, or is done

ONE_NODE = """\
lab: {lab}
nodes:
  a:
    interfaces: {{eth0: {{address: 10.79.1.1/24}}}}
    services:
      - {{listen: tcp/80}}
{services}
  b:
    interfaces: {{eth0: {{address: 10.79.1.2/24}}}}
links:
  - [a:eth0, b:eth0]
"""


def lab_file(tmp_path, lab: str, *services: str) -> str:
    path = tmp_path / f"{lab}.yaml"
    path.write_text(ONE_NODE.format(lab=lab, services="".join(f"      - {s}\n" for s in services)))
    return str(path)


def assert_nothing_left(lab: str) -> None:
    assert lab_namespaces(lab) == []
    assert not os.path.exists(os.path.join(os.environ.get("VNETLAB_RUN_DIR", "/run/vnetlab"), lab))
    assert lab_processes(lab) == [], "a process of the failed up outlived it"


@pytest.mark.parametrize("service, exit_code, says", [
    ('{command: [sh, -c, "echo port 8000 is taken >&2; exit 1"]}', 1,
     ["service a: command [sh -c 'echo port 8000 is taken >&2; exit 1'] exited with status 1 within 0.5 s",
      "mark a program that is meant to finish with 'oneshot: true'", "    port 8000 is taken"]),
    ('{command: [sh, -c, "echo no such bridge; exit 4"], oneshot: true}', 1,
     ["service a: oneshot command [sh -c 'echo no such bridge; exit 4'] exited with status 4; "
      "a oneshot must exit 0", "    no such bridge"]),
    ("{command: [nosuchprogram-vnetlab]}", 3,
     ["nosuchprogram-vnetlab: cannot start: No such file or directory — install it, or give its full path"]),
])
def test_a_service_that_exits_or_cannot_start_fails_a_first_up_and_leaves_nothing(tmp_path, service, exit_code,
                                                                                  says):
    lab = f"sx{PID % 10000}"
    path = lab_file(tmp_path, lab, service)
    try:
        failed = cli("up", path)
    finally:
        cli("down", lab)  # only if the test fails: a failed first up has nothing to take down
    assert failed.returncode == exit_code, failed.stderr
    for text in says:
        assert text in failed.stderr
    assert "everything this run changed was undone" in failed.stderr.splitlines()[0]
    assert_nothing_left(lab)


def test_oneshot_that_exits_0_is_done_and_a_failing_addition_leaves_the_lab_as_it_was(tmp_path):
    lab = f"so{PID % 10000}"
    marker = tmp_path / "configured"
    setup = f'{{command: [sh, -c, "sleep 0.2; echo run >> {marker}"], oneshot: true}}'
    path = lab_file(tmp_path, lab, setup, '{command: [sleep, "600"]}')
    try:
        cli("up", path, check=True)
        assert marker.read_text() == "run\n"  # up returned after the oneshot had finished
        status = json.loads(cli("status", lab, "--json", check=True).stdout)
        oneshot, sleeper = status["nodes"]["a"]["services"][1:]
        assert (oneshot["oneshot"], oneshot["state"], oneshot["exit_status"], oneshot["running"]) == \
            (True, "done", 0, False)
        assert sleeper["running"] and sleeper["state"] == "running"
        assert status["drift"] == []
        assert "(oneshot) — done, exit 0" in cli("status", lab, check=True).stdout

        again = json.loads(cli("up", path, "--json", check=True).stdout)
        assert again["changed"] == 0 and marker.read_text() == "run\n"  # not run again

        # A service that exits at once, added to the running lab: that up fails and undoes itself.
        broken = lab_file(tmp_path, lab, setup, '{command: [sleep, "600"]}', '{command: [sh, -c, "exit 2"]}')
        failed = cli("up", broken)
        assert failed.returncode == 1 and "exited with status 2" in failed.stderr, failed.stderr
        after = json.loads(cli("status", lab, "--json", check=True).stdout)
        assert [s.get("listen") or s["command"] for s in after["nodes"]["a"]["services"]] == \
            ["tcp/80", ["sh", "-c", f"sleep 0.2; echo run >> {marker}"], ["sleep", "600"]]
        assert after["nodes"]["a"]["services"][2]["pid"] == sleeper["pid"]  # untouched
        assert after["drift"] == [] and marker.read_text() == "run\n"
    finally:
        cli("down", lab)
    assert lab_namespaces(lab) == []
