"""What the lab's DNS answers, read from the lab file (pure).

One dnsmasq runs on each node with a serving interface (``dhcp``, ``ra``,
``dns``); the compiler writes its config from :func:`dns_records`, and a
check's ``to`` that names a host resolves through :func:`served_names`, made
from the same records, so the two never disagree.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional

from vnetlab.model.schema import DnsServer, Interface, LabSpec, Node


@dataclass(frozen=True)
class DnsRecord:
    """One name a server answers: ``names`` (the first one is the full name) -> ``address``."""

    names: tuple[str, ...]
    address: str
    origin: str  # "node" (a static address of the node), "record" (the file's records)


def default_domain(lab: str) -> str:
    """The lab's DNS domain unless a server's ``dns.domain`` says otherwise: ``LAB.lab``."""
    return f"{lab}.lab"


def served(node: Node) -> list[tuple[str, Interface]]:
    """The node's serving interfaces (``dhcp``, ``ra`` or ``dns``), in file order."""
    return [(ifname, iface) for ifname, iface in node.interfaces.items() if iface.serves]


def _dns(node: Node) -> list[DnsServer]:
    return [iface.dns for _, iface in served(node) if iface.dns is not None]


def server_domain(spec: LabSpec, node: Node) -> Optional[str]:
    """The domain the node's dnsmasq answers (None when it serves no DNS)."""
    settings = _dns(node)
    if not settings:
        return None
    return next((s.domain for s in settings if s.domain), default_domain(spec.lab))


def dns_records(spec: LabSpec, node: Node) -> list[DnsRecord]:
    """The names the node's dnsmasq answers besides its DHCP clients' (which
    it learns as they take their leases): the file's ``records``, then
    ``NODE.DOMAIN`` and ``NODE`` for each static address of every node of the
    lab (unless ``nodes: false``, or a record of that name says otherwise)."""
    domain = server_domain(spec, node)
    if domain is None:
        return []
    settings = _dns(node)
    records: list[DnsRecord] = []
    taken: set[str] = set()
    for setting in settings:
        for name, address in setting.records.items():
            full = name if "." in name else f"{name}.{domain}"
            names = (full,) if full == name else (full, name)
            records.append(DnsRecord(names, address, "record"))
            taken.update(names)
    if any(s.nodes for s in settings):
        for other, spec_node in spec.nodes.items():
            names = (f"{other}.{domain}", other)
            if set(names) & taken:
                continue
            for iface in spec_node.interfaces.values():
                for text in iface.all_addresses():
                    ip = ipaddress.ip_interface(text).ip
                    if not ip.is_link_local:
                        records.append(DnsRecord(names, str(ip), "node"))
    return records


@dataclass(frozen=True)
class ServedName:
    """A name one node's dnsmasq answers, and the addresses it gives, as the lab file says."""

    name: str
    server: str                 # the node whose dnsmasq answers it
    addresses: tuple[str, ...]  # in the order of the file


def served_names(spec: LabSpec) -> dict[str, list[ServedName]]:
    """Every name the lab's DNS answers (lowercase) -> each server that answers it.

    A node's dnsmasq answers its :func:`dns_records` (the ``records``, and
    ``NODE.DOMAIN``/``NODE`` of every node with a static address) and, as
    their clients take them, the names of its ``dhcp.hosts`` reservations,
    bare and in its domain — unless a record has that name (dnsmasq then
    gives the lease no name). A node without ``dns:`` answers no names. The
    names DHCP clients send (their node names) are not here: their addresses
    are not in the file.
    """
    names: dict[str, list[ServedName]] = {}
    for server, node in spec.nodes.items():
        domain = server_domain(spec, node)
        if domain is None:
            continue
        found: dict[str, list[str]] = {}
        for record in dns_records(spec, node):
            for name in record.names:
                found.setdefault(name.lower(), []).append(record.address)
        recorded = set(found)
        for _, iface in served(node):
            for host in iface.dhcp.hosts if iface.dhcp is not None else ():
                for name in (host.name.lower(), f"{host.name}.{domain}".lower()):
                    if name not in recorded:
                        found.setdefault(name, []).append(host.address)
        for name, addresses in found.items():
            names.setdefault(name, []).append(ServedName(name, server, tuple(dict.fromkeys(addresses))))
    return names


def lookup_served(spec: LabSpec, host: str) -> Optional[list[ServedName]]:
    """The servers answering ``host`` (case-insensitive, a trailing dot ignored); None if
    the lab's DNS does not serve it."""
    return served_names(spec).get(host.lower().rstrip("."))
