"""``vnetlab try OLD NEW``: build a host's network before and after a change, side by side, and say what breaks.

Each of OLD and NEW is a copy of a host's root (``import proxmox``) or one
interfaces file (``import interfaces``). Both are imported, both labs are
brought up at once under distinct lab names, and the same checks run
against each: the generated checks of OLD (what worked must keep working)
and those of NEW. A check that passes with OLD and fails with NEW is a
:class:`Breakage`, explained by a trace of its packet in the NEW lab (the
kernel's reason) and, where it can be told, by the lines of NEW that
changed and concern it. A lost management address comes first. Both labs
are removed again unless ``keep`` — also after an error or Ctrl-C.

This module sits above :mod:`vnetlab.lab` (it builds labs), so it lives in
``labs/`` rather than ``io/``, which the layering keeps below the API.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import ipaddress
import os
import re
import secrets
import time
from typing import Callable, Optional

from vnetlab.io.report import Report

ADMIN = "admin"  # the generated administrator's workstation (io/world.py)
MAX_TRACES = 4     # traces per run: each costs its timeout plus a capture in every node
TRACE_TIMEOUT = 0.5  # seconds a trace waits for an answer; a lab answers in milliseconds


@dataclasses.dataclass(frozen=True)
class Change:
    """One line of NEW that differs from OLD (``text`` as in NEW, or what was removed)."""

    file: str
    line: int
    text: str
    removed: bool = False

    def __str__(self) -> str:
        return f"NEW/{self.file}:{self.line} " + (f"(removed `{self.text}`)" if self.removed else f"`{self.text}`")


@dataclasses.dataclass
class Breakage:
    """A check that passes with OLD and fails with NEW."""

    label: str
    old: str              # what OLD observed
    new: str              # what NEW observed (and why it failed)
    reason: str = ""      # the trace's explanation in NEW, when one could run
    lines: list[Change] = dataclasses.field(default_factory=list)
    management: bool = False  # the admin lost the host

    def __str__(self) -> str:
        text = f"{self.label}: {self.new}" + (f" — {self.reason}" if self.reason else "")
        if self.lines:
            text += " — " + "; ".join(str(change) for change in self.lines)
        return text


@dataclasses.dataclass
class TryResult:
    """What ``try`` found, and how long each step took."""

    old_lab: str
    new_lab: str
    broken: list[Breakage]
    still_failing: list[str]      # checks failing with both (not the change's doing)
    fixed: list[str]              # checks failing with OLD and passing with NEW
    passed: int                   # checks passing with both
    lost_management: list[str]    # management addresses of OLD that NEW no longer has
    changes: list[Change]
    reports: list[Report]         # NEW's import reports
    seconds: dict[str, float]
    kept: bool

    @property
    def ok(self) -> bool:
        """Nothing that worked with OLD breaks with NEW."""
        return not self.broken and not self.lost_management


def _import(path: str, name: str):
    from vnetlab.io.importer import import_interfaces, import_proxmox

    if os.path.isdir(path):
        return import_proxmox(path, name=name)
    return import_interfaces(path, name=name)


def lab_names() -> tuple[str, str]:
    """Two fresh lab names (``tryo1a2b``/``tryn1a2b``): two ``try`` runs never collide."""
    suffix = secrets.token_hex(2)
    return f"tryo{suffix}", f"tryn{suffix}"


def try_change(old: str, new: str, keep: bool = False,
               progress: Optional[Callable[[str], None]] = None) -> TryResult:
    """Builds OLD and NEW side by side and compares their checks.

    Args:
        old: the current host: a root directory or an interfaces file.
        new: the changed host, the same way.
        keep: leave both labs up (their names are in the result).
        progress: called with a short line before each step.

    Returns:
        The breakages (management first) and the rest of the comparison.

    Raises:
        vnetlab.io.report.SourceFileError: OLD or NEW cannot be imported.
        EnvironmentProblem, ApplyError: a lab could not be built (whatever
            was built is removed again).
    """
    from vnetlab.lab import Lab
    from vnetlab.model import load_lab_text

    say = progress or (lambda text: None)
    seconds: dict[str, float] = {}
    start = time.monotonic()
    old_name, new_name = lab_names()
    old_imported, new_imported = _import(old, old_name), _import(new, new_name)
    old_spec = load_lab_text(old_imported.text, f"<{old_name}>")
    new_spec = load_lab_text(new_imported.text, f"<{new_name}>")
    seconds["import"] = time.monotonic() - start
    checks = _union(old_spec.checks, new_spec.checks)
    old_lab, new_lab = Lab(old_spec.model_copy(update={"checks": _runnable(checks, old_spec)})), \
        Lab(new_spec.model_copy(update={"checks": _runnable(checks, new_spec)}))
    built: list = []
    try:
        mark = time.monotonic()
        for lab, what in ((old_lab, "OLD"), (new_lab, "NEW")):
            say(f"building {what} as lab {lab.name}")
            built.append(lab)
            lab.up()
        seconds["up"] = time.monotonic() - mark
        mark = time.monotonic()
        say("running the checks on both")
        old_results = {r.check.label(): r for r in old_lab.check()}
        new_results = {r.check.label(): r for r in new_lab.check()}
        seconds["check"] = time.monotonic() - mark
        mark = time.monotonic()
        changes = changed_lines(old, new)
        failing, still, fixed, passed = [], [], [], 0
        for check in checks:
            label = check.label()
            before, after = old_results.get(label), new_results.get(label)
            old_ok = before is not None and before.ok
            new_ok = after is not None and after.ok
            if old_ok and new_ok:
                passed += 1
            elif old_ok:
                failing.append((check, before, after))
            elif new_ok:
                fixed.append(label)
            else:
                still.append(label)
        # Lock-outs first; each trace watches every node, so only the first few are traced.
        failing.sort(key=lambda item: item[0].from_ != ADMIN)
        broken = []
        for index, (check, before, after) in enumerate(failing):
            if index < MAX_TRACES:
                say(f"tracing what broke: {check.label()}")
            broken.append(_breakage(check, before, after, new_lab if index < MAX_TRACES else None, changes, new))
        seconds["trace"] = time.monotonic() - mark
    finally:
        if not keep:
            mark = time.monotonic()
            for lab in reversed(built):
                lab.down()
            seconds["down"] = time.monotonic() - mark
    seconds["total"] = time.monotonic() - start
    lost = lost_management(old_spec, new_spec)
    return TryResult(old_name, new_name, broken, still, fixed, passed, lost, changes,
                     new_imported.reports, seconds, keep)


def _union(first, second) -> list:
    """OLD's checks, then NEW's that OLD lacks (by label)."""
    seen = {check.label() for check in first}
    return list(first) + [check for check in second if check.label() not in seen]


def _runnable(checks, spec) -> list:
    """The checks whose source node exists in ``spec`` (the others cannot run there)."""
    return [check for check in checks if check.from_ in spec.nodes]


def _breakage(check, before, after, new_lab, changes: list[Change], new_root: str) -> Breakage:
    management = check.from_ == ADMIN
    if after is None:
        new = (f"{check.from_} can no longer reach {check.to}: in NEW nothing carries {check.from_}'s network to "
               f"the host, so the import could place no {check.from_} node" if management else
               f"cannot run with NEW: NEW's lab has no node {check.from_}")
        reason = ""
    else:
        new = _observed(after)
        if new_lab is None:
            reason = (f"not traced ({MAX_TRACES} breakages were): vnetlab try --keep, then vnetlab trace LAB "
                      f"{check.from_} {check.to}" + (f" --proto {check.proto}" if check.proto != "icmp" else ""))
        else:
            reason = _trace_reason(new_lab, check)
    lines = _relevant(changes, check, f"{new} {reason}")
    named = [c for c in rule_lines(reason, new_root) if c not in lines]
    return Breakage(check.label(), _observed(before), new, reason, named + lines, management)


def rule_lines(reason: str, new_root: str) -> list[Change]:
    """The firewall lines of NEW a trace names: an imported rule's comment is
    the ``NAME.fw:LINE`` it came from (``dropped by rule '... comment "host.fw:7 ..."'``)."""
    if not os.path.isdir(new_root):
        return []
    found = []
    for name, number in re.findall(r'comment "([\w.-]+\.fw):(\d+)', reason):
        for path in sorted(glob.glob(os.path.join(new_root, "etc", "pve", "**", name), recursive=True)):
            lines = _lines(path) or []
            if 0 < int(number) <= len(lines):
                found.append(Change(os.path.relpath(path, new_root), int(number), lines[int(number) - 1].strip()))
    return found


def _observed(result) -> str:
    """What a check saw: ``filtered (no answer within 1 s)``."""
    if not result.detail or result.detail.startswith(result.observed):
        return result.detail or result.observed
    return f"{result.observed} ({result.detail})"


def _trace_reason(lab, check) -> str:
    """The kernel's reason, from a trace of the check's packet in the NEW lab."""
    from vnetlab.probe.trace import trace

    try:
        traced = trace(lab.spec, lab.namespace_of, check.from_, check.to, proto=check.proto,
                       timeout=min(check.timeout, TRACE_TIMEOUT))
    except (ValueError, OSError, RuntimeError, KeyError) as exc:
        return f"trace could not run: {exc}"
    return f"trace: {traced.result} — {traced.reason}"


def _words(text: str) -> set[str]:
    return {w.strip("`'\",;:()[]") for w in text.split() if len(w.strip("`'\",;:()[]")) > 1}


def _relevant(changes: list[Change], check, text: str) -> list[Change]:
    """The changed lines of NEW that name something the failure names (an
    interface, an address, a port); all of them when none does, at most 5."""
    words = _words(text) | _words(check.to.replace(":", " "))
    for word in list(words):
        try:
            words.add(str(ipaddress.ip_interface(word).ip))
        except ValueError:
            pass
    named = [c for c in changes if _words(c.text.replace("/", " ")) & words or _words(c.text) & words]
    return (named or changes)[:5]


def changed_lines(old: str, new: str) -> list[Change]:
    """The lines of NEW that differ from OLD: a file pair, or every file of two roots."""
    pairs: list[tuple[str, str, str]] = []
    if os.path.isdir(old) and os.path.isdir(new):
        for directory, _, files in os.walk(new):
            for name in sorted(files):
                path = os.path.join(directory, name)
                relative = os.path.relpath(path, new)
                pairs.append((os.path.join(old, relative), path, relative))
    elif os.path.isfile(old) and os.path.isfile(new):
        pairs.append((old, new, os.path.basename(new)))
    changes: list[Change] = []
    for old_path, new_path, shown in sorted(pairs, key=lambda p: p[2]):
        before, after = _lines(old_path), _lines(new_path)
        if before is None or after is None:
            if after is not None and before is None:
                changes.extend(Change(shown, n, t.strip()) for n, t in enumerate(after, 1) if _meaningful(t))
            continue
        matcher = difflib.SequenceMatcher(a=[_key(x) for x in before], b=[_key(x) for x in after], autojunk=False)
        for tag, a1, a2, b1, b2 in matcher.get_opcodes():
            if tag in ("replace", "insert"):
                changes.extend(Change(shown, n + 1, after[n].strip()) for n in range(b1, b2)
                               if _meaningful(after[n]))
            if tag == "delete" or (tag == "replace" and b2 - b1 < a2 - a1):
                start = a1 if tag == "delete" else a1 + (b2 - b1)
                changes.extend(Change(shown, max(b1, 1), before[n].strip(), removed=True) for n in range(start, a2)
                               if _meaningful(before[n]))
    return changes


def _lines(path: str) -> Optional[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(1024 * 1024).splitlines()
    except OSError:
        return None


def _key(line: str) -> str:
    # whitespace and _/- spelling do not change what ifupdown reads
    return " ".join(line.replace("_", "-").split())


def _meaningful(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def lost_management(old_spec, new_spec) -> list[str]:
    """Addresses OLD's admin checks reach on the host that NEW's host no longer has."""
    targets = []
    for check in old_spec.checks:
        if check.from_ == ADMIN and check.proto == "icmp":
            targets.append(check.to)
    host = _host_of(new_spec)
    addresses = {a.split("/")[0] for iface in host.interfaces.values() for a in iface.all_addresses()}
    return [t for t in targets if t not in addresses]


def _host_of(spec):
    """The imported host: the first node of an imported lab."""
    return next(iter(spec.nodes.values()))
