"""The lab files ``vnetlab web`` may read: ``*.yaml``/``*.yml`` directly in ``--labs``.

A request names a file by its bare name (``proxmox-tap.yaml``); no path
separator, no ``..``, nothing hidden, and the file's real path (symbolic
links resolved) must still be directly in the directory — a link pointing
out of it is refused like a path would be.
"""

from __future__ import annotations

import os
import re

from vnetlab.errors import BadInput
from vnetlab.names import shown

SUFFIXES = (".yaml", ".yml")
# What a file name may look like: letters, digits, '.', '_', '-' — never '/', never leading '.'.
FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,200}")


class BadFileName(BadInput, ValueError):
    """A file name that is not a plain lab file name in --labs (400)."""


class NoSuchFile(BadInput, LookupError):
    """No lab file of that name in --labs (404)."""


class LabFiles:
    """The ``--labs`` directory."""

    def __init__(self, directory: str):
        self.directory = os.path.realpath(directory)

    def path_of(self, name: object) -> str:
        """The real path of lab file ``name`` in the directory.

        Raises:
            BadFileName: not a bare ``*.yaml``/``*.yml`` name, or a link that leaves the directory.
            NoSuchFile: no such file there.
        """
        if not isinstance(name, str) or not FILE_NAME.fullmatch(name) or ".." in name:
            raise BadFileName(f"file {shown(name)} is not allowed — give the name of a .yaml file in "
                              f"{self.directory}, without a path")
        if not name.endswith(SUFFIXES):
            raise BadFileName(f"file {shown(name)} is not a lab file — only .yaml and .yml files are served")
        path = os.path.join(self.directory, name)
        real = os.path.realpath(path)
        if os.path.dirname(real) != self.directory or not real.endswith(SUFFIXES):
            raise BadFileName(f"file {shown(name)} is a link that leads out of {self.directory} — not served")
        if not os.path.isfile(real):
            raise NoSuchFile(f"no lab file {shown(name)} in {self.directory}")
        return real

    def names(self) -> list[str]:
        """The lab files in the directory (links leading out of it left out), sorted."""
        try:
            entries = sorted(os.listdir(self.directory))
        except OSError:
            return []
        found = []
        for name in entries:
            try:
                self.path_of(name)
            except (BadFileName, NoSuchFile):
                continue
            found.append(name)
        return found
