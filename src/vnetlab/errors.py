"""Error families every layer may raise, kept in a module that imports
nothing, so the command line can map them to exit codes without loading the
layers that raise them.

An invalid lab file is :class:`vnetlab.model.errors.LabFileError` (exit 2);
a lab locked by another process is :class:`vnetlab.host.state.LabBusy`.
"""

from __future__ import annotations

from typing import Any


class EnvironmentProblem(RuntimeError):
    """The machine lacks something (privilege, kernel feature, package); exit 3."""


class LabConflict(RuntimeError):
    """The lab's name is taken by a running lab built from another file; exit 2."""


class ApplyError(RuntimeError):
    """An op of a plan failed; the run's changes were rolled back (exit 3)."""

    def __init__(self, op: Any, step: int, cause: BaseException, rollback_errors: list[str],
                 finishing: bool = False):
        self.op, self.step, self.cause, self.rollback_errors = op, step, cause, rollback_errors
        command = " ".join(op.commands()[0]) if op.commands() else op.name
        # A backend's finish() (e.g. starting the supervisor) is no single step: its error speaks for itself.
        message = str(cause) if finishing else f"step {step} failed ({command}): {cause}"
        if rollback_errors:
            message += "; rollback also failed: " + "; ".join(rollback_errors)
        super().__init__(message)
