"""The Plan: an ordered list of small, typed operations (pure data).

The compiler produces a Plan from a lab file; executors apply it. Every op
can say which hand-typed commands do the same thing (``commands``), which is
what ``vnetlab plan`` prints, and can be turned into plain data (``to_dict``)
for ``--format json``. Ops are idempotent "ensure" steps: applying one whose
effect is already there changes nothing.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any, ClassVar

OP_TYPES: dict[str, type["Op"]] = {}


def format_command(command: list[str] | tuple[str, ...]) -> str:
    """One argv as a line a person can paste: quoted, except that comment
    lines stay as written and a trailing '&' (run in background) stays bare."""
    if command and command[0] == "#":
        return " ".join(command)
    if command and command[-1] == "&":
        return shlex.join(command[:-1]) + " &"
    return shlex.join(command)


def _ip_n(netns: str) -> list[str]:
    return ["ip", "-n", netns]


@dataclass(frozen=True)
class Op:
    """One step. Subclasses register under their ``name``."""

    name: ClassVar[str] = ""
    netns: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            OP_TYPES[cls.name] = cls

    def commands(self) -> list[list[str]]:
        """The equivalent commands a person would type (argv lists)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The op as plain JSON-able data."""
        # Fields hold only strings, numbers, None and tuples of them: a shallow
        # copy is what dataclasses.asdict would give, at a fraction of its cost
        # (a 10,000-host plan has 100,000 ops).
        return {"op": self.name, **vars(self)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Op":
        """Rebuilds an op from :meth:`to_dict` output."""
        fields = dict(data)
        cls = OP_TYPES[fields.pop("op")]
        for key, value in fields.items():
            if isinstance(value, list):
                fields[key] = tuple(value)
        return cls(**fields)


@dataclass
class Plan:
    """The ordered operations that build one lab."""

    lab: str
    ops: list[Op] = field(default_factory=list)

    def add(self, op: Op) -> None:
        """Appends one op."""
        self.ops.append(op)

    def namespaces(self) -> list[str]:
        """The namespaces this plan creates, in order."""
        from vnetlab.plan.namespaces import CreateNamespace

        return [op.netns for op in self.ops if isinstance(op, CreateNamespace)]

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-able data."""
        return {"lab": self.lab, "ops": [op.to_dict() for op in self.ops]}

    def to_json(self) -> str:
        """The plan as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def commands(self) -> list[list[str]]:
        """Every equivalent command, in order."""
        return [cmd for op in self.ops for cmd in op.commands()]
