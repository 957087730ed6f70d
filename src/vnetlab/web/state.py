"""What one ``vnetlab web`` server holds and does: its lab files, jobs, captures and shells.

Each method is one API action, called from a worker thread (they block:
netlink, files, probes) with the request's raw values; every name is checked
as the CLI checks it (``vnetlab.names``) before it is used.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Optional

from vnetlab.names import lab_name, node_name
from vnetlab.web import course, nodes, probes
from vnetlab.web.captures import Capture, Captures
from vnetlab.web.files import LabFiles
from vnetlab.web.jobs import Job, Jobs, SingleFlight
from vnetlab.web.shell import Shell, Shells


class WebState:
    """The server's state over the Python API (``vnetlab.lab``)."""

    def __init__(self, labs_dir: str):
        self.files = LabFiles(labs_dir)
        self.jobs = Jobs()
        self.captures = Captures()
        self.shells = Shells()
        self._labs: dict[str, tuple[tuple[int, int, int], Any]] = {}  # running labs by name, with lab.json's stat
        self._topologies = SingleFlight()  # polls of one lab's live topology share a running computation
        self._loaded: dict[str, tuple[tuple[int, int, int], Any]] = {}  # lab files by real path, with their stat
        self._lock = threading.Lock()

    # -- labs ------------------------------------------------------------------
    def labs(self) -> dict[str, Any]:
        """``GET /api/labs``: the files in --labs and the running labs."""
        from vnetlab.lab import running_labs

        running = running_labs()
        rows = []
        for name in self.files.names():
            row = dict(self._summary(name))
            row["running"] = row["lab"] is not None and row["lab"] in running
            rows.append(row)
        return {"files": rows, "running": [self._running_row(name) for name in running]}

    def _load(self, name: object):  # noqa: ANN202 — a vnetlab.lab.Lab
        """Lab file ``name`` loaded and validated (raises LabFileError), kept while the file is
        unchanged: validating a 1,000-host file takes most of a second."""
        from vnetlab.lab import Lab
        from vnetlab.model.errors import LabFileError

        path = self.files.path_of(name)
        stat = os.stat(path)
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._loaded.get(path)
        if cached is None or cached[0] != key:
            try:
                found: Any = Lab.load(path)
            except LabFileError as exc:  # kept too: a broken file is not parsed again at every listing
                found = exc
            cached = (key, found)
            with self._lock:
                self._loaded[path] = cached
        if isinstance(cached[1], LabFileError):
            raise cached[1].with_traceback(None)
        return cached[1]

    def _summary(self, name: str) -> dict[str, Any]:
        """A lab file's row: lab, description, problem."""
        from vnetlab.model.errors import LabFileError

        row: dict[str, Any] = {"file": name, "lab": None, "description": None, "problem": None}
        try:
            spec = self._load(name).spec
            row["lab"], row["description"] = spec.lab, spec.description
        except LabFileError as exc:
            row["lab"] = exc.lab
            row["problem"] = "; ".join(str(p) for p in exc.problems) or str(exc)
        except OSError as exc:
            row["problem"] = f"cannot read it: {exc.strerror}"
        return row

    def _running_row(self, name: str) -> dict[str, Any]:
        try:
            lab = self.running(name)
        except LookupError:  # went down meanwhile
            return {"lab": name, "file": None, "nodes": None}
        source = lab.source
        shown = os.path.basename(source) if source and os.path.dirname(os.path.realpath(source)) == \
            self.files.directory else None
        return {"lab": name, "file": shown, "nodes": len(lab.node_names)}

    def start_up(self, file: object) -> Job:
        """``POST /api/labs``: validates the file now (400 with its problems), then ``up`` in a job."""
        from vnetlab.lab import Lab

        path = self.files.path_of(file)
        lab = Lab.load(path)  # not the cached one: up sets attributes on it (last_diff …)
        self._refuse_other_file(lab.name, path)
        return self.jobs.start("up", lab.name, lambda progress: lab.up(progress=progress), file=str(file))

    def _refuse_other_file(self, name: str, path: str) -> None:
        from vnetlab.errors import LabConflict
        from vnetlab.host import applied

        source = (applied.spec_copy(name) or {}).get("source")
        if source and os.path.realpath(source) != path:
            raise LabConflict(f"lab {name} is up from another file ({source}) — bring it down first")

    def start_down(self, lab: object) -> Job:
        """``DELETE /api/labs/LAB``: ``down`` in a job (404 if the lab is not up)."""
        from vnetlab.lab import down, running_labs

        name = lab_name(lab)
        if name not in running_labs():
            raise LookupError(f"lab {name!r} is not up")

        def work(progress: Any) -> None:
            self.captures.stop_lab(name)
            self.shells.close_lab(name)
            down(name)

        return self.jobs.start("down", name, work)

    def running(self, lab: object):  # noqa: ANN201 — a vnetlab.lab.Lab
        """The running lab named ``lab`` (404 if it is not up); kept while its ``lab.json`` is unchanged,
        so a page polling a big lab does not validate its spec again every second."""
        from vnetlab.host import state
        from vnetlab.host.applied import SPEC_COPY
        from vnetlab.lab import Lab

        name = lab_name(lab)
        try:
            stat = os.stat(os.path.join(state.lab_dir(name), SPEC_COPY))
        except FileNotFoundError:
            with self._lock:
                self._labs.pop(name, None)
            raise LookupError(f"lab {name!r} is not up — start it with POST /api/labs (or vnetlab up LABFILE)") \
                from None
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._labs.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        found = Lab.running(name)
        with self._lock:
            self._labs[name] = (key, found)
        return found

    def node(self, lab: object, node: object):  # noqa: ANN201 — (Lab, NodeHandle)
        """The running lab and its node (400 for a bad name, 404 for either missing)."""
        lab, node = lab_name(lab), node_name(node)
        running = self.running(lab)
        return running, running.node(node)

    # -- topology --------------------------------------------------------------
    def lab_topology(self, lab: object, expand: bool = False, positions: bool = False) -> dict[str, Any]:
        """``GET /api/labs/LAB/topology``: live (``Lab.topology``), with Graphviz's positions when asked.

        A 1,000-host lab's takes most of a second, and every open page polls it every
        second: requests that come while one is computed get its answer.
        """
        running = self.running(lab)
        return self._topologies.run((running.name, expand, positions),
                                    lambda: _positioned(running.topology(expand=expand), positions))

    def file_topology(self, file: object, expand: bool = False, positions: bool = False) -> dict[str, Any]:
        """``GET /api/files/FILE/topology``: from the file alone."""
        from vnetlab.io.topology import topology_of

        return _positioned(topology_of(self._load(file).spec, None, expand=expand), positions)

    # -- a node, checks, probes ------------------------------------------------
    def node_details(self, lab: object, node: object) -> dict[str, Any]:
        """``GET /api/labs/LAB/nodes/NODE``."""
        running, handle = self.node(lab, node)
        return nodes.details(running, handle.name)

    def run_checks(self, lab: object) -> dict[str, Any]:
        """``POST /api/labs/LAB/checks``."""
        return probes.run_checks(self.running(lab))

    def last_checks(self, lab: object) -> dict[str, Any]:
        """``GET /api/labs/LAB/checks``: what the last ``Lab.check`` kept (from this page or the CLI)."""
        running = self.running(lab)
        return running.last_checks() or {"lab": running.name, "results": []}

    def trace(self, lab: object, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/labs/LAB/trace``."""
        return probes.trace(self.running(lab), body)

    def reach(self, lab: object, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/labs/LAB/reach``."""
        return probes.reach(self.running(lab), body)

    # -- captures --------------------------------------------------------------
    def start_capture(self, lab: object, body: dict[str, Any]) -> Capture:
        """``POST /api/labs/LAB/captures``."""
        return self.captures.start(self.running(lab), body)

    def capture(self, lab: object, capture_id: object) -> Capture:
        """A capture of a lab (404 if there is no such one)."""
        if not isinstance(capture_id, str) or not capture_id[1:].isdigit() or capture_id[:1] != "c":
            raise LookupError(f"no capture {capture_id!r}")
        return self.captures.get(lab_name(lab), capture_id)

    def stop_capture(self, lab: object, capture_id: object) -> Capture:
        """``POST /api/labs/LAB/captures/ID/stop``."""
        return self.captures.stop(self.capture(lab, capture_id))

    # -- shells ----------------------------------------------------------------
    def open_shell(self, lab: object, node: object) -> Shell:
        """A shell in the node, for ``WS /api/labs/LAB/nodes/NODE/shell``."""
        running, handle = self.node(lab, node)
        return self.shells.open(handle, running.name)

    # -- course ----------------------------------------------------------------
    def start_exercise(self, exercise: object) -> Job:
        """``POST /api/course/EXERCISE/start``: the student's instance, up in a job."""
        lab = course.refuse_started(exercise)
        return self.jobs.start("up", lab, lambda progress: course.start(exercise, progress))

    # -- shutdown --------------------------------------------------------------
    def close(self) -> None:
        """Stops everything the server started: captures (their files removed), shells, and waits
        for running jobs."""
        self.captures.close()
        self.shells.close_lab(None)
        self.jobs.wait_all()


def _positioned(topology: dict[str, Any], positions: bool) -> dict[str, Any]:
    """``topology`` with Graphviz's layout (``positions``) when asked for and ``dot`` is installed."""
    if not positions:
        return topology
    from vnetlab.io.topology_render import with_positions

    return with_positions(topology)
