"""Rootless mode: a lab run by an ordinary user lives in a "lab root" that user owns.

The lab root is a user namespace in which the user is root (uid 0 inside is
the user's own uid outside, nothing else is mapped), with a mount namespace
of its own. A tiny holder process (``sleep infinity``, shown as
``vnetlab-lab-root``) keeps both alive. Every ``vnetlab`` command run by the
user joins them first (``setns``: 0.1 ms), and from then on runs exactly the
code root runs — the kernel lets the lab root's root make network namespaces,
veths, bridges, nftables rulesets and sysctls of *those* namespaces, never
the host's.

Where things are (never ``/run/vnetlab``, ``/run/netns`` or ``/etc/netns``)::

    $XDG_RUNTIME_DIR/vnetlab/            (else /run/user/UID/vnetlab/) the run root:
        <lab>/                           each lab's journal, plan, logs, OVS databases
        .netns/                          namespace pins: a tmpfs mounted only inside
                                         the lab root, so the host sees an empty folder
        .etc-netns/                      each node's own /etc (root mode's /etc/netns)
        .root.json                       the holder: pid, start time, user namespace inode
        .root.lock, .root.users          who is creating or using the lab root

Namespaces are pinned only in the lab root's mount namespace: when the holder
and the last command in it are gone, the kernel frees every namespace of every
lab of the user — nothing can outlive its owner's session on the host. The
last command that leaves no lab behind (``down``) stops the holder and removes
the bookkeeping, so nothing is left.

Two users' lab roots are different user namespaces: one user cannot join,
see or remove the other's (the kernel refuses ``setns`` into a user namespace
one does not own), and their run roots are their own runtime directories.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import signal
import stat
from typing import Iterator, Optional

from vnetlab import names
from vnetlab.errors import EnvironmentProblem
from vnetlab.host import netns
from vnetlab.host.lockfile import lock_current

CLONE_NEWUSER = 0x10000000
MS_PRIVATE = 1 << 18

ENV_ROOTLESS = "VNETLAB_ROOTLESS"  # set (to the run root) in every process of a rootless command
HOLDER_FILE = ".root.json"
CREATION_LOCK = ".root.lock"
USERS_LOCK = ".root.users"
NETNS_DIR = ".netns"
ETC_DIR = ".etc-netns"
HOLDER_NAME = "vnetlab-lab-root"

_entered = False
_users_fd: Optional[int] = None


def is_rootless() -> bool:
    """Whether this process runs a rootless command (it, or the command that started it, was not root)."""
    return bool(os.environ.get(ENV_ROOTLESS))


def run_root() -> str:
    """The user's run root: ``$XDG_RUNTIME_DIR/vnetlab`` (else ``/run/user/UID/vnetlab``).

    Raises:
        EnvironmentProblem: neither is a directory that only this user can write.
    """
    uid = os.getuid()
    given = os.environ.get("XDG_RUNTIME_DIR")
    candidate = given or f"/run/user/{uid}"  # one that is set is the one meant: never another behind it
    try:
        info = os.stat(candidate)
        usable = stat.S_ISDIR(info.st_mode) and info.st_uid == uid and not info.st_mode & 0o022
    except OSError:
        usable = False
    if usable:
        return os.path.join(candidate, "vnetlab")
    where = f"XDG_RUNTIME_DIR={candidate}" if given else f"{candidate} (XDG_RUNTIME_DIR is not set)"
    raise EnvironmentProblem(
        f"vnetlab run without root keeps its labs in your runtime directory, and {where} is missing, not "
        "yours, or writable by others — log in through a session that makes one (systemd-logind makes "
        "/run/user/UID), or set XDG_RUNTIME_DIR to a directory of yours with mode 700"
    )


def activate() -> str:
    """Points this process (and what it starts) at the user's run root; returns it.

    Must run before any module that reads the paths (``vnetlab.host.state``,
    ``netns``'s pins, ``node_etc``) is imported — the command line does it
    first thing; a Python program calls it before importing ``vnetlab.lab``.
    """
    import sys

    root = os.environ.get(ENV_ROOTLESS) or run_root()
    for module in ("vnetlab.host.state", "vnetlab.host.node_etc"):
        if module in sys.modules and getattr(sys.modules[module], "RUN_ROOT", root) != root:
            raise RuntimeError(f"lab_root.activate() must run before {module} is imported")
    os.environ[ENV_ROOTLESS] = root
    os.environ["VNETLAB_RUN_DIR"] = root
    os.environ["VNETLAB_ETC_NETNS"] = os.path.join(root, ETC_DIR)
    os.environ["VNETLAB_NETNS_DIR"] = os.path.join(root, NETNS_DIR)
    netns.NETNS_RUN_DIR = os.environ["VNETLAB_NETNS_DIR"]
    return root


def refuse(what: str, instead: str) -> None:
    """Raises EnvironmentProblem in rootless mode for something that needs the host's root."""
    if is_rootless():
        raise EnvironmentProblem(f"{what} needs root on the host, which a lab run without root cannot have — {instead}")


def lab_names(root: str) -> list[str]:
    """The labs with a run directory under ``root``."""
    try:
        entries = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if names.LAB_NAME.fullmatch(e) and os.path.isdir(os.path.join(root, e)))


def enter(create: bool) -> bool:
    """Joins the user's lab root, making it when ``create`` (or when a lab of
    the user is recorded but its holder is gone: ``down`` must still be able
    to clean up). Returns whether this process is now inside.

    Call it while the process has one thread: the kernel lets only a
    single-threaded process change its user and mount namespaces.

    Raises:
        EnvironmentProblem: this machine does not let an ordinary user make a
            user namespace (with what an administrator can do about it).
    """
    global _entered, _users_fd
    if _entered:
        return True
    root = activate()
    os.makedirs(root, mode=0o700, exist_ok=True)
    with _locked(os.path.join(root, CREATION_LOCK), fcntl.LOCK_EX):
        holder = _live_holder(root)
        if holder is None:
            if not create and not lab_names(root):
                _remove_empty(root)
                return False
            holder = _spawn(root)
        users = _open_users(root)
        fcntl.flock(users, fcntl.LOCK_SH)
        try:
            _join(holder)
        except BaseException:
            os.close(users)
            raise
        _users_fd = users
    _entered = True
    return True


def leave_if_idle() -> bool:
    """When no lab of the user is left and no other command is inside, stops
    the holder and removes the bookkeeping; returns whether it did.

    Runs at the end of every rootless command. The kernel frees the lab
    root's namespaces once this process, its last member, exits."""
    global _users_fd
    root = os.environ.get(ENV_ROOTLESS)
    if not root or not os.path.isdir(root):
        return False
    with _locked(os.path.join(root, CREATION_LOCK), fcntl.LOCK_EX):
        if lab_names(root):
            return False
        if _users_fd is None:  # a command that did not enter (no lab root was there) may have made the run root
            _users_fd = _open_users(root)
        try:
            fcntl.flock(_users_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # no other command inside now
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        holder = _live_holder(root)
        if holder is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(holder["pid"], signal.SIGKILL)
        pins = os.path.join(root, NETNS_DIR)
        if _entered:
            netns.umount(pins)  # this process's view: the folder is then plain, and can go
        for entry in (HOLDER_FILE, USERS_LOCK):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(root, entry))
        with contextlib.suppress(OSError):
            os.rmdir(pins)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.join(root, ETC_DIR))  # only when empty: node_etc removes its own
        os.close(_users_fd)
        _users_fd = None
        _remove_empty(root)
    return True


def _open_users(root: str) -> int:
    """The file every command inside the lab root holds a shared lock on."""
    return os.open(os.path.join(root, USERS_LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)


def _remove_empty(root: str) -> None:
    """Removes the creation lock (held by the caller: a waiter re-checks the
    inode) and the run root when nothing else is in it."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(root, CREATION_LOCK))
    with contextlib.suppress(OSError):
        os.rmdir(root)


# -- the holder ---------------------------------------------------------------

def _start_time(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _live_holder(root: str) -> Optional[dict]:
    """The recorded holder, if that very process (pid, start time, user
    namespace) is alive and ours; None otherwise."""
    try:
        with open(os.path.join(root, HOLDER_FILE)) as handle:
            holder = json.load(handle)
        pid = int(holder["pid"])
        if _start_time(pid) != holder["start"] or os.stat(f"/proc/{pid}").st_uid != os.getuid():
            return None
        if os.stat(f"/proc/{pid}/ns/user").st_ino != holder["userns"]:
            return None
        return holder
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _join(holder: dict) -> None:
    """setns into the holder's user namespace, then its mount namespace;
    the working directory is kept (setns of a mount namespace resets it)."""
    cwd: Optional[str]
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = None
    pid = holder["pid"]
    user_fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    mount_fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    net_fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.fstat(user_fd).st_ino != holder["userns"]:
            raise EnvironmentProblem("the lab root's holder changed while vnetlab was joining it — try again")
        try:
            netns.setns(user_fd, CLONE_NEWUSER)
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot join your lab root ({exc.strerror}): a process with several threads cannot change "
                "its user namespace — call vnetlab.host.lab_root.enter() before starting threads"
                if exc.errno == errno.EINVAL else f"cannot join your lab root: {exc.strerror}"
            ) from None
        netns.setns(mount_fd, netns.CLONE_NEWNS)
        netns.setns(net_fd, netns.CLONE_NEWNET)
    finally:
        os.close(user_fd)
        os.close(mount_fd)
        os.close(net_fd)
    if cwd is not None:
        with contextlib.suppress(OSError):
            os.chdir(cwd)


def _spawn(root: str) -> dict:
    """Starts a holder (a grandchild, so nobody has to reap it) and records it."""
    uid, gid = os.getuid(), os.getgid()
    pins = os.path.join(root, NETNS_DIR)
    os.makedirs(pins, mode=0o755, exist_ok=True)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover — runs in the forked child
        try:
            os.close(read_end)
            os.setsid()  # Ctrl-C at the terminal must not reach it
            if os.fork() != 0:
                os._exit(0)
            _become_holder(uid, gid, pins, write_end)
        except BaseException as exc:  # noqa: BLE001 — reported to the parent, whatever it is
            number = getattr(exc, "errno", None) or 0
            with contextlib.suppress(OSError):
                os.write(write_end, f"E{number} {exc}".encode()[:4000])
        os._exit(1)
    os.close(write_end)
    os.waitpid(child, 0)
    answer = b""
    while True:
        chunk = os.read(read_end, 4096)
        if not chunk:
            break
        answer += chunk
    os.close(read_end)
    if not answer.startswith(b"K"):
        text = answer.decode(errors="replace")
        number = int(text[1:].split(" ", 1)[0]) if text.startswith("E") and text[1:].split(" ", 1)[0].isdigit() else 0
        detail = text.split(" ", 1)[1] if " " in text else "the holder exited at once"
        raise EnvironmentProblem(_userns_refused(number, detail))
    pid = int(answer[1:].decode())
    holder = {"pid": pid, "start": _start_time(pid), "userns": os.stat(f"/proc/{pid}/ns/user").st_ino}
    path = os.path.join(root, HOLDER_FILE)
    with open(path + ".tmp", "w") as handle:
        json.dump(holder, handle)
    os.replace(path + ".tmp", path)
    return holder


def _become_holder(uid: int, gid: int, pins: str, report: int) -> None:  # pragma: no cover — forked child
    """In the holder: a new user namespace mapping only our uid/gid to 0, a
    private mount namespace with a tmpfs for the namespace pins, and a network
    namespace of its own, where vnetlab's threads return between lab
    namespaces (the host's is not the user's to enter again); then sleep."""
    netns.unshare(CLONE_NEWUSER | netns.CLONE_NEWNS | netns.CLONE_NEWNET)
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(text)
    netns.mount("", "/", None, netns.MS_REC | MS_PRIVATE)
    netns.mount("tmpfs", pins, "tmpfs", 0)
    os.chmod(pins, 0o755)
    os.write(report, f"K{os.getpid()}".encode())
    os.close(report)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.closerange(3, 1 << 16)
    sleep = shutil.which("sleep") or "/bin/sleep"
    os.execv(sleep, [HOLDER_NAME, "infinity"])


def _userns_refused(number: int, detail: str, proc_sys: str = "/proc/sys") -> str:
    """What to tell a user whose machine refused the lab root: the setting
    that refuses it, and how an administrator allows it."""
    problem = userns_problem(proc_sys)
    if problem:
        return problem
    return (f"this machine would not give you a user namespace for the lab ({detail}) — vnetlab without root "
            "needs unprivileged user namespaces; run it as root (sudo vnetlab …) instead")


def userns_problem(proc_sys: str = "/proc/sys") -> Optional[str]:
    """The setting that keeps ordinary users from making user namespaces, and
    how to allow them; None when none of the known ones does."""
    def read(name: str) -> Optional[str]:
        try:
            with open(os.path.join(proc_sys, name)) as handle:
                return handle.read().strip()
        except OSError:
            return None

    keep = "(and a file in /etc/sysctl.d/ to keep it after a reboot)"
    if read("kernel/unprivileged_userns_clone") == "0":
        return ("unprivileged user namespaces are disabled on this machine (kernel.unprivileged_userns_clone = 0) — "
                f"an administrator can allow them: sudo sysctl -w kernel.unprivileged_userns_clone=1 {keep}")
    if read("user/max_user_namespaces") == "0":
        return ("user namespaces are disabled on this machine (user.max_user_namespaces = 0) — an administrator "
                f"can allow them: sudo sysctl -w user.max_user_namespaces=15000 {keep}")
    if read("kernel/apparmor_restrict_unprivileged_userns") == "1":
        return ("AppArmor keeps unprivileged programs out of user namespaces here "
                "(kernel.apparmor_restrict_unprivileged_userns = 1, as on Ubuntu 23.10 and later) — an "
                "administrator can allow them: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 "
                f"{keep}, or give the Python that runs vnetlab an AppArmor profile with the `userns,` rule")
    return None


@contextlib.contextmanager
def _locked(path: str, mode: int) -> Iterator[int]:
    """flock on ``path`` (which its last holder may remove: lockfile.lock_current)."""
    fd = lock_current(path, lambda fd: fcntl.flock(fd, mode))
    try:
        yield fd
    finally:
        os.close(fd)


# Programs that, run as root, switch to a user of their own by default — which
# a lab root that maps only its owner cannot do (no other uid, no setgroups):
# in a lab root they are told to stay who they are. (tcpdump has no such
# option: capture uses dumpcap there, vnetlab.probe.tcpdump.)
STAY_AS_YOU_ARE = {
    "dnsmasq": ("--user=root", "--group="),  # an empty group: no setgroups, no setgid
}


def as_its_own_user(argv) -> list[str]:
    """``argv`` as it must run in a lab root (unchanged in root mode)."""
    argv = list(argv)
    if argv and is_rootless():
        argv += STAY_AS_YOU_ARE.get(os.path.basename(argv[0]), ())
    return argv
