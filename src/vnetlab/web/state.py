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
from vnetlab.web import topology
from vnetlab.web.files import LabFiles
from vnetlab.web.jobs import Job, Jobs


class WebState:
    """The server's state over the Python API (``vnetlab.lab``)."""

    def __init__(self, labs_dir: str):
        self.files = LabFiles(labs_dir)
        self.jobs = Jobs()
        self._summaries: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}  # path -> (mtime, size), row
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

    def _summary(self, name: str) -> dict[str, Any]:
        """A lab file's row (lab, description, problem), cached while the file is unchanged."""
        from vnetlab.lab import Lab
        from vnetlab.model.errors import LabFileError

        path = self.files.path_of(name)
        stat = os.stat(path)
        key = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._summaries.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        row: dict[str, Any] = {"file": name, "lab": None, "description": None, "problem": None}
        try:
            spec = Lab.load(path).spec
            row["lab"], row["description"] = spec.lab, spec.description
        except LabFileError as exc:
            row["lab"] = exc.lab
            row["problem"] = "; ".join(str(p) for p in exc.problems) or str(exc)
        except OSError as exc:
            row["problem"] = f"cannot read it: {exc.strerror}"
        with self._lock:
            self._summaries[path] = (key, row)
        return row

    def _running_row(self, name: str) -> dict[str, Any]:
        from vnetlab.host import applied

        copy = applied.spec_copy(name) or {}
        source = copy.get("source")
        shown = os.path.basename(source) if source and os.path.dirname(os.path.realpath(source)) == \
            self.files.directory else None
        nodes = applied.node_names(copy)
        return {"lab": name, "file": shown, "nodes": len(nodes) if nodes is not None else None}

    def start_up(self, file: object) -> Job:
        """``POST /api/labs``: validates the file now (400 with its problems), then ``up`` in a job."""
        from vnetlab.lab import Lab

        path = self.files.path_of(file)
        lab = Lab.load(path)
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
        return self.jobs.start("down", name, lambda progress: down(name))

    def running(self, lab: object):  # noqa: ANN201 — a vnetlab.lab.Lab
        """The running lab named ``lab`` (404 if it is not up)."""
        from vnetlab.lab import Lab

        return Lab.running(lab_name(lab))

    def node(self, lab: object, node: object):  # noqa: ANN201 — (Lab, NodeHandle)
        """The running lab and its node (404 for either missing)."""
        running = self.running(lab)
        return running, running.node(node_name(node))

    # -- topology --------------------------------------------------------------
    def lab_topology(self, lab: object, expand: bool = False) -> dict[str, Any]:
        """``GET /api/labs/LAB/topology``: live."""
        return topology.of_lab(self.running(lab), expand=expand)

    def file_topology(self, file: object, expand: bool = False) -> dict[str, Any]:
        """``GET /api/files/FILE/topology``: from the file alone."""
        from vnetlab.lab import Lab

        return topology.of_spec(Lab.load(self.files.path_of(file)).spec, expand=expand)

    # -- shutdown --------------------------------------------------------------
    def close(self) -> None:
        """Stops everything the server started: waits for running jobs."""
        self.jobs.wait_all()

