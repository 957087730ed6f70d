"""model/kinds.py is the one list of node kinds and interface types: the
schema accepts exactly those names (its error lists them), and the compile
registry takes a compiler only for a declared name and refuses a declared
name that has none."""

from __future__ import annotations

import pytest

from vnetlab.compile import compile_lab  # noqa: F401  (loads and registers every compiler)
from vnetlab.compile import registry
from vnetlab.model import kinds, load_lab_text
from vnetlab.model.errors import LabFileError

LAB = """\
lab: kinds
nodes:
  a:
    interfaces:
      x0: {type: %s}
"""


def test_every_declared_name_has_its_compiler():
    registry.check_complete()  # raises otherwise
    assert set(registry.NODE_KINDS) == set(kinds.NODE_KINDS)
    assert set(registry.INTERFACE_TYPES) == set(kinds.INTERFACE_TYPES)


def test_a_compiler_for_an_undeclared_name_is_refused():
    with pytest.raises(LookupError, match="not declared"):
        registry.interface_type("quantum")
    with pytest.raises(LookupError, match="not declared"):
        registry.node_kind("mainframe")


def test_a_declared_name_without_a_compiler_is_refused(monkeypatch):
    monkeypatch.setitem(kinds.INTERFACE_TYPES, "quantum", "declared, never compiled")
    with pytest.raises(LookupError, match="interface type 'quantum'"):
        registry.check_complete()


def test_the_validation_error_lists_the_declared_types(monkeypatch):
    monkeypatch.setitem(kinds.INTERFACE_TYPES, "quantum", "a type only this test declares")
    with pytest.raises(LabFileError) as caught:
        load_lab_text(LAB % "nonsense", "kinds.yaml")
    assert f"use one of: {', '.join(kinds.INTERFACE_TYPES)}" in str(caught.value)
    assert "quantum" in str(caught.value)
