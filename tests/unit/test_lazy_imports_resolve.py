"""Every import inside a function of vnetlab (the lazy ones that keep start-up
fast) names something that exists: such an import only runs when its command
does, so a name moved elsewhere would otherwise fail only in front of a user."""

from __future__ import annotations

import ast
import importlib
import pathlib

import pytest

import vnetlab

SRC = pathlib.Path(vnetlab.__file__).parent


def _lazy_imports():
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vnetlab") \
                        and node.level == 0:
                    for alias in node.names:
                        yield f"{path.relative_to(SRC)}:{node.lineno}", node.module, alias.name


CASES = list(_lazy_imports())


def test_there_are_lazy_imports_to_check():
    assert len(CASES) > 100


@pytest.mark.parametrize("where,module,name", CASES, ids=[f"{w}:{n}" for w, _, n in CASES])
def test_a_lazy_import_names_something_that_exists(where, module, name):
    imported = importlib.import_module(module)
    if not hasattr(imported, name):
        importlib.import_module(f"{module}.{name}")  # a submodule
