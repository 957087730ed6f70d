"""Typed errors of the model layer."""

from __future__ import annotations

from dataclasses import dataclass
from vnetlab.errors import BadInput

# A message echoes the file's text; a value of a megabyte echoed in full
# helps nobody. The advice is at the end, so the middle is what goes.
MAX_MESSAGE = 1000


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a lab file, located as precisely as we can.

    Every text is made safe to print as it is stored: characters a terminal
    would act on (escape sequences, other control characters, line breaks,
    bidirectional overrides) become Python-style escapes such as ``\\x1b``,
    so a lab file cannot drive the terminal through a message, and each
    problem is one line. New messages get this without doing anything.
    """

    file: str
    line: int
    path: str  # dotted field path, e.g. "nodes.red.interfaces.eth0.address"
    message: str  # "what is wrong — what to write instead"
    warning: bool = False  # the file is valid, but `up` may not do what it says

    def __post_init__(self) -> None:
        for name in ("file", "path", "message"):
            object.__setattr__(self, name, printable(_bounded(getattr(self, name))))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: warning" if self.warning else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class LabFileError(BadInput):
    """A lab file is invalid; carries every problem found, in file order.

    ``lab`` is the file's ``lab:`` value when that much is valid (so ``down``
    still finds a lab whose file was broken by an edit), else None."""

    def __init__(self, problems: list[Problem], lab: str | None = None):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.path))
        self.lab = lab
        super().__init__("\n".join(str(p) for p in self.problems))


def printable(text: str) -> str:
    """``text`` with every character that ``str.isprintable`` refuses written
    as its escape (``\\x1b``, ``\\n``, ``\\u202e``); printable text is unchanged."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def _bounded(text: str) -> str:
    if len(text) <= MAX_MESSAGE:
        return text
    keep = MAX_MESSAGE // 2 - 20
    return f"{text[:keep]} […{len(text) - 2 * keep:,} characters…] {text[-keep:]}"


def quoted(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message (as repr does), cut after ``limit`` characters."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"
