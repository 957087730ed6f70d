"""host/node_etc.py in a scratch directory: each node's own /etc, owned by journal and mark."""

from __future__ import annotations

import os

import pytest

from vnetlab.errors import EnvironmentProblem
from vnetlab.host import node_etc, state
from vnetlab.names import UnsafeName


class Recorder:
    def __init__(self):
        self.entries = []

    def record(self, kind, **data):
        self.entries.append((kind, data["name"], os.path.lexists(node_etc.directory(data["name"]))))


@pytest.fixture
def etc(tmp_path, monkeypatch):
    """A scratch /etc (with a network/ of its own), /etc/netns inside it, and a run root."""
    (tmp_path / "etc" / "network").mkdir(parents=True)
    monkeypatch.setattr(node_etc, "ETC", str(tmp_path / "etc"))
    monkeypatch.setattr(node_etc, "ETC_NETNS", str(tmp_path / "etc" / "netns"))
    monkeypatch.setattr(state, "RUN_ROOT", str(tmp_path / "run"))
    return tmp_path / "etc"


FILES = {node_etc.INTERFACES: "auto lo\niface lo inet loopback\n"}


def test_create_journals_first_marks_and_writes_and_remove_takes_everything_back(etc):
    journal = Recorder()
    assert node_etc.create("lab", {"lab-a": FILES, "lab-b": FILES}, journal) == ["lab-a", "lab-b"]
    assert journal.entries == [("etc", "lab-a", False), ("etc", "lab-b", False)]  # recorded before it existed
    assert (etc / "netns" / "lab-a" / "network" / "interfaces").read_text() == FILES[node_etc.INTERFACES]
    assert node_etc.ownership("lab-a", "lab") == node_etc.OURS
    assert node_etc.ownership("lab-a", "other") == node_etc.FOREIGN
    assert node_etc.marked("lab") == ["lab-a", "lab-b"]
    (etc / "netns" / "lab-a" / "network" / "interfaces").write_text("edited\n")
    assert node_etc.create("lab", {"lab-a": FILES}, Recorder()) == []  # ours already: its files are kept
    assert (etc / "netns" / "lab-a" / "network" / "interfaces").read_text() == "edited\n"
    assert node_etc.remove("lab", ["lab-a", "lab-b"]) == []
    assert not (etc / "netns").exists(), "vnetlab made /etc/netns, so it goes once empty"
    assert not os.path.exists(os.path.join(state.RUN_ROOT, node_etc.ROOT_NOTE))


def test_what_is_not_ours_is_refused_and_left_alone(etc):
    (etc / "netns" / "lab-x").mkdir(parents=True)  # the admin's, unmarked
    (etc / "netns" / "lab-y").symlink_to(etc / "network")
    assert node_etc.ownership("lab-x", "lab") == node_etc.FOREIGN
    assert node_etc.ownership("lab-y", "lab") == node_etc.FOREIGN
    with pytest.raises(EnvironmentProblem, match="lab-x"):
        node_etc.refuse_foreign("lab", ["lab-x", "lab-z"])
    with pytest.raises(EnvironmentProblem, match="never uses or removes"):
        node_etc.create("lab", {"lab-x": FILES}, Recorder())
    node_etc.create("other", {"lab-z": FILES}, Recorder())  # another lab's mark
    assert node_etc.remove("lab", ["lab-y", "lab-z"]) == ["lab-y", "lab-z"]
    assert (etc / "netns" / "lab-x").is_dir() and (etc / "netns" / "lab-y").is_symlink()
    assert (etc / "netns" / "lab-z").is_dir()
    assert node_etc.marked("lab") == []


def test_an_etc_netns_that_was_there_stays(etc):
    (etc / "netns").mkdir()
    node_etc.create("lab", {"lab-a": FILES}, Recorder())
    node_etc.remove("lab", ["lab-a"])
    assert (etc / "netns").is_dir() and os.listdir(etc / "netns") == []


def test_bind_mounts_cover_existing_etc_entries_of_the_same_type_only(etc):
    node_etc.create("lab", {"lab-a": {**FILES, "hosts": "127.0.0.1 a\n", "motd": "hi\n"}}, Recorder())
    (etc / "hosts").write_text("127.0.0.1 localhost\n")
    assert node_etc.bind_mounts("lab-a") == [(str(etc / "netns" / "lab-a" / "hosts"), str(etc / "hosts")),
                                             (str(etc / "netns" / "lab-a" / "network"), str(etc / "network"))]
    assert node_etc.bind_mounts("lab-none") == []
    assert node_etc.bind_mounts("not a namespace") == []


@pytest.mark.parametrize("name", ["../etc", "lab", "Lab-a", "lab-a/b", "lab-"])
def test_only_a_lab_namespace_name_becomes_a_path(name):
    with pytest.raises(UnsafeName):
        node_etc.directory(name)
