"""A capture's file is the lab's: private, in the lab's run directory (which ``down`` removes),
never in $TMPDIR where a killed server would leave it; the server's stop removes it too."""

from __future__ import annotations

import os
import threading

import pytest

from vnetlab.host import state
from vnetlab.names import UnsafeName
from vnetlab.web import captures


@pytest.fixture
def run_root(tmp_path, monkeypatch):
    monkeypatch.setattr(state, "RUN_ROOT", str(tmp_path))
    (tmp_path / "fw").mkdir()
    return tmp_path


def test_a_captures_file_is_new_private_and_in_the_labs_run_directory(run_root):
    output, path = captures._new_file("fw", "c1")
    with output:
        output.write(b"x")
    assert os.path.dirname(path) == str(run_root / "fw")
    assert os.path.basename(path).startswith("web-capture-c1-") and path.endswith(".pcapng")
    assert os.stat(path).st_mode & 0o777 == 0o600
    again, other = captures._new_file("fw", "c1")  # a server started again counts from c1: a file of its own
    again.close()
    assert other != path and open(path, "rb").read() == b"x"


def test_a_planted_link_for_the_run_directory_is_refused(run_root):
    os.symlink(str(run_root / "fw"), str(run_root / "evil"))
    with pytest.raises(UnsafeName):
        captures._new_file("evil", "c1")


def test_stopping_a_lab_or_the_server_forgets_its_captures_and_removes_their_files(run_root):
    kept = captures.Captures()
    made = []
    for lab, capture_id in (("fw", "c1"), ("fw", "c2")):
        output, path = captures._new_file(lab, capture_id)
        output.close()
        found = captures.Capture(capture_id, lab, ["x:eth0"], path, threading.Event())
        kept._captures[capture_id] = found
        made.append(found)
    kept.stop_lab("other")
    assert all(os.path.exists(f.path) for f in made)
    kept.stop_lab("fw")
    assert not any(os.path.exists(f.path) for f in made)
    with pytest.raises(LookupError):
        kept.get("fw", "c1")
    output, path = captures._new_file("fw", "c3")
    output.close()
    kept._captures["c3"] = captures.Capture("c3", "fw", ["x:eth0"], path, threading.Event())
    kept.close()
    assert not os.path.exists(path) and os.listdir(run_root / "fw") == []
