"""The files ops keep in the lab's run directory (a daemon's config, the DHCP hook) as a backend.

Only files directly inside the lab's run directory are written or removed:
a path anywhere else is refused before anything happens (invariant 7).
Each write is atomic (a reader such as a starting dnsmasq never sees half
a file); the directory goes with the lab at ``down``.
"""

from __future__ import annotations

import os
from typing import Optional

from vnetlab.errors import OperationFailed
from vnetlab.plan import Op, RemoveRunFile, WriteRunFile


class OutsideRunDir(OperationFailed, ValueError):
    """A run-directory file op names a path outside the lab's run directory."""


class RunFilesBackend:
    """Writes and removes the plan's files in one lab's run directory."""

    def __init__(self, rundir: str):
        self.rundir = os.path.realpath(rundir)

    def handles(self, op: Op) -> bool:
        """WriteRunFile and RemoveRunFile."""
        return isinstance(op, (WriteRunFile, RemoveRunFile))

    def _inside(self, path: str) -> str:
        name = os.path.basename(path)
        if not name or name.startswith(".") or os.path.realpath(os.path.dirname(path)) != self.rundir:
            raise OutsideRunDir(f"{path!r} is not a file of the lab's run directory {self.rundir}")
        return os.path.join(self.rundir, name)

    def apply(self, op: Op) -> Optional[Op]:
        """Writes (or removes) one file; returns the inverse, or None if it was already so."""
        path = self._inside(op.path)
        old = _read(path)
        if isinstance(op, RemoveRunFile):
            if old is None:
                return None
            os.unlink(path)
            return op.inverse(old)
        assert isinstance(op, WriteRunFile)
        if old == op.text and _mode(path) == op.mode:
            return None
        tmp = f"{path}.tmp{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, op.mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(op.text)
            os.fchmod(handle.fileno(), op.mode)
        os.replace(tmp, path)
        return op.inverse(old)


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _mode(path: str) -> Optional[int]:
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return None
