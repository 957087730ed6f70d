"""Compiles ``type: macvlan`` interfaces: Docker's macvlan network driver.

A macvlan child has its own MAC address on its parent's wire; it lives in
the parent's namespace (the node that declares it), so a "container" on a
macvlan network is modelled as one of the node's interfaces.
"""

from __future__ import annotations

from vnetlab.compile.builder import Phase, PlanBuilder
from vnetlab.compile.registry import interface_type
from vnetlab.model.schema import Interface
from vnetlab.plan import CreateMacvlan


@interface_type("macvlan")
def compile_macvlan(builder: PlanBuilder, node: str, ifname: str, iface: Interface) -> None:
    """One macvlan on its parent (mode bridge unless the file says otherwise)."""
    # PORTS, not DEVICES: the parent may be a link end, a bond or a VLAN
    # device, which are made in DEVICES after the nodes' own interfaces.
    builder.add(Phase.PORTS, CreateMacvlan(builder.ns(node), ifname=ifname, parent=iface.parent or "",
                                           mode=iface.mode or "bridge", mtu=iface.mtu, mac=iface.mac))
