"""Runs a program inside a lab namespace, as ``ip netns exec`` would.

The child joins the namespace and, in a private mount namespace, mounts a
fresh sysfs, so /sys/class/net shows the node's interfaces, not the host's,
and bind-mounts each entry of the node's own /etc (``/etc/netns/NAME/``,
:mod:`vnetlab.host.node_etc`) over the ``/etc`` entry of that name, so
``/etc/network/interfaces`` is the node's (a node that has none yet sees the
host's /etc: :func:`vnetlab.lab.give_node_etc` makes it the first time a user
needs it). The host's mounts are unchanged.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import signal
import subprocess
import termios
from typing import Any, Optional, Sequence

from vnetlab.host import netns, node_etc
from vnetlab.host.ovs_paths import env_for

SHELL_FALLBACK = "/bin/sh"
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def _enter(path: str, parent: Optional[int] = None, etc: Sequence[tuple[str, str]] = (),
           controlling_tty: bool = False) -> None:
    # Runs in the forked child before exec: only async-signal-safe-ish work.
    if parent is not None:
        # SIGTERM when the parent dies; and if it died before prctl took
        # effect (we were re-parented already), do not start at all.
        if _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
        if os.getppid() != parent:
            raise OSError("the parent exited before the child started")
    fd = os.open(path, os.O_RDONLY)
    netns.setns(fd)
    os.close(fd)
    netns.unshare(netns.CLONE_NEWNS)
    netns.mount("", "/", "none", netns.MS_SLAVE | netns.MS_REC)
    netns.umount("/sys")
    netns.mount("sysfs", "/sys", "sysfs", 0)
    for source, target in etc:  # listed by the parent: no directory walk between fork and exec
        netns.mount(source, target, None, netns.MS_BIND)
    if controlling_tty:  # the child is a session leader already (start_new_session: setsid runs first)
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def popen(netns_name: str, argv: Sequence[str], *, die_with_parent: bool = False, controlling_tty: bool = False,
          **kwargs: Any) -> subprocess.Popen:
    """Starts ``argv`` (a list, never a shell string) inside ``netns_name``.

    With ``die_with_parent`` the child gets SIGTERM when the calling process
    dies (``PR_SET_PDEATHSIG``; the caller must fork from a thread that lives
    as long as the process, as the kernel ties it to the forking thread).
    With ``controlling_tty`` (and ``start_new_session``) its stdin, a
    terminal, becomes the new session's controlling terminal, as a login
    shell's is: Ctrl-C and job control work (the web UI's shell, on a pty).
    """
    if controlling_tty and not kwargs.get("start_new_session"):
        raise ValueError("controlling_tty needs start_new_session=True (a terminal belongs to a session)")
    if isinstance(argv, (str, bytes)):
        raise TypeError("argv must be a list of arguments, not a string")
    path = netns.netns_path(netns_name)
    if not netns.exists(netns_name):
        raise FileNotFoundError(f"namespace {netns_name} does not exist")
    env = dict(kwargs.pop("env", None) or os.environ)
    env.setdefault("VNETLAB_NETNS", netns_name)
    for key, value in env_for(netns_name).items():  # plain ovs-vsctl/ovs-ofctl reach the node's OVS
        env.setdefault(key, value)
    parent = os.getpid() if die_with_parent else None
    etc = node_etc.bind_mounts(netns_name)
    return subprocess.Popen(list(argv), preexec_fn=lambda: _enter(path, parent, etc, controlling_tty), env=env,
                            **kwargs)


def run(netns_name: str, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess:
    """Runs ``argv`` inside ``netns_name`` and waits; like subprocess.run."""
    timeout = kwargs.pop("timeout", None)
    check = kwargs.pop("check", False)
    capture = kwargs.pop("capture_output", False)
    given = kwargs.pop("input", None)
    if given is not None:
        kwargs.setdefault("stdin", subprocess.PIPE)
    if capture:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
    with popen(netns_name, argv, **kwargs) as proc:
        try:
            out, err = proc.communicate(input=given, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    result = subprocess.CompletedProcess(list(argv), proc.returncode, out, err)
    if check:
        result.check_returncode()
    return result
