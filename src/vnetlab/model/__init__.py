"""The lab file: schema, loading with line numbers, and validation (pure, no root)."""

from vnetlab.model.errors import LabFileError, Problem
from vnetlab.model.loader import check_lab_file, load_lab, load_lab_text
from vnetlab.model.schema import Check, Interface, LabSpec, Node, Route

__all__ = [
    "Check", "Interface", "LabFileError", "LabSpec", "Node", "Problem", "Route",
    "check_lab_file", "load_lab", "load_lab_text",
]
