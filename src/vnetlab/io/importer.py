"""A real host's network files → a lab file vnetlab can build and check (pure).

:func:`import_interfaces` reads one ``interfaces`` file; :func:`import_proxmox`
reads a copy of a Proxmox host's root (``etc/network/interfaces`` with what
it sources, the guest configs and the firewall files, through
:mod:`vnetlab.io.pve_guests` and :mod:`vnetlab.io.pve_firewall` when they
are installed). The host becomes one node; :mod:`vnetlab.io.world`
generates what surrounds it (upstream switch, gateway routers, an admin
host) and the checks. Each object of the lab file carries a ``# file:line``
comment; each input line that could not be expressed is a report. The
result is validated like any lab file; a lab that does not validate fails
with the source line responsible.

Guests, as ``pve_guests.read_guests(root)`` returns them, are read by
attribute: ``vmid``, ``kind`` ("vm" | "ct"), ``name`` (a node name),
``given_name``, ``nics`` — each nic with ``index``, ``host_ifname``,
``guest_ifname``, ``bridge``, ``tag``, ``trunks``, ``mac``, ``address`` (CIDR
or None), ``gateway``, ``link_down``, ``file``, ``line``. The firewall reader
returns ``{key: firewall-dict}``: a string key for the host (cluster.fw and
host.fw), the vmid for a guest's file; the dict in the lab file's
``firewall:`` schema.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from vnetlab.io import hooks
from vnetlab.io.hostnet import HostNetwork, NetIface, host_network
from vnetlab.io.interfaces import read_interfaces
from vnetlab.io.labwriter import render
from vnetlab.io.lint import lint
from vnetlab.io.report import NOT_IMPORTED, PROBLEM, Report, SourceFileError, in_order, not_imported, note
from vnetlab.names import LAB_NAME, NODE_NAME

HOST_NODE = "pve"
FORWARDING_SYSCTLS = ("net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding", "net.ipv6.conf.all.forwarding")


@dataclass
class Imported:
    """The lab file made from a host's files, and what was said about them."""

    text: str                      # the lab file (YAML)
    lab: dict                      # the same as data
    reports: list[Report]          # every report, in file order (not imported, problems, notes)

    @property
    def not_imported(self) -> list[Report]:
        """Input lines vnetlab could not express."""
        return [r for r in self.reports if r.kind == NOT_IMPORTED]

    @property
    def problems(self) -> list[Report]:
        """What would break the real host at boot (the ``--check`` findings)."""
        return [r for r in self.reports if r.kind == PROBLEM]


def import_interfaces(path: str, name: Optional[str] = None) -> Imported:
    """Imports one interfaces file (see the module docstring).

    Raises:
        SourceFileError: the file cannot be read, or its lab does not validate.
    """
    parsed = read_interfaces(path)
    return _build(parsed, lab_name(name, path), path, guests=[], firewall={}, extra=[])


def import_proxmox(root: str, name: Optional[str] = None) -> Imported:
    """Imports a copy of a Proxmox host's root directory.

    Raises:
        SourceFileError: ROOT has no etc/network/interfaces, a file cannot
            be read, or the lab does not validate.
    """
    main = os.path.join(root, "etc", "network", "interfaces")
    if not os.path.isdir(root):
        raise SourceFileError([Report(root, 0, "is not a directory — give a copy of the host's / "
                                               "(with etc/network/interfaces in it)", PROBLEM)])
    parsed = read_interfaces(main, root=root, shown="etc/network/interfaces")
    guests, guest_reports = _guests(root)
    firewall, firewall_reports = _firewall(root, guests)
    hostname = _hostname(root)
    return _build(parsed, lab_name(name, os.path.abspath(root)), "etc/network/interfaces", guests=guests,
                  firewall=firewall, extra=guest_reports + firewall_reports, hostname=hostname)


def _guests(root: str) -> tuple[list, list[Report]]:
    try:
        from vnetlab.io import pve_guests  # the guest-config reader (issue 11, may be absent)
    except ImportError:
        return [], []
    return pve_guests.read_guests(root)


def _firewall(root: str, guests: list) -> tuple[dict, list[Report]]:
    try:
        from vnetlab.io import pve_firewall  # the firewall-file reader (issue 11, may be absent)
    except ImportError:
        return {}, []
    return pve_firewall.read_firewall(root, guests=guests)


def _hostname(root: str) -> Optional[str]:
    try:
        with open(os.path.join(root, "etc", "hostname"), encoding="utf-8") as handle:
            return handle.read(256).strip().split(".")[0] or None
    except (OSError, UnicodeDecodeError):
        return None


def lab_name(given: Optional[str], path: str) -> str:
    """``--name`` if given (checked later, like any lab name), else one made
    from the file or directory name within the lab-name pattern."""
    if given:
        return given
    base = os.path.basename(os.path.normpath(path))
    if base == "interfaces":  # …/etc/network/interfaces: the host's directory says more
        parts = os.path.normpath(path).split(os.sep)
        base = parts[-4] if len(parts) >= 4 and parts[-3:-1] == ["etc", "network"] else "host"
    made = re.sub(r"[^a-z0-9]", "", base.lower())
    made = re.sub(r"^[0-9]+", "", made)[:10]
    return made if LAB_NAME.fullmatch(made or "") else "imported"


def node_name_for(text: str, fallback: str) -> str:
    """``text`` as a node name (lowercase letters, digits, '-', at most 15)."""
    made = re.sub(r"[^a-z0-9-]", "-", text.lower()).strip("-")
    made = re.sub(r"^[0-9-]+", "", made)[:15].rstrip("-")
    return made if NODE_NAME.fullmatch(made or "") else fallback


# ----------------------------------------------------------------- the build
@dataclass
class Build:
    """The lab file under construction: data, comments and reports."""

    net: HostNetwork
    host: str
    lab: dict[str, Any] = field(default_factory=dict)
    notes: dict[tuple, str] = field(default_factory=dict)
    reports: list[Report] = field(default_factory=list)
    guests: list = field(default_factory=list)
    # L2 facts the world needs: guest ports per bridge with their VLAN
    guest_ports: list[dict] = field(default_factory=list)
    guest_nodes: dict = field(default_factory=dict)  # node -> vmid

    @property
    def node(self) -> dict:
        """The host node's dict."""
        return self.lab["nodes"][self.host]

    @property
    def interfaces(self) -> dict:
        """The host node's interfaces."""
        return self.node["interfaces"]

    def where(self, path: tuple, where: tuple[str, int], extra: str = "") -> None:
        """Records the source of the object at ``path``."""
        self.notes[path] = f"{where[0]}:{where[1]}" + (f" {extra}" if extra else "")

    def skip(self, where: tuple[str, int], what: str, why: str) -> None:
        """Reports an input line that is not imported."""
        self.reports.append(not_imported(where[0], where[1], what, why))


def _build(parsed, name: str, shown_main: str, guests: list, firewall: dict, extra: list[Report],
           hostname: Optional[str] = None) -> Imported:
    from vnetlab.io import world  # the generated surroundings

    net = host_network(parsed)
    host = node_name_for(hostname, HOST_NODE) if hostname else HOST_NODE
    if world.is_generated_name(host):
        host = HOST_NODE
    build = Build(net=net, host=host, guests=guests)
    build.reports += net.reports + lint(net) + extra
    build.lab = {"lab": name, "description": f"imported from {shown_main} by vnetlab import", "nodes": {}}
    build.lab["nodes"][host] = {"description": "the imported host", "interfaces": {}}
    if hostname and host != hostname:
        build.reports.append(note("etc/hostname", 1, f"host {hostname!r} is node {host} "
                                                     "(node names are 1–15 lowercase letters, digits and '-')"))
    build.where(("nodes", host), (shown_main, 1), "(the host" + (f" {hostname}" if hostname else "") + ")")
    _interfaces(build)
    _routes(build)
    _hook_facts(build)
    world.place_guests(build)
    _firewall_rules(build, firewall)
    world.surround(build)
    _tidy(build)
    header = [f"Imported by `vnetlab import` from {shown_main}"
              + (f" and {len(parsed.files) - 1} sourced file(s)" if len(parsed.files) > 1 else "") + ".",
              f"Node {host} is the host; the nodes marked 'generated' are the world around it, made up so",
              "that the lab can be checked. Each object's comment names the line it came from."]
    text = render(build.lab, build.notes, header)
    _validate(text, build)
    return Imported(text=text, lab=build.lab, reports=in_order(build.reports))


def _validate(text: str, build: Build) -> None:
    """The lab must load like any lab file; if not, say which source line made the bad object."""
    from vnetlab.model import LabFileError, load_lab_text

    try:
        load_lab_text(text, "<imported>")
    except LabFileError as exc:
        lines = text.splitlines()
        failures = []
        for problem_ in exc.problems:
            line = lines[problem_.line - 1] if 0 < problem_.line <= len(lines) else ""
            source = re.search(r"# (\S+):(\d+)", line)
            file, number = (source.group(1), int(source.group(2))) if source else ("<generated>", problem_.line)
            failures.append(Report(file, number, f"cannot be imported: {problem_.path}: {problem_.message}",
                                   PROBLEM))
        raise SourceFileError(failures) from None


# ----------------------------------------------------------------- the host's interfaces
def _interfaces(build: Build) -> None:
    net = build.net
    for iface in net.interfaces.values():
        entry = _interface(build, iface)
        if entry is None:
            continue
        build.interfaces[iface.name] = entry
        build.where(("nodes", build.host, "interfaces", iface.name), iface.where,
                    "" if iface.declared else "(named as a port only)")


def _interface(build: Build, iface: NetIface) -> Optional[dict]:
    net = build.net
    if iface.kind == "loopback":
        for addr in iface.addresses:
            if not ipaddress.ip_interface(addr.cidr).ip.is_loopback:
                build.skip(addr.where, f"address {addr.cidr}", "vnetlab sets no addresses on lo")
        return None
    entry: dict[str, Any] = {}
    if iface.kind == "bridge" or iface.kind == "ovs-bridge":
        entry["type"] = "bridge"
        if iface.kind == "ovs-bridge":
            entry["backend"] = "ovs"
        ports = [p for p, _ in iface.ports if net.interfaces.get(p) is None or net.interfaces[p].kind != "ovs-intport"]
        ports += [i.name for i in net.interfaces.values()
                  if i.ovs_bridge == iface.name and i.kind != "ovs-intport" and i.name not in ports]
        entry["ports"] = list(dict.fromkeys(ports))
        if iface.vlan_aware or iface.kind == "ovs-bridge" and _has_tagged_ports(net, iface.name):
            entry["vlan_aware"] = True
    elif iface.kind == "bond":
        entry["type"] = "bond"
        entry["members"] = [m for m, _ in iface.members]
        entry["mode"] = iface.bond_mode[0] if iface.bond_mode else "balance-rr"
        if iface.bond_mode is None:
            build.reports.append(note(*iface.where, f"bond {iface.name} has no bond-mode: balance-rr, "
                                                    "the kernel's default"))
    elif iface.kind == "vlan":
        entry["type"] = "vlan"
        parent, vid = iface.vlan_parent, iface.vlan_id
        if parent is None or vid is None:
            build.skip(iface.where, f"iface {iface.name}", "a VLAN interface needs vlan-raw-device and an id "
                                                           "(vlan-id, or a name like eno1.5)")
            return None
        if not (iface.name == f"{parent}.{vid}"):
            entry["parent"], entry["id"] = parent, vid
    elif iface.kind == "ovs-intport":
        bridge = iface.ovs_bridge
        if bridge is None or iface.ovs_tag is None:
            build.skip(iface.where, f"iface {iface.name} (OVSIntPort)",
                       "an OVS internal port is imported as a VLAN interface of its bridge, which needs "
                       "ovs_bridge and ovs_options tag=N")
            return None
        entry.update(type="vlan", parent=bridge, id=iface.ovs_tag)
    # A NIC (or a port named only in a list) is a link end: no type.
    addresses = [a.cidr for a in iface.addresses]
    if addresses and iface.kind != "ovs-intport" and build.net.bridge_of(iface.name) is not None:
        for addr in iface.addresses:
            build.skip(addr.where, f"address {addr.cidr}", f"{iface.name} is a port of bridge "
                                                           f"{build.net.bridge_of(iface.name)}: its address "
                                                           "belongs on the bridge")
        addresses = []
    addresses = _unique_addresses(build, iface, addresses)
    if len(addresses) == 1:
        entry["address"] = addresses[0]
    elif addresses:
        entry["addresses"] = addresses
    _mtu_mac(build, iface, entry)
    if iface.kind == "ovs-port" and (iface.ovs_tag is not None or iface.ovs_trunks):
        if iface.ovs_tag is not None:
            entry["vlan"] = iface.ovs_tag
        if iface.ovs_trunks:
            entry["trunk"] = iface.ovs_trunks
    if iface.kind == "bond" and (iface.ovs_tag is not None or iface.ovs_trunks):
        if iface.ovs_tag is not None:
            entry["vlan"] = iface.ovs_tag
        if iface.ovs_trunks:
            entry["trunk"] = iface.ovs_trunks
    return entry


def _has_tagged_ports(net: HostNetwork, bridge: str) -> bool:
    return any((i.ovs_bridge == bridge or net.bridge_of(i.name) == bridge) and (i.ovs_tag or i.ovs_trunks)
               for i in net.interfaces.values())


def _unique_addresses(build: Build, iface: NetIface, addresses: list[str]) -> list[str]:
    """Drops a second use of an address (the linter names it) and addresses vnetlab refuses."""
    from vnetlab.model.schema import parse_interface_address

    used = {ipaddress.ip_interface(a).ip for e in build.interfaces.values()
            for a in ([e["address"]] if "address" in e else e.get("addresses", []))}
    kept = []
    for addr in iface.addresses:
        if addr.cidr not in addresses:
            continue
        ip = ipaddress.ip_interface(addr.cidr).ip
        try:
            parse_interface_address(addr.cidr)
        except ValueError as err:
            build.skip(addr.where, f"address {addr.cidr}", str(err))
            continue
        if ip in used or addr.cidr in kept:
            build.skip(addr.where, f"address {addr.cidr}", "the host already has this address")
            continue
        used.add(ip)
        kept.append(addr.cidr)
    return kept


def _mtu_mac(build: Build, iface: NetIface, entry: dict) -> None:
    applies = iface.kind in ("nic", "bridge") or (iface.kind == "ovs-port" and not iface.declared)
    for key, value in (("mtu", iface.mtu), ("mac", iface.mac)):
        if value is None:
            continue
        if applies and not (iface.kind == "bridge" and _bridge_needs_ovs(build, iface)):
            entry[key] = value[0]
        else:
            build.skip(value[1], f"{key} {value[0]}", f"vnetlab builds {iface.kind} interfaces without {key}")


def _bridge_needs_ovs(build: Build, iface: NetIface) -> bool:
    net = build.net
    return any(net.interfaces.get(p) is not None and net.interfaces[p].kind == "bond"
               and (net.interfaces[p].bond_mode or ("",))[0] in ("balance-slb", "balance-tcp")
               for p, _ in iface.ports)


# ----------------------------------------------------------------- routes and hooks
def _routes(build: Build) -> None:
    """Each ``gateway`` line becomes a default route (one per IP version)."""
    routes: list[dict] = []
    families: set[int] = set()
    for iface in build.net.interfaces.values():
        for gateway in iface.gateways:
            version = ipaddress.ip_address(gateway.cidr).version
            entry = build.interfaces.get(iface.name)
            connected = [ipaddress.ip_interface(a) for a in _addresses_of(entry)] if entry else []
            if not any(ipaddress.ip_address(gateway.cidr) in c.network and
                       ipaddress.ip_address(gateway.cidr) != c.ip for c in connected):
                build.skip(gateway.where, f"gateway {gateway.cidr}", f"it is not inside a subnet of {iface.name}, "
                                                                     "and vnetlab routes need an on-link gateway")
                continue
            if version in families:
                build.skip(gateway.where, f"gateway {gateway.cidr}", f"the host already has an IPv{version} "
                                                                     "default route")
                continue
            families.add(version)
            build.where(("nodes", build.host, "routes", len(routes)), gateway.where)
            routes.append({"to": "default", "via": gateway.cidr})
    if routes:
        build.node["routes"] = routes


def _addresses_of(entry: Optional[dict]) -> list[str]:
    if not entry:
        return []
    return [entry["address"]] if "address" in entry else list(entry.get("addresses", []))


def host_networks(build: Build) -> list:
    """The subnets of the host's addresses."""
    return [ipaddress.ip_interface(a).network for e in build.interfaces.values() for a in _addresses_of(e)]


def _hook_facts(build: Build) -> None:
    for fact, ifname, where in build.net.facts:
        text = f"{ifname}: {type(fact).__name__}"
        if isinstance(fact, hooks.Sysctl):
            _sysctl(build, fact, where)
        elif isinstance(fact, (hooks.Masquerade, hooks.Snat)):
            _masquerade(build, fact, where)
        elif isinstance(fact, hooks.Dnat):
            _dnat(build, fact, where)
        elif isinstance(fact, hooks.RouteAdd):
            _route_add(build, fact, where)
        elif isinstance(fact, hooks.ConntrackZone):
            build.reports.append(note(*where, f"the conntrack zone {fact.zone} rule Proxmox documents for NAT "
                                              "with the firewall on: vnetlab's NAT needs none"))
        else:  # pragma: no cover — every fact type is handled above
            build.skip(where, text, "not imported")


def _sysctl(build: Build, fact: hooks.Sysctl, where: tuple[str, int]) -> None:
    if fact.key in FORWARDING_SYSCTLS and fact.value == "1":
        build.node["forwarding"] = True
        build.where(("nodes", build.host, "forwarding"), where)
    else:
        build.skip(where, f"{fact.key}={fact.value}", "vnetlab has no setting for this sysctl")


def _masquerade(build: Build, fact, where: tuple[str, int]) -> None:
    out = fact.out
    if out is None or out not in build.interfaces:
        build.skip(where, f"masquerade {fact.source or ''} -o {out or '?'}",
                   "vnetlab masquerades out of one interface of the host (-o IF)" if out is None else
                   f"the host has no interface {out}")
        return
    if isinstance(fact, hooks.Snat) and all(ipaddress.ip_interface(a).ip != ipaddress.ip_address(
            fact.to_source.split(":")[0]) for a in _addresses_of(build.interfaces[out]) if fact.to_source):
        build.skip(where, f"SNAT --to-source {fact.to_source}", f"vnetlab SNATs to {out}'s own address "
                                                                "(masquerade); other addresses are not imported")
        return
    nat = build.node.setdefault("nat", {}).setdefault("masquerade", [])
    entry = {"source": fact.source, "out": out} if fact.source else {"out": out}
    if entry in nat:
        return
    build.where(("nodes", build.host, "nat", "masquerade", len(nat)), where)
    nat.append(entry)


def _dnat(build: Build, fact: hooks.Dnat, where: tuple[str, int]) -> None:
    target = ipaddress.ip_address(fact.to_ip)
    if not any(target in n for n in host_networks(build)):
        build.skip(where, f"DNAT to {fact.to_ip}", "the target is in none of the host's subnets")
        return
    if fact.in_ is not None and fact.in_ not in build.interfaces:
        build.skip(where, f"DNAT -i {fact.in_}", f"the host has no interface {fact.in_}")
        return
    forwards = build.node.setdefault("nat", {}).setdefault("forward", [])
    entry = {"proto": fact.proto, "port": fact.port, "to": f"{fact.to_ip}:{fact.to_port}"}
    if fact.in_:
        entry = {"in": fact.in_, **entry}
    build.where(("nodes", build.host, "nat", "forward", len(forwards)), where)
    forwards.append(entry)
    build.node.setdefault("forwarding", True)


def _route_add(build: Build, fact: hooks.RouteAdd, where: tuple[str, int]) -> None:
    if fact.dev is not None and fact.dev not in build.interfaces:
        build.skip(where, f"route to {fact.to} dev {fact.dev}", f"the host has no interface {fact.dev}")
        return
    if fact.via is not None:
        via = ipaddress.ip_address(fact.via)
        if not any(via in n for n in host_networks(build)):
            build.skip(where, f"route to {fact.to} via {fact.via}", "the gateway is in none of the host's subnets")
            return
    routes = build.node.setdefault("routes", [])
    entry = {"to": fact.to, **({"via": fact.via} if fact.via else {}), **({"dev": fact.dev} if fact.dev else {})}
    if any(r["to"] == fact.to for r in routes):
        build.skip(where, f"route to {fact.to}", "the host already has a route there")
        return
    build.where(("nodes", build.host, "routes", len(routes)), where)
    routes.append(entry)


def _firewall_rules(build: Build, firewall: dict) -> None:
    """The firewall reader's per-node rules, on the host and guest nodes."""
    for key, rules in firewall.items():
        if isinstance(key, str) and not key.isdigit():  # the host's (cluster.fw + host.fw)
            node = build.host
        else:
            node = next((n for n, vmid in build.guest_nodes.items() if str(vmid) == str(key)), None)
        if node is None or node not in build.lab["nodes"]:
            continue
        build.lab["nodes"][node]["firewall"] = rules


def _tidy(build: Build) -> None:
    """Host keys in the schema's usual order; empty sections dropped."""
    node = build.node
    order = ["description", "kind", "forwarding", "interfaces", "routes", "nat", "firewall", "services"]
    build.lab["nodes"][build.host] = {k: node[k] for k in order if k in node and node[k] not in (None, [], {})}
