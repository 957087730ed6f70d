"""Applies a Plan through backends, journaling first and rolling back on failure.

The loop is backend-agnostic: a backend says which ops it ``handles`` and
``apply`` returns the op that undoes what it did (None when the op found its
effect already there). On a failure every change made by *this* run is
undone in reverse order, so a failed ``up`` of a new lab leaves nothing and a
failed re-``up`` leaves the lab as it was. The loop knows ops only by what they
declare of themselves (``makes_netns``, ``removes_netns``, ``inverse``).
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol, Sequence

from vnetlab.errors import ApplyError
from vnetlab.plan import Op, Plan
from vnetlab.errors import OperationFailed


# Fault injection for the crash-safety tests: the process SIGKILLs itself
# right before step N (N = len(ops) + 1 is just before the backends finish,
# i.e. before the supervisor starts). Unset in normal use.
KILL_AT_STEP = int(os.environ.get("VNETLAB_TEST_SIGKILL_AT_STEP", "0") or 0)


def _maybe_die(step: int) -> None:
    if step == KILL_AT_STEP:
        os.kill(os.getpid(), signal.SIGKILL)


class Backend(Protocol):
    """What the apply loop needs of an executor."""

    def handles(self, op: Op) -> bool:
        """Whether this backend applies ``op``."""

    def apply(self, op: Op) -> Optional[Op]:
        """Applies ``op``; returns its inverse, or None if nothing changed.

        A backend may also have ``finish()``, called once after the last op."""


class Recorder(Protocol):
    """Where the write-ahead record goes (a Journal, or nothing in tests)."""

    def record(self, kind: str, **data: object) -> None:
        """Appends one entry."""


@dataclass
class ApplyReport:
    """What a run did."""

    changed: list[Op] = field(default_factory=list)
    unchanged: int = 0


def apply_plan(
    plan: Plan | Sequence[Op],
    backends: Sequence[Backend],
    recorder: Optional[Recorder] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> ApplyReport:
    """Applies every op in order; on error, undoes this run's changes and raises ApplyError."""
    ops = plan.ops if isinstance(plan, Plan) else list(plan)
    report = ApplyReport()
    undo: list[Op] = []
    batched: dict[int, Optional[Op]] = {}  # step -> inverse, for ops a backend applied in a batch
    for step, op in enumerate(ops, 1):
        _maybe_die(step)
        backend = _backend_for(backends, op)
        if step not in batched and hasattr(backend, "apply_batch"):
            _apply_batch(ops, step, backend, backends, batched, undo, recorder)
        journaled = False
        try:
            if recorder is not None and op.makes_netns and step not in batched:
                recorder.record("netns", name=op.netns)  # before it exists: SIGKILL-safe
                journaled = True
            inverse = batched.pop(step) if step in batched else backend.apply(op)
            if recorder is not None and op.removes_netns:
                recorder.record("netns-gone", name=op.netns)  # a node removed by a converging up
        except Exception as exc:  # noqa: BLE001 — any failure (a full journal too) triggers rollback
            if op.makes_netns and journaled:
                # Journaled but maybe half made (file without mount): unmake it too.
                undo.append(op.inverse())
            errors = rollback(undo, backends, recorder)
            raise ApplyError(op, step, exc, errors) from exc
        if inverse is None:
            report.unchanged += 1
        else:
            report.changed.append(op)
            undo.append(inverse)
        if progress is not None:
            progress(step, len(ops))
    _maybe_die(len(ops) + 1)
    for backend in backends:
        finish = getattr(backend, "finish", None)
        if finish is None:
            continue
        try:
            finish()  # e.g. start the supervisor once all its pumps are known
        except Exception as exc:  # noqa: BLE001
            errors = rollback(undo, backends, recorder)
            raise ApplyError(ops[-1], len(ops), exc, errors, finishing=True) from exc
    return report


class BatchFailed(OperationFailed):
    """Raised by a backend's ``apply_batch(ops)``: ``ops[index]`` failed with
    ``cause``; ``inverses`` (aligned with ``ops``) holds the inverse of every
    op of the batch that took effect, None elsewhere."""

    def __init__(self, index: int, cause: BaseException, inverses: Sequence[Optional[Op]]):
        super().__init__(str(cause))
        self.index, self.cause, self.inverses = index, cause, list(inverses)


def _apply_batch(ops: Sequence[Op], step: int, backend: Backend, backends: Sequence[Backend],
                 batched: dict[int, Optional[Op]], undo: list[Op], recorder: Optional[Recorder]) -> None:
    """Hands the run of consecutive ops from ``step`` that ``backend`` applies
    to its ``apply_batch`` (one netlink round trip for many ops) and stores
    the inverses in ``batched``. The run stops before a fault-injection step,
    so a SIGKILL still lands between two ops. Every namespace of the run is
    journaled before the batch starts (SIGKILL-safe, as one op at a time)."""
    end = step  # steps are 1-based: ops[step - 1] is the first of the run
    while end < len(ops) and end + 1 != KILL_AT_STEP and _backend_for(backends, ops[end]) is backend:
        end += 1
    run = ops[step - 1:end]
    try:
        if recorder is not None:
            for op in run:
                if op.makes_netns:
                    recorder.record("netns", name=op.netns)
    except Exception as exc:  # noqa: BLE001 — the journal cannot be written (a full disk): nothing of the run began
        errors = rollback(undo, backends, recorder)
        raise ApplyError(run[0], step, exc, errors) from exc
    try:
        inverses = backend.apply_batch(run)  # type: ignore[attr-defined]
    except BatchFailed as failed:
        undo.extend(inverse for inverse in failed.inverses if inverse is not None)
        op = run[failed.index]
        if op.makes_netns:
            undo.append(op.inverse())
        errors = rollback(undo, backends, recorder)
        raise ApplyError(op, step + failed.index, failed.cause, errors) from failed.cause
    for k, inverse in enumerate(inverses):
        batched[step + k] = inverse


def rollback(undo: list[Op], backends: Sequence[Backend], recorder: Optional[Recorder] = None) -> list[str]:
    """Applies inverses in reverse order, skipping ops inside namespaces
    that are themselves being deleted; returns the errors met (best effort)."""
    doomed = {op.netns for op in undo if op.removes_netns}
    errors: list[str] = []
    for op in reversed(undo):
        if op.netns in doomed and not op.removes_netns:
            continue
        try:
            if recorder is not None and op.makes_netns:
                recorder.record("netns", name=op.netns)  # undoing a removal: ours again
            _backend_for(backends, op).apply(op)
            if recorder is not None and op.removes_netns:
                recorder.record("netns-gone", name=op.netns)
        except Exception as exc:  # noqa: BLE001 — keep undoing the rest
            errors.append(f"{op.name} {op.netns}: {exc}")
    return errors


def _backend_for(backends: Sequence[Backend], op: Op) -> Backend:
    for backend in backends:
        if backend.handles(op):
            return backend
    raise LookupError(f"no executor handles op {op.name!r}")
