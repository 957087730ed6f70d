"""Lab model -> Plan (pure, no root).

``compile_lab`` and ``netns_name`` load on first use (PEP 562), so that
``vnetlab.observe.diff`` — what ``status`` needs to compare a running lab with
its plan — imports without the compilers and the model they build on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vnetlab import lazy

_WHERE = {"compile_lab": "compiler", "netns_name": "builder"}

if TYPE_CHECKING:
    from vnetlab.compile.builder import netns_name
    from vnetlab.compile.compiler import compile_lab


__getattr__ = lazy.exports(__name__, _WHERE)

__all__ = ["compile_lab", "netns_name"]
