"""Process records: /proc/PID/stat parsing and start-time checks (no root)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from vnetlab.host import processes
from vnetlab.host.processes import ProcessRecord, parse_stat

# Fields 3..22 after the comm; starttime (field 22) is 98765.
_TAIL = "S 1 2 3 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 200"


@pytest.mark.parametrize("comm", ["python3", "a b c", "evil) S 1 2 (x", "((", ")", ""])
def test_parse_stat_splits_after_the_last_paren(comm):
    stat = parse_stat(f"4242 ({comm}) {_TAIL}\n")
    assert stat.comm == comm
    assert stat.state == "S"
    assert stat.starttime == 98765


@pytest.mark.parametrize("text", ["", "4242 no parens here", "4242 (x) S 1 2 3"])
def test_parse_stat_rejects_garbage(text):
    with pytest.raises(ValueError):
        parse_stat(text)


def test_parse_stat_of_self_matches_proc():
    with open("/proc/self/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    assert ProcessRecord.self().starttime == int(fields[19])


def test_record_round_trip_and_validation():
    record = ProcessRecord(pid=12, starttime=34)
    assert ProcessRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    for bad in [{}, {"pid": "12", "starttime": 34}, {"pid": 0, "starttime": 1}, {"pid": 1}, [1, 2], None]:
        with pytest.raises(ValueError):
            ProcessRecord.from_dict(bad)


def test_is_running_needs_matching_starttime():
    me = ProcessRecord.self()
    assert processes.is_running(me)
    assert not processes.is_running(ProcessRecord(me.pid, me.starttime + 1))
    assert not processes.is_running(ProcessRecord(2**22 + 1, 0))  # above pid_max


def test_write_and_read_record(tmp_path):
    path = str(tmp_path / "x.pid")
    assert processes.read_record(path) is None
    processes.write_record(path, ProcessRecord(5, 6))
    assert processes.read_record(path) == ProcessRecord(5, 6)
    assert os.listdir(tmp_path) == ["x.pid"], "no temporary file left behind"
    (tmp_path / "x.pid").write_text("{broken")
    assert processes.read_record(path) is None


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_stop_spares_a_process_whose_starttime_differs():
    proc = _sleeper()
    try:
        real = ProcessRecord.of(proc.pid)
        assert processes.stop(ProcessRecord(proc.pid, real.starttime - 1), timeout=0.1) is False
        assert processes.send_signal(ProcessRecord(proc.pid, real.starttime - 1), 9) is False
        assert proc.poll() is None
        assert processes.stop(real, timeout=2) is True
        assert processes.read_stat(proc.pid) is None, "stopped and reaped, no zombie"
        assert processes.stop(real) is False
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_stop_escalates_to_sigkill():
    proc = subprocess.Popen([sys.executable, "-c",
                             "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                             " print('ok', flush=True); time.sleep(60)"], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"ok\n"
        assert processes.stop(ProcessRecord.of(proc.pid), timeout=0.2) is True
        assert processes.read_stat(proc.pid) is None
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


def test_a_zombie_is_not_running():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    record = ProcessRecord.of(proc.pid)
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
    try:
        assert processes.read_stat(proc.pid).state == "Z"
        assert not processes.is_running(record)
        assert processes.stop(record) is False
        assert processes.read_stat(proc.pid) is None, "stop() reaps its own exited child"
    finally:
        proc.wait()
