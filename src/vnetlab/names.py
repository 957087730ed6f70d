"""The name rules every layer shares: lab and node names (pure, no imports).

A lab or node name becomes part of a path (``/run/vnetlab/<lab>``), a
namespace name (``<lab>-<node>``) and kernel requests, so it is checked
against its pattern before it is used for anything — from a lab file, the
command line, the Python API or a web request alike (invariant 7). The model
validates names while loading a file; everything else calls the functions
here.
"""

from __future__ import annotations

import re
from vnetlab.errors import BadInput

DEFAULT_RUN_ROOT = "/run/vnetlab"  # where labs keep their state, unless VNETLAB_RUN_DIR says otherwise
# A lab name; a course exercise's instance adds "_STUDENT" (routing_ana), so a
# class shares one machine. '_' never appears in node names, so the first '-'
# of a namespace name still separates lab and node.
LAB_NAME = re.compile(r"[a-z][a-z0-9]{0,9}(?:_[a-z][a-z0-9]{0,15})?")
NODE_NAME = re.compile(r"[a-z][a-z0-9-]{0,14}")
STUDENT_NAME = re.compile(r"[a-z][a-z0-9]{0,15}")


class UnsafeName(BadInput, ValueError):
    """A lab or node name that does not match its pattern, or a path that
    would leave the run directory; nothing was touched (exit 2)."""


def shown(value: object) -> str:
    """``value`` quoted for a message, with control characters escaped, so a
    hostile name cannot move the terminal's cursor or retitle its window."""
    return repr(value) if isinstance(value, str) else repr(str(value))


def _checked(value: object, pattern: re.Pattern[str], what: str, rule: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise UnsafeName(f"{what} {shown(value)} is not allowed — use {rule}")
    return value


def lab_name(value: object) -> str:
    """Returns ``value`` if it is a valid lab name.

    Raises:
        UnsafeName: it is not a string of 1–10 lowercase letters and digits
            starting with a letter.
    """
    return _checked(value, LAB_NAME, "lab name", "1–10 lowercase letters and digits, starting with a letter, "
                    "e.g. redblue")


def student_name(value: object) -> str:
    """Returns ``value`` if it is a valid student name (part of a course lab's name).

    Raises:
        UnsafeName: it is not 1–16 lowercase letters and digits starting with a letter.
    """
    return _checked(value, STUDENT_NAME, "student name", "1–16 lowercase letters and digits, starting with a "
                    "letter, e.g. ana")


def instance_name(lab: str, student: str) -> str:
    """The lab name of ``student``'s instance of a course lab: ``<lab>_<student>``."""
    return lab_name(f"{lab_name(lab)}_{student_name(student)}")


def node_name(value: object) -> str:
    """Returns ``value`` if it is a valid node name.

    Raises:
        UnsafeName: it is not 1–15 lowercase letters, digits and '-',
            starting with a letter.
    """
    return _checked(value, NODE_NAME, "node name", "1–15 lowercase letters, digits and '-', starting with a "
                    "letter, e.g. red or web-1")


def namespace(lab: str, node: str) -> str:
    """The namespace name of ``node`` in ``lab``: ``<lab>-<node>`` (invariant 3)."""
    return f"{lab}-{node}"


def split_namespace(netns_name: str) -> tuple[str, str]:
    """``(lab, node)`` of a lab namespace name; ``(netns_name, "")`` if it has no '-'.

    The first '-' separates them: lab names have none, node names may.
    """
    lab, _, node = netns_name.partition("-")
    return lab, node
