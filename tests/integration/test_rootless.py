"""Rootless mode, for real: labs built by ordinary users the setup makes.

Each user's vnetlab runs in a lab root (a user namespace it owns) with its
state under its own runtime directory; the host guard checks the host
around every test, and every test ends with nothing of the user's left:
no process, no run root, no file outside its runtime directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from rootless_users import made_users, tun_mode

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = {  # file -> lab name
    "tenants.yaml": "tenants",
    "red-blue.yaml": "redblue",
    "proxmox-tap.yaml": "pvetap",
    "secure-host.yaml": "secure",
    "proxmox-nat.yaml": "pvenat",
    "ovs-bad-neighbor.yaml": "ovsbad",
    "podman-rootless.yaml": "podman",
    "lxc-lxcbr0.yaml": "lxc",            # dnsmasq serving DHCP and DNS, udhcpc clients
    "sdn-controller.yaml": "sdn",        # OVS and vnetlab's OpenFlow controller
    "wan-impairments.yaml": "wan",       # impairments on the userspace path (a TAP and the supervisor's engine)
}


@pytest.fixture(scope="module")
def users():
    with made_users(2) as made, tun_mode(0o666):  # Debian's default mode; some machines keep it root's
        yield made


def nothing_left(user) -> None:
    left = user.leftovers()
    assert not left, f"{user.name} left {left}"


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_up_check_down_as_an_ordinary_user(users, example):
    user = users[0]
    lab = EXAMPLES[example]
    up = user.vnetlab("up", example)
    try:
        assert up.returncode == 0, up.stderr
        assert os.path.isdir(os.path.join(user.run_root, lab))  # its state is in the user's runtime directory
        assert not os.path.exists(f"/run/vnetlab/{lab}")
        check = user.vnetlab("check", lab)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "0 failed" in check.stdout
    finally:
        down = user.vnetlab("down", lab)
    assert down.returncode == 0, down.stderr
    nothing_left(user)


def test_inside_a_rootless_lab_the_tools_work(users):
    """exec, status, trace, capture, reach, scan, sockets, plan and drift on one lab."""
    user = users[0]
    assert user.vnetlab("up", "secure-host.yaml", "-q").returncode == 0
    try:
        exec_ = user.vnetlab("exec", "secure", "admin", "--", "id", "-u")
        assert exec_.returncode == 0 and exec_.stdout.strip() == "0", exec_  # root inside the lab root only
        status = user.vnetlab("status", "secure")
        assert status.returncode == 0 and "drift: none" in status.stdout, status.stdout
        trace = user.vnetlab("trace", "secure", "admin", "server:22", "--proto", "tcp")
        assert trace.returncode in (0, 1) and "server" in trace.stdout, trace.stdout + trace.stderr
        reach = user.vnetlab("reach", "secure", "--json")
        assert reach.returncode in (0, 1) and '"reachable"' in reach.stdout, reach.stdout + reach.stderr
        sockets = user.vnetlab("sockets", "secure", "server")
        assert sockets.returncode == 0 and "22" in sockets.stdout, sockets.stdout + sockets.stderr
        scan = user.vnetlab("scan", "secure", "admin", "server")
        assert scan.returncode in (0, 1) and "22" in scan.stdout, scan.stdout + scan.stderr
        capture = user.popen("capture", "secure", "admin", "--count", "2", "--json",
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        user.vnetlab("exec", "secure", "admin", "--", "ping", "-c", "3", "-i", "0.2", "-q", "server")
        out, err = capture.communicate(timeout=20)
        assert capture.returncode == 0 and '"received"' in out, out + err
        hand_made = user.vnetlab("exec", "secure", "admin", "--", "ip", "addr", "add", "192.0.2.9/32", "dev", "lo")
        assert hand_made.returncode == 0
        drift = user.vnetlab("status", "secure")
        assert "192.0.2.9" in drift.stdout, drift.stdout
        converge = user.vnetlab("up", "secure-host.yaml", "-q")
        assert converge.returncode == 0
        assert "drift: none" in user.vnetlab("status", "secure").stdout
        plan = user.vnetlab("plan", "secure-host.yaml")
        assert plan.returncode == 0, plan.stderr
        reboot = user.vnetlab("reboot", "secure", "server")
        assert reboot.returncode == 0 and "rebooted" in reboot.stdout, reboot.stdout + reboot.stderr
        assert user.vnetlab("check", "secure").returncode == 0
        shell = subprocess.run(user.argv("shell", "secure", "server"), input="ip -br addr show eth0\nexit\n",
                               capture_output=True, text=True, timeout=30, env=user.env(), cwd=user.examples)
        assert "10.0.0.10" in shell.stdout, shell.stdout + shell.stderr
    finally:
        assert user.vnetlab("down", "secure").returncode == 0
    nothing_left(user)


@pytest.mark.parametrize("after", [0.05, 0.25, 0.6])
def test_sigkill_mid_up_then_down_leaves_nothing(users, after):
    user = users[0]
    started = user.popen("up", "proxmox-nat.yaml", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(after)
    vnetlab = _child_of(started.pid)
    os.kill(vnetlab or started.pid, signal.SIGKILL)
    started.wait(10)
    down = user.vnetlab("down", "pvenat")
    assert down.returncode == 0, down.stderr
    nothing_left(user)


def _child_of(pid: int) -> int | None:
    """runuser's child (the vnetlab process), or None if it has none yet."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        return int(entry)
            except (OSError, ValueError, IndexError):
                continue
    return None


def test_a_course_exercise_as_an_ordinary_user(users):
    user = users[1]
    start = user.vnetlab("course", "start", "routing", "--student", "ana")
    assert start.returncode == 0, start.stderr
    try:
        grade = user.vnetlab("course", "grade", "routing", "--student", "ana", "--json")
        assert grade.returncode == 1 and '"points"' in grade.stdout, grade.stdout + grade.stderr  # the start earns 0
        assert user.vnetlab("course", "solve", "routing", "--student", "ana").returncode == 0
        assert user.vnetlab("course", "grade", "routing", "--student", "ana").returncode == 0
    finally:
        assert user.vnetlab("course", "stop", "routing", "--student", "ana").returncode == 0
    nothing_left(user)


def test_two_users_run_labs_of_the_same_name_and_cannot_touch_each_other(users):
    one, two = users
    assert one.vnetlab("up", "red-blue.yaml", "-q").returncode == 0
    try:
        down = two.vnetlab("down", "redblue")  # two has no such lab: one's is not in its sight
        assert down.returncode == 0 and "was not up" in down.stdout, down
        assert one.vnetlab("check", "redblue").returncode == 0
        assert two.vnetlab("exec", "redblue", "red", "--", "true").returncode == 2
        assert "no labs are up" in two.vnetlab("status").stdout
        assert two.vnetlab("up", "red-blue.yaml", "-q").returncode == 0  # the same name, side by side
        try:
            for user in users:
                check = user.vnetlab("check", "redblue")
                assert check.returncode == 0, check.stdout
            # two pointing its runtime directory at one's: refused, one's directory is not two's
            borrowed = two.vnetlab("status", env=two.env(XDG_RUNTIME_DIR=one.runtime))
            assert borrowed.returncode == 3 and "runtime directory" in borrowed.stderr, borrowed.stderr
            # two entering one's lab root directly: the kernel refuses
            with open(os.path.join(one.run_root, ".root.json")) as handle:
                holder = __import__("json").load(handle)["pid"]
            enter = subprocess.run(["runuser", "-u", two.name, "--", "nsenter", "-t", str(holder), "-U", "-m", "true"],
                                   capture_output=True, text=True, timeout=10)
            assert enter.returncode != 0
        finally:
            assert two.vnetlab("down", "redblue").returncode == 0
        assert one.vnetlab("check", "redblue").returncode == 0  # two's down left one's lab alone
        nothing_left(two)
    finally:
        assert one.vnetlab("down", "redblue").returncode == 0
    nothing_left(one)


def test_what_needs_the_hosts_root_is_refused_before_anything_is_made(users):
    user = users[0]
    neigh = user.vnetlab("up", "red-blue.yaml", "--raise-neigh-limit")
    assert neigh.returncode == 3 and "--raise-neigh-limit" in neigh.stderr, neigh.stderr
    enable = user.vnetlab("enable", "red-blue.yaml")
    assert enable.returncode == 3 and "systemctl --user" in enable.stderr, enable.stderr
    with tun_mode(0o600):
        tap = user.vnetlab("up", "proxmox-tap.yaml")
    assert tap.returncode == 3 and "/dev/net/tun" in tap.stderr and len(tap.stderr.splitlines()) == 1, tap.stderr
    nothing_left(user)


def test_disabled_user_namespaces_are_explained(users):
    """A user namespace in which user.max_user_namespaces is 0 (the limit
    holds for every namespace below it), with the user mapped: what a machine
    that disables them does to vnetlab — exit 3 naming the setting."""
    user = users[0]
    script = os.path.join(HERE, "nested_userns.py")
    result = subprocess.run([sys.executable, script, f"{user.uid}:{user.gid}", *user.argv("up", "red-blue.yaml")[4:]],
                            capture_output=True, text=True, timeout=60, env=user.env(),
                            cwd=user.examples)
    assert result.returncode == 3, result.stderr
    assert "user.max_user_namespaces = 0" in result.stderr and "sysctl -w" in result.stderr
    nothing_left(user)
