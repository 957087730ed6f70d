"""Ordinary users for the rootless tests: made by the test setup, removed after.

Each user gets a runtime directory (/run/user/UID, mode 700, as logind would
make it) and a vnetlab it can run: the checkout's own .venv when the user
can read it, else a copy in a temporary folder (CI may clone where only
root can read, as under /root). /dev/net/tun, root's alone on some machines
(mode 0600; Debian's default is 0666), is opened to every user for the
tests that need TAPs or Open vSwitch and put back afterwards.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Iterator, Optional

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TUN = "/dev/net/tun"
PREFIX = "vnltest"  # the tests' users are vnltest1, vnltest2


@dataclass
class User:
    """One test user and how it runs vnetlab."""

    name: str
    uid: int
    gid: int
    runtime: str  # its XDG_RUNTIME_DIR
    python: str
    examples: str = os.path.join(REPO, "examples")  # the example lab files, where this user can read them

    @property
    def run_root(self) -> str:
        return os.path.join(self.runtime, "vnetlab")

    def env(self, **extra: str) -> dict:
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
               "HOME": self.runtime, "USER": self.name, "LOGNAME": self.name, "XDG_RUNTIME_DIR": self.runtime}
        env.update(extra)
        return env

    def argv(self, *args: str) -> list[str]:
        """``vnetlab ARGS`` as this user (runuser keeps no privilege: a plain setuid)."""
        return ["runuser", "-u", self.name, "--", self.python, "-m", "vnetlab.cli", *args]

    def vnetlab(self, *args: str, timeout: float = 120, env: Optional[dict] = None,
                cwd: Optional[str] = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                              env=env or self.env(), cwd=cwd or self.examples)

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), env=self.env(), cwd=self.examples, **kwargs)

    def processes(self) -> list[int]:
        """PIDs of this user's live processes (zombies are the dead waiting for a parent: not counted)."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/status") as handle:
                    status = handle.read()
            except OSError:
                continue
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            if fields.get("Uid", "").split()[:1] == [str(self.uid)] and not fields.get("State", "").startswith("Z"):
                found.append(int(entry))
        return found

    def kill_all(self) -> None:
        """Ends this user's processes (only the tests' users have any), by PID."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def files_outside_runtime(self) -> list[str]:
        """Files this user owns in the places a program could write on the host."""
        found = []
        for top in ("/tmp", "/var/tmp", "/dev/shm", "/run"):
            for folder, dirs, files in os.walk(top):
                if folder == "/run/user":
                    dirs[:] = []
                    continue
                for name in dirs + files:
                    path = os.path.join(folder, name)
                    with contextlib.suppress(OSError):
                        if os.lstat(path).st_uid == self.uid:
                            found.append(path)
        return found

    def leftovers(self, settle: float = 3.0) -> dict:
        """What of this user's labs is still there (waits up to ``settle``
        seconds for processes that are exiting)."""
        deadline = time.monotonic() + settle
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        left = {}
        if self.processes():
            left["processes"] = [_cmdline(pid) for pid in self.processes()]
        if os.path.exists(self.run_root):
            left["run root"] = sorted(os.listdir(self.run_root))
        outside = self.files_outside_runtime()
        if outside:
            left["files outside the runtime directory"] = outside
        return left


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip() or f"pid {pid}"
    except OSError:
        return f"pid {pid}"


def _user_can_run(name: str, python: str) -> bool:
    probe = subprocess.run(["runuser", "-u", name, "--", python, "-c", "import vnetlab.cli, pyroute2, pydantic"],
                           capture_output=True, timeout=60, cwd="/")
    return probe.returncode == 0


def _installed_copy(into: str) -> str:
    """A copy of the checkout's .venv and src any user can run; its Python."""
    venv = os.path.dirname(os.path.dirname(sys.executable))
    shutil.copytree(venv, os.path.join(into, "venv"), symlinks=True)
    shutil.copytree(os.path.join(REPO, "src"), os.path.join(into, "src"), symlinks=True)
    shutil.copytree(os.path.join(REPO, "examples"), os.path.join(into, "examples"), symlinks=True)
    site = os.path.join(into, "venv", "lib", f"python{sys.version_info.major}.{sys.version_info.minor}", "site-packages")
    for entry in os.listdir(site):
        if entry.startswith("__editable__") and entry.endswith(".pth"):
            with open(os.path.join(site, entry), "w") as handle:
                handle.write(os.path.join(into, "src") + "\n")
    for folder, dirs, files in os.walk(into):
        os.chmod(folder, 0o755)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode | 0o444)
    return os.path.join(into, "venv", "bin", "python")


def _remove_user(name: str) -> None:
    subprocess.run(["userdel", name], capture_output=True, timeout=30)


@contextlib.contextmanager
def made_users(count: int = 2) -> Iterator[list[User]]:
    """``count`` fresh ordinary users; removed with everything they own afterwards."""
    names = [f"{PREFIX}{i + 1}" for i in range(count)]
    users: list[User] = []
    copy: Optional[str] = None
    made_run_user = not os.path.exists("/run/user")
    try:
        for name in names:
            with contextlib.suppress(KeyError):
                pwd.getpwnam(name)  # left by a killed run: start clean
                _clean(User(name, pwd.getpwnam(name).pw_uid, 0, "", ""))
                _remove_user(name)
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                           check=True, capture_output=True, timeout=30)
            entry = pwd.getpwnam(name)
            runtime = f"/run/user/{entry.pw_uid}"
            shutil.rmtree(runtime, ignore_errors=True)
            os.makedirs(runtime, mode=0o700)
            os.chown(runtime, entry.pw_uid, entry.pw_gid)
            os.chmod(runtime, 0o700)
            users.append(User(name, entry.pw_uid, entry.pw_gid, runtime, sys.executable))
        if not _user_can_run(names[0], sys.executable):
            copy = tempfile.mkdtemp(prefix="vnetlab-rootless-")
            python = _installed_copy(copy)
            for user in users:
                user.python, user.examples = python, os.path.join(copy, "examples")
            assert _user_can_run(names[0], python), "a copy of the venv is not runnable by an ordinary user"
        yield users
    finally:
        for user in users:
            _clean(user)
            _remove_user(user.name)
        if copy:
            shutil.rmtree(copy, ignore_errors=True)
        if made_run_user:
            with contextlib.suppress(OSError):
                os.rmdir("/run/user")


def _clean(user: User) -> None:
    user.kill_all()
    deadline = time.monotonic() + 5
    while user.processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    shutil.rmtree(f"/run/user/{user.uid}", ignore_errors=True)


@contextlib.contextmanager
def tun_mode(mode: int) -> Iterator[None]:
    """/dev/net/tun with ``mode`` for the block; its own mode back afterwards."""
    before = os.stat(TUN).st_mode & 0o7777
    os.chmod(TUN, mode)
    try:
        yield
    finally:
        os.chmod(TUN, before)
