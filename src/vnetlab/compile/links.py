"""Compiles ``links``: a veth pair, or a TAP and a guest NIC joined by a frame pump."""

from __future__ import annotations

from vnetlab.compile.builder import Phase, PlanBuilder
from vnetlab.compile.registry import interface_type
from vnetlab.model.schema import Interface
from vnetlab.plan import CreateTap, CreateVeth, PumpFrames


def split_end(end: str) -> tuple[str, str]:
    """'node:ifname' -> ('node', 'ifname')."""
    node, _, ifname = end.partition(":")
    return node, ifname


def declared(builder: PlanBuilder, node: str, ifname: str) -> Interface:
    """The interface as declared, or an empty one (a switch's implicit port)."""
    return builder.spec.nodes[node].interfaces.get(ifname) or Interface()


@interface_type("veth")
def compile_veth_end(builder: PlanBuilder, node: str, ifname: str, iface: Interface) -> None:
    """Nothing of its own: a veth end is made by its link (``compile_link``)."""


def compile_link(builder: PlanBuilder, end_a: str, end_b: str) -> None:
    """One cable between two interfaces of two nodes."""
    (node_a, if_a), (node_b, if_b) = split_end(end_a), split_end(end_b)
    iface_a, iface_b = declared(builder, node_a, if_a), declared(builder, node_b, if_b)
    if iface_b.type == "tap":
        (node_a, if_a, iface_a), (node_b, if_b, iface_b) = (node_b, if_b, iface_b), (node_a, if_a, iface_a)
    if iface_a.type == "tap":
        # The tap itself is made by the tap interface compiler; the guest's
        # NIC is a TAP too, so the lab's supervisor can feed it frames.
        builder.add(Phase.DEVICES, CreateTap(builder.ns(node_b), ifname=if_b, mtu=iface_b.mtu, mac=iface_b.mac))
        builder.add(Phase.PROCESSES, PumpFrames(builder.ns(node_a), ifname=if_a,
                                                peer_netns=builder.ns(node_b), peer_ifname=if_b))
        return
    builder.add(Phase.DEVICES, CreateVeth(
        builder.ns(node_a), ifname=if_a, peer_netns=builder.ns(node_b), peer_ifname=if_b,
        mtu=iface_a.mtu or iface_b.mtu, mac=iface_a.mac, peer_mac=iface_b.mac,
    ))
