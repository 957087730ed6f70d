"""Invariant 7: vnetlab touches only what it made.

Hostile lab and node names on every command that takes one, planted
symlinks in the run directory, namespaces someone else made, a second file
with a running lab's name, a full run directory. Each is refused without
touching anything outside the lab (a canary directory stays intact).
"""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import cli, copy_example, lab_namespaces
from vnetlab.host import netns, state
from vnetlab.lab import down as lab_down

pytestmark = pytest.mark.integration

HOSTILE_LABS = [
    "..", "../x", "/tmp", "a/../b", "a\nb", "redblue\n", "toolongforalabname", "RedBlue", "red blue",
    "-rf", ".hidden", "\x1b]0;pwned\x07",
]
# Every command that takes a lab name, with the arguments that make it reach the name.
LAB_COMMANDS = {
    "down": [], "status": [], "check": [], "exec": ["red", "--", "true"], "shell": ["red"],
    "trace": ["red", "blue"], "capture": ["--duration", "0.1"], "reach": [], "scan": ["red", "blue"],
    "sockets": ["red"], "disable": [],
}
HOSTILE_NODES = ["..", "../x", "/etc", "a\nb", "RED", "x" * 16, "\x1b[2J"]
NODE_COMMANDS = {"exec": ["--", "true"], "shell": [], "sockets": [], "scan": ["10.0.0.2"]}


@pytest.fixture
def canary(tmp_path):
    """A directory outside the run directory that no command may touch."""
    path = tmp_path / "canary"
    path.mkdir()
    (path / "precious").write_text("keep me")
    yield path
    assert (path / "precious").read_text() == "keep me", "the canary directory was touched"


def refused(capsys, *argv: str) -> str:
    """Runs the CLI in this process (the same code as the command, without a
    Python start-up per hostile name) and returns its stderr; it must exit 2."""
    from vnetlab.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse refuses a name that looks like an option ("-rf")
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, f"{' '.join(map(repr, argv))}: exit {code}\n{err}"
    return err


def run_root_entries() -> set[str]:
    try:
        return set(os.listdir(state.RUN_ROOT))
    except FileNotFoundError:
        return set()


@pytest.mark.parametrize("command", sorted(LAB_COMMANDS))
def test_hostile_lab_names_are_refused(command, canary, capsys):
    before = run_root_entries()
    names = [*HOSTILE_LABS, str(canary), f"../../..{canary}"]
    # The first as a separate process, as a user types it; the rest in-process (same code, faster).
    result = cli(command, names[0], *LAB_COMMANDS[command])
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    for name in names[1:]:
        err = refused(capsys, command, name, *LAB_COMMANDS[command])
        assert "\x1b" not in err and "\x07" not in err, "raw control characters echoed"
    assert run_root_entries() == before, "a refused command created something in the run directory"


@pytest.mark.parametrize("command", sorted(NODE_COMMANDS))
def test_hostile_node_names_are_refused(command, tmp_path, canary, capsys):
    path = copy_example(tmp_path, "red-blue.yaml", lab="hostnode")
    cli("up", path, "-q", check=True)
    try:
        result = cli(command, "hostnode", HOSTILE_NODES[0], *NODE_COMMANDS[command])
        assert result.returncode == 2, result.stderr
        for name in HOSTILE_NODES[1:]:
            assert "\x1b" not in refused(capsys, command, "hostnode", name, *NODE_COMMANDS[command])
    finally:
        cli("down", "hostnode", check=True)


def test_a_file_naming_a_hostile_lab_cannot_delete_a_directory(tmp_path, canary):
    """The reported attack: `lab: /../../tmp/victim` in a file that fails validation."""
    relative = os.path.relpath(canary, state.RUN_ROOT)
    for value in (f"/../../{relative}", relative, str(canary), ".."):
        labfile = tmp_path / "evil.yaml"
        labfile.write_text(f"lab: {value}\nnodes: 5\n")
        result = cli("down", str(labfile))
        assert result.returncode == 2, result.stderr
        assert "evil.yaml:1:" in result.stderr, "the file's own problem is reported"
        assert "is down" not in result.stdout


def test_nul_in_a_name_is_refused_by_the_api(canary):
    for name in ("a\0b", "red\0", f"..\0{canary}"):
        with pytest.raises(ValueError):
            state.lab_dir(name)
        with pytest.raises(ValueError):
            lab_down(name)


def test_a_symlink_planted_in_the_run_directory_is_never_followed(canary):
    os.makedirs(state.RUN_ROOT, exist_ok=True)
    planted = os.path.join(state.RUN_ROOT, "evil")
    lock = os.path.join(state.RUN_ROOT, ".evil.lock")
    os.symlink(canary, planted)
    os.symlink(canary / "precious", lock)
    try:
        for command, extra in (("down", []), ("status", []), ("check", []), ("exec", ["red", "--", "true"])):
            result = cli(command, "evil", *extra)
            assert result.returncode == 2, f"{command}: {result.returncode} {result.stderr}"
        listing = cli("status", "--json")
        assert listing.returncode == 0, listing.stderr
        assert "evil" not in listing.stdout, "a symlink was listed as a lab"
        assert os.path.islink(planted) and os.path.islink(lock), "vnetlab removed what it did not make"
    finally:
        os.unlink(planted)
        os.unlink(lock)


def test_a_run_directory_without_a_journal_is_left_alone(canary):
    stray = os.path.join(state.RUN_ROOT, "stray")
    os.makedirs(stray)
    with open(os.path.join(stray, "notes"), "w") as handle:
        handle.write("someone's")
    try:
        result = cli("down", "stray")
        assert result.returncode == 2, result.stderr
        assert "no vnetlab journal" in result.stderr
        assert os.path.exists(os.path.join(stray, "notes"))
    finally:
        os.unlink(os.path.join(stray, "notes"))
        os.rmdir(stray)
        if os.path.exists(state.lock_path("stray")):
            os.unlink(state.lock_path("stray"))


def test_a_foreign_namespace_is_refused_not_adopted(tmp_path):
    path = copy_example(tmp_path, "red-blue.yaml", lab="foreign")
    subprocess.run(["ip", "netns", "add", "foreign-red"], check=True)
    try:
        inode = netns.identity("foreign-red")
        subprocess.run(["ip", "-n", "foreign-red", "link", "set", "lo", "up"], check=True)
        result = cli("up", path)
        assert result.returncode == 3, result.stderr
        assert "foreign-red" in result.stderr and "ip netns del foreign-red" in result.stderr
        assert lab_namespaces("foreign") == ["foreign-red"], "up created something"
        assert not os.path.exists(os.path.join(state.RUN_ROOT, "foreign"))
        assert not os.path.exists(state.lock_path("foreign")), "the refused up left its lock file"
        assert netns.identity("foreign-red") == inode, "the hand-made namespace was replaced"
        assert cli("down", "foreign").returncode == 0
        assert netns.identity("foreign-red") == inode, "down deleted a namespace it did not make"
    finally:
        subprocess.run(["ip", "netns", "del", "foreign-red"], check=True)


def test_a_namespace_made_again_by_hand_is_left_alone_at_down(tmp_path):
    path = copy_example(tmp_path, "red-blue.yaml", lab="remade")
    cli("up", path, "-q", check=True)
    try:
        subprocess.run(["ip", "netns", "del", "remade-blue"], check=True)
        subprocess.run(["ip", "netns", "add", "remade-blue"], check=True)
        inode = netns.identity("remade-blue")
        again = cli("up", path)
        assert again.returncode == 3 and "remade-blue" in again.stderr, again.stderr
        result = cli("down", "remade")
        assert result.returncode == 0, result.stderr
        assert "remade-blue was left alone" in result.stderr
        assert lab_namespaces("remade") == ["remade-blue"]
        assert netns.identity("remade-blue") == inode
    finally:
        cli("down", "remade")
        if netns.exists("remade-blue"):
            subprocess.run(["ip", "netns", "del", "remade-blue"], check=True)


def test_a_second_file_with_the_same_name_does_not_replace_the_running_lab(tmp_path):
    first = copy_example(tmp_path, "red-blue.yaml", lab="samename")
    other = tmp_path / "other"
    other.mkdir()
    second = copy_example(other, "tenants.yaml", lab="samename")
    cli("up", first, "-q", check=True)
    try:
        result = cli("up", second)
        assert result.returncode == 2, result.stderr
        assert first in result.stderr and "--replace" in result.stderr
        assert sorted(lab_namespaces("samename")) == ["samename-blue", "samename-red", "samename-sw"]
        assert cli("up", first, "-q").returncode == 0, "the same file still converges"
        replaced = cli("up", second, "--replace", "-q")
        assert replaced.returncode == 0, replaced.stderr
        assert "samename-sw" not in lab_namespaces("samename")
    finally:
        cli("down", "samename", check=True)
    assert lab_namespaces("samename") == []


@pytest.mark.parametrize("free_pages", [0, 1, 2, 4])
def test_a_full_run_directory_fails_cleanly(tmp_path, free_pages):
    """ENOSPC at any point of the journal: exit 3, nothing left, no traceback."""
    root = tmp_path / "run"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=755", "tmpfs", str(root)], check=True)
    try:
        filler = root / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass  # full
        finally:
            os.close(fd)
        size = os.path.getsize(filler)
        os.truncate(filler, max(0, size - free_pages * 4096))
        path = copy_example(tmp_path, "proxmox-tap.yaml", lab="fullrun")
        env = dict(os.environ, VNETLAB_RUN_DIR=str(root))
        result = cli("up", path, env=env)
        assert result.returncode == 3, result.stderr
        assert "Traceback" not in result.stderr
        assert "no space left" in result.stderr.lower()
        assert lab_namespaces("fullrun") == [], "namespaces left behind"
        assert sorted(os.listdir(root)) == ["filler"], "files left behind in the run directory"
    finally:
        subprocess.run(["umount", str(root)], check=True)
