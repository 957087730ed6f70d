"""A student's progress on a running exercise: hints used, answers given, last grade.

Kept as ``course.json`` in the lab's run directory, so it lives and dies
with the student's instance (``course stop`` removes it with the lab) and a
teacher's ``grade --all`` finds every instance on the machine from the run
directories alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Optional

from vnetlab.host import state

FILE = "course.json"


@dataclasses.dataclass
class Progress:
    """What the grader must remember between commands."""

    exercise: str  # the exercise id
    source: str  # the exercise file
    student: str
    started: float = dataclasses.field(default_factory=time.time)
    hints: dict[str, int] = dataclasses.field(default_factory=dict)  # task id -> hints shown
    answers: dict[str, str] = dataclasses.field(default_factory=dict)  # task id -> the student's answer
    last_grade: Optional[dict] = None  # {"points": n, "total": n, "passed": [task ids], "at": time}

    @property
    def hints_used(self) -> int:
        return sum(self.hints.values())


def path_of(lab: str) -> str:
    return os.path.join(state.lab_dir(lab), FILE)


def read(lab: str) -> Optional[Progress]:
    """The progress kept in ``lab``'s run directory, or None if it is no course lab."""
    try:
        with open(path_of(lab)) as handle:
            data = json.load(handle)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        return None  # unreadable: not a course lab we can grade
    fields = {f.name for f in dataclasses.fields(Progress)}
    return Progress(**{k: v for k, v in data.items() if k in fields})


def write(lab: str, progress: Progress) -> None:
    """Saves ``progress`` (atomically) in ``lab``'s run directory."""
    state.write_atomic(path_of(lab), json.dumps(dataclasses.asdict(progress), indent=2))


def course_labs() -> list[tuple[str, Progress]]:
    """Every running lab that is a course instance, with its progress."""
    found = []
    for lab in state.lab_names():
        progress = read(lab)
        if progress is not None:
            found.append((lab, progress))
    return found
