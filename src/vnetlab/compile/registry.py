"""Registries of node kinds and interface types.

A new kind is one function registered here by its own module; neither the
CLI nor the other compilers change for it (STYLE.md, "kinds are registered").
"""

from __future__ import annotations

from typing import Callable

from vnetlab.compile.builder import PlanBuilder
from vnetlab.model.schema import Interface, Node

NodeCompiler = Callable[[PlanBuilder, str, Node], None]
InterfaceCompiler = Callable[[PlanBuilder, str, str, Interface], None]

NODE_KINDS: dict[str, NodeCompiler] = {}
INTERFACE_TYPES: dict[str, InterfaceCompiler] = {}


def node_kind(name: str) -> Callable[[NodeCompiler], NodeCompiler]:
    """Registers the compiler of node kind ``name``."""

    def register(func: NodeCompiler) -> NodeCompiler:
        NODE_KINDS[name] = func
        return func

    return register


def interface_type(name: str) -> Callable[[InterfaceCompiler], InterfaceCompiler]:
    """Registers the compiler of declared interface type ``name``."""

    def register(func: InterfaceCompiler) -> InterfaceCompiler:
        INTERFACE_TYPES[name] = func
        return func

    return register
