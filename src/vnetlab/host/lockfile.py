"""flock on a lock file that its last holder may remove (one loop, shared by
the labs' locks and the rootless lab root's)."""

from __future__ import annotations

import os
from typing import Callable


def lock_current(path: str, acquire: Callable[[int], None]) -> int:
    """Opens ``path`` (creating it) and locks it with ``acquire(fd)``; returns the fd.

    A holder may unlink the file while it still holds it (when what it guards
    is gone); a waiter that then gets the lock of the unlinked file notices —
    its inode is no longer the path's — and locks the current file instead,
    so two holders never overlap."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            acquire(fd)
            held = os.fstat(fd)
            try:
                current = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                current = None
        except BaseException:
            os.close(fd)
            raise
        if current is not None and (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
            return fd
        os.close(fd)  # the holder before us removed this file: lock the new one
