"""Package attributes loaded on first use (PEP 562).

A command pays for importing only what it runs: ``vnetlab down LAB`` never
needs the lab-file schema, whose pydantic models are built at import.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable


def exports(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports each name of
    ``where`` (name -> submodule) from its submodule when first asked for."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    return __getattr__
