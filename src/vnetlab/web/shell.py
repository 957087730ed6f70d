"""A shell in the browser: a pty inside a node's namespace, bridged to a websocket.

The shell runs as ``vnetlab shell`` starts it (the node's own /etc, the same
prompt and variables), in a session of its own whose controlling terminal is
the pty, so Ctrl-C and job control work. Binary frames carry the pty's bytes
both ways; a text frame ``{"resize": [cols, rows]}`` resizes it. When the
socket closes the shell's whole process group is killed.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import struct
import subprocess
import termios
import threading
from typing import Any, Optional

READ_SIZE = 65536
KILL_WAIT = 2.0


def shell_argv() -> list[str]:
    """The shell ``vnetlab shell`` runs: $SHELL (bash without its rc files), else /bin/sh."""
    shell = os.environ.get("SHELL") or "/bin/bash"
    if not os.path.exists(shell):
        shell = "/bin/sh"
    return [shell, "--norc", "-i"] if shell.endswith("bash") else [shell, "-i"]


def resize(fd: int, cols: int, rows: int) -> None:
    """Sets the pty's window size (the shell gets SIGWINCH)."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Shell:
    """One shell process on the slave side of a pty; the master stays with the server."""

    def __init__(self, node: Any, lab: str, cols: int = 80, rows: int = 24):
        master, slave = os.openpty()
        try:
            resize(master, cols, rows)
            env = dict(os.environ, PS1=f"[{lab}:{node.name}] \\w# ", VNETLAB_LAB=lab, VNETLAB_NODE=node.name,
                       TERM="xterm-256color")
            self.proc: subprocess.Popen = node.popen(
                shell_argv(), stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
                controlling_tty=True, close_fds=True)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self.master = master
        self._closed = threading.Lock()
        self._done = False

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.master, view)
            view = view[written:]

    def resize(self, cols: int, rows: int) -> None:
        resize(self.master, cols, rows)

    def close(self) -> None:
        """Kills the shell's process group (HUP, then KILL) and closes the pty."""
        with self._closed:
            if self._done:
                return
            self._done = True
        for sig in (signal.SIGHUP, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(KILL_WAIT)
                break
            except subprocess.TimeoutExpired:
                continue
        if self.proc.poll() is None:
            self.proc.wait()
        os.close(self.master)


class Shells:
    """The server's open shells (so shutdown can kill them all)."""

    def __init__(self) -> None:
        self._shells: dict[int, tuple[str, Shell]] = {}
        self._lock = threading.Lock()

    def open(self, node: Any, lab: str) -> Shell:
        shell = Shell(node, lab)
        with self._lock:
            self._shells[id(shell)] = (lab, shell)
        return shell

    def close(self, shell: Shell) -> None:
        with self._lock:
            self._shells.pop(id(shell), None)
        shell.close()

    def close_lab(self, lab: Optional[str] = None) -> None:
        """Kills the shells of ``lab`` (every shell when None)."""
        with self._lock:
            chosen = [s for name, s in self._shells.values() if lab is None or name == lab]
        for shell in chosen:
            self.close(shell)


def control(text: str) -> Optional[tuple[int, int]]:
    """The (cols, rows) of a text frame ``{"resize": [cols, rows]}``, or None for any other text."""
    try:
        data = json.loads(text)
        cols, rows = data["resize"]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(cols, int) and isinstance(rows, int) and 1 <= cols <= 1000 and 1 <= rows <= 1000:
        return cols, rows
    return None


async def bridge(websocket: Any, shell: Shell) -> None:
    """Copies bytes between ``websocket`` (accepted) and the pty until either side closes."""
    from starlette.websockets import WebSocketDisconnect

    loop = asyncio.get_running_loop()
    output: asyncio.Queue = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(shell.master, READ_SIZE)
        except OSError:  # EIO: the shell exited and the slave side is closed
            data = b""
        if not data:
            loop.remove_reader(shell.master)
        output.put_nowait(data)

    async def pump_out() -> None:
        while True:
            data = await output.get()
            if not data:
                return
            try:
                await websocket.send_bytes(data)
            except (WebSocketDisconnect, RuntimeError, OSError):  # the client is gone
                return

    loop.add_reader(shell.master, readable)
    sender = asyncio.ensure_future(pump_out())
    try:
        while True:
            receiving = asyncio.ensure_future(websocket.receive())
            done, _ = await asyncio.wait({receiving, sender}, return_when=asyncio.FIRST_COMPLETED)
            if sender in done:
                receiving.cancel()
                break
            message = receiving.result()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes"):
                shell.write(message["bytes"])
            elif message.get("text") is not None:
                size = control(message["text"])
                if size is not None:
                    shell.resize(*size)
                else:
                    shell.write(message["text"].encode())
    except WebSocketDisconnect:
        pass
    finally:
        loop.remove_reader(shell.master)
        sender.cancel()
