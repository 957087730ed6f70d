"""compile_lab: a validated lab -> the ordered Plan that builds it (pure, no root)."""

from __future__ import annotations

import importlib
import os
import pkgutil
from typing import TYPE_CHECKING, Optional

from vnetlab.compile.builder import Phase, PlanBuilder
from vnetlab.compile.dnsmasq import compile_dynamic
from vnetlab.compile.impair import compile_impairments
from vnetlab.compile.l2 import compile_l2  # also registers bond, vlan
from vnetlab.model.bridges import ASSUMED, KernelFeatures
from vnetlab.model.schema import link_ends
from vnetlab.compile.links import compile_link
from vnetlab.compile.registry import NODE_KINDS, check_complete
from vnetlab.plan import CreateNamespace, Plan

if TYPE_CHECKING:
    from vnetlab.model.schema import LabSpec

# Every module of compile/ is loaded, so each registers its kinds: a new
# kind is a new module, and this file does not change for it.
for _module in pkgutil.iter_modules([os.path.dirname(__file__)]):
    importlib.import_module(f"{__package__}.{_module.name}")
check_complete()  # every kind the schema accepts has its compiler (model/kinds.py is the list)


def compile_lab(spec: LabSpec, features: Optional[KernelFeatures] = None, run_dir: Optional[str] = None) -> Plan:
    """Compiles a validated lab into the ordered ops that build it.

    ``features`` says what the kernel offers for VLANs and bonds, which picks
    the backend of every ``backend: auto`` bridge; None assumes everything
    (``vnetlab plan`` without root), ``up`` passes what it detected.
    ``run_dir`` is the lab's run directory (default ``/run/vnetlab/<lab>``),
    where ops that keep files, such as a node's OVS, put them."""
    builder = PlanBuilder(spec, run_dir=run_dir)
    for name, node in spec.nodes.items():
        builder.add(Phase.NAMESPACES, CreateNamespace(builder.ns(name)))
        NODE_KINDS[node.kind](builder, name, node)
    for end_a, end_b in (link_ends(link) for link in spec.links):
        compile_link(builder, end_a, end_b)
    compile_l2(builder, features or ASSUMED)  # bridge backends; Linux VLANs/bonds or OVS
    compile_dynamic(builder)  # dnsmasq on serving nodes, then DHCP clients; SLAAC sysctls
    compile_impairments(builder, features or ASSUMED)  # delay, loss, rate … of impaired link ends
    return builder.build()
