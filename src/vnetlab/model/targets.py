"""Where a probe or check goes: parsing ``host:port`` targets and resolving them (pure).

A target is a node name, an IP address, a name the lab's DNS serves,
``host:port`` of one of those, or ``[ipv6]:port``. Checks, probes, trace, the
neighbour estimate and the firewall's port forwards all read targets through
this module.

A name is resolved from the lab file, not by asking a DNS server: the file
says what the lab's dnsmasq answers (:mod:`vnetlab.model.lab_dns`), so a check means
the same before and after a student breaks the resolver. Only a DHCP or
SLAAC client's own address is not in the file; the caller hands in a lookup
that reads it from the running lab's kernel.
"""

from __future__ import annotations

import ipaddress
from typing import Callable, Optional, Sequence

from vnetlab.model.lab_dns import ServedName, lookup_served, served_names
from vnetlab.model.schema import LabSpec

# node -> the addresses its ``dhcp``/``slaac`` interfaces hold now (IPs, no prefix), read from the
# running lab; the pure layer only says when it is needed.
HeldAddresses = Callable[[str], Sequence[str]]
MAX_NAMES_SHOWN = 8


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


def _node_address(spec: LabSpec, name: str, family: Optional[int] = None,
                  held: Optional[HeldAddresses] = None) -> str:
    """A node's address: its first static one in file order, preferring IPv4 (or only of
    ``family``, 4 or 6) — and for a family it takes by DHCP (IPv4) or SLAAC (IPv6) without a
    static address of it, the one its interface holds now, asked of ``held``."""
    interfaces = spec.nodes[name].interfaces
    addresses = [ipaddress.ip_interface(text).ip for interface in interfaces.values()
                 for text in interface.all_addresses()]
    dynamic = {4: [i for i, iface in interfaces.items() if iface.uses_dhcp],
               6: [i for i, iface in interfaces.items() if iface.uses_slaac]}
    if not addresses and not dynamic[4] and not dynamic[6]:
        raise ValueError(
            f"node {name!r} has no address to probe — give an IP in 'to' or an address to one of its interfaces"
        )
    for version in (family,) if family is not None else (4, 6):
        static = [a for a in addresses if a.version == version]
        if static:
            return str(static[0])
        if dynamic[version]:
            return _held_address(name, version, dynamic[version], held)
    # Only with a family: without one, a node with any address returned above.
    have = ", ".join([str(a) for a in addresses] + [f"{how} on {', '.join(dynamic[v])}"
                                                    for v, how in ((4, "DHCP"), (6, "SLAAC")) if dynamic[v]])
    raise ValueError(f"node {name!r} has no IPv{family} address (it has {have}) — "
                     f"drop -{family}, or give the node an IPv{family} address")


def _held_address(name: str, version: int, ifnames: list[str], held: Optional[HeldAddresses]) -> str:
    how = "DHCP" if version == 4 else "SLAAC"
    where = ", ".join(ifnames)
    if held is None:
        raise ValueError(f"node {name!r} takes its IPv{version} address by {how} ({where}): it is known only "
                         "in the running lab — aim at an IP, or run the check against the lab")
    for text in held(name):
        if ipaddress.ip_address(text).version == version:
            return str(ipaddress.ip_address(text))
    got = "holds no lease" if version == 4 else "has formed no address from a router advertisement"
    raise ValueError(f"node {name!r} has no IPv{version} address now: {where} takes it by {how} and {got} "
                     "— is the segment's server running? (vnetlab status LAB lists the leases)")


def _served_address(host: str, entries: list[ServedName], family: Optional[int]) -> str:
    if len({frozenset(e.addresses) for e in entries}) > 1:
        shown = "; ".join(f"{e.server}'s dnsmasq answers {', '.join(e.addresses)}" for e in entries)
        raise ValueError(f"{host!r} is served with different answers ({shown}) — aim at the address or the "
                         "node you mean")
    entry = entries[0]
    addresses = [ipaddress.ip_address(a) for a in entry.addresses]
    for version in (family,) if family is not None else (4, 6):
        found = [a for a in addresses if a.version == version]
        if found:
            return str(found[0])
    raise ValueError(f"{host!r} is served as {', '.join(entry.addresses)} (by {entry.server}), no IPv{family} "
                     f"address — drop -{family}, or aim at an IPv{family} address")


def _port(text: str, to: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{to!r}: port {text!r} must be a number from 1 to 65535")
    return int(text)


def resolve_target(spec: LabSpec, to: str, family: Optional[int] = None,
                   held: Optional[HeldAddresses] = None) -> tuple[str, Optional[int]]:
    """Turns a check's ``to`` into (ip, port or None).

    ``to`` is a node name, an IP address, a name the lab's DNS serves
    (:func:`vnetlab.model.lab_dns.served_names`: a record, a DHCP
    reservation, ``NODE.DOMAIN``),
    ``host:port`` of one of them, or ``[ipv6]:port``. A node stands for its
    first address in file order (interfaces in file order), preferring IPv4
    — or its first address of ``family`` (4 or 6) when that is given, like
    ``ping -4``/``ping -6``. A node that takes that address by DHCP or SLAAC
    (and has no static one of its family) stands for the address it holds
    now, which ``held`` reads from the running lab.

    Raises:
        ValueError: ``to`` names no node of the lab, no served name and is
            no IP address; the node has no address (of ``family``), or holds
            none yet, or ``held`` is not given for it; a served name has two
            different answers; an address is not of ``family``; the port is
            not 1–65535.
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
        return _node_address(spec, host, family, held), port
    entries = lookup_served(spec, host)
    if entries:
        return _served_address(host, entries, family), port
    raise ValueError(unknown_target(spec, to))


def unknown_target(spec: LabSpec, to: str) -> str:
    """What to say of a ``to`` that is no node, no served name and no IP: the choices there are."""
    known = ", ".join(spec.nodes) or "none"
    names = served_names_shown(spec)
    if not names:
        return (f"{to!r} is neither a node of lab {spec.lab!r} nor an IP address "
                f"(nodes: {known}); write a node name, an IP, NODE:PORT or IP:PORT")
    shown = ", ".join(names)
    host = (split_host_port(to) or (to, ""))[0]
    first = host.partition(".")[0]
    client = (f" — {first} takes its address by DHCP or SLAAC: aim at it by its node name, {first}"
              if first in spec.nodes and first != host and not _static(spec, first) else "")
    return (f"{to!r} is neither a node of lab {spec.lab!r}, a name its DNS serves nor an IP address "
            f"(nodes: {known}; names: {shown}); write one of them, or HOST:PORT{client}")


def served_names_shown(spec: LabSpec) -> list[str]:
    """The names the lab's DNS serves besides its node names, sorted, for a message: at most
    :data:`MAX_NAMES_SHOWN`, then how many there are in all."""
    names = sorted(name for name in served_names(spec) if name not in spec.nodes)
    if len(names) <= MAX_NAMES_SHOWN:
        return names
    return [*names[:MAX_NAMES_SHOWN], f"… ({len(names)} in all)"]


def _static(spec: LabSpec, node: str) -> bool:
    return any(iface.all_addresses() for iface in spec.nodes[node].interfaces.values())
