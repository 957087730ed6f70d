"""Compilers of declared interface types: bridge and tap.

Interfaces without a type are link ends; ``compile/links.py`` makes them.
"""

from __future__ import annotations

from vnetlab.compile.builder import Phase, PlanBuilder
from vnetlab.compile.registry import interface_type
from vnetlab.model.schema import Interface
from vnetlab.plan import CreateBridge, CreateTap, SetMaster


@interface_type("bridge")
def compile_bridge(builder: PlanBuilder, node: str, ifname: str, iface: Interface) -> None:
    """A Linux bridge and its declared ports."""
    ns = builder.ns(node)
    builder.add(Phase.DEVICES, CreateBridge(ns, ifname=ifname, mtu=iface.mtu, mac=iface.mac))
    for port in iface.ports:
        builder.add(Phase.PORTS, SetMaster(ns, ifname=port, master=ifname))


@interface_type("tap")
def compile_tap(builder: PlanBuilder, node: str, ifname: str, iface: Interface) -> None:
    """A persistent TAP device on the hypervisor side of a VM NIC."""
    builder.add(Phase.DEVICES, CreateTap(builder.ns(node), ifname=ifname, mtu=iface.mtu, mac=iface.mac))
