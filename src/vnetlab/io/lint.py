"""What would break the real host at boot (pure): the ``--check`` linter.

Each finding is a :func:`~vnetlab.io.report.problem` report naming the file
and line: two interfaces with one address, a bridge port or bond member
that exists nowhere, a gateway outside every subnet, an ``auto``/``allow-``
line whose stanza is missing, an unfilled placeholder. (Lines cut off
mid-command and bad values are found while reading, in
:mod:`vnetlab.io.interfaces` and :mod:`vnetlab.io.hostnet`.)
"""

from __future__ import annotations

import ipaddress

from vnetlab.io.hostnet import PLACEHOLDER, HostNetwork, is_physical
from vnetlab.io.report import Report, problem


def lint(net: HostNetwork) -> list[Report]:
    """The boot-breaking problems of ``net`` beyond those found while reading."""
    found: list[Report] = []
    found += _duplicate_addresses(net)
    found += _missing_ports(net)
    found += _gateways(net)
    found += _marks(net)
    found += _placeholder_lines(net)
    return found


def _duplicate_addresses(net: HostNetwork) -> list[Report]:
    seen: dict[object, str] = {}
    found = []
    for iface in net.interfaces.values():
        for addr in iface.addresses:
            ip = ipaddress.ip_interface(addr.cidr).ip
            if ip in seen and seen[ip] != iface.name:
                found.append(problem(*addr.where, f"{ip} is also the address of {seen[ip]} — two interfaces "
                                                  "with one address: the second fails to come up"))
            seen.setdefault(ip, iface.name)
    return found


def exists(net: HostNetwork, name: str) -> bool:
    """Whether interface ``name`` exists on the real host at boot: it has a
    stanza, or is a NIC the kernel names, or a VLAN of one that exists."""
    iface = net.interfaces.get(name)
    if iface is not None and iface.declared:
        return True
    base, dot, suffix = name.rpartition(".")
    if dot and suffix.isdigit():
        return exists(net, base)
    return is_physical(name)


def _missing_ports(net: HostNetwork) -> list[Report]:
    found = []
    for iface in net.interfaces.values():
        for port, where in iface.ports:
            if not exists(net, port):
                found.append(problem(*where, f"bridge {iface.name}'s port {port} exists nowhere — no stanza "
                                             "declares it and it is no NIC name: the bridge comes up without it"))
        for member, where in iface.members:
            if not exists(net, member):
                found.append(problem(*where, f"bond {iface.name}'s member {member} exists nowhere — no stanza "
                                             "declares it and it is no NIC name"))
    return found


def _gateways(net: HostNetwork) -> list[Report]:
    found = []
    networks = [ipaddress.ip_interface(a.cidr).network for i in net.interfaces.values() for a in i.addresses]
    for iface in net.interfaces.values():
        for gateway in iface.gateways:
            ip = ipaddress.ip_address(gateway.cidr)
            own = [ipaddress.ip_interface(a.cidr).network for a in iface.addresses]
            if any(ip in n for n in own):
                continue
            if iface.stanzas and any(o.key == "pointopoint" and o.value.split()[0] == gateway.cidr
                                     for s in iface.stanzas for o in s.options):
                continue  # a point-to-point peer is reachable without a shared subnet
            if any(ip in n for n in networks):
                found.append(problem(*gateway.where, f"gateway {ip} is outside the subnets of {iface.name} "
                                                     "— it is on another interface: move the gateway line there"))
            else:
                shown = ", ".join(str(n) for n in own) or "no address"
                found.append(problem(*gateway.where, f"gateway {ip} is outside every subnet of the host "
                                                     f"({iface.name} has {shown}) — the default route fails "
                                                     "at boot"))
    return found


def _marks(net: HostNetwork) -> list[Report]:
    parsed = net.parsed
    if parsed is None:
        return []
    names = {s.name for s in parsed.stanzas} | {s.name.split(":", 1)[0] for s in parsed.stanzas}
    found = []
    for mark in parsed.marks:
        if mark.name in names:
            continue
        found.append(problem(mark.file, mark.line, f"`{mark.what} {mark.name}` has no `iface {mark.name}` "
                                                   f"stanza — ifup fails on {mark.name} at boot"))
    return found


def _placeholder_lines(net: HostNetwork) -> list[Report]:
    parsed = net.parsed
    found = []
    for file, line, text in parsed.lines if parsed else ():
        keyword = text.split()[0]
        if keyword in ("iface", "auto", "source", "source-directory", "mapping") or keyword.startswith("allow-"):
            match = PLACEHOLDER.search(text)
            if match:
                found.append(problem(file, line, f"`{text}` holds a placeholder ({match.group(0)}) "
                                                 "that was never filled in"))
    return found
