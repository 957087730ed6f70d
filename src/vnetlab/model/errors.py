"""Typed errors of the model layer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a lab file, located as precisely as we can."""

    file: str
    line: int
    path: str  # dotted field path, e.g. "nodes.red.interfaces.eth0.address"
    message: str  # "what is wrong — what to write instead"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class LabFileError(Exception):
    """A lab file is invalid; carries every problem found, in file order."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.path))
        super().__init__("\n".join(str(p) for p in self.problems))
