"""Resolving the names a firewall or NAT rule may use into addresses (pure).

Shared by validation (which reports what cannot be resolved) and the
firewall compiler (which relies on validation having passed), so both read
a rule's ``from``/``to`` and a port forward's ``to`` the same way.
"""

from __future__ import annotations

import ipaddress
from typing import Optional, Union

from vnetlab.model.schema import LabSpec, Node
from vnetlab.model.targets import split_host_port

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


def node_addresses(node: Node) -> list[IPAddress]:
    """Every address of ``node``'s interfaces, in file order."""
    return [ipaddress.ip_interface(a).ip for i in node.interfaces.values() for a in i.all_addresses()]


def connected_networks(node: Node) -> list[Network]:
    """The subnets of ``node``'s interface addresses, in file order."""
    return [ipaddress.ip_interface(a).network for i in node.interfaces.values() for a in i.all_addresses()]


def parse_network(text: str) -> Optional[Network]:
    """An address (as a host network) or a CIDR; None if ``text`` is neither.

    Host bits of a CIDR are dropped (``10.0.0.1/24`` means ``10.0.0.0/24``),
    as nft and iptables do.
    """
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def resolve_hosts(spec: LabSpec, text: str) -> Optional[list[Network]]:
    """What a rule's ``from``/``to`` stands for: one network for an address or
    CIDR, one host network per address for a node name (possibly none);
    None if ``text`` is neither an address, a CIDR nor a node of ``spec``."""
    network = parse_network(text)
    if network is not None:
        return [network]
    node = spec.nodes.get(text)
    if node is None:
        return None
    hosts: list[Network] = []
    for address in node_addresses(node):
        host = ipaddress.ip_network(address)
        if host not in hosts:
            hosts.append(host)
    return hosts


def resolve_forward_target(spec: LabSpec, node: Node, text: str) -> tuple[IPAddress, int] | str:
    """The (address, port) a port forward's ``to`` sends packets to.

    A node name means that node's first address (IPv4 first) lying in a
    subnet ``node`` is connected to. Returns a message saying what is wrong
    (and what to write instead) when the target cannot be resolved.
    """
    parts = split_host_port(text)
    if parts is None:
        return f"{text!r} is not a target — write \"ip:port\" or \"node:port\", e.g. \"10.10.10.100:80\""
    host, port_text = parts
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        return f"port {port_text!r} in {text!r} is not a port — use a number from 1 to 65535"
    port = int(port_text)
    networks = connected_networks(node)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        target = spec.nodes.get(host)
        if target is None:
            names = ", ".join(spec.nodes)
            return f"unknown node or address {host!r} — write an IP or one of the nodes: {names}"
        candidates = sorted(node_addresses(target), key=lambda a: a.version)
        for candidate in candidates:
            if any(candidate in net for net in networks):
                return candidate, port
        have = ", ".join(str(n) for n in networks) or "no addresses"
        return (f"node {host} has no address on a subnet this node is connected to ({have}) — "
                "forward to a node on one of them, or give it an address there")
    if not any(address in net for net in networks):
        have = ", ".join(str(n) for n in networks) or "no addresses"
        return (f"{address} is not on any connected subnet of this node ({have}) — "
                "forward to an address inside one of them")
    return address, port
