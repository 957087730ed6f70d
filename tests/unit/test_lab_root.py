"""Rootless mode's rules that need no kernel: where the run root is, what a
machine that refuses user namespaces is told, what is refused, and how
programs are told to keep their user. (The lab root itself, for real:
tests/integration/test_rootless.py.)"""

from __future__ import annotations

import os

import pytest

from vnetlab.errors import EnvironmentProblem
from vnetlab.host import lab_root


def _proc_sys(tmp_path, **values: str) -> str:
    for name, value in values.items():
        path = tmp_path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")
    return str(tmp_path)


@pytest.mark.parametrize("setting, value, named", [
    ("kernel__unprivileged_userns_clone", "0", "kernel.unprivileged_userns_clone = 0"),
    ("user__max_user_namespaces", "0", "user.max_user_namespaces = 0"),
    ("kernel__apparmor_restrict_unprivileged_userns", "1", "kernel.apparmor_restrict_unprivileged_userns = 1"),
])
def test_each_setting_that_refuses_user_namespaces_is_named_with_how_to_allow_it(tmp_path, setting, value, named):
    problem = lab_root.userns_problem(_proc_sys(tmp_path, **{setting: value}))
    assert problem is not None and named in problem
    assert "sudo sysctl -w " + named.split(" = ")[0] + "=" in problem


def test_allowed_settings_are_no_problem_and_the_fallback_message_says_what_failed(tmp_path):
    proc_sys = _proc_sys(tmp_path, kernel__unprivileged_userns_clone="1", user__max_user_namespaces="15000",
                         kernel__apparmor_restrict_unprivileged_userns="0")
    assert lab_root.userns_problem(proc_sys) is None
    assert "mount: Operation not permitted" in lab_root._userns_refused(1, "mount: Operation not permitted", proc_sys)


def test_the_run_root_is_in_the_users_own_runtime_directory(tmp_path, monkeypatch):
    runtime = tmp_path / "run-user"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert lab_root.run_root() == os.path.join(str(runtime), "vnetlab")


@pytest.mark.parametrize("mode", [0o777, 0o722])
def test_a_runtime_directory_others_can_write_is_refused(tmp_path, monkeypatch, mode):
    runtime = tmp_path / "shared"
    runtime.mkdir()
    runtime.chmod(mode)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    with pytest.raises(EnvironmentProblem, match="writable by others"):
        lab_root.run_root()


def test_a_missing_runtime_directory_is_refused_and_never_replaced_by_another(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "gone"))
    with pytest.raises(EnvironmentProblem, match="XDG_RUNTIME_DIR=.*gone"):
        lab_root.run_root()


def test_what_needs_the_hosts_root_is_refused_only_without_root(monkeypatch):
    monkeypatch.delenv(lab_root.ENV_ROOTLESS, raising=False)
    lab_root.refuse("--raise-neigh-limit", "leave it out")  # root mode: nothing to refuse
    monkeypatch.setenv(lab_root.ENV_ROOTLESS, "/run/user/1000/vnetlab")
    with pytest.raises(EnvironmentProblem, match="--raise-neigh-limit needs root on the host.*leave it out"):
        lab_root.refuse("--raise-neigh-limit", "leave it out")


def test_dnsmasq_keeps_its_user_in_a_lab_root_only(monkeypatch):
    argv = ["dnsmasq", "--conf-file=x"]
    monkeypatch.delenv(lab_root.ENV_ROOTLESS, raising=False)
    assert lab_root.as_its_own_user(argv) == argv
    monkeypatch.setenv(lab_root.ENV_ROOTLESS, "/run/user/1000/vnetlab")
    assert lab_root.as_its_own_user(argv) == [*argv, "--user=root", "--group="]
    assert lab_root.as_its_own_user(["sleep", "1"]) == ["sleep", "1"]


def test_only_lab_names_count_as_labs_in_the_run_root(tmp_path):
    for entry in ("redblue", "routing_ana", ".netns", ".etc-netns", "Bad"):
        (tmp_path / entry).mkdir()
    (tmp_path / ".root.json").write_text("{}")
    assert lab_root.lab_names(str(tmp_path)) == ["redblue", "routing_ana"]


def test_a_recorded_holder_that_is_not_that_process_is_not_joined(tmp_path):
    (tmp_path / lab_root.HOLDER_FILE).write_text('{"pid": %d, "start": 1, "userns": 1}' % os.getpid())
    assert lab_root._live_holder(str(tmp_path)) is None  # our own pid, but not its start time or namespace
    (tmp_path / lab_root.HOLDER_FILE).write_text("not json")
    assert lab_root._live_holder(str(tmp_path)) is None


def test_in_a_lab_root_captures_use_dumpcap_with_the_same_output(monkeypatch):
    from vnetlab.probe import tcpdump

    monkeypatch.delenv(lab_root.ENV_ROOTLESS, raising=False)
    assert tcpdump.tcpdump_argv("any", "icmp", 256)[0] == "tcpdump"
    assert tcpdump.delivery_delay() == 0
    monkeypatch.setenv(lab_root.ENV_ROOTLESS, "/run/user/1000/vnetlab")
    argv = tcpdump.tcpdump_argv("any", "icmp", 256)
    assert argv[:2] == ["dumpcap", "-i"] and "-P" in argv and argv[-2:] == ["-f", "icmp"]
    assert argv[argv.index("-y") + 1] == "LINUX_SLL2"  # the link type tcpdump gives on "any"
    assert tcpdump.delivery_delay() > 0
    assert tcpdump.ready(b"Capturing on 'any'\n") and tcpdump.ready(b"tcpdump: listening on any")
