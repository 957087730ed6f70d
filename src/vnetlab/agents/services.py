"""The lab's services, run by its supervisor inside node namespaces.

Two kinds, both driven by the supervisor's single epoll loop (the TAP pumps
share it, so nothing here ever blocks):

- **Built-in listeners** (``listen: tcp/80``, ``listen: udp/53``): a socket
  opened by the supervisor's thread inside the node's namespace, bound to the
  wildcard address (dual-stack where the node has IPv6). They exist to tell
  the client *which source address the server saw* — the proof that NAT,
  masquerading or a port forward did its job. TCP answers one HTTP request
  with ``200 OK`` and a body; UDP echoes each datagram followed by a line.
  Both carry the report line of :func:`report_line`::

      vnetlab-service node=web listen=tcp/80 client=203.0.113.10:40312

- **Commands** (``command: [python3, -m, http.server, "8000"]``): any program,
  started inside the namespace in its own session, SIGTERMed if the
  supervisor dies (``PR_SET_PDEATHSIG``), restarted a few times with backoff
  if it exits, stopped by its recorded pid and start time — never by name.
  A *oneshot* command runs once and is never restarted: it ends ``done``
  (exit 0) or ``failed``.

``RUNDIR/services.json`` (written atomically whenever the set changes) is
what ``status`` shows and what ``down`` uses to stop command processes a
SIGKILLed supervisor left behind::

    {"generation": 3, "errors": [], "supervisor": {"pid": 10, "starttime": 99},
     "services": [
       {"netns": "x-web", "node": "web", "listen": "tcp/80", "state": "listening", "address": "[::]:80"},
       {"netns": "x-web", "node": "web", "command": ["sleep", "60"], "state": "running",
        "pid": 12, "starttime": 100, "restarts": 0, "log": "service-web-1.log"},
       {"netns": "x-web", "node": "web", "command": ["sh", "setup.sh"], "oneshot": true,
        "state": "done", "exit_status": 0, "restarts": 0, "log": "service-web-2.log"}]}

``exit_status`` is the last exit of a command (negative: the signal that
killed it); ``pid`` and ``starttime`` are there while it runs.

This module is the service host (:class:`Services`) and the command
bookkeeping; the service specs and ``services.json`` are in
:mod:`vnetlab.agents.service_config`, the report line in
:mod:`vnetlab.agents.service_report`, the listeners' sockets in
:mod:`vnetlab.agents.listeners`.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import select
import shlex
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Callable, Optional, Sequence

from vnetlab.agents.listeners import Connection, Listener, http_response, open_listener
from vnetlab.agents.service_config import (  # noqa: F401 (callers read these from here too)
    SERVICES_FILE, ServiceSpec, read_state, recorded_commands,
)
from vnetlab.agents.service_report import (  # noqa: F401 (callers read these from here too)
    ServiceReport, format_client, parse_report, report_line,
)
from vnetlab.host.processes import ProcessRecord
from vnetlab.host.state import write_atomic


HTTP_REQUEST_LIMIT = 4096   # bytes of a request read before answering anyway
HTTP_READ_TIMEOUT = 0.5     # seconds a client may take to send its request
LINGER_TIMEOUT = 2.0        # seconds an answered connection waits for the client's FIN
MAX_CONNECTIONS = 256
ACCEPT_BATCH = 64           # per wakeup, so one busy listener cannot starve the pumps
MAX_UDP_REPLY = 65507
RESTART_DELAYS = (0.5, 1.0, 2.0)  # a command that exits is restarted after these, then given up
STABLE_RUN = 10.0           # a command that ran this long gets its restart budget back
STOP_TIMEOUT = 2.0          # SIGTERM, then SIGKILL after this many seconds


Handler = Callable[[int], None]


# --------------------------------------------------------------------------- commands


@dataclasses.dataclass
class _Command:
    spec: ServiceSpec
    number: int                 # the n of service-<node>-<n>.log
    proc: Optional[subprocess.Popen] = None
    pidfd: Optional[int] = None
    record: Optional[ProcessRecord] = None
    started_at: float = 0.0
    restarts: int = 0
    restart_at: Optional[float] = None
    kill_at: Optional[float] = None
    state: str = "starting"     # running | restarting | done (a oneshot's exit 0) | failed | stopping
    exit_status: Optional[int] = None  # of its last exit (negative: the killing signal)

    @property
    def log_name(self) -> str:
        return f"service-{self.spec.node}-{self.number}.log"

    @property
    def alive(self) -> bool:
        """Started and not yet reaped."""
        return self.proc is not None and self.proc.returncode is None


def command_env() -> dict[str, str]:
    """The environment of a command service: ours, with our interpreter's
    directory first on PATH, so ``python3`` in a command (such as the
    built-in controller, ``python3 -m vnetlab.agents.controller``) is the
    Python vnetlab runs in, with its packages."""
    env = dict(os.environ)
    here = os.path.dirname(sys.executable)
    rest = [d for d in env.get("PATH", os.defpath).split(os.pathsep) if d and d != here]
    env["PATH"] = os.pathsep.join([here, *rest])
    return env


# --------------------------------------------------------------------------- the service host


class Services:
    """The supervisor's services, driven by its epoll loop.

    The owner registers nothing itself: every descriptor this class opens
    is registered on ``epoll`` with a handler in ``handlers`` (fd -> handler
    taking the epoll event mask), and the owner calls the handler of each
    ready fd, :meth:`tick` after each wakeup, and waits no longer than
    :meth:`next_deadline`.
    """

    def __init__(self, rundir: str, log: logging.Logger, epoll: select.epoll, handlers: dict[int, Handler],
                 owner: Optional[ProcessRecord] = None):
        self.rundir, self.log, self.epoll, self.handlers = rundir, log, epoll, handlers
        self.owner = owner  # the supervisor, for services.json
        self.listeners: dict[ServiceSpec, Listener] = {}
        self.connections: dict[int, Connection] = {}
        self.commands: dict[ServiceSpec, _Command] = {}
        self.stopping: list[_Command] = []
        self.generation = 0
        self.errors: list[str] = []
        self.extra: dict[str, Any] = {}  # more of what the supervisor runs, for services.json (its impaired ends)

    # -- converging

    def apply(self, wanted: Sequence[ServiceSpec], strict: bool) -> list[str]:
        """Stops services not in ``wanted``, starts new ones, keeps the rest.

        With ``strict`` the first failure is raised; otherwise failures are
        logged and returned, and the rest still applied.
        """
        errors: list[str] = []
        keep = set(wanted)
        for spec in [s for s in self.listeners if s not in keep]:
            self._close_listener(spec, "removed from config")
        for spec in [s for s in self.commands if s not in keep]:
            self._begin_stop(self.commands.pop(spec), "removed from config")
        for spec in wanted:
            if spec in self.listeners or spec in self.commands:
                continue
            try:
                if spec.listen is not None:
                    self._add_listener(spec)
                else:
                    self._add_command(spec)
            except OSError as exc:
                if strict:
                    raise
                message = f"service {spec} not started: {exc}"
                self.log.error("%s", message)
                errors.append(message)
        return errors

    def _add_listener(self, spec: ServiceSpec) -> None:
        listener = Listener(spec, open_listener(spec))
        fd = listener.sock.fileno()
        self.listeners[spec] = listener
        if spec.proto_port[0] == "tcp":
            self.handlers[fd] = lambda _events: self._accept(listener)
        else:
            self.handlers[fd] = lambda _events: self._echo(listener)
        self.epoll.register(fd, select.EPOLLIN)
        self.log.info("service %s listening on %s", spec, listener.address)

    def _close_listener(self, spec: ServiceSpec, reason: str) -> None:
        listener = self.listeners.pop(spec)
        fd = listener.sock.fileno()
        self.epoll.unregister(fd)
        del self.handlers[fd]
        listener.sock.close()
        self.log.info("service %s closed (%s)", spec, reason)

    # -- TCP

    def _accept(self, listener: Listener) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, address = listener.sock.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # e.g. EMFILE, or a connection reset before accept
                self.log.warning("service %s: accept: %s", listener.spec, exc)
                return
            if len(self.connections) >= MAX_CONNECTIONS:
                sock.close()
                continue
            sock.setblocking(False)
            conn = Connection(listener.spec, sock, format_client(address),
                               time.monotonic() + HTTP_READ_TIMEOUT)
            fd = sock.fileno()
            self.connections[fd] = conn
            self.handlers[fd] = lambda events, conn=conn: self._serve(conn, events)
            self.epoll.register(fd, select.EPOLLIN | select.EPOLLRDHUP)

    def _serve(self, conn: Connection, events: int) -> None:
        if conn.phase == "write":
            self._send(conn)
            return
        try:
            data = conn.sock.recv(HTTP_REQUEST_LIMIT if conn.phase == "linger"
                                  else HTTP_REQUEST_LIMIT - len(conn.request))
        except BlockingIOError:
            return
        except OSError:
            self._close_connection(conn)
            return
        if conn.phase == "linger":
            if not data:  # the client's FIN: both sides are done, nothing unread left
                self._close_connection(conn)
            return
        conn.request += data
        if not data or b"\r\n\r\n" in conn.request or len(conn.request) >= HTTP_REQUEST_LIMIT:
            self._answer(conn)

    def _answer(self, conn: Connection) -> None:
        conn.pending = http_response(conn.spec, conn.client)
        conn.phase = "write"
        self._send(conn)

    def _send(self, conn: Connection) -> None:
        try:
            sent = conn.sock.send(conn.pending)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._close_connection(conn)
            return
        conn.pending = conn.pending[sent:]
        fd = conn.sock.fileno()
        if conn.pending:
            self.epoll.modify(fd, select.EPOLLOUT)
            return
        # Half-close and wait for the client's FIN, reading what it still
        # sends: closing with unread data would answer with a RST, which can
        # destroy the response before the client has read it.
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close_connection(conn)
            return
        conn.phase = "linger"
        conn.deadline = time.monotonic() + LINGER_TIMEOUT
        self.epoll.modify(fd, select.EPOLLIN | select.EPOLLRDHUP)

    def _close_connection(self, conn: Connection) -> None:
        fd = conn.sock.fileno()
        self.epoll.unregister(fd)
        del self.handlers[fd]
        del self.connections[fd]
        conn.sock.close()

    # -- UDP

    def _echo(self, listener: Listener) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                data, address = listener.sock.recvfrom(65535)
            except BlockingIOError:
                return
            except OSError as exc:
                self.log.warning("service %s: recvfrom: %s", listener.spec, exc)
                return
            line = report_line(listener.spec.node, listener.spec.listen or "", format_client(address))
            try:
                listener.sock.sendto(data[:MAX_UDP_REPLY - len(line)] + line, address)
            except OSError:
                pass  # a full queue or an unroutable sender: drop, as a busy server would

    # -- commands

    def _add_command(self, spec: ServiceSpec) -> None:
        numbers = {c.number for c in (*self.commands.values(), *self.stopping) if c.spec.node == spec.node}
        number = next(n for n in range(1, len(numbers) + 2) if n not in numbers)
        command = _Command(spec, number)
        self._spawn(command)
        self.commands[spec] = command
        self.write_state()

    def _spawn(self, command: _Command) -> None:
        from vnetlab.host import lab_root, run

        spec = command.spec
        path = os.path.join(self.rundir, command.log_name)
        with open(path, "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting in {spec.netns}: "
                      f"{shlex.join(spec.command or ())}\n".encode())
            log.flush()
            try:
                proc = run.popen(spec.netns, lab_root.as_its_own_user(spec.command or ()), die_with_parent=True,
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True, cwd=self.rundir, env=command_env())
            except subprocess.SubprocessError as exc:  # the child's setup failed
                raise OSError(errno.EIO, f"{spec}: {exc}") from exc
            except OSError as exc:
                hint = " — install it, or give its full path" if exc.errno == errno.ENOENT else ""
                raise OSError(exc.errno, f"{spec}: cannot start: {exc.strerror or exc}{hint}") from None
        command.proc = proc
        command.record = ProcessRecord.of(proc.pid)  # a zombie still has its stat: no race
        command.pidfd = os.pidfd_open(proc.pid)
        command.started_at = time.monotonic()
        command.state = "running"
        self.handlers[command.pidfd] = lambda _events: self._exited(command)
        self.epoll.register(command.pidfd, select.EPOLLIN)
        self.log.info("service %s started, pid %d, log %s", spec, proc.pid, command.log_name)

    def _release(self, command: _Command) -> int:
        """Reaps an exited command and forgets its descriptor; returns its exit status."""
        assert command.proc is not None and command.pidfd is not None
        status = command.proc.wait()
        self.epoll.unregister(command.pidfd)
        del self.handlers[command.pidfd]
        os.close(command.pidfd)
        command.pidfd = None
        return status

    def _exited(self, command: _Command) -> None:
        if command.proc is None or command.proc.poll() is None:
            return
        status = self._release(command)
        command.exit_status = status
        if command.state == "stopping":
            self.stopping.remove(command)
            self.log.info("service %s stopped (status %d)", command.spec, status)
            self.write_state()
            return
        if command.spec.oneshot:  # ran once, as asked: never restarted
            command.state = "done" if status == 0 else "failed"
            log = self.log.info if status == 0 else self.log.error
            log("service %s finished with status %d (see %s)", command.spec, status, command.log_name)
            self.write_state()
            return
        now = time.monotonic()
        if now - command.started_at >= STABLE_RUN:
            command.restarts = 0
        if command.restarts < len(RESTART_DELAYS):
            delay = RESTART_DELAYS[command.restarts]
            command.restarts += 1
            command.restart_at = now + delay
            command.state = "restarting"
            self.log.warning("service %s exited with status %d; restart %d of %d in %g s",
                             command.spec, status, command.restarts, len(RESTART_DELAYS), delay)
        else:
            command.state = "failed"
            self.log.error("service %s exited with status %d; not restarted again (see %s)",
                           command.spec, status, command.log_name)
        self.write_state()

    def _restart(self, command: _Command) -> None:
        command.restart_at = None
        try:
            self._spawn(command)
        except OSError as exc:
            self.log.error("service %s not restarted: %s", command.spec, exc)
            command.state = "failed"
        self.write_state()

    def _signal(self, command: _Command, signum: int) -> None:
        """Signals a command and its process group (it is our unreaped child:
        its pid, and the group named after it, are still its own)."""
        if not command.alive or command.pidfd is None:
            return
        try:
            signal.pidfd_send_signal(command.pidfd, signum)
        except ProcessLookupError:
            pass
        try:
            os.killpg(command.proc.pid, signum)  # type: ignore[union-attr]
        except (ProcessLookupError, PermissionError):
            pass

    def _begin_stop(self, command: _Command, reason: str) -> None:
        """SIGTERM now, SIGKILL at ``kill_at``; reaped when its pidfd fires."""
        if not command.alive:
            self.log.info("service %s dropped (%s)", command.spec, reason)
            self.write_state()
            return
        self.log.info("service %s stopping (%s)", command.spec, reason)
        command.state = "stopping"
        command.kill_at = time.monotonic() + STOP_TIMEOUT
        self.stopping.append(command)
        self._signal(command, signal.SIGTERM)
        self.write_state()

    # -- time

    def next_deadline(self) -> Optional[float]:
        """The earliest moment :meth:`tick` has something to do, or None."""
        moments = [c.deadline for c in self.connections.values()]
        moments += [c.restart_at for c in self.commands.values() if c.restart_at is not None]
        moments += [c.kill_at for c in self.stopping if c.kill_at is not None]
        return min(moments) if moments else None

    def tick(self, now: float) -> None:
        """Times out slow connections, restarts exited commands, SIGKILLs stubborn ones."""
        for conn in [c for c in self.connections.values() if c.deadline <= now]:
            if conn.phase == "read":
                self._answer(conn)  # whatever arrived is the request
            else:
                self._close_connection(conn)
        for command in [c for c in self.commands.values() if c.restart_at is not None and c.restart_at <= now]:
            self._restart(command)
        for command in [c for c in self.stopping if c.kill_at is not None and c.kill_at <= now]:
            command.kill_at = None
            self.log.warning("service %s ignored SIGTERM for %g s: SIGKILL", command.spec, STOP_TIMEOUT)
            self._signal(command, signal.SIGKILL)

    # -- state file and exit

    def write_state(self) -> None:
        """Writes ``RUNDIR/services.json`` atomically (see the module docstring)."""
        entries: list[dict[str, Any]] = []
        for listener in self.listeners.values():
            entries.append({**listener.spec.to_dict(), "state": "listening", "address": listener.address})
        for command in (*self.commands.values(), *self.stopping):
            entry = {**command.spec.to_dict(), "state": command.state, "restarts": command.restarts,
                     "log": command.log_name}
            if command.alive and command.record is not None:
                entry.update(command.record.to_dict())
            if command.exit_status is not None:
                entry["exit_status"] = command.exit_status
            entries.append(entry)
        state = {"generation": self.generation, "errors": self.errors,
                 "supervisor": self.owner.to_dict() if self.owner is not None else None, "services": entries,
                 **self.extra}
        if os.path.isdir(self.rundir):  # a removed run directory means the lab is going away
            write_atomic(os.path.join(self.rundir, SERVICES_FILE), json.dumps(state, indent=1))

    def close(self) -> None:
        """Closes every listener and connection and stops every command (blocks up to ~2 s)."""
        for conn in list(self.connections.values()):
            self._close_connection(conn)
        for spec in list(self.listeners):
            self._close_listener(spec, "exiting")
        doomed = [*self.commands.values(), *self.stopping]
        self.commands.clear()
        self.stopping = doomed
        for command in doomed:
            command.state = "stopping"
            self._signal(command, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for command in doomed:
            if command.alive:
                try:
                    command.proc.wait(max(0.0, deadline - time.monotonic()))  # type: ignore[union-attr]
                except subprocess.TimeoutExpired:
                    self.log.warning("service %s ignored SIGTERM: SIGKILL", command.spec)
                    self._signal(command, signal.SIGKILL)
                    command.proc.wait()  # type: ignore[union-attr]
            if command.pidfd is not None:
                self._release(command)
            self.log.info("service %s stopped", command.spec)
        self.stopping = []
        self.write_state()
