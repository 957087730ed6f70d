"""Names and run-directory paths: checked before anything is touched (invariant 7)."""

from __future__ import annotations

import os
import threading

import pytest

from vnetlab import names
from vnetlab.host import state


@pytest.fixture
def run_root(tmp_path, monkeypatch):
    root = tmp_path / "run"
    root.mkdir()
    monkeypatch.setattr(state, "RUN_ROOT", str(root))
    return root


@pytest.mark.parametrize("name", ["redblue", "a", "lab1", "abcdefghij"])
def test_good_lab_names(name):
    assert names.lab_name(name) == name


@pytest.mark.parametrize("name", ["", "..", "../x", "/tmp", "a/b", "a\0b", "redblue\n", "Red", "1lab",
                                  "abcdefghijk", "a-b", "a b", 7, None])
def test_bad_lab_names(name):
    with pytest.raises(names.UnsafeName):
        names.lab_name(name)


@pytest.mark.parametrize("name", ["..", "a/b", "web\n", "Web", "-web", "w" * 16, "a\x1b"])
def test_bad_node_names(name):
    with pytest.raises(names.UnsafeName):
        names.node_name(name)


def test_messages_escape_control_characters():
    with pytest.raises(names.UnsafeName) as caught:
        names.lab_name("\x1b]0;title\x07\x1b[2J")
    assert "\x1b" not in str(caught.value) and "\x07" not in str(caught.value)
    assert "\\x1b" in str(caught.value)


def test_lab_dir_stays_inside_the_run_root(run_root):
    assert state.lab_dir("redblue") == os.path.join(str(run_root), "redblue")
    for hostile in ("..", "../etc", "/etc", "a/../b"):
        with pytest.raises(names.UnsafeName):
            state.lab_dir(hostile)
        with pytest.raises(names.UnsafeName):
            state.lock_path(hostile)


def test_a_planted_symlink_is_refused(run_root, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data").write_text("x")
    os.symlink(victim, run_root / "evil")
    with pytest.raises(names.UnsafeName):
        state.lab_dir("evil")
    with pytest.raises(names.UnsafeName):
        state.Journal("evil").remove()
    assert state.lab_names() == []
    assert (victim / "data").exists()


def test_remove_needs_the_journal(run_root):
    stray = run_root / "stray"
    stray.mkdir()
    (stray / "file").write_text("not ours")
    with pytest.raises(names.UnsafeName):
        state.Journal("stray").remove()
    assert (stray / "file").exists()
    (stray / "file").unlink()
    state.Journal("stray").remove()  # empty: an up killed before its first entry
    assert not stray.exists()
    journal = state.Journal("mine").open()
    journal.record("source", path="/x.yaml")
    (run_root / "mine" / "lab.json").write_text("{}")
    journal.remove()
    assert not (run_root / "mine").exists()


def test_journal_keeps_namespace_identities(run_root):
    journal = state.Journal("ids").open()
    journal.record("netns", name="ids-a")
    journal.record("netns-id", name="ids-a", inode=42)
    journal.record("netns", name="ids-b")
    record = journal.read()
    assert record.namespaces == ["ids-a", "ids-b"] and record.namespace_ids == {"ids-a": 42}
    journal.record("netns-gone", name="ids-a")
    assert journal.read().namespace_ids == {}
    journal.remove()


def test_lock_file_goes_with_the_lab(run_root):
    with state.locked("gone"):
        assert os.path.exists(state.lock_path("gone"))
    assert not os.path.exists(state.lock_path("gone")), "a lab that is not up keeps no lock file"
    os.makedirs(state.lab_dir("kept"))
    with state.locked("kept"):
        pass
    assert os.path.exists(state.lock_path("kept")), "a running lab keeps its lock file"


def test_lock_is_exclusive_across_removal(run_root):
    """A waiter that got the lock of a file its holder removed locks the new one."""
    inside = []
    release = threading.Event()

    def holder():
        with state.locked("race"):
            inside.append("holder")
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    while not inside:
        pass
    with pytest.raises(state.LabBusy):
        with state.locked("race", wait=0.1):
            pass
    release.set()
    thread.join()
    with state.locked("race", wait=2):
        inside.append("second")
    assert inside == ["holder", "second"]


def test_a_broken_file_still_names_a_valid_lab_but_never_a_hostile_one():
    from vnetlab.model import LabFileError, load_lab_text

    with pytest.raises(LabFileError) as broken:
        load_lab_text("lab: redblue\nnodes: 5\n", "f.yaml")
    assert broken.value.lab == "redblue"
    for hostile in ("/../../tmp/victim", "..", '"redblue\\n"'):
        with pytest.raises(LabFileError) as caught:
            load_lab_text(f"lab: {hostile}\nnodes: 5\n", "f.yaml")
        assert caught.value.lab is None
