"""A lab node → the persistent network configuration a real host would use (pure).

:func:`export_node` writes one node of a validated lab as

- ``interfaces``: a Proxmox-style ``/etc/network/interfaces`` (ifupdown2):
  bridges with ``bridge-stp off`` and ``bridge-fd 0``, bonds, VLAN
  devices, VLAN-aware bridges (``bridge-vids``, per-port ``bridge-access``),
  Open vSwitch stanzas (``ovs_type``/``ovs_ports``/``ovs_options``) for
  bridges that are OVS ones, and forwarding, masquerading and port forwards
  as the ``post-up``/``post-down`` lines the Proxmox documentation uses;
- ``nmcli``: the ``nmcli connection add …`` commands that make the same
  persistent NetworkManager profiles;
- ``ip``: the ``ip``/``bridge``/``ovs-vsctl``/``sysctl``/``iptables``
  commands that build it once, by hand.

What belongs to the hypervisor rather than to its configuration is left
out and said in a comment: the TAP and ``veth<vmid>i<N>`` devices Proxmox
makes for guests (they join their bridge when the guest starts; their VLAN
tag lives in the guest's config), and the node's ``firewall:`` (that is
pve-firewall's, not ``/etc/network/interfaces``'s).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass
from typing import Optional

from vnetlab.errors import BadInput
from vnetlab.model.l2names import vlan_device_parts
from vnetlab.model.resolve import resolve_forward_target
from vnetlab.model.schema import Interface, LabSpec, Node

FORMATS = ("interfaces", "nmcli", "ip")
GUEST_DEVICE = re.compile(r"^(tap|veth|fwpr|fwln)\d+[ip]\d+$")  # made by Proxmox when a guest starts
OVS_ONLY_BOND_MODES = ("balance-slb", "balance-tcp")
MIIMON = 100


class ExportError(BadInput, LookupError):
    """The node cannot be exported as asked: no such node or format (exit 2)."""


@dataclass
class _View:
    """The node's interfaces sorted into what the writers need."""

    spec: LabSpec
    name: str
    node: Node

    def entry(self, name: str) -> Interface:
        return self.node.interfaces[name]

    def is_guest_device(self, name: str) -> bool:
        entry = self.node.interfaces.get(name)
        return bool(GUEST_DEVICE.match(name)) or (entry is not None and entry.type == "tap")

    def bridge_of(self, port: str) -> Optional[str]:
        for name, entry in self.node.interfaces.items():
            if entry.type == "bridge" and port in entry.ports:
                return name
        return None

    def bond_of(self, member: str) -> Optional[str]:
        for name, entry in self.node.interfaces.items():
            if entry.type == "bond" and member in entry.members:
                return name
        return None

    def is_ovs(self, bridge: str) -> bool:
        """A bridge that only Open vSwitch can be: asked for, flows, a
        controller, or an OVS-only bond among its ports."""
        entry = self.entry(bridge)
        if entry.backend == "ovs" or entry.flows or entry.controller:
            return True
        return any(self.node.interfaces.get(p) is not None and self.entry(p).type == "bond"
                   and self.entry(p).mode in OVS_ONLY_BOND_MODES for p in entry.ports)

    def vlan_parent_id(self, name: str) -> Optional[tuple[str, int]]:
        entry = self.entry(name)
        if entry.type != "vlan":
            return None
        return vlan_device_parts(name, entry)

    def order(self) -> list[str]:
        """Interfaces in the order they must come up: NICs, bonds, bridges, VLANs."""
        rank = {None: 0, "veth": 0, "bond": 1, "bridge": 2, "vlan": 3}
        names = [n for n in self.node.interfaces if not self.is_guest_device(n)]
        return sorted(names, key=lambda n: rank.get(self.entry(n).type, 0))

    def gateway_of(self, name: str, version: int) -> Optional[str]:
        """The default route's gateway if it lies in one of ``name``'s subnets."""
        for route in self.node.routes:
            if route.to != "default" or route.via is None:
                continue
            via = ipaddress.ip_address(route.via)
            if via.version != version:
                continue
            if route.dev not in (None, name):
                continue
            if any(via in ipaddress.ip_interface(a).network for a in self.entry(name).all_addresses()):
                return route.via
        return None

    def other_routes(self) -> list:
        """Routes that are not a default route carried by an interface's ``gateway``."""
        carried = set()
        for name in self.order():
            for version in (4, 6):
                via = self.gateway_of(name, version)
                if via is not None:
                    carried.add(via)
        return [r for r in self.node.routes if not (r.to == "default" and r.via in carried)]

    def route_dev(self, route) -> Optional[str]:
        if route.dev:
            return route.dev
        if route.via is None:
            return None
        via = ipaddress.ip_address(route.via)
        for name in self.order():
            if any(via in ipaddress.ip_interface(a).network for a in self.entry(name).all_addresses()):
                return name
        return None

    def vlans_of_bridge(self, bridge: str) -> list[int]:
        vids: set[int] = set()
        for port in self.entry(bridge).ports:
            entry = self.node.interfaces.get(port)
            if entry is not None:
                vids.update(entry.trunk or [])
                if entry.vlan:
                    vids.add(entry.vlan)
        for name in self.node.interfaces:
            parent_id = self.vlan_parent_id(name)
            if parent_id and parent_id[0] == bridge:
                vids.add(parent_id[1])
        return sorted(vids)

    def nat_lines(self) -> list[tuple[str, str]]:
        """(up, down) iptables commands for the node's NAT, as Proxmox documents them."""
        lines: list[tuple[str, str]] = []
        nat = self.node.nat
        if nat is None:
            return lines
        for rule in nat.masquerade:
            source = f"-s {shlex.quote(rule.source)} " if rule.source else ""
            body = f"-t nat %s POSTROUTING {source}-o {rule.out} -j MASQUERADE"
            lines.append((f"iptables {body % '-A'}", f"iptables {body % '-D'}"))
        for forward in nat.forward:
            target = resolve_forward_target(self.spec, self.node, forward.to)
            if isinstance(target, str):
                raise ExportError(f"port forward to {forward.to!r}: {target}")
            address, port = target
            shown = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
            tool = "ip6tables" if address.version == 6 else "iptables"
            inside = f"-i {forward.in_} " if forward.in_ else ""
            body = f"-t nat %s PREROUTING {inside}-p {forward.proto} --dport {forward.port} -j DNAT --to {shown}"
            lines.append((f"{tool} {body % '-A'}", f"{tool} {body % '-D'}"))
        return lines

    def nat_home(self) -> Optional[str]:
        """The interface whose stanza carries the forwarding and NAT lines:
        the bridge of the masqueraded subnet (as in the Proxmox docs), else
        the first interface with an address."""
        nat = self.node.nat
        if nat is not None:
            for rule in nat.masquerade:
                if rule.source:
                    net = ipaddress.ip_network(rule.source, strict=False)
                    for name in self.order():
                        if any(ipaddress.ip_interface(a).ip in net for a in self.entry(name).all_addresses()):
                            return name
            for rule in nat.masquerade:
                if rule.out in self.node.interfaces:
                    return rule.out
        return next((n for n in self.order() if self.entry(n).all_addresses()), next(iter(self.order()), None))


def export_node(spec: LabSpec, node_name: str, fmt: str) -> str:
    """The node's network in ``fmt`` (``interfaces``, ``nmcli`` or ``ip``).

    Raises:
        ExportError: the lab has no such node, or ``fmt`` is not a format.
    """
    if node_name not in spec.nodes:
        raise ExportError(f"lab {spec.lab} has no node {node_name!r} (nodes: {', '.join(spec.nodes)})")
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} — use one of: {', '.join(FORMATS)}")
    view = _View(spec, node_name, spec.nodes[node_name])
    writer = {"interfaces": _interfaces, "nmcli": _nmcli, "ip": _ip}[fmt]
    return "\n".join(writer(view)).rstrip() + "\n"


def _left_out(view: _View, comment: str) -> list[str]:
    lines = []
    guests = [n for n in view.node.interfaces if view.is_guest_device(n)]
    if guests:
        lines.append(f"{comment} left out: {', '.join(guests)} — guest devices Proxmox makes when a guest "
                     "starts (their bridge and VLAN tag are in the guest's config)")
    if view.node.firewall is not None:
        lines.append(f"{comment} left out: the node's firewall — pve-firewall's host.fw / <vmid>.fw, "
                     "not network configuration")
    return lines


# ----------------------------------------------------------------- /etc/network/interfaces
def _interfaces(view: _View) -> list[str]:
    out = [f"# /etc/network/interfaces of node {view.name} (lab {view.spec.lab}), written by vnetlab export",
           *_left_out(view, "#"), "", "auto lo", "iface lo inet loopback", ""]
    home = view.nat_home()
    for name in view.order():
        entry = view.entry(name)
        addresses = entry.all_addresses()
        v4 = [a for a in addresses if ipaddress.ip_interface(a).version == 4]
        v6 = [a for a in addresses if ipaddress.ip_interface(a).version == 6]
        body = _stanza_body(view, name, entry)
        extra = _hook_lines(view, name) if name == home else []
        out.append(f"auto {name}")
        # dhcp and slaac (issue 13) are ifupdown's methods dhcp and inet6 auto; beside static
        # addresses they are a stanza of their own (ifupdown takes several per interface)
        families = [("inet", "static" if v4 else "dhcp" if entry.uses_dhcp else "manual", v4)]
        if v4 and entry.uses_dhcp:
            families.append(("inet", "dhcp", []))
        if v6:
            families.append(("inet6", "static", v6))
        if entry.uses_slaac:
            families.append(("inet6", "auto", []))
        for position, (family, method, addrs) in enumerate(families):
            out.append(f"iface {name} {family} {method}")
            for address in addrs:
                out.append(f"\taddress {address}")
            gateway = view.gateway_of(name, 4 if family == "inet" else 6) if method == "static" else None
            if gateway:
                out.append(f"\tgateway {gateway}")
            if position == 0:
                out.extend(f"\t{line}" for line in body + extra)
            out.append("")
    return out


def _stanza_body(view: _View, name: str, entry: Interface) -> list[str]:
    lines: list[str] = []
    bridge = view.bridge_of(name)
    if entry.mtu:
        lines.append(f"mtu {entry.mtu}")
    if entry.mac:
        lines.append(f"hwaddress ether {entry.mac}")
    if entry.type == "bridge":
        ports = [p for p in entry.ports if not view.is_guest_device(p)]
        if view.is_ovs(name):
            lines.append("ovs_type OVSBridge")
            if ports:
                lines.append(f"ovs_ports {' '.join(ports + _ovs_intports(view, name))}")
            elif _ovs_intports(view, name):
                lines.append(f"ovs_ports {' '.join(_ovs_intports(view, name))}")
        else:
            lines.append(f"bridge-ports {' '.join(ports) if ports else 'none'}")
            lines += ["bridge-stp off", "bridge-fd 0"]
            if entry.vlan_aware:
                lines.append("bridge-vlan-aware yes")
                vids = view.vlans_of_bridge(name)
                lines.append(f"bridge-vids {' '.join(str(v) for v in vids) if vids else '2-4094'}")
    elif entry.type == "bond":
        ovs_bridge = bridge if bridge and view.is_ovs(bridge) else None
        if ovs_bridge:
            lines += ["ovs_type OVSBond", f"ovs_bridge {ovs_bridge}", f"ovs_bonds {' '.join(entry.members)}",
                      " ".join(["ovs_options", f"bond_mode={_ovs_bond_mode(entry.mode)}"]
                               + (["lacp=active"] if entry.mode in ("802.3ad", "balance-tcp") else [])
                               + _ovs_port_options(entry).split())]
        else:
            lines += [f"bond-slaves {' '.join(entry.members)}", f"bond-miimon {MIIMON}",
                      f"bond-mode {entry.mode or 'active-backup'}"]
    elif entry.type == "vlan":
        parent, vid = view.vlan_parent_id(name) or (entry.parent, entry.id)
        if view.node.interfaces.get(parent) is not None and view.entry(parent).type == "bridge" \
                and view.is_ovs(parent):
            lines += ["ovs_type OVSIntPort", f"ovs_bridge {parent}", f"ovs_options tag={vid}"]
        elif name != f"{parent}.{vid}":  # vmbr0.20 says it all; vlan20 needs the two lines
            lines += [f"vlan-raw-device {parent}", f"vlan-id {vid}"]
    if bridge and entry.type != "bond" and entry.type != "vlan":
        if view.is_ovs(bridge):
            lines += ["ovs_type OVSPort", f"ovs_bridge {bridge}"]
            options = _ovs_port_options(entry)
            if options:
                lines.append(f"ovs_options {options}")
        elif view.entry(bridge).vlan_aware:
            if entry.vlan and not entry.trunk:
                lines.append(f"bridge-access {entry.vlan}")
            elif entry.trunk:
                lines.append(f"bridge-vids {' '.join(str(v) for v in entry.trunk)}")
                if entry.vlan:
                    lines.append(f"bridge-pvid {entry.vlan}")
    elif bridge and entry.type == "bond" and not view.is_ovs(bridge) and view.entry(bridge).vlan_aware:
        if entry.trunk:
            lines.append(f"bridge-vids {' '.join(str(v) for v in entry.trunk)}")
        elif entry.vlan:
            lines.append(f"bridge-access {entry.vlan}")
    return lines


def _ovs_intports(view: _View, bridge: str) -> list[str]:
    return [n for n in view.node.interfaces if (view.vlan_parent_id(n) or ("", 0))[0] == bridge]


def _ovs_bond_mode(mode: Optional[str]) -> str:
    return {"802.3ad": "balance-tcp", None: "active-backup"}.get(mode, mode)


def _ovs_port_options(entry: Interface) -> str:
    if entry.trunk:
        text = f"trunks={','.join(str(v) for v in entry.trunk)}"
        return text + (f" tag={entry.vlan} vlan_mode=native-untagged" if entry.vlan else "")
    if entry.vlan:
        return f"tag={entry.vlan}"
    return ""


def _hook_lines(view: _View, name: str) -> list[str]:
    lines: list[str] = []
    if view.node.forwards:
        lines.append("post-up echo 1 > /proc/sys/net/ipv4/ip_forward")
        if any(ipaddress.ip_interface(a).version == 6 for i in view.node.interfaces.values()
               for a in i.all_addresses()):
            lines.append("post-up echo 1 > /proc/sys/net/ipv6/conf/all/forwarding")
    for up, down in view.nat_lines():
        lines += [f"post-up   {up}", f"post-down {down}"]
    for route in view.other_routes():
        lines += [f"post-up   ip {_route_args(view, route, 'add')}", f"pre-down  ip {_route_args(view, route, 'del')}"]
    return lines


def _route_args(view: _View, route, verb: str) -> str:
    family = "-6 " if (route.via and ipaddress.ip_address(route.via).version == 6) or \
        (route.to != "default" and ipaddress.ip_network(route.to).version == 6) else ""
    text = f"{family}route {verb} {route.to}"
    if route.via:
        text += f" via {route.via}"
    dev = view.route_dev(route)
    if dev:
        text += f" dev {dev}"
    return text


# ----------------------------------------------------------------- nmcli
def _nmcli(view: _View) -> list[str]:
    out = [f"# NetworkManager profiles for node {view.name} (lab {view.spec.lab}), written by vnetlab export",
           *_left_out(view, "#")]
    for name in view.order():
        entry = view.entry(name)
        args = ["nmcli", "connection", "add"]
        bridge, bond = view.bridge_of(name), view.bond_of(name)
        ovs = bridge is not None and view.is_ovs(bridge)
        if entry.type == "bridge" and view.is_ovs(name):
            out.append(shlex.join(args + ["type", "ovs-bridge", "con-name", name, "conn.interface", name]))
            out.append(shlex.join(args + ["type", "ovs-port", "con-name", f"{name}-port-int", "conn.interface", name,
                                          "master", name]))
            args += ["type", "ovs-interface", "slave-type", "ovs-port", "con-name", f"{name}-int",
                     "conn.interface", name, "master", f"{name}-port-int"]
        elif entry.type == "bridge":
            args += ["type", "bridge", "con-name", name, "ifname", name, "bridge.stp", "no",
                     "bridge.forward-delay", "0"]
            if entry.vlan_aware:
                args += ["bridge.vlan-filtering", "yes"]
        elif entry.type == "bond":
            mode = entry.mode or "active-backup"
            if ovs:
                out.append(shlex.join(args + ["type", "ovs-port", "con-name", f"{name}-port", "conn.interface", name,
                                              "master", bridge, "ovs-port.bond-mode", _ovs_bond_mode(entry.mode)]
                                      + _nm_ovs_vlan(entry)))
                for member in entry.members:
                    out.append(shlex.join(["nmcli", "connection", "add", "type", "ethernet", "con-name",
                                           f"{name}-{member}", "ifname", member, "master", f"{name}-port",
                                           "slave-type", "ovs-port"]))
                continue
            args += ["type", "bond", "con-name", name, "ifname", name, "bond.options", f"mode={mode},miimon={MIIMON}"]
        elif entry.type == "vlan":
            parent, vid = view.vlan_parent_id(name) or (entry.parent, entry.id)
            if view.node.interfaces.get(parent) is not None and view.entry(parent).type == "bridge" \
                    and view.is_ovs(parent):
                out.append(shlex.join(args + ["type", "ovs-port", "con-name", f"{name}-port", "conn.interface", name,
                                              "master", parent, "ovs-port.tag", str(vid)]))
                args += ["type", "ovs-interface", "slave-type", "ovs-port", "con-name", name, "conn.interface", name,
                         "master", f"{name}-port"]
            else:
                args += ["type", "vlan", "con-name", name, "ifname", name, "dev", parent, "id", str(vid)]
        elif bond is not None and not (view.bridge_of(bond) and view.is_ovs(view.bridge_of(bond))):
            args += ["type", "ethernet", "con-name", f"{bond}-{name}", "ifname", name, "master", bond,
                     "slave-type", "bond"]
        elif ovs:
            out.append(shlex.join(args + ["type", "ovs-port", "con-name", f"{name}-port", "conn.interface", name,
                                          "master", bridge] + _nm_ovs_vlan(entry)))
            args += ["type", "ethernet", "con-name", name, "ifname", name, "master", f"{name}-port",
                     "slave-type", "ovs-port"]
        elif bond is not None:
            continue  # a member of an OVS bond: written with its bond
        else:
            args += ["type", "ethernet", "con-name", name, "ifname", name]
        if bridge and not ovs and entry.type != "vlan":
            args += ["master", bridge, "slave-type", "bridge"]
            if view.entry(bridge).vlan_aware:
                vlans = [f"{v}" for v in (entry.trunk or [])]
                if entry.vlan:
                    vlans.append(f"{entry.vlan} pvid untagged")
                if vlans:
                    args += ["bridge-port.vlans", ", ".join(vlans)]
        if entry.mtu:
            args += ["802-3-ethernet.mtu" if entry.type in (None, "veth") else "ethernet.mtu", str(entry.mtu)]
        if entry.mac and entry.type in (None, "veth"):
            args += ["802-3-ethernet.cloned-mac-address", entry.mac]
        if not (bridge and not ovs) and bond is None:
            args += _nm_ip(view, name, entry)
        out.append(shlex.join(args))
    nat = view.nat_lines()
    if view.node.forwards or nat:
        out.append("# NetworkManager keeps no NAT or forwarding: make them persistent with these, e.g. in "
                   "/etc/sysctl.d/ and /etc/iptables/rules.v4 (iptables-persistent) or a firewalld policy")
        if view.node.forwards:
            out.append("sysctl -w net.ipv4.ip_forward=1")
        out.extend(up for up, _ in nat)
    return out


def _nm_ovs_vlan(entry: Interface) -> list[str]:
    if entry.trunk:
        return ["ovs-port.trunks", ",".join(str(v) for v in entry.trunk)] + \
            (["ovs-port.tag", str(entry.vlan), "ovs-port.vlan-mode", "native-untagged"] if entry.vlan else [])
    if entry.vlan:
        return ["ovs-port.tag", str(entry.vlan)]
    return []


def _nm_ip(view: _View, name: str, entry: Interface) -> list[str]:
    args: list[str] = []
    addresses = entry.all_addresses()
    for version, key in ((4, "ipv4"), (6, "ipv6")):
        mine = [a for a in addresses if ipaddress.ip_interface(a).version == version]
        dynamic = entry.uses_dhcp if version == 4 else entry.uses_slaac  # NetworkManager's "auto": DHCP, SLAAC
        if not mine:
            args += [f"{key}.method", "auto" if dynamic else "disabled" if version == 4 else "ignore"]
            continue
        args += [f"{key}.method", "auto" if dynamic else "manual", f"{key}.addresses", ",".join(mine)]
        gateway = view.gateway_of(name, version)
        if gateway:
            args += [f"{key}.gateway", gateway]
        routes = [r for r in view.other_routes() if view.route_dev(r) == name
                  and (ipaddress.ip_address(r.via).version if r.via else
                       ipaddress.ip_network(r.to).version if r.to != "default" else 4) == version]
        if routes:
            text = ", ".join(f"{'0.0.0.0/0' if r.to == 'default' and version == 4 else '::/0' if r.to == 'default' else r.to}"
                             + (f" {r.via}" if r.via else "") for r in routes)
            args += [f"{key}.routes", text]
    return args


# ----------------------------------------------------------------- ip commands
def _ip(view: _View) -> list[str]:
    out = [f"# node {view.name} (lab {view.spec.lab}) by hand, written by vnetlab export; lost at reboot",
           *_left_out(view, "#")]
    ovs_bridges = [n for n in view.order() if view.entry(n).type == "bridge" and view.is_ovs(n)]
    for name in view.order():
        entry = view.entry(name)
        bridge = view.bridge_of(name)
        if bridge in ovs_bridges:
            continue  # added to its OVS bridge below
        if entry.type == "bridge" and name not in ovs_bridges:
            out.append(f"ip link add {name} type bridge stp_state 0 forward_delay 0"
                       + (" vlan_filtering 1" if entry.vlan_aware else ""))
        elif entry.type == "bond":
            out.append(f"ip link add {name} type bond mode {entry.mode or 'active-backup'} miimon {MIIMON}")
            for member in entry.members:
                out += [f"ip link set {member} down", f"ip link set {member} master {name}"]
        elif entry.type == "vlan":
            parent, vid = view.vlan_parent_id(name) or (entry.parent, entry.id)
            if parent in ovs_bridges:
                continue
            out.append(f"ip link add link {parent} name {name} type vlan id {vid}")
    for bridge in ovs_bridges:
        out.append(f"ovs-vsctl --may-exist add-br {bridge}")
        for port in view.entry(bridge).ports:
            if view.is_guest_device(port):
                continue
            entry = view.entry(port)
            options = _ovs_port_options(entry).split()
            if entry.type == "bond":
                out.append(shlex.join(["ovs-vsctl", "--may-exist", "add-bond", bridge, port, *entry.members,
                                       f"bond_mode={_ovs_bond_mode(entry.mode)}", *options]
                                      + (["lacp=active"] if entry.mode in ("802.3ad", "balance-tcp") else [])))
            else:
                out.append(shlex.join(["ovs-vsctl", "--may-exist", "add-port", bridge, port, *options]))
        for intport in _ovs_intports(view, bridge):
            vid = view.vlan_parent_id(intport)[1]
            out.append(shlex.join(["ovs-vsctl", "--may-exist", "add-port", bridge, intport, f"tag={vid}", "--", "set",
                                   "interface", intport, "type=internal"]))
    for name in view.order():
        entry = view.entry(name)
        bridge = view.bridge_of(name)
        if entry.mtu:
            out.append(f"ip link set {name} mtu {entry.mtu}")
        if entry.mac:
            out.append(f"ip link set {name} address {entry.mac}")
        if bridge and bridge not in ovs_bridges:
            out.append(f"ip link set {name} master {bridge}")
            if view.entry(bridge).vlan_aware and (entry.vlan or entry.trunk):
                out.append(f"bridge vlan del dev {name} vid 1")
                for vid in entry.trunk or []:
                    out.append(f"bridge vlan add dev {name} vid {vid}")
                if entry.vlan:
                    out.append(f"bridge vlan add dev {name} vid {entry.vlan} pvid untagged")
        if entry.type == "bridge" and entry.vlan_aware and name not in ovs_bridges:
            for vid in view.vlans_of_bridge(name):
                if any((view.vlan_parent_id(n) or ("", 0)) == (name, vid) for n in view.node.interfaces):
                    out.append(f"bridge vlan add dev {name} vid {vid} self")
        for address in entry.all_addresses():
            out.append(f"ip {'-6 ' if ipaddress.ip_interface(address).version == 6 else ''}addr add {address} "
                       f"dev {name}")
        out.append(f"ip link set {name} up")
    for route in view.node.routes:
        out.append(f"ip {_route_args(view, route, 'add')}")
    if view.node.forwards:
        out.append("sysctl -w net.ipv4.ip_forward=1")
    out.extend(up for up, _ in view.nat_lines())
    return out
