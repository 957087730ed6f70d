"""What the last ``up`` of a lab applied, as copies in its run directory.

``lab.json`` holds the lab file's spec as ``up`` read it (written by
``Lab.up`` before the first change); ``plan.json`` the plan it applied
(written once the apply succeeded, ``backend: auto`` choices resolved);
``booted.json`` what rebooted nodes' own interfaces files added to it
(``vnetlab reboot``; ``up`` keeps applying it until the lab goes down);
``runtime.json`` the impairments and cut cables ``vnetlab impair`` and
``vnetlab link`` set on the running lab (kept by ``up`` in the same way).

Both are read here as plain JSON, without the lab-file schema (pydantic) or
the compilers: ``status`` and drift detection need the node names and the
applied plan, and loading the model would be most of a small lab's
``status``. A lab brought up by a vnetlab without ``plan.json`` has none:
callers then compile the spec copy as before.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Optional

from vnetlab.host import state

if TYPE_CHECKING:  # the plan types load when a plan is read (`down` reads none)
    from vnetlab.plan import Plan

SPEC_COPY = "lab.json"
PLAN_COPY = "plan.json"


def _read(lab: str, name: str) -> Optional[dict[str, Any]]:
    try:
        with open(os.path.join(state.lab_dir(lab), name)) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def spec_copy(lab: str) -> Optional[dict[str, Any]]:
    """``{"source": path, "spec": {...}}`` as the last ``up`` wrote it, or None."""
    return _read(lab, SPEC_COPY)


def node_names(copy: Optional[dict[str, Any]]) -> Optional[list[str]]:
    """The nodes of a :func:`spec_copy` in file order (None if it has none)."""
    spec = copy.get("spec") if copy is not None else None
    nodes = spec.get("nodes") if isinstance(spec, dict) else None
    return list(nodes) if isinstance(nodes, dict) else None


def write_plan(lab: str, plan: Plan) -> None:
    """Keeps ``plan`` as the one the lab now runs."""
    state.write_atomic(os.path.join(state.lab_dir(lab), PLAN_COPY), json.dumps(plan.to_dict(), separators=(",", ":")))


def read_plan(lab: str) -> Optional[Plan]:
    """The plan the last successful ``up`` applied, or None if none was kept."""
    from vnetlab.plan import Op, Plan

    data = _read(lab, PLAN_COPY)
    if data is None:
        return None
    try:
        return Plan(lab=data["lab"], ops=[Op.from_dict(op) for op in data["ops"]])
    except (KeyError, TypeError, ValueError):
        return None  # written by another vnetlab version: compile the spec copy instead


BOOTED_COPY = "booted.json"


def read_booted(lab: str) -> dict[str, Any]:
    """What each rebooted node's own interfaces file added when it last booted
    (node -> ``NodeExtras.to_dict()``), as ``vnetlab reboot`` kept it; {} if none."""
    data = _read(lab, BOOTED_COPY)
    nodes = data.get("nodes") if data is not None else None
    return nodes if isinstance(nodes, dict) else {}


def write_booted(lab: str, nodes: dict[str, Any]) -> None:
    """Keeps what each node's file added at its last boot (see :func:`read_booted`)."""
    state.write_atomic(os.path.join(state.lab_dir(lab), BOOTED_COPY), json.dumps({"nodes": nodes}))


RUNTIME_COPY = "runtime.json"


def read_runtime(lab: str) -> dict[str, Any]:
    """What ``vnetlab impair`` and ``vnetlab link`` changed on the running lab
    (``RuntimeChanges.to_dict()``, see ``compile/runtime.py``); {} if nothing."""
    return _read(lab, RUNTIME_COPY) or {}


def write_runtime(lab: str, data: dict[str, Any]) -> None:
    """Keeps the runtime changes (see :func:`read_runtime`)."""
    state.write_atomic(os.path.join(state.lab_dir(lab), RUNTIME_COPY), json.dumps(data))
