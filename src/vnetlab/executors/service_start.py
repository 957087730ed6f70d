"""Whether the command services a supervisor has just started came up.

The supervisor's ready signal (and a reload's reported generation) says that
every command was *started*. A program that fails on its arguments, a
missing file or module, or a port already taken exits a moment later, and
``up`` must not report such a lab as working. So ``up`` watches each command
it started for :data:`START_GRACE` seconds after the supervisor reported it,
through a pidfd per process: an exit is seen the instant it happens, and the
wait is ``poll`` on those descriptors, not a sleep. A ``oneshot`` command is
waited for until it exits (at most :data:`ONESHOT_TIMEOUT` seconds) and must
exit 0.

Why 0.5 s: on the 2-core machine this was built on, a failing shell command
exits after 4 ms, ``python3 -c 'import missing'`` after 60 ms, and
``python3 -m vnetlab.agents.controller --bogus`` (a Python program that
imports its packages, then rejects its arguments) after 110 ms. 0.5 s is
more than four times the slowest, which leaves room for a loaded machine. A
service that dies later than that is left to the supervisor's restart
policy, and ``status`` shows it.
"""

from __future__ import annotations

import math
import os
import select
import shlex
import signal
import time
from typing import Any, Optional, Sequence

from vnetlab.host import processes
from vnetlab.agents import services
from vnetlab.agents.services import ServiceSpec
from vnetlab.errors import Failed

START_GRACE = 0.5       # seconds a service must keep running after its start was reported
ONESHOT_TIMEOUT = 30.0  # seconds up waits for a oneshot to finish
STATE_TIMEOUT = 2.0     # seconds for the supervisor to record an exit that has happened
LOG_LINES = 10          # lines of a failed service's output shown
LINE_LIMIT = 300        # characters of one such line shown


class ServiceExited(Failed, RuntimeError):
    """A command service exited while ``up`` watched it, or a oneshot failed
    or did not finish: the program started but did not do its job (exit 1)."""

    apply_exit_code = 1  # the lab's own service failed, not the machine (vnetlab up exits 1)


def watch_started(rundir: str, specs: Sequence[ServiceSpec], grace: float = START_GRACE,
                  oneshot_timeout: float = ONESHOT_TIMEOUT) -> list[str]:
    """Watches commands the supervisor has just started; one message per failure.

    Args:
        rundir: the lab's run directory (``services.json`` and the services' logs).
        specs: the command services the supervisor started in this run.
        grace: seconds a service that keeps running must not exit.
        oneshot_timeout: seconds a oneshot may run before it counts as failed.

    Returns:
        For each service that exited within ``grace`` (a oneshot: that did
        not exit 0 within ``oneshot_timeout``), what happened and the last
        lines it printed. Empty when every service came up.
    """
    reported = time.monotonic()
    entries = _entries(rundir)
    watched: dict[int, ServiceSpec] = {}  # pidfd -> its service
    deadlines: dict[ServiceSpec, float] = {}
    exited: list[ServiceSpec] = []
    failures: list[str] = []
    poller = select.poll()
    try:
        for spec in specs:
            fd = _pidfd(entries.get(spec, {}))
            if fd is None:  # exited (and was reaped) before we looked
                exited.append(spec)
                continue
            watched[fd] = spec
            deadlines[spec] = reported + (oneshot_timeout if spec.oneshot else grace)
            poller.register(fd, select.POLLIN)
        while watched:
            now = time.monotonic()
            for fd, spec in list(watched.items()):
                if deadlines[spec] <= now:  # a service still running: up; a oneshot still running: too slow
                    _forget(poller, watched, fd)
                    if spec.oneshot:
                        failures.append(f"service {spec.node}: oneshot command {_argv(spec)} was still running "
                                        f"after {oneshot_timeout:g} s — a oneshot must finish before up returns; "
                                        "drop 'oneshot' for a program that keeps running"
                                        + last_output(rundir, entries.get(spec, {})))
            if not watched:
                break
            wait = min(deadlines[spec] for spec in watched.values()) - now
            for fd, _events in poller.poll(max(0, math.ceil(wait * 1000))):
                exited.append(watched[fd])
                _forget(poller, watched, fd)
    finally:
        for fd in watched:
            os.close(fd)
    for spec in exited:
        entry = _exit_entry(rundir, spec)
        if spec.oneshot and entry.get("exit_status") == 0:
            continue
        failures.append(_exit_message(rundir, spec, entry, grace))
    return failures


def _entries(rundir: str) -> dict[ServiceSpec, dict[str, Any]]:
    """The command entries of ``services.json`` by their spec."""
    found = {}
    for entry in services.read_state(rundir).get("services", []):
        if not isinstance(entry, dict) or "command" not in entry:
            continue
        try:
            spec = ServiceSpec.from_dict({k: entry[k] for k in ("netns", "node", "command", "oneshot") if k in entry})
        except ValueError:
            continue
        found[spec] = entry
    return found


def _pidfd(entry: dict[str, Any]) -> Optional[int]:
    """A pidfd of the entry's process, or None if it no longer runs."""
    try:
        record = processes.ProcessRecord.from_dict(entry)
    except ValueError:
        return None
    try:
        fd = os.pidfd_open(record.pid)
    except ProcessLookupError:
        return None
    if not processes.is_running(record):  # another process's pid by now, or a zombie: it has exited
        os.close(fd)
        return None
    return fd


def _forget(poller: select.poll, watched: dict[int, ServiceSpec], fd: int) -> None:
    poller.unregister(fd)
    os.close(fd)
    del watched[fd]


def _exit_entry(rundir: str, spec: ServiceSpec) -> dict[str, Any]:
    """The service's entry once the supervisor has recorded its exit (it
    reaps the process a moment after the pidfd reported it)."""
    deadline = time.monotonic() + STATE_TIMEOUT
    while True:
        entry = _entries(rundir).get(spec, {})
        if "exit_status" in entry or time.monotonic() >= deadline:
            return entry
        time.sleep(0.005)


def _argv(spec: ServiceSpec) -> str:
    return f"[{shlex.join(spec.command or ())}]"


def _exit_message(rundir: str, spec: ServiceSpec, entry: dict[str, Any], grace: float) -> str:
    status = entry.get("exit_status")
    if not isinstance(status, int):
        how = "exited (the supervisor recorded no exit status — is it still running?)"
    elif status < 0:
        how = f"was killed by signal {_signal_name(-status)}"
    else:
        how = f"exited with status {status}"
    if spec.oneshot:
        head = f"service {spec.node}: oneshot command {_argv(spec)} {how}; a oneshot must exit 0"
    else:
        head = (f"service {spec.node}: command {_argv(spec)} {how} within {grace:g} s of starting; a service "
                "must keep running — mark a program that is meant to finish with 'oneshot: true'")
    return head + last_output(rundir, entry)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def last_output(rundir: str, entry: dict[str, Any], who: str = "it") -> str:
    """The last lines a supervised process printed in its latest run, as the end of a message
    (``who``: how the message names it, e.g. ``udhcpc``)."""
    name = entry.get("log")
    if not isinstance(name, str) or "/" in name:
        return ""
    path = os.path.join(rundir, name)
    lines = log_tail(path)
    whose = "its" if who == "it" else f"{who}'s"
    if not lines:
        return f"; {who} printed nothing ({path})"
    return f"; {whose} last output ({path}):\n" + "\n".join(f"    {line}" for line in lines)


def log_tail(path: str, count: int = LOG_LINES) -> list[str]:
    """The last ``count`` lines a service wrote since its latest start, safe to print.

    The supervisor opens each run with a ``--- DATE starting in NETNS: ...``
    line; what comes before it belongs to an earlier run. Control characters
    are shown escaped (a program's output must not drive the terminal)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except OSError:
        return []
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("--- ") and " starting in " in line]
    if starts:
        lines = lines[starts[-1] + 1:]
    return [printable(line)[:LINE_LIMIT] for line in lines if line.strip()][-count:]


def printable(text: str) -> str:
    """``text`` with control characters (C0, DEL, C1) written as ``\\xNN``; tabs kept."""
    return "".join(c if c == "\t" or not (ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0) else f"\\x{ord(c):02x}"
                   for c in text)
