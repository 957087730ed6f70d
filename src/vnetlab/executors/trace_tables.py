"""The write-ahead record of the nft tables a trace adds to a running lab.

For the time of one probe, ``vnetlab trace`` adds a table
``inet vnetlab_trace_XXXX`` to every node that has a ruleset
(:mod:`vnetlab.probe.nftrace`), and deletes it afterwards. A trace killed
with SIGKILL cannot delete it; so before the first table exists, the trace
writes ``RUNDIR/traces/TABLE.json`` — the table, the namespaces it goes
into, and the tracing process (pid and start time). A table named there
whose process no longer runs is a leftover of vnetlab's own: ``status``
reports it as drift and ``up`` removes it (``observe/drift.py``); the record
goes once its tables are gone. A trace still running is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from typing import Iterator

from vnetlab.host import netns, processes, state
from vnetlab.executors.nftables import NftError, TABLE_NAME, run_nft

DIRECTORY = "traces"
TABLE_PREFIX = "vnetlab_trace_"
FAMILY = "inet"


@dataclass(frozen=True)
class TraceRecord:
    """One trace's tables: ``FAMILY TABLE`` in each of ``namespaces``, made by ``owner``."""

    table: str
    namespaces: tuple[str, ...]
    owner: processes.ProcessRecord

    def to_dict(self) -> dict:
        return {"table": self.table, "family": FAMILY, "namespaces": list(self.namespaces),
                "owner": self.owner.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> "TraceRecord":
        """Parses a record; raises ValueError unless it names one of our trace tables."""
        if not isinstance(data, dict):
            raise ValueError("a trace record is a JSON object")
        table, spaces = data.get("table"), data.get("namespaces")
        # The name reaches nft unquoted: only our own pattern passes.
        if not isinstance(table, str) or not table.startswith(TABLE_PREFIX) or not TABLE_NAME.match(table) \
                or data.get("family") != FAMILY:
            raise ValueError(f"not a vnetlab trace table: {data.get('family')} {table!r}")
        if not isinstance(spaces, list) or not all(isinstance(ns, str) for ns in spaces):
            raise ValueError("'namespaces' is a list of names")
        return cls(table, tuple(spaces), processes.ProcessRecord.from_dict(data.get("owner")))


def _directory(lab: str) -> str:
    return os.path.join(state.lab_dir(lab), DIRECTORY)


@contextlib.contextmanager
def recorded(lab: str, table: str, namespaces: list[str]) -> Iterator[None]:
    """Records the trace's tables before the block adds them, and forgets
    them after it, once none of them is left.

    A lab without a run directory (namespaces vnetlab did not bring up) gets
    no record: there is nothing its ``status`` or ``up`` would look at."""
    if not os.path.isdir(state.lab_dir(lab)):
        yield
        return
    record = TraceRecord(table, tuple(namespaces), processes.ProcessRecord.self())
    os.makedirs(_directory(lab), mode=0o755, exist_ok=True)
    path = os.path.join(_directory(lab), f"{table}.json")
    state.write_atomic(path, json.dumps(record.to_dict()))
    try:
        yield
    finally:
        if not _present(record, set(namespaces)):  # a table nft failed to delete stays recorded
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _records(lab: str) -> Iterator[tuple[str, TraceRecord]]:
    """(path, record) of every readable trace record of the lab."""
    directory = _directory(lab)
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return
    for name in names:
        if not name.endswith(".json"):
            continue
        path = os.path.join(directory, name)
        try:
            with open(path) as handle:
                yield path, TraceRecord.from_dict(json.load(handle))
        except (OSError, ValueError):
            continue


def _present(record: TraceRecord, lab_namespaces: set[str]) -> list[str]:
    """The record's namespaces (of the lab's own) that still hold its table."""
    found = []
    for ns in record.namespaces:
        if ns not in lab_namespaces or not netns.exists(ns):
            continue
        try:
            run_nft(ns, f"list table {FAMILY} {record.table}\n")
        except NftError:
            continue  # no such table
        found.append(ns)
    return found


def leftovers(lab: str, lab_namespaces: set[str]) -> dict[str, list[str]]:
    """Tables left by traces that no longer run: namespace -> ``["inet vnetlab_trace_1a2b", ...]``.

    Args:
        lab: the lab's name.
        lab_namespaces: the lab's own namespaces (from its journal); a record
            naming any other is not followed there.
    """
    found: dict[str, list[str]] = {}
    for _path, record in _records(lab):
        if processes.is_running(record.owner):
            continue  # a trace in progress
        for ns in _present(record, lab_namespaces):
            found.setdefault(ns, []).append(f"{FAMILY} {record.table}")
    return found


def forget_finished(lab: str, lab_namespaces: set[str]) -> None:
    """Removes the records of traces that no longer run and left no table
    (``up`` calls it after removing the leftovers)."""
    for path, record in _records(lab):
        if not processes.is_running(record.owner) and not _present(record, lab_namespaces):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
