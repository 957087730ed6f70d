"""The built-in controller's pure helpers, the controller: rule, and the
command-service PATH (no root, no OVS)."""

import os
import sys

import pytest

from vnetlab.agents import controller
from vnetlab.agents.services import command_env
from vnetlab.model.validate import controller_problem

TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


@pytest.mark.parametrize("text, expected", [
    ("tcp:127.0.0.1:6653", ("127.0.0.1", 6653)),
    ("tcp:[::1]:6633", ("::1", 6633)),
    ("tcp:0.0.0.0:1", ("0.0.0.0", 1)),
])
def test_parse_listen_accepts_tcp_ip_port(text, expected):
    assert controller.parse_listen(text) == expected


@pytest.mark.parametrize("text", ["ssl:127.0.0.1:6653", "tcp:127.0.0.1", "tcp:localhost:6653",
                                  "tcp:127.0.0.1:0", "tcp:127.0.0.1:70000", "127.0.0.1:6653", ""])
def test_parse_listen_rejects_anything_else_with_advice(text):
    with pytest.raises(ValueError, match=r"tcp:IP:PORT \(e\.g\. tcp:127\.0\.0\.1:6653\)"):
        controller.parse_listen(text)


@pytest.mark.parametrize("value", ["builtin", "tcp:127.0.0.1:6653", "tcp:10.0.0.9", "tcp:[fd00::1]:6653"])
def test_controller_values_that_are_accepted(value):
    assert controller_problem(value) is None


@pytest.mark.parametrize("value, fragment", [
    ("Builtin", "neither builtin nor"),
    ("unix:/run/ctl.sock", "neither builtin nor"),
    ("tcp:localhost:6653", "'localhost' is not an IP address"),
    ("tcp:fd00::1:6653", "is not an IP address"),
    ("tcp:[10.0.0.1]:6653", "is not an IPv6 address"),
    ("tcp:[fd00::1:6653", "in brackets"),
    ("tcp:127.0.0.1:0", "port '0' is not 1–65535"),
    ("tcp:127.0.0.1:http", "port 'http'"),
    # OVS needs a key and certificates for ssl:, and a lab file cannot give them.
    ("ssl:192.0.2.1:6653", "only tcp:IP:PORT and builtin are supported"),
    ("ssl:[::1]", "only tcp:IP:PORT and builtin are supported"),
])
def test_controller_values_that_are_refused_say_what_to_write(value, fragment):
    message = controller_problem(value)
    assert message is not None and fragment in message
    assert "e.g. tcp:127.0.0.1:6653" in message


def _proc_net(tmp_path, tcp_lines="", tcp6_lines=""):
    (tmp_path / "tcp").write_text(TCP_HEADER + tcp_lines)
    (tmp_path / "tcp6").write_text(TCP_HEADER + tcp6_lines)
    return str(tmp_path)


def test_is_listening_finds_a_listening_socket_by_port(tmp_path):
    # 0100007F:19FD = 127.0.0.1:6653, state 0A = LISTEN
    proc = _proc_net(tmp_path, "   0: 0100007F:19FD 00000000:0000 0A 00000000:00000000 00:00000000 "
                               "00000000     0        0 1 1 0 100 0 0 10 0\n")
    assert controller.is_listening(6653, proc)
    assert not controller.is_listening(6633, proc)


def test_is_listening_ignores_connections_that_are_not_listening(tmp_path):
    # state 01 = ESTABLISHED: a switch connected from 6653 is not a listener
    proc = _proc_net(tmp_path, tcp6_lines="   0: 00000000000000000000000001000000:19FD "
                                          "00000000000000000000000001000000:A000 01 00000000:00000000 "
                                          "00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n")
    assert not controller.is_listening(6653, proc)


def test_is_configured_needs_our_table_miss_flow():
    ours = (" cookie=0x766e6c6162, duration=1.1s, table=0, n_packets=7, n_bytes=462, "
            "priority=0 actions=CONTROLLER:65535\n")
    learned = (" cookie=0x766e6c6162, duration=1.0s, table=0, n_packets=1, n_bytes=98, idle_timeout=60, "
               "priority=1,in_port=2,dl_dst=42:d3:9d:1c:03:46 actions=output:3\n")
    someone_elses = " cookie=0x0, duration=3s, table=0, priority=0 actions=CONTROLLER:65535\n"
    assert controller.is_configured("NXST_FLOW reply (xid=0x4):\n" + learned + ours)
    assert not controller.is_configured("NXST_FLOW reply (xid=0x4):\n" + learned + someone_elses)
    assert not controller.is_configured("")


def test_wait_configured_polls_until_the_flow_appears():
    outputs = iter(["", "", " cookie=0x766e6c6162, priority=0 actions=CONTROLLER:65535\n"])
    assert controller.wait_configured(lambda: next(outputs), timeout=5)
    assert not controller.wait_configured(lambda: "", timeout=0)


def test_command_services_find_our_python_first(monkeypatch):
    monkeypatch.setenv("PATH", f"/usr/bin:{os.path.dirname(sys.executable)}:/bin")
    path = command_env()["PATH"].split(os.pathsep)
    assert path[0] == os.path.dirname(sys.executable)
    assert path[1:] == ["/usr/bin", "/bin"]  # kept, in order, without a duplicate


def test_the_bridges_a_plan_s_builtin_controller_drives():
    from vnetlab.plan import OvsAddBridge, RunService

    command = ("python3", "-m", "vnetlab.agents.controller", "--listen", "tcp:127.0.0.1:6653")
    ops = [
        OvsAddBridge("x-sw", rundir="/run/vnetlab/x/ovs/sw", bridge="br0", controller="tcp:127.0.0.1:6653"),
        OvsAddBridge("x-sw", rundir="/run/vnetlab/x/ovs/sw", bridge="br1"),  # no controller
        OvsAddBridge("x-ext", rundir="/run/vnetlab/x/ovs/ext", bridge="br0",
                     controller="tcp:127.0.0.1:6653"),  # an external controller: no built-in one runs there
        OvsAddBridge("x-pve", rundir="/run/vnetlab/x/ovs/pve", bridge="vmbr1", controller="tcp:127.0.0.1:6653"),
        RunService("x-sw", node="sw", command=command),
        RunService("x-pve", node="pve", command=command),
        RunService("x-web", node="web", command=("python3", "-m", "http.server", "6653")),
    ]
    assert controller.builtin_controlled_bridges(ops) == [
        controller.ControlledBridge("x-sw", "/run/vnetlab/x/ovs/sw", "br0", 6653),
        controller.ControlledBridge("x-pve", "/run/vnetlab/x/ovs/pve", "vmbr1", 6653),
    ]
    assert controller.builtin_controlled_bridges(ops[:4]) == []  # no controller started: nothing to wait for


def test_importing_the_controller_helpers_does_not_import_os_ken():
    import subprocess

    code = "import sys, vnetlab.agents.controller; print('os_ken' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
