"""Compilers of node kinds: host, router, vm and switch."""

from __future__ import annotations

import ipaddress

from vnetlab.compile.builder import Phase, PlanBuilder
from vnetlab.compile.firewall import compile_firewall
from vnetlab.compile.registry import INTERFACE_TYPES, node_kind
from vnetlab.model.bridges import SWITCH_BRIDGE
from vnetlab.model.schema import Node, link_ends
from vnetlab.plan import AddAddress, AddRoute, CreateBridge, RunService, SetLinkState, SetMaster, SetSysctl



def node_has_ipv6(node: Node) -> bool:
    """Whether the file gives the node any IPv6 address or route (SLAAC and router advertisements too)."""
    addresses = [a for iface in node.interfaces.values() for a in iface.all_addresses()]
    if any(iface.uses_slaac or iface.ra is not None for iface in node.interfaces.values()):
        return True
    return any(":" in a for a in addresses) or any(
        (r.via and ":" in r.via) or ":" in r.to for r in node.routes
    )


def compile_common(builder: PlanBuilder, name: str, node: Node) -> None:
    """What every node gets: sysctls written explicitly (a new namespace
    must not silently inherit the host's values), loopback up, its declared
    interfaces, addresses and routes, its firewall and NAT, and its services."""
    ns = builder.ns(name)
    forwarding = "1" if node.forwards else "0"
    builder.add(Phase.SYSCTLS, SetSysctl(ns, key="net.ipv4.ip_forward", value=forwarding))
    if node_has_ipv6(node):
        builder.add(Phase.SYSCTLS, SetSysctl(ns, key="net.ipv6.conf.all.forwarding", value=forwarding))
        # No duplicate address detection, for the link-local addresses too (the lab's own
        # addresses are added nodad): while an interface's link-local address is tentative
        # (about a second after it comes up) the kernel sends no neighbour solicitation for
        # a packet it forwards, so the first packet through a router would be lost. The
        # kernel skips DAD only when both "all" and the interface say so; set before any
        # interface exists, so every new one inherits it from "default".
        for scope in ("all", "default"):
            builder.add(Phase.SYSCTLS, SetSysctl(ns, key=f"net.ipv6.conf.{scope}.accept_dad", value="0"))
    else:
        # No IPv6 in the file: no link-local addresses, no DAD, no router
        # solicitations or MLD reports flooding every bridge. Set before any
        # interface exists, so every new one inherits it from "default".
        for scope in ("all", "default"):
            builder.add(Phase.SYSCTLS, SetSysctl(ns, key=f"net.ipv6.conf.{scope}.disable_ipv6", value="1"))
    builder.add(Phase.LINK_UP, SetLinkState(ns, ifname="lo"))
    for ifname, iface in node.interfaces.items():
        if iface.type is not None:
            INTERFACE_TYPES[iface.type](builder, name, ifname, iface)
        for address in iface.all_addresses():
            builder.add(Phase.ADDRESSES, AddAddress(ns, ifname=ifname, address=address))
        if ifname != "lo":
            builder.add(Phase.LINK_UP, SetLinkState(ns, ifname=ifname))
    for route in node.routes:
        if route.to != "default":
            family = ipaddress.ip_network(route.to).version
        else:
            family = ipaddress.ip_address(route.via).version if route.via else 4
        builder.add(Phase.ROUTES, AddRoute(ns, to=route.to, via=route.via, dev=route.dev, family=family))
    if node.firewall is not None or node.nat is not None:
        compile_firewall(builder, name, node, ipv6=node_has_ipv6(node))
    for service in node.services:
        command = tuple(service.command) if service.command is not None else None
        builder.add(Phase.PROCESSES, RunService(ns, node=name, listen=service.listen, command=command,
                                                oneshot=service.oneshot))


@node_kind("host")
@node_kind("router")
@node_kind("vm")
def compile_host(builder: PlanBuilder, name: str, node: Node) -> None:
    """An end host, a router (forwarding on by default) or a VM guest."""
    compile_common(builder, name, node)


@node_kind("switch")
def compile_switch(builder: PlanBuilder, name: str, node: Node) -> None:
    """A namespace holding bridge br0; every linked interface is a port."""
    ns = builder.ns(name)
    compile_common(builder, name, node)
    if SWITCH_BRIDGE not in node.interfaces:
        builder.add(Phase.DEVICES, CreateBridge(ns, ifname=SWITCH_BRIDGE))
        builder.add(Phase.LINK_UP, SetLinkState(ns, ifname=SWITCH_BRIDGE))
    for end in (end for link in builder.spec.links for end in link_ends(link)):
        node_name, _, ifname = end.partition(":")
        if node_name != name:
            continue
        builder.add(Phase.PORTS, SetMaster(ns, ifname=ifname, master=SWITCH_BRIDGE))
        if ifname not in node.interfaces:
            builder.add(Phase.LINK_UP, SetLinkState(ns, ifname=ifname))
