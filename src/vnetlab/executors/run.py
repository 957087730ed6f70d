"""Runs a program inside a lab namespace, as ``ip netns exec`` would.

The child joins the namespace and, in a private mount namespace, mounts a
fresh sysfs, so /sys/class/net shows the node's interfaces, not the host's.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any, Sequence

from vnetlab.executors import netns

SHELL_FALLBACK = "/bin/sh"


def _enter(path: str) -> None:
    # Runs in the forked child before exec: only async-signal-safe-ish work.
    fd = os.open(path, os.O_RDONLY)
    netns.setns(fd)
    os.close(fd)
    netns.unshare(netns.CLONE_NEWNS)
    netns.mount("", "/", "none", netns.MS_SLAVE | netns.MS_REC)
    netns.umount("/sys")
    netns.mount("sysfs", "/sys", "sysfs", 0)


def popen(netns_name: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
    """Starts ``argv`` (a list, never a shell string) inside ``netns_name``."""
    if isinstance(argv, (str, bytes)):
        raise TypeError("argv must be a list of arguments, not a string")
    path = netns.netns_path(netns_name)
    if not netns.exists(netns_name):
        raise FileNotFoundError(f"namespace {netns_name} does not exist")
    env = dict(kwargs.pop("env", None) or os.environ)
    env.setdefault("VNETLAB_NETNS", netns_name)
    return subprocess.Popen(list(argv), preexec_fn=lambda: _enter(path), env=env, **kwargs)


def run(netns_name: str, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess:
    """Runs ``argv`` inside ``netns_name`` and waits; like subprocess.run."""
    timeout = kwargs.pop("timeout", None)
    check = kwargs.pop("check", False)
    capture = kwargs.pop("capture_output", False)
    if capture:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
    with popen(netns_name, argv, **kwargs) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    result = subprocess.CompletedProcess(list(argv), proc.returncode, out, err)
    if check:
        result.check_returncode()
    return result
