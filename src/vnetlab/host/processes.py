"""Records of processes vnetlab started, and stopping them safely.

A pid alone is never trusted: after a reboot or a long time it may belong to
an unrelated process. A :class:`ProcessRecord` pairs the pid with the
process's start time (field 22 of ``/proc/PID/stat``, clock ticks since boot),
and every check or signal verifies both. Signals go through a pidfd opened
*before* the start time is verified, so the pid cannot be recycled between
the check and the kill.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import signal
import time
from typing import Any


@dataclasses.dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/PID/stat`` vnetlab uses."""

    comm: str
    state: str
    starttime: int


def parse_stat(text: str) -> ProcStat:
    """Parses the text of ``/proc/PID/stat``.

    ``comm`` (field 2) is in parentheses and may itself contain spaces and
    parentheses, so the fields after it are split after the *last* ``)``.

    Raises:
        ValueError: the text is not a stat line.
    """
    open_paren = text.find("(")
    close_paren = text.rfind(")")
    if open_paren < 0 or close_paren < open_paren:
        raise ValueError(f"not a /proc/PID/stat line: {text[:80]!r}")
    rest = text[close_paren + 1:].split()
    # rest[0] is field 3 (state), so field N is rest[N - 3].
    if len(rest) < 20:
        raise ValueError(f"truncated /proc/PID/stat line: {text[:80]!r}")
    return ProcStat(comm=text[open_paren + 1:close_paren], state=rest[0], starttime=int(rest[19]))


def read_stat(pid: int) -> ProcStat | None:
    """The stat of a live process, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return parse_stat(handle.read())
    except (FileNotFoundError, ProcessLookupError):
        return None


@dataclasses.dataclass(frozen=True)
class ProcessRecord:
    """A process identified by pid *and* start time."""

    pid: int
    starttime: int

    def to_dict(self) -> dict[str, int]:
        return {"pid": self.pid, "starttime": self.starttime}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessRecord:
        """Builds a record from :meth:`to_dict` output; raises ValueError on bad data."""
        try:
            pid, starttime = data["pid"], data["starttime"]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a process record: {data!r}") from exc
        if not (isinstance(pid, int) and isinstance(starttime, int)) or pid <= 0 or starttime < 0:
            raise ValueError(f"not a process record: {data!r}")
        return cls(pid=pid, starttime=starttime)

    @classmethod
    def of(cls, pid: int) -> ProcessRecord:
        """The record of a live process; raises ProcessLookupError if it is gone."""
        stat = read_stat(pid)
        if stat is None:
            raise ProcessLookupError(pid, f"no process {pid}")
        return cls(pid=pid, starttime=stat.starttime)

    @classmethod
    def self(cls) -> ProcessRecord:
        """The record of the calling process."""
        return cls.of(os.getpid())


def _matches(record: ProcessRecord) -> bool:
    stat = read_stat(record.pid)
    # A zombie has finished running; only its parent's wait() is missing.
    return stat is not None and stat.starttime == record.starttime and stat.state != "Z"


def is_running(record: ProcessRecord) -> bool:
    """Whether the recorded process (same pid and start time) is alive and not a zombie."""
    return _matches(record)


@contextlib.contextmanager
def _pidfd(record: ProcessRecord):
    """A pidfd for the recorded process, or None if it is not running.

    The pidfd pins the process identity: once it is open and the start time
    still matches, signals through it cannot reach a recycled pid.
    """
    try:
        fd = os.pidfd_open(record.pid)
    except ProcessLookupError:
        yield None
        return
    try:
        yield fd if _matches(record) else None
    finally:
        os.close(fd)


def send_signal(record: ProcessRecord, signum: int) -> bool:
    """Sends ``signum`` to the recorded process; False if it is not running."""
    with _pidfd(record) as fd:
        if fd is None:
            return False
        try:
            signal.pidfd_send_signal(fd, signum)
        except ProcessLookupError:
            return False
        return True


def _reap_if_child(pid: int) -> None:
    """Collects the exit status if the process is our own child (no zombie left)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _wait_exit(fd: int, timeout: float) -> bool:
    """Waits until the pidfd's process has exited; True if it did in time."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(0, int(timeout * 1000))))


def _kill(fd: int, pid: int, signum: int, group: bool) -> None:
    if group:
        # The leader is alive (pinned by the pidfd), so its pid, and the
        # process group named after it, cannot belong to anyone else.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signum)
    signal.pidfd_send_signal(fd, signum)


def stop(record: ProcessRecord, timeout: float = 2.0, group: bool = False) -> bool:
    """Stops the recorded process: SIGTERM, then SIGKILL after ``timeout`` seconds.

    A process whose start time differs from the record is never signalled.
    With ``group``, the signals also go to the process group the process
    leads (a service started in its own session, and the children it made).

    Returns:
        True if the process was running (and is now gone), False if it was not running.
    """
    with _pidfd(record) as fd:
        if fd is None:
            stat = read_stat(record.pid)
            if stat is not None and stat.starttime == record.starttime:
                _reap_if_child(record.pid)  # our own child that already exited
            return False
        try:
            _kill(fd, record.pid, signal.SIGTERM, group)
            if not _wait_exit(fd, timeout):
                _kill(fd, record.pid, signal.SIGKILL, group)
                _wait_exit(fd, 5.0)
        except ProcessLookupError:
            pass
    _reap_if_child(record.pid)
    return True


def in_network_namespace(inode: int) -> list[ProcessRecord]:
    """Every process (but this one) whose network namespace has inode ``inode``
    (``vnetlab.host.netns.identity``): what runs inside one node."""
    found = []
    own = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == own:
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino != inode:
                continue
        except OSError:
            continue  # gone meanwhile, or a kernel thread
        stat = read_stat(int(entry))
        if stat is not None and stat.state != "Z":
            found.append(ProcessRecord(int(entry), stat.starttime))
    return found


def stop_all(records: list[ProcessRecord], timeout: float = 1.0) -> int:
    """Stops the recorded processes together: SIGTERM to each, SIGKILL to
    those still running after ``timeout`` seconds; returns how many ran.

    As :func:`stop`, a process whose start time differs from its record is never signalled."""
    pinned: list[tuple[ProcessRecord, int]] = []
    try:
        for record in records:
            try:
                fd = os.pidfd_open(record.pid)
            except ProcessLookupError:
                continue
            if not _matches(record):
                os.close(fd)
                continue
            pinned.append((record, fd))
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(fd, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for record, fd in pinned:
            if not _wait_exit(fd, max(0.0, deadline - time.monotonic())):
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                _wait_exit(fd, 5.0)
            _reap_if_child(record.pid)
    finally:
        for _, fd in pinned:
            os.close(fd)
    return len(pinned)


def write_record(path: str, record: ProcessRecord) -> None:
    """Writes the record as JSON atomically (temporary file, fsync, rename)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as handle:
        json.dump(record.to_dict(), handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_record(path: str) -> ProcessRecord | None:
    """Reads a record written by :func:`write_record`; None if absent or unreadable."""
    try:
        with open(path) as handle:
            return ProcessRecord.from_dict(json.load(handle))
    except (FileNotFoundError, ValueError):
        return None

