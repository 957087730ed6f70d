"""executors/service_start.py without a lab: real local processes and a
``services.json`` written the way the supervisor writes it (no root, no namespaces)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import pytest

from vnetlab.host import processes
from vnetlab.agents import services
from vnetlab.executors.service_start import log_tail, printable, watch_started
from vnetlab.agents.services import ServiceSpec


class Supervised:
    """Plays the supervisor for one command: starts it with its log, records
    it in services.json, and records its exit status once it exits."""

    def __init__(self, rundir: str, argv: list[str], oneshot: bool = False):
        self.rundir = rundir
        self.spec = ServiceSpec("t-web", "web", command=tuple(argv), oneshot=oneshot)
        self.log = "service-web-1.log"
        with open(os.path.join(rundir, self.log), "ab") as log:
            log.write(b"--- 2026-01-01 00:00:00 starting in t-web: old run\nfrom an earlier run\n")
            log.write(b"--- 2026-01-01 00:00:01 starting in t-web: " + " ".join(argv).encode() + b"\n")
            log.flush()
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._write(processes.ProcessRecord.of(self.proc.pid).to_dict())
        self._reaper = threading.Thread(target=self._reap, daemon=True)
        self._reaper.start()

    def _write(self, extra: dict) -> None:
        entry = {**self.spec.to_dict(), "state": "running", "log": self.log, **extra}
        path = os.path.join(self.rundir, services.SERVICES_FILE)
        with open(f"{path}.tmp", "w") as handle:
            json.dump({"generation": 1, "services": [entry]}, handle)
        os.replace(f"{path}.tmp", path)

    def _reap(self) -> None:
        status = self.proc.wait()
        self._write({"state": "done" if self.spec.oneshot and status == 0 else "failed", "exit_status": status})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self._reaper.join(5)


@pytest.fixture
def supervised(tmp_path):
    started: list[Supervised] = []

    def start(argv: list[str], oneshot: bool = False) -> Supervised:
        started.append(Supervised(str(tmp_path), argv, oneshot))
        return started[-1]

    yield start
    for one in started:
        one.stop()


def test_a_service_that_exits_at_once_fails_with_its_status_and_output(supervised, tmp_path):
    service = supervised(["sh", "-c", "echo starting; printf 'bad \\033[2J flag\\n' >&2; exit 3"])
    (failure,) = watch_started(str(tmp_path), [service.spec], grace=5.0)
    assert failure.startswith("service web: command [sh -c ")
    assert "exited with status 3 within 5 s of starting" in failure and "'oneshot: true'" in failure
    lines = failure.splitlines()[1:]
    assert lines == ["    starting", "    bad \\x1b[2J flag"]  # this run's output only, escaped


def test_a_service_that_keeps_running_passes_and_is_left_running(supervised, tmp_path):
    service = supervised(["sleep", "30"])
    assert watch_started(str(tmp_path), [service.spec], grace=0.2) == []
    assert service.proc.poll() is None


def test_a_service_killed_by_a_signal_says_which(supervised, tmp_path):
    service = supervised(["sh", "-c", "kill -9 $$"])
    (failure,) = watch_started(str(tmp_path), [service.spec], grace=5.0)
    assert "was killed by signal SIGKILL" in failure and "it printed nothing" in failure


def test_oneshot_exit_0_passes_and_a_non_zero_exit_fails(supervised, tmp_path):
    good = supervised(["sh", "-c", "sleep 0.3; echo configured"], oneshot=True)
    assert watch_started(str(tmp_path), [good.spec], oneshot_timeout=10.0) == []
    assert good.proc.returncode == 0  # waited for, not just seen running
    bad = supervised(["sh", "-c", "echo no such interface >&2; exit 1"], oneshot=True)
    (failure,) = watch_started(str(tmp_path), [bad.spec], oneshot_timeout=10.0)
    assert "oneshot command [sh -c" in failure and "exited with status 1; a oneshot must exit 0" in failure
    assert failure.splitlines()[-1] == "    no such interface"


def test_oneshot_that_does_not_finish_in_time_fails(supervised, tmp_path):
    slow = supervised(["sh", "-c", "echo waiting; exec sleep 30"], oneshot=True)
    (failure,) = watch_started(str(tmp_path), [slow.spec], oneshot_timeout=0.3)
    assert "was still running after 0.3 s" in failure and "drop 'oneshot'" in failure
    assert failure.splitlines()[-1] == "    waiting"


def test_an_exit_before_the_watch_began_counts(supervised, tmp_path):
    service = supervised(["true"])
    deadline = time.monotonic() + 5
    while "exit_status" not in json.loads((tmp_path / services.SERVICES_FILE).read_text())["services"][0]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (failure,) = watch_started(str(tmp_path), [service.spec], grace=5.0)
    assert "exited with status 0 within 5 s" in failure  # exit 0 is still an exit for a service


def test_log_tail_and_printable(tmp_path):
    log = tmp_path / "service.log"
    log.write_bytes(b"--- d starting in x: a\nold\n--- d starting in x: a\n" + b"".join(
        f"line {i}\n".encode() for i in range(15)) + "\x07bell\u009bcsi".encode() + b"\x9braw\n")
    # C1 controls (U+009B is CSI) are escaped; a byte that is no UTF-8 becomes U+FFFD.
    assert log_tail(str(log), 3) == ["line 13", "line 14", "\\x07bell\\x9bcsi\ufffdraw"]
    assert log_tail(str(tmp_path / "absent.log")) == []
    assert printable("a\tb\x1b]0;title\x07") == "a\tb\\x1b]0;title\\x07"
