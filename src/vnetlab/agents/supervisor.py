"""The per-lab supervisor: one process that pumps frames between TAP pairs,
carries the impaired link ends of kernels without netem, and runs the lab's
services.

It plays the part QEMU plays for a VM NIC: the hypervisor node has a
persistent tap (``tap100i0``, in a bridge), the VM node has its guest NIC as
another persistent tap (``eth0``), and the supervisor holds both open and
copies every frame from one to the other. While it runs the taps have
carrier; when it is gone they show NO-CARRIER. The same epoll loop serves
the nodes' built-in listeners and watches their command services
(:mod:`vnetlab.agents.services`), and the impaired ends of the userspace
path: for each, what the interface sends arrives redirected in a TAP of its
namespace, and :class:`vnetlab.agents.impair_engine.ImpairedEnd` delays,
drops, duplicates, corrupts, reorders and paces it before sending it on the
interface itself.

Run it as ``python -m vnetlab.agents.supervisor RUNDIR [--ready-fd N]``;
parents use :func:`start`, :func:`stop`, :func:`reload` and
:func:`is_running`. Files in ``RUNDIR``:

``supervisor.json`` (written by the parent, see :class:`SupervisorConfig`)::

    {"lab": "x",
     "pumps": [{"a": {"netns": "x-pve", "ifname": "tap100i0"},
                "b": {"netns": "x-vm100", "ifname": "eth0"}}],
     "services": [{"netns": "x-web", "node": "web", "listen": "tcp/80"},
                  {"netns": "x-web", "node": "web", "command": ["sleep", "60"]}],
     "impaired": [{"netns": "x-a", "ifname": "eth0", "tap": "eth0-imp",
                   "impairment": {"delay": 20000, "loss": 1.0}}],
     "generation": 1}

``services.json``
    What runs (see :mod:`vnetlab.agents.services`), rewritten whenever
    that changes and after every start or reload, with the ``generation``
    of the config it applied — how a parent learns a reload is done.

``supervisor.pid``
    ``{"pid": ..., "starttime": ...}``, written atomically before the taps
    are attached.
``supervisor.log``
    Appended, one short line per event.

Signals: SIGTERM exits cleanly (stopping the command services), SIGHUP
re-reads the config (attaches new pumps and starts new services, detaches
and stops removed ones), SIGINT is ignored. The ready byte (or file) comes
only once every pump is attached, every listener bound and every command
started. The supervisor also exits
by itself within about a second once ``RUNDIR`` is removed, so a lab torn down
while it was starting leaves no orphan.

An open tap descriptor holds a reference to its namespace: a namespace whose
``/run/netns`` pin is removed lives on (invisibly) until the supervisor lets
go, so ``down`` stops the supervisor before deleting namespaces.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from typing import Any, Callable

from vnetlab.host import netns, tuntap
from vnetlab.agents import services
from vnetlab.host.processes import (
    ProcessRecord,
    is_running,
    read_record,
    send_signal,
    stop,
    write_record,
)
from vnetlab.agents.services import ServiceSpec

__all__ = [
    "Endpoint",
    "ImpairSpec",
    "ProcessRecord",
    "PumpSpec",
    "ServiceSpec",
    "SupervisorConfig",
    "is_running",
    "read_pidfile",
    "reload",
    "reload_and_wait",
    "start",
    "stop",
    "write_config",
]

CONFIG_FILE = "supervisor.json"
PID_FILE = "supervisor.pid"
LOG_FILE = "supervisor.log"
READY_FILE = "supervisor.ready"

MAX_FRAME = 65536
# Frames moved per descriptor per wakeup, so one busy direction cannot starve the rest.
BATCH = 64
RUNDIR_CHECK_INTERVAL = 1.0
READY_BYTE = b"R"

# A tap whose device was deleted answers EBADFD; the others mean it is unusable too.
_GONE_ERRNOS = {errno.EBADFD, errno.ENODEV, errno.ENXIO, errno.EIO, errno.EBADF, errno.EPIPE}


# --------------------------------------------------------------------------- config


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A tap device in a named namespace."""

    netns: str
    ifname: str

    def __str__(self) -> str:
        return f"{self.netns}:{self.ifname}"

    @classmethod
    def from_dict(cls, data: Any) -> Endpoint:
        if not isinstance(data, dict) or not isinstance(data.get("netns"), str) \
                or not isinstance(data.get("ifname"), str):
            raise ValueError(f"an endpoint needs string 'netns' and 'ifname', got {data!r}")
        return cls(netns=data["netns"], ifname=data["ifname"])

    def to_dict(self) -> dict[str, str]:
        return {"netns": self.netns, "ifname": self.ifname}


@dataclasses.dataclass(frozen=True)
class PumpSpec:
    """Two taps whose frames are copied to each other."""

    a: Endpoint
    b: Endpoint

    def __str__(self) -> str:
        return f"{self.a}<->{self.b}"

    @classmethod
    def from_dict(cls, data: Any) -> PumpSpec:
        if not isinstance(data, dict):
            raise ValueError(f"a pump is {{'a': endpoint, 'b': endpoint}}, got {data!r}")
        return cls(a=Endpoint.from_dict(data.get("a")), b=Endpoint.from_dict(data.get("b")))

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a.to_dict(), "b": self.b.to_dict()}


@dataclasses.dataclass(frozen=True)
class ImpairSpec:
    """An impaired interface of the userspace path: what ``ifname`` sends comes
    redirected into ``tap`` (same namespace) and is impaired on its way out.
    ``impairment``: ``Impairment.to_dict()`` as sorted (key, value) pairs."""

    netns: str
    ifname: str
    tap: str
    impairment: tuple = ()
    # Which interface and TAP these are (namespace inode, their ifindexes): another
    # value means they were made again (a node's reboot), and the end is opened anew.
    instance: str = ""

    def __str__(self) -> str:
        return f"{self.netns}:{self.ifname}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.netns, self.ifname)

    @classmethod
    def from_dict(cls, data: Any) -> ImpairSpec:
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("netns", "ifname", "tap")):
            raise ValueError(f"an impaired end needs string 'netns', 'ifname' and 'tap', got {data!r}")
        values = data.get("impairment", {})
        if not isinstance(values, dict):
            raise ValueError(f"'impairment' of {data['netns']}:{data['ifname']} must be a mapping")
        instance = data.get("instance", "")
        if not isinstance(instance, str):
            raise ValueError(f"'instance' of {data['netns']}:{data['ifname']} must be a string")
        return cls(data["netns"], data["ifname"], data["tap"], tuple(sorted(values.items())), instance)

    def to_dict(self) -> dict[str, Any]:
        data = {"netns": self.netns, "ifname": self.ifname, "tap": self.tap, "impairment": dict(self.impairment)}
        if self.instance:
            data["instance"] = self.instance
        return data


@dataclasses.dataclass(frozen=True)
class SupervisorConfig:
    """The content of ``RUNDIR/supervisor.json``.

    ``generation`` is a number the writer increases with every change; the
    supervisor reports the generation it applied in ``services.json``.
    """

    lab: str
    pumps: tuple[PumpSpec, ...] = ()
    services: tuple[ServiceSpec, ...] = ()
    generation: int = 0
    impaired: tuple[ImpairSpec, ...] = ()

    @classmethod
    def from_dict(cls, data: Any) -> SupervisorConfig:
        """Parses and validates; raises ValueError naming the problem."""
        if not isinstance(data, dict) or not isinstance(data.get("lab"), str):
            raise ValueError("supervisor config needs a string 'lab'")
        raw_pumps = data.get("pumps", [])
        raw_services = data.get("services", [])
        if not isinstance(raw_pumps, list) or not isinstance(raw_services, list):
            raise ValueError("'pumps' and 'services' must be lists")
        generation = data.get("generation", 0)
        if not isinstance(generation, int) or isinstance(generation, bool):
            raise ValueError("'generation' must be an integer")
        pumps = tuple(PumpSpec.from_dict(p) for p in raw_pumps)
        seen: set[Endpoint] = set()
        for pump in pumps:
            for end in (pump.a, pump.b):
                if end in seen:
                    raise ValueError(f"tap {end} appears in more than one pump")
                seen.add(end)
        specs = tuple(ServiceSpec.from_dict(s) for s in raw_services)
        listening: set[tuple[str, str]] = set()
        for spec in specs:
            key = (spec.netns, spec.listen or repr(spec.command))
            if key in listening:
                raise ValueError(f"service {spec} appears more than once")
            listening.add(key)
        raw_impaired = data.get("impaired", [])
        if not isinstance(raw_impaired, list):
            raise ValueError("'impaired' must be a list")
        impaired = tuple(ImpairSpec.from_dict(i) for i in raw_impaired)
        if len({i.key for i in impaired}) != len(impaired):
            raise ValueError("an interface appears more than once in 'impaired'")
        return cls(lab=data["lab"], pumps=pumps, services=specs, generation=generation, impaired=impaired)

    def to_dict(self) -> dict[str, Any]:
        data = {"lab": self.lab, "pumps": [p.to_dict() for p in self.pumps],
                "services": [s.to_dict() for s in self.services], "generation": self.generation}
        if self.impaired:
            data["impaired"] = [i.to_dict() for i in self.impaired]
        return data

    @classmethod
    def load(cls, rundir: str) -> SupervisorConfig:
        with open(os.path.join(rundir, CONFIG_FILE)) as handle:
            return cls.from_dict(json.load(handle))


def write_config(rundir: str, config: SupervisorConfig) -> None:
    """Writes ``RUNDIR/supervisor.json`` atomically; follow with :func:`reload` if running."""
    path = os.path.join(rundir, CONFIG_FILE)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as handle:
        json.dump(config.to_dict(), handle, indent=1)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- daemon


def _attach(end: Endpoint) -> int:
    """Attaches a tap from inside its namespace (only this thread moves, and moves back)."""
    try:
        with netns.entered(end.netns):
            return tuntap.attach_tap(end.ifname)
    except FileNotFoundError as exc:
        raise tuntap.TapError(errno.ENOENT, f"namespace {end.netns!r} does not exist") from exc


@dataclasses.dataclass
class _Pump:
    spec: PumpSpec
    fd_a: int
    fd_b: int
    frames: int = 0
    dropped: int = 0


class _Supervisor:
    def __init__(self, rundir: str, log: logging.Logger, me: ProcessRecord | None = None) -> None:
        self.rundir = rundir
        self.log = log
        self.epoll = select.epoll()
        self.pumps: dict[PumpSpec, _Pump] = {}
        self.by_fd: dict[int, tuple[_Pump, int]] = {}  # fd -> (pump, peer fd)
        self.handlers: dict[int, services.Handler] = {}  # the services' fds -> handler(events)
        self.services = services.Services(rundir, log, self.epoll, self.handlers, owner=me)
        self.impaired: dict[tuple[str, str], tuple[ImpairSpec, Any]] = {}  # (netns, ifname) -> (spec, ImpairedEnd)
        self.impaired_fds: dict[int, tuple[str, str]] = {}
        self.buffer = bytearray(MAX_FRAME)
        self.view = memoryview(self.buffer)
        self.stopping = False
        self.reload_requested = False

    # -- pumps

    def add_pump(self, spec: PumpSpec) -> None:
        fd_a = _attach(spec.a)
        try:
            fd_b = _attach(spec.b)
        except OSError:
            os.close(fd_a)
            raise
        pump = _Pump(spec, fd_a, fd_b)
        self.pumps[spec] = pump
        self.by_fd[fd_a] = (pump, fd_b)
        self.by_fd[fd_b] = (pump, fd_a)
        for fd in (fd_a, fd_b):
            self.epoll.register(fd, select.EPOLLIN)
        self.log.info("pump %s attached", spec)

    def drop_pump(self, spec: PumpSpec, reason: str) -> None:
        pump = self.pumps.pop(spec)
        for fd in (pump.fd_a, pump.fd_b):
            del self.by_fd[fd]
            self.epoll.unregister(fd)
            os.close(fd)
        self.log.info("pump %s detached (%s): %d frames, %d dropped", spec, reason, pump.frames, pump.dropped)

    # -- impaired ends (the userspace path)

    def add_impaired(self, spec: ImpairSpec) -> None:
        from vnetlab.agents.impair_engine import ImpairedEnd
        from vnetlab.model.impairment import REDIRECT_MARK, Impairment

        # Marked: the redirect filter lets what the end sends pass, and a capture on the interface sees it.
        end = ImpairedEnd(spec.netns, spec.ifname, spec.tap, Impairment.from_dict(dict(spec.impairment)),
                          mark=REDIRECT_MARK).open()
        self.impaired[spec.key] = (spec, end)
        for fd in end.fds():
            self.impaired_fds[fd] = spec.key
            self.epoll.register(fd, select.EPOLLIN)
        self.log.info("impaired end %s attached (%s)", spec, end.impairment.text())

    def drop_impaired(self, key: tuple[str, str], reason: str) -> None:
        spec, end = self.impaired.pop(key)
        for fd in end.fds():
            del self.impaired_fds[fd]
            self.epoll.unregister(fd)
        stats = end.stats.to_dict()
        end.close()
        self.log.info("impaired end %s detached (%s): %s", spec, reason,
                      ", ".join(f"{k} {v}" for k, v in stats.items()))

    def _attach(self, what: str, spec: object, attach: Callable[[], object], strict: bool,
                errors: list[str]) -> bool:
        """Runs ``attach``; whether it worked. A failure is raised with ``strict``
        (start-up: the parent must learn of it), else logged and listed."""
        try:
            attach()
        except OSError as exc:
            if strict:
                raise
            self.log.error("%s %s not attached: %s", what, spec, exc)
            errors.append(f"{what} {spec} not attached: {exc}")
            return False
        return True

    def _apply_impaired(self, wanted: tuple[ImpairSpec, ...], strict: bool) -> list[str]:
        """Converges the impaired ends: new ones attached, changed ones updated
        in place (their queued frames and the interface stay), removed ones let go."""
        from vnetlab.model.impairment import Impairment

        errors: list[str] = []
        by_key = {spec.key: spec for spec in wanted}
        for key, (spec, _) in list(self.impaired.items()):
            if key not in by_key or (by_key[key].tap, by_key[key].instance) != (spec.tap, spec.instance):
                self.drop_impaired(key, "removed from config" if key not in by_key else "made again")
        for key, spec in by_key.items():
            if key not in self.impaired:
                self._attach("impaired end", spec, lambda spec=spec: self.add_impaired(spec), strict, errors)
                continue
            old, end = self.impaired[key]
            if old != spec and self._attach(
                    "impaired end", spec, lambda end=end, spec=spec: end.update(Impairment.from_dict(dict(spec.impairment))),
                    strict, errors):
                self.impaired[key] = (spec, end)
                self.log.info("impaired end %s now %s", spec, end.impairment.text())
        self.services.extra["impaired"] = [
            {**spec.to_dict(), "attached": True} for spec, _ in self.impaired.values()]
        return errors

    def carry(self, fd: int) -> None:
        """One readable descriptor of an impaired end."""
        key = self.impaired_fds[fd]
        _, end = self.impaired[key]
        try:
            end.on_readable(fd)
        except OSError as exc:  # EndGone: its TAP (or namespace) went
            self.drop_impaired(key, str(exc))

    def apply(self, config: SupervisorConfig, strict: bool) -> None:
        """Converges the running pumps to ``config``.

        With ``strict`` the first failure is raised (start-up: the parent must
        learn of it); otherwise failures are logged and the rest still applied.
        Either way ``services.json`` then reports the config's generation
        and the failures.
        """
        errors: list[str] = []
        wanted = set(config.pumps)
        for spec in [s for s in self.pumps if s not in wanted]:
            self.drop_pump(spec, "removed from config")
        for spec in config.pumps:
            if spec not in self.pumps:
                self._attach("pump", spec, lambda spec=spec: self.add_pump(spec), strict, errors)
        errors += self._apply_impaired(config.impaired, strict)
        errors += self.services.apply(config.services, strict)
        self.services.generation, self.services.errors = config.generation, errors
        self.services.write_state()

    def forward(self, src: int) -> None:
        """Copies up to BATCH frames from ``src`` to its peer; never blocks."""
        pump, dst = self.by_fd[src]
        for _ in range(BATCH):
            try:
                size = os.readv(src, [self.buffer])
            except BlockingIOError:
                return
            except OSError as exc:
                self.drop_pump(pump.spec, f"read from {self._end(pump, src)}: {os.strerror(exc.errno or 0)}")
                return
            if size == 0:
                self.drop_pump(pump.spec, f"{self._end(pump, src)} closed")
                return
            try:
                os.write(dst, self.view[:size])
                pump.frames += 1
            except BlockingIOError:
                pump.dropped += 1  # the peer's queue is full: drop, as a wire would
            except OSError as exc:
                if exc.errno in _GONE_ERRNOS - {errno.EIO}:
                    self.drop_pump(pump.spec, f"write to {self._end(pump, dst)}: {os.strerror(exc.errno or 0)}")
                    return
                pump.dropped += 1  # e.g. EIO while the peer link is down, or an oversized frame

    @staticmethod
    def _end(pump: _Pump, fd: int) -> Endpoint:
        return pump.spec.a if fd == pump.fd_a else pump.spec.b

    # -- main loop

    def run(self, wakeup_fd: int) -> str:
        """Pumps until told to stop; returns why it stopped."""
        self.epoll.register(wakeup_fd, select.EPOLLIN)
        next_check = time.monotonic() + RUNDIR_CHECK_INTERVAL
        while True:
            wait = RUNDIR_CHECK_INTERVAL
            deadline = self.services.next_deadline()
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.monotonic()))
            for fd, events in self.epoll.poll(wait):
                if fd == wakeup_fd:
                    _drain(wakeup_fd)
                elif fd in self.by_fd:  # an earlier event may have dropped its pump
                    self.forward(fd)
                elif fd in self.impaired_fds:
                    self.carry(fd)
                else:
                    handler = self.handlers.get(fd)  # absent if an earlier event closed it
                    if handler is not None:
                        handler(events)
            self.services.tick(time.monotonic())
            if self.stopping:
                return "SIGTERM"
            if self.reload_requested:
                self.reload_requested = False
                self.log.info("SIGHUP: reloading config")
                try:
                    self.apply(SupervisorConfig.load(self.rundir), strict=False)
                except (OSError, ValueError) as exc:
                    self.log.error("config not reloaded, keeping the running one: %s", exc)
            now = time.monotonic()
            if now >= next_check:
                next_check = now + RUNDIR_CHECK_INTERVAL
                if not os.path.isdir(self.rundir):
                    return "run directory removed"

    def close(self) -> None:
        for spec in list(self.pumps):
            self.drop_pump(spec, "exiting")
        for key in list(self.impaired):
            self.drop_impaired(key, "exiting")
        self.services.close()
        self.epoll.close()


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _make_logger(rundir: str) -> logging.Logger:
    log = logging.getLogger("vnetlab.supervisor")
    handler = logging.FileHandler(os.path.join(rundir, LOG_FILE))
    handler.setFormatter(logging.Formatter("%(asctime)s supervisor[%(process)d] %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def _signal_ready(ready_fd: int | None, rundir: str) -> None:
    if ready_fd is None:
        with open(os.path.join(rundir, READY_FILE), "w"):
            pass
        return
    try:
        os.write(ready_fd, READY_BYTE)
    except BrokenPipeError:
        pass  # the parent gave up waiting; the run-directory check decides our fate
    finally:
        os.close(ready_fd)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the supervisor process."""
    parser = argparse.ArgumentParser(prog="python -m vnetlab.agents.supervisor")
    parser.add_argument("rundir", help="the lab's run directory holding supervisor.json")
    parser.add_argument("--ready-fd", type=int, help="inherited pipe fd; one byte is written once ready "
                        "(without it, RUNDIR/supervisor.ready is created)")
    args = parser.parse_args(argv)
    rundir = os.path.abspath(args.rundir)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    supervisor: _Supervisor | None = None

    def on_term(_signum: int, _frame: Any) -> None:
        if supervisor is not None:
            supervisor.stopping = True
        else:
            raise SystemExit(0)

    def on_hup(_signum: int, _frame: Any) -> None:
        if supervisor is not None:
            supervisor.reload_requested = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_hup)
    os.chdir("/")

    log = _make_logger(rundir)
    me = ProcessRecord.self()
    pidfile = os.path.join(rundir, PID_FILE)
    readyfile = os.path.join(rundir, READY_FILE)
    _unlink(readyfile)  # a stale one must not announce this start
    write_record(pidfile, me)
    log.info("starting for %s", rundir)

    for leftover in services.recorded_commands(rundir):
        # A predecessor that was SIGKILLed may have left a service that
        # ignored its SIGTERM; it would hold the port and escape the record.
        if stop(leftover, group=True):
            log.warning("stopped pid %d, a service a previous supervisor left running", leftover.pid)

    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    supervisor = _Supervisor(rundir, log, me)
    try:
        try:
            config = SupervisorConfig.load(rundir)
            supervisor.apply(config, strict=True)
        except (OSError, ValueError) as exc:
            log.error("start failed: %s", exc)
            return 1
        if supervisor.stopping:
            return 0
        _signal_ready(args.ready_fd, rundir)
        log.info("ready: lab %s, %d pump(s), %d impaired end(s), %d service(s)", config.lab, len(supervisor.pumps),
                 len(supervisor.impaired), len(supervisor.services.listeners) + len(supervisor.services.commands))
        reason = supervisor.run(wake_r)
        log.info("exiting: %s", reason)
        return 0
    finally:
        supervisor.close()
        if read_record(pidfile) == me:
            _unlink(pidfile)
            if args.ready_fd is None:
                _unlink(readyfile)


# --------------------------------------------------------------------------- parent side


def read_pidfile(rundir: str) -> ProcessRecord | None:
    """The supervisor's record from ``RUNDIR/supervisor.pid``; None if absent or unreadable.

    The record may be stale: check it with :func:`is_running`.
    """
    return read_record(os.path.join(rundir, PID_FILE))


def reload(record: ProcessRecord) -> bool:
    """Asks the supervisor to re-read its config (SIGHUP); False if it is not running."""
    return send_signal(record, signal.SIGHUP)


def reload_and_wait(rundir: str, record: ProcessRecord, generation: int, timeout: float = 5.0) -> list[str]:
    """Asks the supervisor to re-read its config and waits until it applied it.

    Args:
        rundir: the lab's run directory.
        record: the running supervisor.
        generation: the ``generation`` of the config just written.
        timeout: seconds to wait.

    Returns:
        What the supervisor could not apply (empty when everything is up).

    Raises:
        RuntimeError: it is not running, or did not apply the config in time
            (e.g. the file was unreadable); the message has its log's tail.
    """
    rundir = os.path.abspath(rundir)
    if not reload(record):
        raise RuntimeError(f"the supervisor for {rundir} is not running")
    deadline = time.monotonic() + timeout
    while True:
        state = services.read_state(rundir)
        if isinstance(state.get("generation"), int) and state["generation"] >= generation:
            return [str(e) for e in state.get("errors", [])]
        if not is_running(record):
            why = "exited"
            break
        if time.monotonic() >= deadline:
            why = f"did not apply the new config within {timeout:g} s"
            break
        time.sleep(0.002)
    raise RuntimeError(f"the supervisor for {rundir} {why}; its log ends with:\n{_log_tail(rundir)}")


def _log_tail(rundir: str, lines: int = 20) -> str:
    try:
        with open(os.path.join(rundir, LOG_FILE), errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def start(rundir: str, timeout: float = 5.0) -> ProcessRecord:
    """Starts the supervisor for ``rundir`` and waits until every pump is attached.

    The supervisor runs in its own session (a ctrl-c of the caller does not
    reach it) and outlives the caller; keep the returned record to stop it.

    Raises:
        RuntimeError: it exited or was not ready within ``timeout`` seconds;
            it has been killed and the message carries the tail of its log.
    """
    rundir = os.path.abspath(rundir)
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    try:
        with open(os.path.join(rundir, LOG_FILE), "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "vnetlab.agents.supervisor", rundir, "--ready-fd", str(ready_w)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                pass_fds=(ready_w,), start_new_session=True,
            )
    except BaseException:
        os.close(ready_r)
        raise
    finally:
        os.close(ready_w)
    try:
        readable, _, _ = select.select([ready_r], [], [], timeout)
        ready = bool(readable) and os.read(ready_r, 1) == READY_BYTE
    finally:
        os.close(ready_r)
    record = read_pidfile(rundir) if ready else None
    if record is not None and record.pid == proc.pid:
        return record
    proc.kill()
    proc.wait()
    why = "exited before it was ready" if readable else f"was not ready within {timeout:g} s"
    raise RuntimeError(f"the supervisor for {rundir} {why}; its log ends with:\n{_log_tail(rundir)}")


if __name__ == "__main__":
    sys.exit(main())
