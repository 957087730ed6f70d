"""Phased plan building: compilers add ops to phases, the plan lists phases in order.

Phases make ordering a property of *what* an op is, not of which compiler
function ran first: namespaces before sysctls (so new interfaces inherit
them), devices before ports, addresses before routes that need a connected
gateway, the firewall once every interface it names exists, kernel objects
before the processes that use them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Optional

from vnetlab.names import DEFAULT_RUN_ROOT, namespace
from vnetlab.plan import Op, Plan

if TYPE_CHECKING:
    from vnetlab.model.schema import LabSpec


class Phase(IntEnum):
    """Where an op goes in the plan."""

    NAMESPACES = 0
    SYSCTLS = 1
    DEVICES = 2
    PORTS = 3
    ADDRESSES = 4
    LINK_UP = 5
    ROUTES = 6
    FIREWALL = 7
    PROCESSES = 8


netns_name = namespace  # the namespace of a node: ``<lab>-<node>`` (invariant 3), named in names.py


@dataclass
class PlanBuilder:
    """Collects ops by phase for one lab.

    ``run_dir`` is the lab's run directory, which ops that keep files there
    (a node's OVS) name; the caller that knows the run root passes it, None
    means the default root's (``/run/vnetlab/<lab>``)."""

    spec: LabSpec
    phases: dict[Phase, list[Op]] = field(default_factory=lambda: {p: [] for p in Phase})
    run_dir: Optional[str] = None

    @property
    def lab_run_dir(self) -> str:
        """The run directory of this lab, as the ops name it."""
        return self.run_dir or os.path.join(DEFAULT_RUN_ROOT, self.spec.lab)

    def ns(self, node: str) -> str:
        """The namespace of ``node`` in this lab."""
        return netns_name(self.spec.lab, node)

    def add(self, phase: Phase, op: Op) -> None:
        """Queues ``op`` in ``phase``."""
        self.phases[phase].append(op)

    def build(self) -> Plan:
        """The plan: every phase's ops, phases in order."""
        return Plan(lab=self.spec.lab, ops=[op for phase in Phase for op in self.phases[phase]])
