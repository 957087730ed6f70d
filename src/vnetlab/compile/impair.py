"""Link impairments → one SetImpairment per impaired end (pure).

A link written as a mapping may carry impairments for both directions and,
under an end's node name, for what that end alone sends; an end's
impairment is the link's with its own on top. The kernel's features (handed
in) choose the mechanism: netem where the kernel has it, tbf for a rate
alone, vnetlab's userspace path otherwise (plan/impair.py).
"""

from __future__ import annotations

from vnetlab.compile.builder import Phase, PlanBuilder
from vnetlab.model import impairment as imp
from vnetlab.model.bridges import KernelFeatures
from vnetlab.model.schema import LabSpec, Link
from vnetlab.plan import SetImpairment


def end_impairments(spec: LabSpec) -> dict[tuple[str, str], imp.Impairment]:
    """(node, ifname) -> what that end does to what it sends, for every impaired end."""
    found: dict[tuple[str, str], imp.Impairment] = {}
    for link in spec.links:
        if not isinstance(link, Link):
            continue
        both = link.parsed()
        for end in link.ends:
            node, _, ifname = end.partition(":")
            own = (link.model_extra or {}).get(node)
            value = both.merged(imp.Impairment.parse(own, check=False)) if isinstance(own, dict) else both
            if not value.empty:
                found[(node, ifname)] = value
    return found


def impairment_op(netns: str, ifname: str, value: imp.Impairment, features: KernelFeatures) -> SetImpairment:
    """The op that gives ``ifname`` in ``netns`` the impairment ``value`` on a kernel with ``features``."""
    mechanism = imp.mechanism(value, netem=features.netem, tbf=features.tbf)
    return SetImpairment(netns, ifname=ifname, impairment=tuple(sorted(value.to_dict().items())),
                         mechanism=mechanism, tap=imp.tap_name(ifname) if mechanism == imp.USERSPACE else None)


def compile_impairments(builder: PlanBuilder, features: KernelFeatures) -> None:
    for (node, ifname), value in end_impairments(builder.spec).items():
        builder.add(Phase.PROCESSES, impairment_op(builder.ns(node), ifname, value, features))
