"""Each link end's impairment and cable, read back: what ``status`` shows.

For every end of the running lab's links: what the kernel holds on the
interface (its root qdisc, its egress redirect into the userspace path's
TAP: :mod:`vnetlab.host.tc`), what the lab wants there (the applied plan's
SetImpairment, with its mechanism), whether that comes from the lab file or
was set while the lab runs, and whether its cable is cut (``runtime.json``)
— read without the lab-file model, as the rest of ``status``.
"""

from __future__ import annotations

from typing import Any, Optional

from vnetlab.host import applied, netns
from vnetlab.names import namespace


def _ends(copy: Optional[dict[str, Any]]) -> list[tuple[str, str]]:
    """(end, peer) of every link end of a spec copy (``lab.json``), both ways."""
    spec = copy.get("spec") if copy is not None else None
    pairs = []
    for link in spec.get("links", []) if isinstance(spec, dict) else []:
        ends = link.get("ends") if isinstance(link, dict) else link
        if isinstance(ends, list) and len(ends) == 2 and all(isinstance(e, str) for e in ends):
            pairs += [(ends[0], ends[1]), (ends[1], ends[0])]
    return pairs


def link_status(lab: str) -> list[dict[str, Any]]:
    """The link ends that are impaired (wanted, or found in the kernel) or cut, each
    ``{"end", "peer", "wanted", "mechanism", "origin", "kernel", "cut"}``."""
    from vnetlab.model.impairment import Impairment

    plan = applied.read_plan(lab)
    wanted = {(op.netns, op.ifname): op for op in (plan.ops if plan is not None else ())
              if op.name == "set_impairment"}
    runtime = applied.read_runtime(lab)
    changed = runtime.get("impairments") or {}
    cut = {end for pair in runtime.get("cut") or () for end in pair}
    kernel: dict[str, dict[str, str]] = {}
    found = []
    for end, peer in _ends(applied.spec_copy(lab)):
        node, _, ifname = end.partition(":")
        ns = namespace(lab, node)
        if ns not in kernel:
            kernel[ns] = {}
            if netns.exists(ns):
                from vnetlab.observe import rtnl

                links, _, qdiscs = rtnl.read_with_qdiscs(ns)
                names = {link["index"]: link["name"] for link in links}
                kernel[ns] = {names[i]: q.text(names) for i, q in qdiscs.items() if i in names}
        op = wanted.get((ns, ifname))
        held = kernel[ns].get(ifname)
        if op is None and held is None and end not in cut:
            continue
        value = Impairment.from_dict(dict(op.impairment)) if op is not None else None
        found.append({"end": end, "peer": peer, "wanted": value.text() if value is not None else None,
                      "mechanism": op.mechanism if op is not None else None,
                      "origin": ("runtime" if end in changed else "file") if op is not None else
                      ("cleared at runtime" if end in changed else None),
                      "kernel": held or "none", "cut": end in cut})
    return found
