"""Registries of node kinds and interface types: the compiler of each.

A new kind is one function registered here by its own module; neither the
CLI nor the other compilers change for it (STYLE.md, "kinds are registered").
The names come from ``model/kinds.py`` (what the schema accepts): a compiler
for an undeclared name is refused, and :func:`check_complete` (run once the
compilers are loaded) refuses a declared name without a compiler.
"""

from __future__ import annotations

from typing import Callable

from vnetlab.compile.builder import PlanBuilder
from vnetlab.model import kinds
from vnetlab.model.schema import Interface, Node

NodeCompiler = Callable[[PlanBuilder, str, Node], None]
InterfaceCompiler = Callable[[PlanBuilder, str, str, Interface], None]

NODE_KINDS: dict[str, NodeCompiler] = {}
INTERFACE_TYPES: dict[str, InterfaceCompiler] = {}


def node_kind(name: str) -> Callable[[NodeCompiler], NodeCompiler]:
    """Registers the compiler of node kind ``name``."""

    if name not in kinds.NODE_KINDS:
        raise LookupError(f"node kind {name!r} is not declared in vnetlab/model/kinds.py")

    def register(func: NodeCompiler) -> NodeCompiler:
        NODE_KINDS[name] = func
        return func

    return register


def interface_type(name: str) -> Callable[[InterfaceCompiler], InterfaceCompiler]:
    """Registers the compiler of declared interface type ``name``."""

    if name not in kinds.INTERFACE_TYPES:
        raise LookupError(f"interface type {name!r} is not declared in vnetlab/model/kinds.py")

    def register(func: InterfaceCompiler) -> InterfaceCompiler:
        INTERFACE_TYPES[name] = func
        return func

    return register


def check_complete() -> None:
    """Raises LookupError naming every declared kind or type without a compiler."""
    missing = [f"node kind {name!r}" for name in kinds.NODE_KINDS if name not in NODE_KINDS]
    missing += [f"interface type {name!r}" for name in kinds.INTERFACE_TYPES if name not in INTERFACE_TYPES]
    if missing:
        raise LookupError(f"no compiler registered for {', '.join(missing)}")
