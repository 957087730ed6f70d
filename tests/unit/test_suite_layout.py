"""The suite runs as one pytest session over tests/unit and tests/integration,
which share module names (no packages): two test files with one basename
stop the whole run at collection, so no two may share one."""

from __future__ import annotations

import collections
import pathlib

TESTS = pathlib.Path(__file__).resolve().parent.parent


def test_every_test_module_basename_is_unique():
    names = collections.Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert len(names) > 50
    assert [name for name, count in names.items() if count > 1] == []
