"""What every command module shares: exit codes, usage errors, resolving LAB|LABFILE and NODE
arguments, loading a lab, the console.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from vnetlab.errors import BadInput


EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ENVIRONMENT = 0, 1, 2, 3


class UsageError(BadInput):
    """Bad usage; exit 2."""


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _load(path: str):
    from vnetlab.lab import Lab

    _require_file(path)
    return Lab.load(path)


def _require_file(path: str) -> None:
    shown = _shown(path)
    if not os.path.exists(path):
        raise UsageError(f"{shown}: no such file — give the path of a lab file (.yaml)")
    if not os.path.isfile(path):
        raise UsageError(f"{shown}: is not a file — give the path of a lab file (.yaml)")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{shown}: you may not read it — check its permissions (ls -l {shlex.quote(path)})")


def _shown(text: str) -> str:
    """User text for a message, control characters escaped (never raw to a terminal)."""
    from vnetlab.names import shown

    return shown(text)[1:-1]


def _looks_like_file(arg: str) -> bool:
    return os.path.sep in arg or arg.endswith((".yaml", ".yml")) or os.path.isfile(arg)


def _lab_name_of(arg: str) -> str:
    """A lab name from LAB|LABFILE, always checked against the lab-name
    pattern before it is used. A file that no longer validates still names
    its lab, so ``down`` works after the file was broken by an edit — but
    only if that name is a valid one; otherwise the file's problems are
    reported (exit 2)."""
    from vnetlab.names import lab_name

    if not _looks_like_file(arg):
        return lab_name(arg)
    from vnetlab.model import LabFileError

    try:
        return _load(arg).name
    except LabFileError as exc:
        if exc.lab is not None:
            return exc.lab
        raise


def _node_name(arg: str) -> str:
    from vnetlab.names import node_name

    return node_name(arg)


def _running(arg: str):
    """The running lab named by LAB|LABFILE (with the file's checks if a file)."""
    from vnetlab.lab import Lab

    if _looks_like_file(arg):
        lab = _load(arg)
        Lab.running(lab.name)  # raises LookupError if not up
        return lab
    return Lab.running(_lab_name_of(arg))


def _room_maker(args: argparse.Namespace, lab):  # noqa: ANN001, ANN202 — a vnetlab.lab.Lab
    """With --raise-neigh-limit: a function that raises the host's neighbour
    limits for ``needs`` (family -> entries) of a probe of ``lab``, journaled
    in the lab's journal (its down restores them); None without the flag."""
    if not args.raise_neigh_limit:
        return None
    from vnetlab.host import lab_root, neigh

    lab_root.refuse("--raise-neigh-limit (a host-wide sysctl)", "leave it out, or run the probe as root")

    def make_room(needs: dict[int, int]) -> None:
        _say_raised(lab.name, neigh.make_room(lab.name, needs))

    return make_room


def _say_raised(lab: str, values: dict) -> None:
    """Tells (stderr) which host neighbour limits were raised for ``lab``, if any."""
    from vnetlab.host import neigh

    if values:
        print(f"vnetlab: raised host neighbour limits until 'vnetlab down {lab}': {neigh.summary(values)}",
              file=sys.stderr)


# -- parser ---------------------------------------------------------------
RAISE_PROBE_HELP = ("if the host-wide neighbour table is too small for what this probe resolves, raise its "
                    "limits (net.ipv4/ipv6.neigh.default.gc_thresh1/2/3) until 'vnetlab down LAB' restores them")
