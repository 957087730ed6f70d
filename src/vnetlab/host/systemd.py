"""The persistent layer: a systemd unit that rebuilds a lab at boot.

``ip`` changes are runtime state, gone at reboot; NetworkManager keeps a
profile and a daemon re-applies it. For vnetlab the lab file is the profile
and ``vnetlab up --restore FILE`` re-applies it; ``vnetlab enable FILE``
writes ``vnetlab-<lab>.service`` (a oneshot that stays "active" while the lab
is up, so ``systemctl stop`` takes it down) and enables it when systemd runs.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Optional

UNIT_DIR = "/etc/systemd/system"
SYSTEMD_RUNNING_MARK = "/run/systemd/system"  # sd_booted(3): present iff systemd is PID 1


def unit_dir() -> str:
    """Where units go: $VNETLAB_SYSTEMD_DIR (tests, image builds) or /etc/systemd/system."""
    return os.environ.get("VNETLAB_SYSTEMD_DIR") or UNIT_DIR


def unit_name(lab: str) -> str:
    """``vnetlab-<lab>.service``."""
    return f"vnetlab-{lab}.service"


def vnetlab_command() -> list[str]:
    """The absolute argv that runs this vnetlab (the venv's script if there is one)."""
    script = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "vnetlab")
    if os.access(script, os.X_OK):
        return [script]
    return [os.path.abspath(sys.executable), "-m", "vnetlab.cli"]


def unit_text(lab: str, labfile: str, command: Optional[list[str]] = None) -> str:
    """The unit file's content for lab ``lab`` built from ``labfile``."""
    argv = command or vnetlab_command()
    path = os.path.abspath(labfile)
    start = shlex.join([*argv, "up", "--restore", "--quiet", path])
    stop = shlex.join([*argv, "down", "--quiet", lab])
    return (
        "# Written by `vnetlab enable`; remove with `vnetlab disable`.\n"
        "[Unit]\n"
        f"Description=vnetlab lab {lab} ({path})\n"
        "After=local-fs.target\n"
        f"ConditionPathExists={path}\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        f"ExecStart={start}\n"
        f"ExecStop={stop}\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


@dataclass
class Result:
    """What enable/disable did."""

    path: str
    changed: bool
    systemd: bool  # whether systemctl was run
    messages: list[str]


def systemd_running() -> bool:
    """Whether systemd is this machine's init (and systemctl is there)."""
    return os.path.isdir(SYSTEMD_RUNNING_MARK) and shutil.which("systemctl") is not None


def _systemctl(*args: str) -> str:
    done = subprocess.run(["systemctl", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"systemctl {' '.join(args)} failed: {done.stderr.strip()}")
    return " ".join(args)


def _use_systemd() -> bool:
    return unit_dir() == UNIT_DIR and systemd_running()


def enable(lab: str, labfile: str) -> Result:
    """Writes (or rewrites) the unit and enables it; idempotent."""
    path = os.path.join(unit_dir(), unit_name(lab))
    text = unit_text(lab, labfile)
    try:
        with open(path) as handle:
            changed = handle.read() != text
    except FileNotFoundError:
        changed = True
    if changed:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    messages = []
    if _use_systemd():
        messages.append("ran: systemctl " + _systemctl("daemon-reload"))
        messages.append("ran: systemctl " + _systemctl("enable", unit_name(lab)))
        return Result(path, changed, True, messages)
    messages.append("systemd is not running here: the unit was written but not enabled "
                    f"(on a systemd machine: systemctl daemon-reload && systemctl enable {unit_name(lab)})")
    return Result(path, changed, False, messages)


def disable(lab: str) -> Result:
    """Disables and removes the unit; absent is success."""
    path = os.path.join(unit_dir(), unit_name(lab))
    exists = os.path.exists(path)
    messages = []
    use = _use_systemd()
    if exists and use:
        messages.append("ran: systemctl " + _systemctl("disable", unit_name(lab)))
    if exists:
        os.unlink(path)
        if use:
            messages.append("ran: systemctl " + _systemctl("daemon-reload"))
    return Result(path, exists, use and exists, messages)
