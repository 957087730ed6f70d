"""The Plan: an ordered list of small, typed operations (pure data).

The compiler produces a Plan from a lab file; executors apply it. Every op
says, on itself, everything the layers around it need to know of it, so none
of them keeps a list of op types or an ``isinstance`` chain:

* ``describe()`` — what it does, for a person (the heading of ``vnetlab plan``);
* ``commands()`` / ``command_lines()`` / ``plan_lines()`` — the hand-typed
  commands that do the same thing, as argv lists and as printed lines;
* ``identity()`` / ``objects()`` — the identity key ``(kind, netns, ident)`` of what
  it ensures, with the wanted value (what ``observe/diff.py`` compares);
* ``inverse(previous)`` — the op that undoes it (what rollback applies);
* ``to_dict()`` — plain data, for ``--format json`` and ``plan.json``.

Ops are idempotent "ensure" steps: applying one whose effect is already there
changes nothing. Declaring these is cheap: nothing is computed when an op is
made, only when one of the methods is called.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

OP_TYPES: dict[str, type["Op"]] = {}

Key = tuple[str, str, str]  # (kind, netns, ident) of an object an op ensures


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
    # The diff reads the objects this op declares back from the kernel: on a
    # running lab, ``up`` skips the op when they are as wanted. Ops that are
    # not observed (other backends' idempotent ensures) are always applied,
    # and the names in their fields are theirs (never a hand-made extra).
    observed: ClassVar[bool] = False
    removes: ClassVar[bool] = False  # takes something away: runs before the plan, in dependency order
    makes_netns: ClassVar[bool] = False  # creates its namespace (journaled before it exists)
    removes_netns: ClassVar[bool] = False  # deletes its namespace and everything inside
    follows_links: ClassVar[bool] = False  # the kernel drops it when its address or interface goes
    netns: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            OP_TYPES[cls.name] = cls

    @classmethod
    def describe(cls) -> str:
        """What ops of this type do, in a few words (the first line of the docstring)."""
        return (cls.__doc__ or cls.__name__).splitlines()[0].rstrip(".")

    def commands(self) -> list[list[str]]:
        """The equivalent commands a person would type (argv lists)."""
        raise NotImplementedError

    def command_lines(self) -> list[str]:
        """The commands as lines to paste (what a ``vnetlab plan`` diff lists)."""
        return [format_command(command) for command in self.commands()]

    def plan_lines(self) -> list[str]:
        """What ``vnetlab plan --full`` prints for this op."""
        return self.command_lines()

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        """The objects this op ensures, each as (identity key, wanted value);
        empty for ops that declare none (removals, other backends' ops)."""
        return ()

    def identity(self) -> Optional[Key]:
        """The identity key of the (first) object this op ensures, or None.

        (Named so, not ``key``: SetSysctl has a field ``key``, the sysctl's name.)"""
        objects = self.objects()
        return objects[0][0] if objects else None

    def inverse(self, previous: Any = None) -> Optional["Op"]:
        """The op that undoes this one once it took effect, or None when there is no undo.

        ``previous``: for an op that replaces a value, what was there before
        (the backend that applied the op knows it); None when nothing was."""
        raise NotImplementedError

    def is_removal(self) -> bool:
        """Whether this op takes something away (see ``removes``)."""
        return self.removes

    def unconditional(self) -> "Op":
        """This op without what lets it find its effect already there (itself for most)."""
        return self

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
        return [op.netns for op in self.ops if op.makes_netns]

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-able data."""
        return {"lab": self.lab, "ops": [op.to_dict() for op in self.ops]}

    def to_json(self) -> str:
        """The plan as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def commands(self) -> list[list[str]]:
        """Every equivalent command, in order."""
        return [cmd for op in self.ops for cmd in op.commands()]
