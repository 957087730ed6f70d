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


# --- vnetlab.lab.give_node_etc: a node's /etc is made the first time it is needed ---

LAB_FILE = """\
lab: lazy
nodes:
  a: {interfaces: {eth0: {address: 10.9.0.1/24}}}
  b: {interfaces: {eth0: {address: 10.9.0.2/24}}}
links: [[a:eth0, b:eth0]]
"""


@pytest.fixture
def running(etc):
    """Lab ``lazy`` as ``up`` leaves it in its run directory (journal, lab.json), with no node's /etc yet."""
    import json

    from vnetlab.host.applied import SPEC_COPY
    from vnetlab.model import load_lab_text

    spec = load_lab_text(LAB_FILE, "lazy.yaml")
    journal = state.Journal("lazy").open()
    journal.record("source", path="/labs/lazy.yaml")
    journal.close()
    with open(os.path.join(journal.dir, SPEC_COPY), "w") as handle:
        json.dump({"source": "/labs/lazy.yaml", "spec": spec.model_dump(by_alias=True)}, handle)
    return spec


def test_the_first_need_journals_marks_and_writes_the_nodes_file_and_later_ones_keep_it(running, etc, monkeypatch):
    from vnetlab.io.persistent import interfaces_text
    from vnetlab.lab import give_node_etc

    path = etc / "netns" / "lazy-a"
    seen = []
    record = state.Journal.record

    def spy(journal, kind, **data):  # what is journaled, and whether it existed then
        seen.append((kind, data.get("name"), path.exists()))
        record(journal, kind, **data)

    monkeypatch.setattr(state.Journal, "record", spy)
    assert not (etc / "netns").exists(), "nothing before the node is needed"
    assert give_node_etc("lazy", "a") is True
    assert seen == [("etc", "lazy-a", False)], "journaled before it was made"
    assert (path / "network" / "interfaces").read_text() == interfaces_text(running, "a")
    assert node_etc.ownership("lazy-a", "lazy") == node_etc.OURS
    assert state.Journal("lazy").read().etc == ["lazy-a"]
    assert not (etc / "netns" / "lazy-b").exists(), "only the node that was needed"
    (path / "network" / "interfaces").write_text("edited\n")
    assert give_node_etc("lazy", "a") is False
    assert (path / "network" / "interfaces").read_text() == "edited\n", "the student's file is kept"
    assert node_etc.remove("lazy", state.Journal("lazy").read().etc) == []
    assert not (etc / "netns").exists()


def test_it_is_made_under_the_labs_lock(running, monkeypatch):
    import contextlib

    from vnetlab.lab import give_node_etc

    held = []
    create = node_etc.create

    @contextlib.contextmanager
    def locked(lab, wait=30.0):
        held.append(lab)
        yield
        held.remove(lab)

    def create_checked(lab, files, journal, made=None):
        assert held == [lab], "made without the lab's lock"
        return create(lab, files, journal, made)

    monkeypatch.setattr(state, "locked", locked)
    monkeypatch.setattr(node_etc, "create", create_checked)
    assert give_node_etc("lazy", "b") is True
    assert not held


def test_a_directory_journaled_as_the_labs_without_a_mark_is_used_as_it_is(running, etc, monkeypatch):
    from vnetlab.lab import give_node_etc

    monkeypatch.setattr(os, "setxattr", lambda *args, **kwargs: (_ for _ in ()).throw(OSError(95, "no xattrs")))
    assert give_node_etc("lazy", "a") is True
    assert node_etc.ownership("lazy-a", "lazy") == node_etc.FOREIGN  # no mark: the journal alone says it is ours
    (etc / "netns" / "lazy-a" / "network" / "interfaces").write_text("edited\n")
    assert give_node_etc("lazy", "a") is False
    assert (etc / "netns" / "lazy-a" / "network" / "interfaces").read_text() == "edited\n"


def test_a_directory_the_lab_did_not_make_is_refused_and_left_alone(running, etc):
    from vnetlab.lab import give_node_etc

    (etc / "netns" / "lazy-a").mkdir(parents=True)
    with pytest.raises(EnvironmentProblem, match="never uses or removes"):
        give_node_etc("lazy", "a")
    assert os.listdir(etc / "netns" / "lazy-a") == []
    assert state.Journal("lazy").read().etc == []


def test_nothing_is_made_for_a_lab_that_is_not_up_or_a_node_it_does_not_run(running, etc):
    from vnetlab.lab import give_node_etc

    assert give_node_etc("other", "a") is False
    assert not os.path.exists(state.lab_dir("other")), "no run directory made for a lab that is not up"
    assert give_node_etc("lazy", "c") is False
    assert not (etc / "netns").exists()
