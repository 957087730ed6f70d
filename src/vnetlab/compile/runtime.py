"""What was changed on a running lab with ``vnetlab impair`` and ``vnetlab link``, as plan ops (pure).

A lab's run directory keeps those changes (``runtime.json``, read by
:mod:`vnetlab.host.applied`) as :class:`RuntimeChanges`: per link end, the
impairment now in force instead of the file's (``{}``: none), and the cables
that are cut. :func:`with_runtime` turns a plan of the file into the plan of
the lab as it runs now — the end's SetImpairment replaced, both ends of a cut
cable administratively down — so ``up``, ``status`` and drift take them for
what is wanted, not for hand-made changes, until ``vnetlab impair --reset``,
``vnetlab link … up`` or ``down``. Entries naming an end the file no longer
has are left out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from vnetlab.compile.impair import impairment_op
from vnetlab.model import impairment as imp
from vnetlab.model.bridges import ASSUMED, KernelFeatures
from vnetlab.model.schema import LabSpec, link_ends
from vnetlab.names import namespace
from vnetlab.plan import Op, Plan, SetImpairment, SetLinkState


@dataclass
class RuntimeChanges:
    """``impairments``: ``node:ifname`` -> ``Impairment.to_dict()`` in force instead of
    the file's (``{}``: none); ``cut``: the cut cables, each as its two ends."""

    impairments: dict[str, dict[str, Any]] = field(default_factory=dict)
    cut: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.impairments or self.cut)

    def to_dict(self) -> dict[str, Any]:
        return {"impairments": self.impairments, "cut": [list(ends) for ends in self.cut]}

    @classmethod
    def from_dict(cls, data: Any) -> "RuntimeChanges":
        if not isinstance(data, dict):
            return cls()
        impairments = {end: dict(value) for end, value in (data.get("impairments") or {}).items()
                       if isinstance(end, str) and isinstance(value, dict)}
        cut = [(ends[0], ends[1]) for ends in data.get("cut") or () if isinstance(ends, list) and len(ends) == 2]
        return cls(impairments, cut)

    def is_cut(self, end: str) -> bool:
        return any(end in ends for ends in self.cut)


def link_of(spec: LabSpec, end: str) -> Optional[tuple[str, str]]:
    """The two ends (``node:ifname``) of the link that has ``end``, ``end`` first; None if no link has it."""
    for link in spec.links:
        ends = link_ends(link)
        if len(ends) == 2 and end in ends:
            return (end, ends[1]) if ends[0] == end else (end, ends[0])
    return None


def with_runtime(plan: Plan, spec: LabSpec, changes: RuntimeChanges,
                 features: Optional[KernelFeatures] = None) -> Plan:
    """``plan`` (of ``spec``) as the lab runs with ``changes``; ``features`` pick
    the mechanism of a runtime impairment (None: what ``plan`` used, else netem)."""
    if not changes:
        return plan
    features = features or _features_of(plan)
    ends = {end for link in spec.links for end in link_ends(link)}
    for end, values in changes.impairments.items():
        if end in ends:
            node, _, ifname = end.partition(":")
            plan = with_end_impairment(plan, namespace(spec.lab, node), ifname, imp.Impairment.from_dict(values),
                                       features)
    for pair in changes.cut:
        if set(link_of(spec, pair[0]) or ()) == set(pair):
            plan = with_cable(plan, {(namespace(spec.lab, e.partition(":")[0]), e.partition(":")[2]) for e in pair},
                              up=False)
    return plan


def with_end_impairment(plan: Plan, ns: str, ifname: str, value: imp.Impairment,
                        features: KernelFeatures) -> Plan:
    """``plan`` with the impairment of ``ifname`` in ``ns`` set to ``value`` (empty: none)."""
    ops = [op for op in plan.ops if not (isinstance(op, SetImpairment) and (op.netns, op.ifname) == (ns, ifname))]
    if not value.empty:
        ops.append(impairment_op(ns, ifname, value, features))
    return Plan(lab=plan.lab, ops=ops)


def with_cable(plan: Plan, ends: set[tuple[str, str]], up: bool) -> Plan:
    """``plan`` with both ends of a cable (``ends``: (netns, ifname)) up (plugged in) or down (cut)."""
    ops: list[Op] = []
    seen: set[tuple[str, str]] = set()
    for op in plan.ops:
        if isinstance(op, SetLinkState) and (op.netns, op.ifname) in ends:
            op = dataclasses.replace(op, up=up)
            seen.add((op.netns, op.ifname))
        ops.append(op)
    ops += [SetLinkState(ns, ifname=ifname, up=up) for ns, ifname in sorted(ends - seen)]
    return Plan(lab=plan.lab, ops=ops)


def _features_of(plan: Plan) -> KernelFeatures:
    """What the kernel offered when ``plan`` was made, as far as its impairments tell."""
    mechanisms = {op.mechanism for op in plan.ops if isinstance(op, SetImpairment)}
    if imp.NETEM in mechanisms:
        return ASSUMED
    if imp.USERSPACE in mechanisms or imp.TBF in mechanisms:
        return dataclasses.replace(ASSUMED, netem=False)
    return ASSUMED
