"""What an importer says about the lines of a real host's files (pure).

Every reader of a real format (``io/interfaces.py``, ``io/pve_guests.py``,
``io/pve_firewall.py``) imports each input line or says why not, as a
:class:`Report`. The command line prints them on stderr as
``FILE:LINE: TEXT``; ``--strict`` turns not-imported reports into errors and
``--check`` prints the problems.

API (shared by every reader; keep it stable):

- ``Report(file, line, text, kind=NOT_IMPORTED)`` — frozen dataclass.
  ``file`` is the path as the user should see it (relative to ROOT for
  ``import proxmox``, e.g. ``etc/pve/qemu-server/100.conf``); ``line`` is
  1-based (0 for the whole file); ``text`` is the message without the
  location. ``str(report)`` is ``"FILE:LINE: TEXT"``.
- ``kind`` is one of:

  * ``NOT_IMPORTED`` — an input line vnetlab cannot express; the text reads
    ``not imported: `LINE` — WHY`` (build it with :func:`not_imported`).
    An error under ``--strict``.
  * ``PROBLEM`` — something that would break the real host at boot
    (duplicate address, missing bridge port, placeholder …); printed by
    ``--check``, which then exits 1 (build it with :func:`problem`).
  * ``NOTE`` — information that is no loss (a renamed node, a made-up
    address); never an error (build it with :func:`note`, which starts
    the text with ``note:``).

- :func:`not_imported`, :func:`problem`, :func:`note` — constructors.
- :func:`in_order` — reports sorted by file and line, duplicates dropped.
- :class:`SourceFileError` — raised by a reader for a file it cannot read
  at all (missing, unreadable, escapes ROOT, not text); a
  :class:`~vnetlab.model.errors.LabFileError`, so the command line exits 2
  with ``FILE:LINE: …`` like for any other bad input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from vnetlab.model.errors import LabFileError, Problem, printable

NOT_IMPORTED = "not-imported"
PROBLEM = "problem"
NOTE = "note"
KINDS = (NOT_IMPORTED, PROBLEM, NOTE)


@dataclass(frozen=True)
class Report:
    """One thing a reader says about one line of an input file."""

    file: str
    line: int
    text: str
    kind: str = NOT_IMPORTED

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown report kind {self.kind!r} — use one of {', '.join(KINDS)}")
        # The text echoes a user's file: a line of it must not drive the terminal.
        object.__setattr__(self, "file", printable(self.file))
        object.__setattr__(self, "text", printable(self.text))

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.text}"


def not_imported(file: str, line: int, what: str, why: str) -> Report:
    """``FILE:LINE: not imported: `WHAT` — WHY``: an input line left out, and why."""
    return Report(file, line, f"not imported: `{what.strip()}` — {why}", NOT_IMPORTED)


def problem(file: str, line: int, text: str) -> Report:
    """A fault of the real file that would break the host at boot."""
    return Report(file, line, text, PROBLEM)


def note(file: str, line: int, text: str) -> Report:
    """Information about how a line was imported; no loss, never an error."""
    return Report(file, line, f"note: {text}", NOTE)


def in_order(reports: Iterable[Report]) -> list[Report]:
    """The reports sorted by file, line and text, each once."""
    return sorted(set(reports), key=lambda r: (r.file, r.line, r.text))


class SourceFileError(LabFileError):
    """An input file cannot be read at all; ``reports`` say where and why (exit 2)."""

    def __init__(self, reports: list[Report]):
        self.reports = in_order(reports)
        super().__init__([Problem(r.file, r.line, "", r.text) for r in self.reports])
