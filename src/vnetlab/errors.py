"""Every error vnetlab raises on purpose, in families that carry their exit code.

The module imports nothing, so the command line can map an error to its exit
code (``err.exit_code``) without loading the layers that raise it. The exit
codes are DESIGN.md's: 1 a check or probe failed (or the lab is busy), 2 bad
usage or an invalid lab file, 3 the environment lacks something.

    VnetlabError                 exit_code 1
    ├── Failed                   1  a check, probe or wait did not succeed; a lab is busy
    ├── BadInput                 2  a lab file, a name, an argument the user gave
    ├── EnvironmentProblem       3  privilege, kernel feature, package, free space
    ├── OperationFailed          3  the kernel or a tool refused an operation
    └── ApplyError               3  (1 when a service of the lab exited) a plan step failed, rolled back

Each class that a layer raises derives from one family and, where callers
catch the built-in kind too, from that (``UnsafeName`` is a ``ValueError``,
``NetlinkError`` an ``OSError``).
"""

from __future__ import annotations

from typing import Any


class VnetlabError(Exception):
    """The base of every error vnetlab raises on purpose."""

    exit_code = 1


class Failed(VnetlabError):
    """Something was tried and did not succeed (a check, a wait); exit 1."""

    exit_code = 1


class BadInput(VnetlabError):
    """What the user gave is wrong (a lab file, a name, an argument); exit 2."""

    exit_code = 2


class EnvironmentProblem(VnetlabError, RuntimeError):
    """The machine lacks something (privilege, kernel feature, package); exit 3."""

    exit_code = 3


class OperationFailed(VnetlabError):
    """The kernel or a tool refused an operation (netlink, nft, OVS, TUN/TAP); exit 3."""

    exit_code = 3


class LabConflict(BadInput, RuntimeError):
    """The lab's name is taken by a running lab built from another file; exit 2."""


class ApplyError(VnetlabError, RuntimeError):
    """An op of a plan failed; the run's changes were rolled back.

    Exit 3, unless the cause says otherwise through its ``apply_exit_code``
    (a service of the lab that exited at once is the lab's fault: exit 1).
    """

    def __init__(self, op: Any, step: int, cause: BaseException, rollback_errors: list[str],
                 finishing: bool = False):
        self.op, self.step, self.cause, self.rollback_errors = op, step, cause, rollback_errors
        command = " ".join(op.commands()[0]) if op.commands() else op.name
        # A backend's finish() (e.g. starting the supervisor) is no single step: its error speaks for itself.
        message = str(cause) if finishing else f"step {step} failed ({command}): {cause}"
        if rollback_errors:
            message += "; rollback also failed: " + "; ".join(rollback_errors)
        super().__init__(message)

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return getattr(self.cause, "apply_exit_code", 3)
