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

RUN_ROOT = os.environ.get("VNETLAB_RUN_DIR", "/run/vnetlab")


def lab_dir(lab: str) -> str:
    """The run directory of a lab."""
    return os.path.join(RUN_ROOT, lab)


def lock_path(lab: str) -> str:
    """The lock file of a lab (beside, not inside, its run directory, so
    ``down`` can remove the directory while holding the lock)."""
    return os.path.join(RUN_ROOT, f".{lab}.lock")


class LabBusy(RuntimeError):
    """Another vnetlab process holds the lab's lock."""


@contextlib.contextmanager
def locked(lab: str, wait: float = 30.0) -> Iterator[None]:
    """Holds the lab's exclusive lock; a killed holder releases it at once
    (flock dies with the process)."""
    os.makedirs(RUN_ROOT, mode=0o755, exist_ok=True)
    fd = os.open(lock_path(lab), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise LabBusy(
                        f"lab {lab!r} is being changed by another vnetlab process — "
                        "wait for it to finish, then try again"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


@dataclass
class LabRecord:
    """Everything the journal says a lab owns."""

    lab: str
    namespaces: list[str] = field(default_factory=list)
    processes: list[dict[str, Any]] = field(default_factory=list)
    source: Optional[str] = None

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
        processes: dict[str, dict[str, Any]] = {}
        for line in lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line cannot happen with one write, but be lenient
            kind = entry.get("kind")
            if kind == "netns":
                namespaces[entry["name"]] = None
            elif kind == "netns-gone":
                namespaces.pop(entry["name"], None)
            elif kind == "process":
                processes[entry["role"]] = entry
            elif kind == "process-gone":
                processes.pop(entry["role"], None)
            elif kind == "source":
                record.source = entry.get("path")
        record.namespaces = list(namespaces)
        record.processes = list(processes.values())
        return record

    def remove(self) -> None:
        """Deletes the lab's run directory (journal, copies, logs)."""
        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def lab_names() -> list[str]:
    """Labs that have a run directory."""
    try:
        return sorted(
            name for name in os.listdir(RUN_ROOT)
            if not name.startswith(".") and os.path.isdir(os.path.join(RUN_ROOT, name))
        )
    except FileNotFoundError:
        return []


def write_atomic(path: str, text: str) -> None:
    """Replaces ``path`` with ``text`` so readers never see half a file."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
