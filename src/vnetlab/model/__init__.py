"""The lab file: schema, loading with line numbers, and validation (pure, no root).

The names below are loaded on first use (PEP 562): the schema builds its
pydantic models at import, which costs a command that never reads a lab file
(``vnetlab down LAB``, ``status``) most of its run time. ``vnetlab.model.errors``
stays importable on its own for the same reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vnetlab import lazy

_WHERE = {
    "LabFileError": "errors", "Problem": "errors",
    "check_lab_file": "loader", "load_lab": "loader", "load_lab_text": "loader",
    "Check": "schema", "Interface": "schema", "LabSpec": "schema", "Node": "schema", "Route": "schema",
    "StateCheck": "schema", "RebootStep": "schema", "AnyCheck": "schema", "TaskCheck": "schema",
}

if TYPE_CHECKING:
    from vnetlab.model.errors import LabFileError, Problem
    from vnetlab.model.loader import check_lab_file, load_lab, load_lab_text
    from vnetlab.model.schema import (
        AnyCheck, Check, Interface, LabSpec, Node, RebootStep, Route, StateCheck, TaskCheck,
    )


__getattr__ = lazy.exports(__name__, _WHERE)

__all__ = [
    "AnyCheck", "Check", "Interface", "LabFileError", "LabSpec", "Node", "Problem", "RebootStep", "Route",
    "StateCheck", "TaskCheck", "check_lab_file", "load_lab", "load_lab_text",
]
