"""Where a probe or check goes: parsing ``host:port`` targets and resolving them (pure).

A target is a node name, an IP address, ``node:port``, ``ip:port`` or
``[ipv6]:port``. Checks, probes, trace, the neighbour estimate and the
firewall's port forwards all read targets through this module.
"""

from __future__ import annotations

import ipaddress
from typing import Optional

from vnetlab.model.schema import LabSpec


def split_host_port(text: str) -> tuple[str, str] | None:
    """Splits ``ip:port``, ``[ipv6]:port`` or ``node:port``; None if there is no port."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        return (host, port) if sep else None
    host, sep, port = text.rpartition(":")
    if not sep or ":" in host:
        return None
    return host, port


def format_target(ip: str, port: Optional[int]) -> str:
    """``ip``, ``ip:port`` or ``[ipv6]:port`` (the inverse of :func:`split_host_port`)."""
    if port is None:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _node_address(spec: LabSpec, name: str, family: Optional[int] = None) -> str:
    """A node's first address in file order: preferring IPv4, or only of ``family`` (4 or 6) if given."""
    addresses = [
        ipaddress.ip_interface(text).ip
        for interface in spec.nodes[name].interfaces.values()
        for text in interface.all_addresses()
    ]
    if not addresses:
        raise ValueError(
            f"node {name!r} has no address to probe — give an IP in 'to' or an address to one of its interfaces"
        )
    if family is not None:
        of_family = [a for a in addresses if a.version == family]
        if not of_family:
            have = ", ".join(str(a) for a in addresses)
            raise ValueError(f"node {name!r} has no IPv{family} address (it has {have}) — "
                             f"drop -{family}, or give the node an IPv{family} address")
        return str(of_family[0])
    return str(next((a for a in addresses if a.version == 4), addresses[0]))


def _port(text: str, to: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{to!r}: port {text!r} must be a number from 1 to 65535")
    return int(text)


def resolve_target(spec: LabSpec, to: str, family: Optional[int] = None) -> tuple[str, Optional[int]]:
    """Turns a check's ``to`` into (ip, port or None).

    ``to`` is a node name, an IP address, ``node:port``, ``ip:port`` or
    ``[ipv6]:port``. A node stands for its first address in file order
    (interfaces in file order), preferring IPv4 — or its first address of
    ``family`` (4 or 6) when that is given, like ``ping -4``/``ping -6``.

    Raises:
        ValueError: ``to`` names no node of the lab and is no IP address,
            the node has no address (of ``family``), an address is not of
            ``family``, or the port is not 1–65535.
    """
    host, port = to, None
    parts = split_host_port(to)
    if parts is None and to.startswith("["):
        raise ValueError(f"{to!r} is not a target — write [IPV6]:PORT, e.g. [fd00::2]:80")
    if parts is not None:
        host, port = parts[0], _port(parts[1], to)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if to.startswith("[") and address.version != 6:
            raise ValueError(f"{to!r}: brackets are only for IPv6 addresses — write {host}:{port}")
        if family is not None and address.version != family:
            raise ValueError(f"{host} is an IPv{address.version} address, not IPv{family} — "
                             f"drop -{family}, or give an IPv{family} address or a node")
        return str(address), port
    if host in spec.nodes:
        return _node_address(spec, host, family), port
    known = ", ".join(spec.nodes) or "none"
    raise ValueError(
        f"{to!r} is neither a node of lab {spec.lab!r} nor an IP address "
        f"(nodes: {known}); write a node name, an IP, NODE:PORT or IP:PORT"
    )
