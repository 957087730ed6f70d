"""The host-wide neighbour (ARP/NDP) table: how full a lab can make it, and
raising its limits for a lab's lifetime when the user asks.

The kernel keeps ONE neighbour table per family for all namespaces. When it
holds ``net.ipv4.neigh.default.gc_thresh3`` entries (1,024 by default) a new
neighbour cannot be added ("neighbour table overflow") and the packet that
needed it is dropped — a 1,000-host lab's checks fail for no reason of the
lab's own. The limits live in the host's (root) namespace only, so raising
them changes the host: vnetlab does that only when asked — ``up
--raise-neigh-limit`` for what the lab's checks need, ``reach``/``scan
--raise-neigh-limit`` for what that probe needs —, journals the old values
in the lab's journal before it writes, and restores them at the lab's
``down`` (also after the command that raised them was SIGKILLed). Several labs may hold raised
limits at once: a host-wide record under the run directory keeps the
values found before the first of them, and the last one down restores them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from typing import TYPE_CHECKING, Iterator

from vnetlab.host import state

if TYPE_CHECKING:  # the model loads only when a lab file is read
    from vnetlab.host.state import Journal
    from vnetlab.model.schema import LabSpec

FAMILIES = {4: "ipv4", 6: "ipv6"}
KEYS = ("gc_thresh1", "gc_thresh2", "gc_thresh3")
REGISTRY = ".neigh-limits.json"  # in the run root; names starting with '.' are no lab
STAT_FILES = {4: "/proc/net/stat/arp_cache", 6: "/proc/net/stat/ndisc_cache"}


def sysctl_key(family: int, key: str) -> str:
    """``net.ipv4.neigh.default.gc_thresh3`` and the like."""
    return f"net.{FAMILIES[family]}.neigh.default.{key}"


def _path(family: int, key: str) -> str:
    return f"/proc/sys/net/{FAMILIES[family]}/neigh/default/{key}"


def read_limits(family: int) -> dict[str, int]:
    """The host's gc_thresh1/2/3 of ``family`` (read in the root namespace,
    the only one that has them)."""
    values = {}
    for key in KEYS:
        with open(_path(family, key)) as handle:
            values[key] = int(handle.read().split()[0])
    return values


def _write_limits(family: int, values: dict[str, int]) -> None:
    # thresh3 >= thresh2 >= thresh1 must hold at every step: raise from the top, lower from the bottom
    current = read_limits(family)
    order = KEYS[::-1] if values.get("gc_thresh3", 0) >= current["gc_thresh3"] else KEYS
    for key in order:
        if key in values:
            with open(_path(family, key), "w") as handle:
                handle.write(str(values[key]))


def entries_in_use(family: int) -> int:
    """Neighbour entries the kernel holds now, all namespaces together."""
    try:
        with open(STAT_FILES[family]) as handle:
            handle.readline()
            return int(handle.readline().split()[0], 16)
    except (OSError, ValueError, IndexError):
        return 0


def warnings(spec: LabSpec, raised: bool = False) -> list[str]:
    """One line per family whose table the lab's checks can overflow;
    empty when they fit (or when the limits were raised for this lab)."""
    from vnetlab.model.neighbours import estimate

    out = []
    for family, needed in estimate(spec).items():
        try:
            limit = read_limits(family)["gc_thresh3"]
        except OSError:
            continue
        in_use = entries_in_use(family)
        if needed + in_use <= limit:
            continue
        kind = "ARP" if family == 4 else "NDP"
        out.append(
            f"lab {spec.lab}'s checks can need about {needed} {kind} neighbour entries "
            f"({in_use} already in use host-wide), more than the host-wide limit "
            f"{sysctl_key(family, 'gc_thresh3')}={limit}: beyond it the kernel drops new "
            f"neighbours ('neighbour table overflow') and probes fail. "
            + ("The limit was raised for this lab but is still too low." if raised else
               "Bring the lab up with 'vnetlab up --raise-neigh-limit FILE' (raises gc_thresh1/2/3 "
               "while the lab is up, restored at down), or set the sysctl yourself.")
        )
    return out


def wanted(spec: LabSpec) -> dict[int, dict[str, int]]:
    """The limits to set for ``spec``'s checks, per family (only families it raises)."""
    from vnetlab.model.neighbours import estimate

    return wanted_for(estimate(spec))


def wanted_for(needs: dict[int, int]) -> dict[int, dict[str, int]]:
    """The limits to set so ``needs`` (family -> new entries) fit twice over
    next to the entries in use, per family (only families that must grow)."""
    out = {}
    for family, needed in needs.items():
        old = read_limits(family)
        room = 2 * (needed + entries_in_use(family))
        third = max(old["gc_thresh3"], 1 << max(10, (room - 1).bit_length()))
        if third == old["gc_thresh3"]:
            continue
        out[family] = {"gc_thresh1": max(old["gc_thresh1"], third // 8),
                       "gc_thresh2": max(old["gc_thresh2"], third // 2), "gc_thresh3": third}
    return out


@contextlib.contextmanager
def _registry() -> Iterator[dict]:
    """The host-wide record (locked, read, yielded, written back)."""
    os.makedirs(state.RUN_ROOT, mode=0o755, exist_ok=True)
    path = os.path.join(state.RUN_ROOT, REGISTRY)
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            with open(path) as handle:
                data = json.load(handle)
        except (FileNotFoundError, json.JSONDecodeError):
            data = {}
        data.setdefault("original", {})
        data.setdefault("holders", {})
        yield data
        if data["holders"]:
            state.write_atomic(path, json.dumps(data))
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    finally:
        os.close(fd)


def raise_limits(spec: LabSpec, journal: Journal) -> dict[int, dict[str, int]]:
    """Raises the host's limits for ``spec``'s checks; returns what was set.

    The old values go to the lab's journal and to the host-wide record
    before anything is written."""
    return _raise(spec.lab, wanted(spec), journal)


def make_room(lab: str, needs: dict[int, int]) -> dict[int, dict[str, int]]:
    """Raises the host's limits so ``needs`` (family -> entries a probe of the
    running lab ``lab`` creates) fit; returns what was set ({} if they fit).

    Journaled in the lab's own journal under its lock, like ``up
    --raise-neigh-limit``, so ``down`` restores the old values (also when
    the probe was killed). Raises LookupError if the lab is not up."""
    with state.locked(lab):
        if not os.path.isdir(state.lab_dir(lab)):
            raise LookupError(f"lab {lab!r} is not up — start it with: vnetlab up LABFILE")
        targets = wanted_for(needs)
        if not targets:
            return {}
        journal = state.Journal(lab).open()
        try:
            return _raise(lab, targets, journal)
        finally:
            journal.close()


def _raise(lab: str, targets: dict[int, dict[str, int]], journal: Journal) -> dict[int, dict[str, int]]:
    with _registry() as data:
        for family, values in targets.items():
            old = read_limits(family)
            journal.record("neigh-limits", family=family, old=old, new=values)
            data["original"].setdefault(str(family), old)
            data["holders"].setdefault(lab, {})[str(family)] = values
            _write_limits(family, values)
    return targets


def restore_limits(lab: str, journal: Journal) -> list[str]:
    """Undoes :func:`raise_limits` for ``lab`` (idempotent); returns the
    sysctls written. The last lab holding raised limits puts back the values
    found before the first; others leave the highest still needed."""
    journaled: dict[str, dict[str, int]] = {}
    try:
        with open(journal.path) as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if entry.get("kind") == "neigh-limits":
                    journaled.setdefault(str(entry["family"]), entry["old"])  # the first: the oldest
    except FileNotFoundError:
        pass
    written: list[str] = []
    if not journaled:
        return written
    with _registry() as data:
        data["holders"].pop(lab, None)
        for family_text, old in journaled.items():
            family = int(family_text)
            others = [held[family_text] for held in data["holders"].values() if family_text in held]
            if others:
                target = {key: max(values[key] for values in others) for key in KEYS}
            else:
                target = data["original"].pop(family_text, old)
            if read_limits(family) != target:
                _write_limits(family, target)
                written += [f"{sysctl_key(family, k)}={v}" for k, v in target.items()]
    return written


def summary(values: dict[int, dict[str, int]]) -> str:
    """``net.ipv4.neigh.default.gc_thresh3=4096 ...`` for messages."""
    return " ".join(f"{sysctl_key(f, k)}={v}" for f, vals in values.items() for k, v in vals.items())


__all__ = ["make_room", "raise_limits", "read_limits", "restore_limits", "summary", "warnings",
           "wanted", "wanted_for", "entries_in_use", "sysctl_key"]

