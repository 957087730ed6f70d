"""/proc/sys files of the calling thread's network namespace, opened through
a private procfs instance.

Why not /proc/sys itself: the kernel caches a dentry per network namespace
for each per-namespace directory under the one shared ``/proc/sys/net``
dentry (``ipv4``, ``ipv6``, ...). They all have the same parent and name, so
they share one dcache hash chain, and every lookup compares against each of
them (``proc_sys_compare`` takes ``sysctl_lock`` to ask whether a dentry
belongs to the caller's namespace). With 5,000 lab namespaces an ``open`` of
``/proc/sys/net/ipv6/conf/all/disable_ipv6`` took about 2 ms, and building a
lab grew quadratically.

A procfs instance made with ``fsopen``/``fsmount`` is mounted nowhere (a
detached mount, invisible to every other process) and has dentries of its
own. It is replaced after ROTATE files, so its chains stay short, and it
goes away when its descriptor is closed. Where the kernel refuses one (no
new mount API, no permission), /proc/sys is used as before.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Optional

# x86_64 and the generic syscall table agree on these (Linux 5.2+)
SYS_FSOPEN, SYS_FSCONFIG, SYS_FSMOUNT = 430, 431, 432
FSOPEN_CLOEXEC, FSMOUNT_CLOEXEC = 0x1, 0x1
FSCONFIG_CMD_CREATE = 6
# Files opened through one instance before it is replaced: a lookup compares
# against at most this many same-named dentries; a new instance costs ~0.3 ms.
ROTATE = 192

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def sysctl_path(key: str) -> str:
    """The path below ``sys/`` of a dotted key; an interface name with dots
    (``net.ipv6.conf.vmbr0.20.autoconf``) keeps its dots."""
    parts = key.split(".")
    if len(parts) > 5 and parts[1] in ("ipv4", "ipv6") and parts[2] in ("conf", "neigh"):
        parts = parts[:3] + [".".join(parts[3:-1]), parts[-1]]
    return "/".join(parts)


def _private_sys_dir() -> Optional[int]:
    """An O_PATH fd of ``sys`` in a new, detached procfs instance, or None."""
    fs = _libc.syscall(SYS_FSOPEN, b"proc", FSOPEN_CLOEXEC)
    if fs < 0:
        return None
    try:
        if _libc.syscall(SYS_FSCONFIG, fs, FSCONFIG_CMD_CREATE, None, None, 0) < 0:
            return None
        mount = _libc.syscall(SYS_FSMOUNT, fs, FSMOUNT_CLOEXEC, 0)
        if mount < 0:
            return None
    finally:
        os.close(fs)
    try:
        return os.open("sys", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=mount)
    except OSError:
        return None
    finally:
        os.close(mount)  # the sys fd keeps the instance alive


class _Instance:
    """The current private instance and how many files it has served."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sys_fd: Optional[int] = None
        self.served = 0
        self.unavailable = False

    def directory(self) -> Optional[int]:
        """The ``sys`` fd to open files under (None: use /proc/sys)."""
        if self.unavailable:
            return None
        if self.sys_fd is None or self.served >= ROTATE:
            if self.sys_fd is not None:
                os.close(self.sys_fd)
            self.sys_fd, self.served = _private_sys_dir(), 0
            self.unavailable = self.sys_fd is None
        self.served += 1
        return self.sys_fd


_INSTANCE = _Instance()


def open_sysctl(key: str, flags: int) -> int:
    """Opens the file of sysctl ``key`` in the calling thread's namespace."""
    with _INSTANCE.lock:
        directory = _INSTANCE.directory()
        if directory is None:
            return os.open("/proc/sys/" + sysctl_path(key), flags | os.O_CLOEXEC)
        return os.open(sysctl_path(key), flags | os.O_CLOEXEC, dir_fd=directory)

