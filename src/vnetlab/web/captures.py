"""Captures started from the page: ``probe.capture.capture`` in a thread, into a private pcapng.

Each capture writes to a file of its own (mode 0600) in the lab's run directory until its
stop event is set; the page polls its packet count and downloads the file once it stopped.
The file lives no longer than the lab: ``down`` removes the run directory with it (even when
the server was killed and could not clean up), and the server removes its files when it stops.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import tempfile
import threading
from typing import Any, BinaryIO, Optional

from vnetlab.errors import BadInput
from vnetlab.names import node_name

MAX_INTERFACES = 64
STOP_WAIT = 15.0


class BadCapture(BadInput, ValueError):
    """A capture request the CLI would refuse too (400)."""


@dataclasses.dataclass
class Capture:
    """One capture and its thread."""

    id: str
    lab: str
    interfaces: list[str]
    path: str
    stop: threading.Event
    thread: Optional[threading.Thread] = None
    packets: int = 0
    summary: Optional[str] = None
    error: Optional[str] = None
    started: threading.Event = dataclasses.field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "lab": self.lab, "interfaces": self.interfaces, "running": self.running,
                "packets": self.packets, "summary": self.summary, "error": self.error}


class Captures:
    """The server's captures, by id."""

    def __init__(self) -> None:
        self._captures: dict[str, Capture] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self, lab: Any, body: dict[str, Any]) -> Capture:
        """Starts a capture on ``body["interfaces"]`` (``NODE`` or ``NODE:IF``; none: every
        interface) with the optional tcpdump ``filter``, until stopped (or ``count`` packets,
        ``duration`` seconds, as ``vnetlab capture -c/--duration``); returns once every tcpdump listens.

        Raises:
            BadCapture: bad interfaces or filter (the tcpdump's own words).
            KeyError: a node or interface the lab does not have.
        """
        from vnetlab.probe import capture as cap

        wanted = body.get("interfaces") or []
        bpf = body.get("filter") or None
        if not isinstance(wanted, list) or len(wanted) > MAX_INTERFACES or \
                not all(isinstance(w, str) for w in wanted):
            raise BadCapture(f"interfaces: give a list of at most {MAX_INTERFACES} NODE or NODE:IF names")
        for item in wanted:
            node_name(item.partition(":")[0])
            if len(item) > 40 or "/" in item:
                raise BadCapture(f"interface {item!r} is not a NODE:IF name")
        if bpf is not None and (not isinstance(bpf, str) or len(bpf) > 500):
            raise BadCapture("filter: give a tcpdump filter expression (text), e.g. 'tcp port 80'")
        count, duration = body.get("count"), body.get("duration")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise BadCapture("count needs a positive number of packets")
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                     or duration <= 0):
            raise BadCapture("duration needs a positive number of seconds")
        namespaces = {node: lab.namespace_of(node) for node in lab.node_names}
        interfaces = cap.select_interfaces(namespaces, wanted)
        if not interfaces:
            raise BadCapture("no interface is up on the nodes given — name one as NODE:IF")
        with self._lock:
            capture_id = f"c{next(self._ids)}"
        output, path = _new_file(lab.name, capture_id)
        found = Capture(capture_id, lab.name, [i.label for i in interfaces], path, threading.Event())

        def counted(interface: Any, packet: Any, linktype: int) -> None:
            found.packets += 1

        def run() -> None:
            try:
                with output:
                    report = cap.capture(interfaces, bpf=bpf, output=output, count=count, duration=duration,
                                         on_packet=counted, on_ready=found.started.set, stop=found.stop)
                found.summary = report.summary()
            except (cap.CaptureError, FileNotFoundError, OSError) as exc:
                found.error = str(exc)
            finally:
                found.started.set()

        found.thread = threading.Thread(target=run, name=f"vnetlab-web-capture-{capture_id}", daemon=True)
        with self._lock:
            self._captures[capture_id] = found
        found.thread.start()
        found.started.wait(cap.START_TIMEOUT + 5)
        if found.error is not None:
            self.delete(found)
            raise BadCapture(found.error)
        return found

    def get(self, lab: str, capture_id: str) -> Capture:
        """Capture ``capture_id`` of ``lab``.

        Raises:
            LookupError: no such capture of that lab.
        """
        found = self._captures.get(capture_id)
        if found is None or found.lab != lab:
            raise LookupError(f"no capture {capture_id!r} of lab {lab}")
        return found

    def stop(self, found: Capture) -> Capture:
        """Stops ``found`` and waits until its file is complete."""
        found.stop.set()
        if found.thread is not None:
            found.thread.join(STOP_WAIT)
        return found

    def delete(self, found: Capture) -> None:
        with self._lock:
            self._captures.pop(found.id, None)
        try:
            os.unlink(found.path)
        except FileNotFoundError:
            pass

    def stop_lab(self, lab: str) -> None:
        """Stops and forgets the captures of ``lab`` (before it goes down: its run directory, their
        files with it, is removed next)."""
        for found in [c for c in list(self._captures.values()) if c.lab == lab]:
            self.stop(found)
            self.delete(found)

    def close(self) -> None:
        """Stops every capture and removes every file (at shutdown; the labs stay up)."""
        for found in list(self._captures.values()):
            self.stop(found)
            self.delete(found)


def _new_file(lab: str, capture_id: str) -> tuple[BinaryIO, str]:
    """A new empty file for a capture of ``lab`` in the lab's run directory, open for writing, and
    its path: mode 0600, made by this call (``O_EXCL``: never a file or link planted there)."""
    from vnetlab.host import state

    fd, path = tempfile.mkstemp(prefix=f"web-capture-{capture_id}-", suffix=".pcapng", dir=state.lab_dir(lab))
    return os.fdopen(fd, "wb"), path
