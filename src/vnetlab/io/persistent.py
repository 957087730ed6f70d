"""A node's own ``/etc/network/interfaces``: what vnetlab writes there, what ``reboot`` applies of it.

:func:`interfaces_text` is the file a node gets the first time it is entered
(``exec``, ``shell``, ``reboot``, ``NodeHandle.run``): its part of the lab file in ifupdown syntax (:mod:`vnetlab.io.export`) under a header that
says what a reboot applies. :func:`read_node_file` reads the file back the
way ifupdown would at boot (:mod:`vnetlab.io.interfaces`,
:mod:`vnetlab.io.hostnet`) and returns what it adds to the lab file as
:class:`~vnetlab.compile.persistent.NodeExtras`, plus what it says about the
file's lines:

- **problems** — what makes ifupdown refuse the file or fail at boot: a
  syntax error (an option outside any stanza, an unknown method, a line cut
  off), a value that is not one (an address, an MTU), a stanza for an
  interface the node does not have, a gateway outside the interface's
  subnets, a second route to a destination. A file with a problem is not
  applied at all: the node comes up with its part of the lab file only;
- **skipped** — lines understood but not applied, each with why (vnetlab
  applies ``address``/``netmask``, ``gateway``, ``mtu``, ``inet dhcp`` (a
  DHCP client, where the segment has a server), forwarding sysctls and
  ``up``/``post-up ip route add …`` hooks, which are recognised, never run;
  an interface without ``auto``/``allow-hotplug`` is not brought up at
  boot);
- what repeats the lab file (the lines vnetlab wrote) is neither.

Nothing here touches the kernel.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from dataclasses import dataclass, field
from typing import Collection, Optional

from vnetlab.compile.persistent import Extra, NodeExtras, node_interfaces, route_family
from vnetlab.io import hooks
from vnetlab.io.export import ExportError, export_node
from vnetlab.io.hostnet import HostNetwork, host_network
from vnetlab.io.interfaces import (
    IN_MAPPING, MISPLACED, UNKNOWN_METHOD, InterfacesFile, Option, read_interfaces, read_interfaces_text,
)
from vnetlab.io.report import NOT_IMPORTED, PROBLEM, Report, SourceFileError, in_order, note, problem
from vnetlab.model.schema import LabSpec, parse_interface_address

SHOWN = "/etc/network/interfaces"  # the file as the node sees it, in every report
FORWARDING_SYSCTLS = ("net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding", "net.ipv6.conf.all.forwarding")
APPLIED = ("address", "netmask", "gateway", "mtu")  # options read through io/hostnet
DERIVED = ("broadcast", "network")                   # follow from the address
STATIC_METHODS = (None, "static", "manual")
WHAT_APPLIES = ("vnetlab applies address, netmask, gateway, mtu, inet dhcp, forwarding sysctls and "
                "`up ip route add …` lines of a node's file; the rest of the node comes from the lab file")

HEADER = """\
# /etc/network/interfaces of node {node} (lab {lab}): its persistent network configuration.
# vnetlab wrote it from the node's part of the lab file. What you change with ip, sysctl
# or nft is runtime state, gone at `vnetlab reboot {lab} {node}`; what this file adds to the lab
# file is applied at that reboot: address (and netmask), gateway, mtu, inet dhcp, forwarding
# sysctls and `post-up ip route add PREFIX via GW [dev DEV]` lines (recognised, never run as commands).
"""


def interfaces_text(spec: LabSpec, node: str) -> str:
    """The ``/etc/network/interfaces`` that ``node`` gets: its part of
    the lab file (or, where it cannot be written that way, a commented stub)."""
    header = HEADER.format(node=node, lab=spec.lab)
    try:
        body = export_node(spec, node, "interfaces")
    except ExportError as exc:
        return (f"{header}\n# (its part of the lab file cannot be written in this syntax: {exc})\n\n"
                "auto lo\niface lo inet loopback\n")
    first, _, rest = body.partition("\n")
    return header + (rest if first.startswith("# /etc/network/interfaces") else body)


@dataclass
class BootConfig:
    """What a node's file says at boot: the extras it adds, and its reports."""

    extras: NodeExtras = field(default_factory=NodeExtras)
    problems: list[Report] = field(default_factory=list)   # any: nothing of the file is applied
    skipped: list[Report] = field(default_factory=list)    # understood, not applied (with why)
    notes: list[Report] = field(default_factory=list)

    @property
    def applied(self) -> NodeExtras:
        """The extras that take effect: none when the file has a problem."""
        return NodeExtras() if self.problems else self.extras


def read_node_file(path: str, spec: LabSpec, node: str, interfaces: Optional[Collection[str]] = None,
                   etc: Optional[str] = None) -> BootConfig:
    """Reads node ``node``'s interfaces file as ifupdown would at boot.

    Args:
        path: the file on this machine (``/etc/netns/NS/network/interfaces``).
        spec: the running lab (the node's part of it is what the file adds to).
        node: the node.
        interfaces: the interfaces the node has once booted (default:
            :func:`node_interfaces`).
        etc: the node's own ``/etc`` (default: two levels above ``path``);
            ``source /etc/…`` lines are read inside it.

    Returns:
        The extras and reports; see the module docstring.
    """
    config = BootConfig()
    if not os.path.lexists(path):
        config.notes.append(note(SHOWN, 0, f"there is no {SHOWN}: node {node} boots with its part of the lab file only"))
        return config
    try:
        parsed = read_interfaces(path, shown=SHOWN, etc=etc or os.path.dirname(os.path.dirname(path)))
    except SourceFileError as exc:
        config.problems += exc.reports
        return config
    _Boot(spec, node, set(interfaces if interfaces is not None else node_interfaces(spec, node)), parsed, config).run()
    config.problems, config.skipped = in_order(config.problems), in_order(config.skipped)
    return config


def skipped(file: str, line: int, what: str, why: str) -> Report:
    """``FILE:LINE: not applied: `WHAT` — WHY``."""
    return Report(file, line, f"not applied: `{what.strip()}` — {why}", NOT_IMPORTED)


@dataclass
class _Baseline:
    """The node's part of the lab file, as the lines vnetlab writes for it."""

    options: set[tuple[str, str, str]]  # (interface, key, value)
    facts: set


def _baseline(spec: LabSpec, node: str) -> _Baseline:
    try:
        text = export_node(spec, node, "interfaces")
    except ExportError:
        return _Baseline(set(), set())
    parsed = read_interfaces_text(text, "<lab file>")
    options = {(s.name.split(":")[0], o.key, o.value) for s in parsed.stanzas for o in s.options}
    facts = {hooks.parse_hook(o.value) for s in parsed.stanzas for o in s.options if o.key in hooks.UP_HOOKS}
    return _Baseline(options, facts)


class _Boot:
    """One pass over the parsed file, filling a BootConfig."""

    def __init__(self, spec: LabSpec, node: str, interfaces: set[str], parsed: InterfacesFile, config: BootConfig):
        self.spec, self.node, self.interfaces, self.parsed, self.config = spec, node, interfaces, parsed, config
        self.entry = spec.nodes[node]
        self.base = _baseline(spec, node)
        self.brought_up = {mark.name.split(":")[0] for mark in parsed.marks
                           if mark.what == "auto" or mark.what.startswith("allow-")}
        self.routes: list[tuple[str, Optional[str], Optional[str], str, str]] = []  # to, via, dev, where, text

    def problem(self, file: str, line: int, text: str) -> None:
        self.config.problems.append(problem(file, line, text))

    def skip(self, file: str, line: int, what: str, why: str) -> None:
        self.config.skipped.append(skipped(file, line, what, why))

    def add(self, item: Extra) -> None:
        self.config.extras.items.append(item)

    def run(self) -> None:
        self._reader_reports()
        net = host_network(self.parsed)
        for report in net.reports[len(self.parsed.reports):]:
            if report.kind == PROBLEM:
                self.config.problems.append(report)
        for stanza in self.parsed.stanzas:
            self._stanza(stanza)
        self._values(net)
        for to, via, dev, where, text in self.routes:
            self._route(to, via, dev, where, text)
        self._ipv6_switched_on()

    # -- the syntax ----------------------------------------------------
    def _reader_reports(self) -> None:
        for report in self.parsed.reports:
            if report.kind == PROBLEM:
                self.config.problems.append(report)
            elif report.kind != NOT_IMPORTED:
                continue
            elif MISPLACED in report.text:
                self.problem(report.file, report.line, f"{report.text.partition(' — ')[0].removeprefix('not imported: ')}"
                                                       " is outside any `iface` stanza — ifupdown refuses the whole file "
                                                       "(misplaced option)")
            elif UNKNOWN_METHOD in report.text:
                self.problem(report.file, report.line, f"{report.text.partition(' — ')[0].removeprefix('not imported: ')}"
                                                       " is not an address family (inet, inet6) or method (static, "
                                                       "manual, dhcp, loopback) — ifupdown refuses the whole file")
            elif report.text.startswith("not imported: `mapping") or IN_MAPPING in report.text:
                self.config.skipped.append(Report(report.file, report.line,
                                                  report.text.replace("not imported:", "not applied:", 1), NOT_IMPORTED))

    # -- stanzas and their options ---------------------------------------
    def _stanza(self, stanza) -> None:
        name = stanza.name.split(":")[0]
        if name == "lo" or stanza.method == "loopback":
            return  # the loopback is every node's, up from the start
        if name not in self.interfaces:
            has = ", ".join(sorted(i for i in self.interfaces if i != "lo")) or "none"
            self.problem(stanza.file, stanza.line, f"node {self.node} has no interface {name} (it has: {has}) — "
                                                   f"ifup fails on it (Cannot find device \"{name}\")")
            return
        if name not in self.brought_up:
            self.skip(stanza.file, stanza.line, f"iface {stanza.name}", f"no `auto {name}` (or `allow-hotplug {name}`) "
                                                                        "line: ifupdown does not bring it up at boot")
            return
        if stanza.family == "inet" and stanza.method == "dhcp" and not self._dynamic_of_lab_file(name, stanza):
            self._dhcp_client(name, stanza)
        elif stanza.method not in STATIC_METHODS and not self._dynamic_of_lab_file(name, stanza):
            self.skip(stanza.file, stanza.line, f"iface {stanza.name} {stanza.family or ''} {stanza.method}",
                      "vnetlab gives a node static addresses and DHCP clients (inet dhcp) only")
        for option in stanza.options:
            self._option(name, option)

    def _dhcp_client(self, name: str, stanza) -> None:
        """``iface IF inet dhcp`` where the lab file gives IF no DHCP client: one is started at boot,
        if IF's segment has a DHCP server (else it would wait in vain, and the boot with it)."""
        from vnetlab.model.validate import servers_of

        if "dhcp" not in servers_of(self.spec).get((self.node, name), {}):
            self.skip(stanza.file, stanza.line, f"iface {stanza.name} inet dhcp",
                      f"no DHCP server serves {name}'s segment (an interface with dhcp: in the lab file) — "
                      "its DHCP client would wait in vain")
            return
        if any(item.what == "dhcp" and item.ifname == name for item in self.config.extras.items):
            return  # a second stanza of the same interface
        self.add(Extra("dhcp", ifname=name, where=f"{stanza.file}:{stanza.line}"))

    def _dynamic_of_lab_file(self, name: str, stanza) -> bool:
        """``inet dhcp`` / ``inet6 auto`` on an interface whose lab-file part says dhcp / slaac:
        the lab file's own (up wrote it so), not something the file adds."""
        declared = self.spec.nodes[self.node].interfaces.get(name)
        return declared is not None and (
            (stanza.family == "inet" and stanza.method == "dhcp" and declared.uses_dhcp)
            or (stanza.family == "inet6" and stanza.method == "auto" and declared.uses_slaac))

    def _option(self, name: str, option: Option) -> None:
        if option.key in APPLIED or option.key in DERIVED or option.key in hooks.DOWN_HOOKS:
            return  # read below; down hooks run at shutdown, which a reboot replaces by throwing runtime state away
        if option.key in hooks.UP_HOOKS:
            self._hook(name, option)
        elif (name, option.key, option.value) not in self.base.options:
            meant = difflib.get_close_matches(option.key, (*APPLIED, *hooks.UP_HOOKS), n=1, cutoff=0.75)
            self.skip(option.file, option.line, option.text,
                      f"`{option.key}` is not `{meant[0]}` (a typo?)" if meant else WHAT_APPLIES)

    def _hook(self, name: str, option: Option) -> None:
        fact = hooks.parse_hook(option.value)
        where = f"{option.file}:{option.line}"
        if isinstance(fact, hooks.Unknown):
            if fact.cut_off:
                self.problem(option.file, option.line, f"`{option.text}`: {fact.why}")
            else:
                self.skip(option.file, option.line, option.text, f"{fact.why}; vnetlab never runs hook commands")
        elif isinstance(fact, hooks.Undo) or fact in self.base.facts:
            return
        elif isinstance(fact, hooks.RouteAdd):
            self.routes.append((fact.to, fact.via, fact.dev, where, option.text))
        elif isinstance(fact, hooks.Sysctl) and fact.key in FORWARDING_SYSCTLS and fact.value in ("0", "1"):
            current = "1" if self.entry.forwards else "0"
            if fact.value != current:
                self.add(Extra("sysctl", key=fact.key, value=fact.value, where=where))
        else:
            self.skip(option.file, option.line, option.text, WHAT_APPLIES)

    # -- addresses, MTUs, gateways -------------------------------------------
    def _values(self, net: HostNetwork) -> None:
        for iface in net.interfaces.values():
            name = iface.name
            if not iface.declared or iface.kind == "loopback" or name not in self.interfaces \
                    or name not in self.brought_up:
                continue
            declared = self.entry.interfaces.get(name)
            known = {_norm(a) for a in declared.all_addresses()} if declared else set()
            for addr in iface.addresses:
                cidr = _norm(addr.cidr)
                if cidr in known:
                    continue
                try:
                    parse_interface_address(cidr)
                except ValueError as err:
                    self.problem(*addr.where, f"address {addr.cidr}: {err}")
                    continue
                known.add(cidr)
                self.add(Extra("address", ifname=name, value=cidr, where=_where(addr.where)))
            if iface.mtu is not None and iface.mtu[0] != (declared.mtu if declared else None):
                self.add(Extra("mtu", ifname=name, value=str(iface.mtu[0]), where=_where(iface.mtu[1])))
            for gateway in iface.gateways:
                self.routes.append(("default", gateway.cidr, None, _where(gateway.where), f"gateway {gateway.cidr}"))

    def _addresses(self, ifname: Optional[str] = None) -> list:
        """The node's addresses once booted (lab file and file), on ``ifname`` or anywhere."""
        found = [ipaddress.ip_interface(a) for name, iface in self.entry.interfaces.items()
                 if ifname in (None, name) for a in iface.all_addresses()]
        found += [ipaddress.ip_interface(i.value) for i in self.config.extras.items
                  if i.what == "address" and ifname in (None, i.ifname)]
        return found

    def _route(self, to: str, via: Optional[str], dev: Optional[str], where: str, text: str) -> None:
        file, _, line = where.rpartition(":")
        if dev is not None and dev not in self.interfaces:
            self.problem(file, int(line), f"`{text}`: node {self.node} has no interface {dev}")
            return
        if via is not None:
            gateway = ipaddress.ip_address(via)
            if not any(gateway in a.network and gateway != a.ip for a in self._addresses(dev)):
                self.problem(file, int(line), f"`{text}`: gateway {via} is in none of the subnets of "
                                              f"{dev or 'node ' + self.node} — the kernel refuses it "
                                              "(Nexthop has invalid gateway)")
                return
        family = route_family(to, via)
        key = _route_key(to, family)
        existing = [(r.to, r.via) for r in self.entry.routes]
        existing += [(i.value, i.via) for i in self.config.extras.items if i.what == "route"]
        for other_to, other_via in existing:
            if _route_key(other_to, route_family(other_to, other_via)) != key:
                continue
            if other_via == via:
                return  # the same route: nothing to add
            self.problem(file, int(line), f"`{text}`: node {self.node} already has a route to {to} via "
                                          f"{other_via or '(on-link)'} — the kernel refuses a second one (File exists)")
            return
        self.add(Extra("route", ifname=dev, value=to, via=via, where=where))

    def _ipv6_switched_on(self) -> None:
        """A node whose lab-file part has no IPv6 runs with IPv6 off; the file's
        IPv6 addresses and routes need it on, as on any host."""
        from vnetlab.compile.nodes import node_has_ipv6

        six = [i for i in self.config.extras.items
               if (i.what == "address" and ":" in i.value) or (i.what == "route" and route_family(i.value, i.via) == 6)]
        if six and not node_has_ipv6(self.entry):
            for scope in ("all", "default"):
                self.add(Extra("sysctl", key=f"net.ipv6.conf.{scope}.disable_ipv6", value="0", where=six[0].where))


def _norm(cidr: str) -> str:
    return str(ipaddress.ip_interface(cidr))


def _where(where: tuple[str, int]) -> str:
    return f"{where[0]}:{where[1]}"


def _route_key(to: str, family: int) -> tuple[int, str]:
    if to == "default":
        return family, "default"
    network = ipaddress.ip_network(to, strict=False)
    return family, "default" if network.prefixlen == 0 else str(network)
