"""Runs ``vnetlab`` commands as processes forked from one that has imported vnetlab already.

A ``vnetlab`` process spends most of a short command importing (pydantic
builds the lab-file schema, every op type is a dataclass): about 0.3-0.5 s
on a small test machine, paid by each of the many commands the integration
tests run. :func:`run` gives the same thing as
``subprocess.run([sys.executable, "-m", "vnetlab.cli", *args], capture_output=True, text=True)``
— a separate process, with its own exit code, stdout and stderr (pipes, not
terminals), the caller's environment, working directory and umask, that exits when
the command ends (so daemons it starts must outlive it, as they must for a
user), and that a timeout kills — but the process is forked from a server
that imported vnetlab once (:func:`serve`), instead of a new interpreter
that imports it again.

What such a process does not show is how a fresh interpreter imports the
command (a missing import hidden by the server's, an import cycle): so the
first run of each command in a test session is a real new process
(``conftest.cli`` does that), and ``VNETLAB_TEST_REAL_CLI=1`` makes every
run one. A run whose environment differs from the one the server started
with (``env=``, a monkeypatched variable) is a real process too, as is any
run when the server could not start.
"""

from __future__ import annotations

import io
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
from typing import Optional, Sequence

# What the server imports before it forks anything: what most commands need
# (the CLI, the schema, the compiler, every op type, the backends, probes and
# renderers). A command still imports whatever else it needs by itself.
PRELOAD = (
    "vnetlab.cli", "vnetlab.cli.common", "vnetlab.lab", "vnetlab.model.loader", "vnetlab.model.validate",
    "vnetlab.model.schema", "vnetlab.compile.compiler", "vnetlab.plan", "vnetlab.executors.apply",
    "vnetlab.executors.capabilities", "vnetlab.executors.kernel", "vnetlab.observe.drift",
    "vnetlab.observe.status", "vnetlab.probe.checks", "rich.console", "rich.table", "rich.markup",
)
# Variables that may differ between the server's start and a run (set by pytest per test).
VOLATILE = ("PYTEST_CURRENT_TEST",)
MAIN = "vnetlab/cli/__main__.py"  # what sys.argv[0] is in `python -m vnetlab.cli`


def _comparable(env: dict) -> dict:
    return {key: value for key, value in env.items() if key not in VOLATILE}


class Server:
    """The forking server, seen from the test process: one per test session."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.env = dict(os.environ)
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=self.env)
        theirs.close()
        self.control = ours
        self.lock = threading.Lock()
        reply = self.control.recv(4096)  # "ready" once the imports are done, or why not
        if reply != b"ready":
            self.close()
            raise RuntimeError(f"the vnetlab fork server did not start: {reply.decode(errors='replace')}")

    def serves(self, env: dict) -> bool:
        """Whether a run with ``env`` may be forked (else it must be a new process)."""
        return self.process.poll() is None and _comparable(env) == _comparable(self.env)

    def run(self, args: Sequence[str], env: dict, cwd: Optional[str], input: Optional[str],
            timeout: Optional[float]) -> subprocess.CompletedProcess:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe() if input is not None else (None, None)
        conn, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        umask = os.umask(0o022)
        os.umask(umask)
        request = json.dumps({"args": list(args), "env": env, "cwd": cwd or os.getcwd(), "umask": umask}).encode()
        fds = [in_r if in_r is not None else 0, out_w, err_w, theirs.fileno()]
        try:
            with self.lock:
                socket.send_fds(self.control, [request], fds)
        finally:
            for fd in (out_w, err_w, in_r):
                if fd is not None:
                    os.close(fd)
            theirs.close()
        conn_fd = conn.fileno()
        chunks: dict[int, list[bytes]] = {out_r: [], err_r: [], conn_fd: []}
        pending = (input or "").encode()
        selector = selectors.DefaultSelector()
        selector.register(out_r, selectors.EVENT_READ)
        selector.register(err_r, selectors.EVENT_READ)
        selector.register(conn, selectors.EVENT_READ)
        if in_w is not None:
            selector.register(in_w, selectors.EVENT_WRITE)
        deadline = None if timeout is None else _now() + timeout
        try:
            while selector.get_map():
                wait = None if deadline is None else deadline - _now()
                if wait is not None and wait <= 0:
                    self._kill(conn, chunks[conn_fd])
                    raise subprocess.TimeoutExpired([MAIN, *args], timeout, b"".join(chunks[out_r]),
                                                    b"".join(chunks[err_r]))
                for key, _ in selector.select(wait):
                    if key.fileobj == in_w:
                        written = os.write(in_w, pending[:65536]) if pending else 0
                        pending = pending[written:]
                        if not pending:
                            selector.unregister(in_w)
                            os.close(in_w)
                            in_w = None
                        continue
                    fd = key.fd
                    data = os.read(fd, 65536)
                    if data:
                        chunks[fd].append(data)
                    else:
                        selector.unregister(key.fileobj)
        finally:
            selector.close()
            for fd in (out_r, err_r, in_w):
                if fd is not None:
                    os.close(fd)
            conn.close()
        said = [json.loads(line) for line in b"".join(chunks[conn_fd]).decode().splitlines()]
        code = said[-1].get("code", 1) if said else 1  # no code: the process died before it could say
        return subprocess.CompletedProcess([MAIN, *args], code, b"".join(chunks[out_r]).decode(),
                                           b"".join(chunks[err_r]).decode())

    def _kill(self, conn: socket.socket, said: list[bytes]) -> None:
        """Kills the run's process (by the pid it said first; waits for that line if need be)."""
        conn.settimeout(10)
        while b"\n" not in b"".join(said):
            try:
                data = conn.recv(4096)
            except OSError:
                data = b""
            if not data:
                return  # it is gone already
            said.append(data)
        pid = json.loads(b"".join(said).decode().splitlines()[0])["pid"]
        try:
            os.kill(pid, signal.SIGKILL)  # the process this run forked, by its pid
        except ProcessLookupError:
            pass

    def close(self) -> None:
        self.control.close()  # the server exits when its control socket closes
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _now() -> float:
    import time

    return time.monotonic()


# --------------------------------------------------------------------------- the server side

def serve(control_fd: int) -> None:
    """Imports :data:`PRELOAD`, then forks one process per request until the control socket closes."""
    control = socket.socket(fileno=control_fd)
    try:
        import importlib

        for name in PRELOAD:
            importlib.import_module(name)
        if threading.active_count() != 1:
            raise RuntimeError(f"importing vnetlab started threads: {threading.enumerate()}")
    except Exception as exc:  # noqa: BLE001 — told to the test process, which then runs real processes
        control.sendall(f"{type(exc).__name__}: {exc}".encode())
        return
    control.sendall(b"ready")
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGCHLD, lambda *_: _reap())  # no zombie outlives its command for long
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 1 << 20, 4)
        except OSError:
            return
        if not message:
            return
        pid = os.fork()
        if pid == 0:
            control.close()
            _child(json.loads(message), *fds)  # never returns
        for fd in fds:
            os.close(fd)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _child(request: dict, stdin: int, stdout: int, stderr: int, conn_fd: int) -> None:
    """The forked process: the request's stdio, environment, directory and argv, then the command."""
    conn = socket.socket(fileno=conn_fd)
    code = 1
    try:
        conn.sendall((json.dumps({"pid": os.getpid()}) + "\n").encode())
    except OSError:
        os._exit(1)  # the test process gave up on this run already
    try:
        # The signal dispositions of a new interpreter (the server ignores SIGINT and reaps its children).
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
            if fd != target:
                os.dup2(fd, target)
                os.close(fd)
        os.set_inheritable(0, True)
        os.set_inheritable(1, True)
        os.set_inheritable(2, True)
        # As a new interpreter makes them: stdout line-buffered only on a terminal, stderr always.
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding=sys.stdin.encoding,
                                     errors=sys.stdin.errors)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding=sys.stdout.encoding,
                                      errors=sys.stdout.errors, line_buffering=os.isatty(1))
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding=sys.stderr.encoding,
                                      errors="backslashreplace", line_buffering=True)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        import vnetlab.cli

        sys.argv = [os.path.join(os.path.dirname(vnetlab.cli.__file__), "__main__.py"), *request["args"]]
        code = _main(vnetlab.cli.main)
        threading._shutdown()  # as the interpreter does at exit: wait for the threads still running
        import atexit

        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001 — reported as an interpreter would, then exit 1
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 — a closed pipe: a real process loses it too
                pass
        try:
            code = code & 0xFF if isinstance(code, int) else 1
            conn.sendall((json.dumps({"code": code}) + "\n").encode())
        except OSError:
            pass
        os._exit(code)


def _main(main) -> int:
    """``sys.exit(main())`` as the interpreter runs it: the exit code of SystemExit (None 0, an
    int itself, anything else printed and 1), an uncaught exception's traceback and 1."""
    try:
        return _exit_code(main())
    except SystemExit as exc:
        return _exit_code(exc.code)


def _exit_code(value) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    print(value, file=sys.stderr)
    return 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the test process's Ctrl-C is for its runs, not for us
        serve(int(sys.argv[2]))
