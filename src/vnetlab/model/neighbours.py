"""How many host-wide neighbour (ARP/NDP) entries a lab's checks can create (pure).

The kernel keeps one neighbour table per family for all namespaces;
:mod:`vnetlab.host.neigh` compares this estimate with its limits.
"""

from __future__ import annotations

import ipaddress

from vnetlab.model.schema import Check, LabSpec
from vnetlab.model.targets import resolve_target


def estimate(spec: LabSpec) -> dict[int, int]:
    """About how many neighbour entries the lab's checks can create, per family.

    A probe from node F to address T leaves an entry in F (for T, or F's
    gateway) and one in T's node (for F's address, or its gateway); a
    probe that is routed also leaves entries in the routers on the way,
    counted here as one more pair. Entries are per (namespace, address),
    so repeated checks between the same nodes add nothing. State checks
    read a node and send nothing (a command check's program is not counted)."""
    if not any(isinstance(check, Check) for check in spec.checks):
        return {}  # (and `up` of a lab without checks need not load the prober)
    owner: dict[str, str] = {}
    networks: dict[str, list] = {}
    for name, node in spec.nodes.items():
        for interface in node.interfaces.values():
            for text in interface.all_addresses():
                iface = ipaddress.ip_interface(text)
                owner.setdefault(str(iface.ip), name)
                networks.setdefault(name, []).append(iface)
    pairs: dict[int, set[tuple[str, str]]] = {4: set(), 6: set()}
    for check in spec.checks:
        if not isinstance(check, Check):
            continue
        try:
            ip, _ = resolve_target(spec, check.to)
        except ValueError:
            continue
        target = ipaddress.ip_address(ip)
        family = target.version
        src = check.from_
        mine = [i for i in networks.get(src, []) if i.version == family]
        local = next((i for i in mine if target in i.network), None)
        dst = owner.get(ip)
        if local is not None:
            pairs[family].add((src, ip))
            if dst is not None:
                pairs[family].add((dst, str(local.ip)))
        else:
            pairs[family].add((src, "gateway"))
            pairs[family].add(("router", ip))
            if mine:
                pairs[family].add(("router", str(mine[0].ip)))
            if dst is not None:
                pairs[family].add((dst, "gateway"))
    return {family: len(found) for family, found in pairs.items() if found}
