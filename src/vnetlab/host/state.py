"""What a lab owns, recorded under /run/vnetlab/<lab>/ before it is created.

The journal is append-only JSON lines written *before* each host-visible
object (a namespace, a process) comes into being, so ``down`` can remove
everything even after ``up`` was killed with SIGKILL at any instant, and
without the lab file. Lines are written with a single ``os.write`` on an
O_APPEND fd: a SIGKILL cannot leave half of one behind in the page cache,
and /run is tmpfs, gone at reboot together with the namespaces it lists.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from vnetlab import names
from vnetlab.errors import Failed
from vnetlab.host.lockfile import lock_current

RUN_ROOT = os.environ.get("VNETLAB_RUN_DIR", names.DEFAULT_RUN_ROOT)


def lab_dir(lab: str) -> str:
    """The run directory of a lab.

    Raises:
        UnsafeName: ``lab`` is not a lab name, or its run directory is not a
            plain directory strictly inside the run root (a planted symlink).
    """
    return _inside_run_root(names.lab_name(lab))


def lock_path(lab: str) -> str:
    """The lock file of a lab (beside, not inside, its run directory, so
    ``down`` can remove the directory while holding the lock)."""
    return _inside_run_root(f".{names.lab_name(lab)}.lock")


def _inside_run_root(entry: str) -> str:
    """``RUN_ROOT/entry``, refused unless it resolves strictly inside the run
    root: an entry that is a symlink (planted to make ``down`` remove some
    other directory) is never followed."""
    path = os.path.join(RUN_ROOT, entry)
    root = os.path.realpath(RUN_ROOT)
    if os.path.islink(path) or os.path.dirname(os.path.realpath(path)) != root:
        raise names.UnsafeName(
            f"{path} is not a directory vnetlab made (it is a symbolic link or leads outside {RUN_ROOT}) — "
            "vnetlab will not use or remove it; look at it with ls -l and remove it yourself if it is stray"
        )
    return path


class LabBusy(Failed, RuntimeError):
    """Another vnetlab process holds the lab's lock."""


@contextlib.contextmanager
def locked(lab: str, wait: float = 30.0) -> Iterator[None]:
    """Holds the lab's exclusive lock; a killed holder releases it at once
    (flock dies with the process).

    The lock file goes when the lab is not up at the end (a ``down``, a
    failed first ``up``): it is unlinked while still held, and a waiter that
    then gets the lock of the unlinked file notices (its inode is no longer
    the path's) and locks the current file instead, so two holders can never
    overlap.
    """
    path = lock_path(lab)
    os.makedirs(RUN_ROOT, mode=0o755, exist_ok=True)
    deadline = time.monotonic() + wait
    fd = lock_current(path, lambda fd: _flock(fd, lab, deadline))
    try:
        yield
    finally:
        try:
            if not os.path.isdir(lab_dir(lab)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        finally:
            os.close(fd)


def _flock(fd: int, lab: str, deadline: float) -> None:
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            if time.monotonic() >= deadline:
                raise LabBusy(
                    f"lab {lab!r} is being changed by another vnetlab process — "
                    "wait for it to finish, then try again"
                ) from None
            time.sleep(0.05)


@dataclass
class LabRecord:
    """Everything the journal says a lab owns."""

    lab: str
    namespaces: list[str] = field(default_factory=list)
    namespace_ids: dict[str, int] = field(default_factory=dict)  # netns -> inode, once made
    processes: list[dict[str, Any]] = field(default_factory=list)
    source: Optional[str] = None
    etc: list[str] = field(default_factory=list)  # namespaces with a directory of their own in /etc/netns

    @property
    def exists(self) -> bool:
        """Whether there is anything recorded at all."""
        return os.path.isdir(lab_dir(self.lab))


class Journal:
    """The write-ahead record of one lab."""

    FILE = "journal.jsonl"

    def __init__(self, lab: str):
        self.lab = lab
        self.dir = lab_dir(lab)
        self.path = os.path.join(self.dir, self.FILE)
        self._fd: Optional[int] = None

    def open(self) -> "Journal":
        """Creates the run directory and opens the journal for appending."""
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        return self

    def close(self) -> None:
        """Closes the journal file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def record(self, kind: str, **data: Any) -> None:
        """Appends one entry, in one write."""
        assert self._fd is not None, "journal not open"
        line = json.dumps({"kind": kind, **data}, separators=(",", ":")) + "\n"
        os.write(self._fd, line.encode())

    def read(self) -> LabRecord:
        """Replays the journal into what the lab owns now."""
        record = LabRecord(self.lab)
        try:
            with open(self.path) as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return record
        namespaces: dict[str, None] = {}
        etc: dict[str, None] = {}
        processes: dict[str, dict[str, Any]] = {}
        for line in lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line cannot happen with one write, but be lenient
            kind = entry.get("kind")
            if kind == "netns":
                namespaces[entry["name"]] = None
            elif kind == "netns-id":
                record.namespace_ids[entry["name"]] = entry["inode"]
            elif kind == "netns-gone":
                namespaces.pop(entry["name"], None)
                record.namespace_ids.pop(entry["name"], None)
            elif kind == "etc":
                etc[entry["name"]] = None
            elif kind == "etc-gone":
                etc.pop(entry["name"], None)
            elif kind == "process":
                processes[entry["role"]] = entry
            elif kind == "process-gone":
                processes.pop(entry["role"], None)
            elif kind == "source":
                record.source = entry.get("path")
        record.namespaces = list(namespaces)
        record.etc = list(etc)
        record.processes = list(processes.values())
        return record

    def remove(self) -> None:
        """Deletes the lab's run directory (journal, copies, logs).

        Only a directory vnetlab made is removed: a plain directory inside the
        run root that holds this lab's journal (or nothing at all, when an
        ``up`` was killed before its first entry).

        Raises:
            UnsafeName: the directory is not one vnetlab made.
        """
        self.close()
        path = lab_dir(self.lab)  # re-checked: nothing planted since
        if not os.path.lexists(path):
            return
        entries = os.listdir(path)
        if entries and self.FILE not in entries:
            raise names.UnsafeName(
                f"{path} holds no vnetlab journal, so vnetlab did not make it — it was left alone; "
                "remove it yourself if it is stray"
            )
        try:
            shutil.rmtree(path)
        except OSError:
            time.sleep(0.1)  # a process stopped a moment ago may still be closing a log in it
            shutil.rmtree(path)


def lab_names() -> list[str]:
    """Labs that have a run directory (entries that are no lab name, or are
    symlinks, are not labs: they are never listed, so never acted on)."""
    try:
        entries = os.listdir(RUN_ROOT)
    except FileNotFoundError:
        return []
    found = []
    for name in entries:
        path = os.path.join(RUN_ROOT, name)
        if names.LAB_NAME.fullmatch(name) and not os.path.islink(path) and os.path.isdir(path):
            found.append(name)
    return sorted(found)


def write_atomic(path: str, text: str) -> None:
    """Replaces ``path`` with ``text`` so readers never see half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
