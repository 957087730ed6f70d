"""A host's network as its interfaces file describes it (pure).

:func:`host_network` merges the stanzas of each interface (an ``inet`` and
an ``inet6`` one, an OVS port named again by its bridge …) into one
:class:`NetIface`: what it is (NIC, bridge, bond, VLAN, OVS bridge or
port, loopback), its addresses and gateways, bridge ports, bond members,
VLAN parent and id, and the hook facts. Each value keeps the file and line
it came from. Every option is used or reported as not imported, with why.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Optional

from vnetlab.io import hooks
from vnetlab.io.interfaces import InterfacesFile, Option, Stanza
from vnetlab.io.report import Report, not_imported, note, problem

Where = tuple[str, int]  # (file, line)

BOND_MODE_NUMBERS = {"0": "balance-rr", "1": "active-backup", "2": "balance-xor", "3": "broadcast",
                     "4": "802.3ad", "5": "balance-tlb", "6": "balance-alb"}
# Modes vnetlab bonds have; the others are imported as the closest one, and reported.
BOND_MODES = ("balance-rr", "active-backup", "802.3ad", "balance-slb", "balance-tcp")
NEAREST_BOND_MODE = {"balance-xor": "balance-rr", "broadcast": "active-backup",
                     "balance-tlb": "active-backup", "balance-alb": "active-backup"}
TRUE = ("yes", "on", "1", "true")
FALSE = ("no", "off", "0", "false")
MAX_TRUNK_VIDS = 32  # `bridge-vids 2-4094` is "everything": only the VLANs in use are built
# Option values real files leave unfilled (templates, forum posts)
PLACEHOLDER = re.compile(r"<[^<>]+>|\b[xX]{1,3}(\.[xX]{1,3}){3}\b|\$\{?[A-Z_][A-Z0-9_]*\}?|\bYOUR[_-][A-Z_]+\b|"
                         r"\bCHANGEME\b", re.IGNORECASE)
PHYSICAL_NIC = re.compile(r"^(eth|en|eno|ens|enp|enx|em|p\d+p|wl|ib|lan|wan|swp)[A-Za-z0-9]*$")


@dataclass
class Addr:
    """One address of an interface (CIDR) and where it was written."""

    cidr: str
    where: Where


@dataclass
class NetIface:
    """One interface of the host, merged from all its stanzas."""

    name: str
    where: Where                        # its first stanza
    kind: str = "nic"                   # nic | loopback | bridge | bond | vlan | ovs-bridge | ovs-port | ovs-intport
    stanzas: list[Stanza] = field(default_factory=list)
    addresses: list[Addr] = field(default_factory=list)
    gateways: list[Addr] = field(default_factory=list)   # cidr holds the bare gateway address
    methods: list[tuple[str, Where]] = field(default_factory=list)  # dhcp, auto … (no address)
    mtu: Optional[tuple[int, Where]] = None
    mac: Optional[tuple[str, Where]] = None
    ports: list[tuple[str, Where]] = field(default_factory=list)   # bridge ports
    vlan_aware: bool = False
    vids: list[int] = field(default_factory=list)                   # bridge-vids (small sets only)
    members: list[tuple[str, Where]] = field(default_factory=list)  # bond members
    bond_mode: Optional[tuple[str, Where]] = None
    master: Optional[tuple[str, Where]] = None                      # bond-master on a member
    vlan_parent: Optional[str] = None
    vlan_id: Optional[int] = None
    ovs_bridge: Optional[str] = None                                # an OVS port's bridge
    ovs_tag: Optional[int] = None
    ovs_trunks: list[int] = field(default_factory=list)
    ovs_vlan_mode: Optional[str] = None     # access | trunk | native-untagged | native-tagged
    declared: bool = True               # False: named only as a port, no stanza of its own


@dataclass
class HostNetwork:
    """The whole host: interfaces in file order, hook facts, reports."""

    interfaces: dict[str, NetIface] = field(default_factory=dict)
    facts: list[tuple[hooks.Fact, str, Where]] = field(default_factory=list)  # (fact, interface, where)
    reports: list[Report] = field(default_factory=list)
    parsed: Optional[InterfacesFile] = None

    def bridge_of(self, port: str) -> Optional[str]:
        """The bridge (Linux or OVS) ``port`` is a port of, if any."""
        for iface in self.interfaces.values():
            if iface.kind in ("bridge", "ovs-bridge") and any(p == port for p, _ in iface.ports):
                return iface.name
        return None

    def bond_of(self, member: str) -> Optional[str]:
        """The bond ``member`` belongs to, if any."""
        for iface in self.interfaces.values():
            if iface.kind == "bond" and any(m == member for m, _ in iface.members):
                return iface.name
        return None


def host_network(parsed: InterfacesFile) -> HostNetwork:
    """Merges parsed stanzas into interfaces; see the module docstring."""
    net = HostNetwork(parsed=parsed, reports=list(parsed.reports))
    for stanza in parsed.stanzas:
        name = stanza.name
        if ":" in name:  # eth0:1, an ifupdown alias: its addresses belong to eth0
            base = name.split(":", 1)[0]
            net.reports.append(note(stanza.file, stanza.line, f"alias {name}: its addresses go on {base}"))
            name = base
        iface = net.interfaces.get(name)
        if iface is None:
            iface = net.interfaces[name] = NetIface(name, (stanza.file, stanza.line))
        iface.stanzas.append(stanza)
        _stanza(net, iface, stanza)
    _implicit(net)
    _kinds(net)
    return net


def _stanza(net: HostNetwork, iface: NetIface, stanza: Stanza) -> None:
    where = (stanza.file, stanza.line)
    if stanza.method == "loopback" or iface.name == "lo":
        iface.kind = "loopback"
    elif stanza.method in ("dhcp", "auto", "bootp", "ipv4ll"):
        iface.methods.append((stanza.method, where))
        net.reports.append(not_imported(stanza.file, stanza.line,
                                        f"iface {stanza.name} {stanza.family or ''} {stanza.method}",
                                        "vnetlab gives imported interfaces static addresses only: "
                                        f"{stanza.name} gets no address from {stanza.method}"))
    elif stanza.method not in (None, "static", "manual"):
        net.reports.append(not_imported(stanza.file, stanza.line, f"method {stanza.method}",
                                        "vnetlab has no such interfaces (tunnels, PPP)"))
    netmask = next((o for o in stanza.get("netmask")), None)
    for option in stanza.options:
        _option(net, iface, stanza, option, netmask)


def _option(net: HostNetwork, iface: NetIface, stanza: Stanza, option: Option, netmask: Optional[Option]) -> None:
    key, value, where = option.key, option.value, (option.file, option.line)
    report = net.reports.append

    def skip(why: str) -> None:
        report(not_imported(option.file, option.line, option.text, why))

    if not value and key not in hooks.HOOKS:
        report(problem(option.file, option.line, f"`{option.text}` has no value — the line is cut off"))
        return
    if PLACEHOLDER.search(value):
        report(problem(option.file, option.line, f"`{option.text}` holds a placeholder "
                                                 f"({PLACEHOLDER.search(value).group(0)}) that was never filled in"))
        return
    if key == "address":
        for word in option.words:
            cidr = _cidr(word, netmask)
            if cidr is None:
                report(problem(option.file, option.line, f"`{option.text}`: {word!r} is not an address"
                                                         + (" (and the netmask is not valid)" if netmask else "")))
            elif "/" not in word and netmask is None:
                report(problem(option.file, option.line, f"`{option.text}` has no prefix length and the "
                                                         "stanza no netmask"))
            else:
                iface.addresses.append(Addr(cidr, where))
    elif key == "netmask":
        pass  # used with address
    elif key == "gateway":
        try:
            iface.gateways.append(Addr(str(ipaddress.ip_address(value.split()[0])), where))
        except ValueError:
            report(problem(option.file, option.line, f"`{option.text}`: {value!r} is not an IP address"))
    elif key in ("mtu", "ovs-mtu"):
        if value.isdigit() and 68 <= int(value) <= 65535:
            iface.mtu = (int(value), where)
        else:
            report(problem(option.file, option.line, f"`{option.text}`: MTU {value!r} is not 68–65535"))
    elif key in ("hwaddress", "hwaddr"):
        mac = value.split()[-1]
        if re.fullmatch(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", mac):
            iface.mac = (mac.lower(), where)
        else:
            report(problem(option.file, option.line, f"`{option.text}`: {mac!r} is not a MAC address"))
    elif key in ("broadcast", "network"):
        report(note(option.file, option.line, f"`{option.text}`: derived from the address, not set apart"))
    elif key == "pointopoint":
        skip("vnetlab has no point-to-point (peer) addresses")
    elif key.startswith("dns-"):
        skip("vnetlab nodes have no resolver settings (resolv.conf)")
    elif key == "bridge-ports":
        if value != "none":
            iface.ports += [(port, where) for port in option.words if port != "none"]
        iface.kind = "bridge"
    elif key == "bridge-stp":
        iface.kind = "bridge"
        if value.lower() not in FALSE:
            skip("vnetlab bridges run without STP (as Proxmox's default bridge-stp off)")
    elif key == "bridge-fd":
        iface.kind = "bridge"
        if value != "0":
            skip("forward delay only matters with STP, which vnetlab bridges do not run")
    elif key == "bridge-vlan-aware":
        iface.kind = "bridge"
        iface.vlan_aware = value.lower() in TRUE
    elif key == "bridge-vids":
        vids = _vids(option.words)
        if vids is None:
            report(problem(option.file, option.line, f"`{option.text}`: not a VLAN list like 2-4094 or 10 20"))
        elif len(vids) <= MAX_TRUNK_VIDS:
            iface.vids += vids
        else:
            report(note(option.file, option.line, f"`{option.text}`: vnetlab builds only the VLANs guests and "
                                                  "VLAN interfaces use"))
    elif key == "bridge-pvid":
        if value != "1":
            skip("vnetlab bridges keep untagged frames in VLAN 1")
    elif key in ("bond-slaves", "slaves", "bond-ports"):
        iface.kind = "bond"
        if value != "none":
            iface.members += [(m, where) for m in option.words if m != "none"]
    elif key == "bond-master":
        iface.master = (value.split()[0], where)
    elif key == "bond-mode":
        iface.kind = "bond"
        mode = BOND_MODE_NUMBERS.get(value, value)
        if mode in NEAREST_BOND_MODE:
            skip(f"vnetlab bonds have no {mode}; imported as {NEAREST_BOND_MODE[mode]}")
            mode = NEAREST_BOND_MODE[mode]
        if mode not in BOND_MODES:
            report(problem(option.file, option.line, f"`{option.text}`: unknown bond mode {value!r}"))
            return
        iface.bond_mode = (mode, where)
    elif key == "bond-miimon":
        if value != "100":
            skip("vnetlab bonds check their links every 100 ms (miimon 100)")
    elif key in ("bond-xmit-hash-policy", "bond-lacp-rate", "bond-primary", "bond-downdelay", "bond-updelay",
                 "bond-min-links", "bond-lacp-bypass-allow", "bond-use-carrier", "bond-ad-select"):
        skip("vnetlab sets no bond tuning beyond members and mode; traffic in the lab is the same")
    elif key in ("vlan-raw-device", "vlan-dev"):
        iface.kind, iface.vlan_parent = "vlan", value.split()[0]
    elif key == "vlan-id":
        if value.isdigit() and 1 <= int(value) <= 4094:
            iface.kind, iface.vlan_id = "vlan", int(value)
        else:
            report(problem(option.file, option.line, f"`{option.text}`: VLAN id {value!r} is not 1–4094"))
    elif key == "ovs-type":
        _ovs_type(iface, value, skip)
    elif key == "ovs-bridge":
        iface.ovs_bridge = value.split()[0]
    elif key in ("ovs-ports", "ovs-bonds"):
        if key == "ovs-bonds":
            iface.kind = "bond"
            iface.members += [(m, where) for m in option.words]
        else:
            iface.kind = "ovs-bridge"
            iface.ports += [(p, where) for p in option.words]
    elif key == "ovs-options":
        _ovs_options(iface, option, skip, report)
    elif key in hooks.HOOKS:
        _hook(net, iface, option)
    else:
        skip(f"vnetlab has no counterpart of `{key}`")


def _ovs_type(iface: NetIface, value: str, skip) -> None:
    kinds = {"ovsbridge": "ovs-bridge", "ovsport": "ovs-port", "ovsintport": "ovs-intport", "ovsbond": "bond"}
    kind = kinds.get(value.lower())
    if kind is None:
        skip(f"OVS type {value} is not one vnetlab builds (OVSBridge, OVSPort, OVSIntPort, OVSBond)")
        return
    iface.kind = kind


def _ovs_options(iface: NetIface, option: Option, skip, report) -> None:
    for word in option.words:
        key, _, value = word.partition("=")
        if key == "tag" and value.isdigit():
            iface.ovs_tag = int(value)
        elif key == "trunks":
            vids = _vids(value.split(","))
            if vids is None:
                report(problem(option.file, option.line, f"`{word}`: not a VLAN list"))
            else:
                iface.ovs_trunks = vids
        elif key == "vlan_mode" and value in ("access", "trunk", "native-untagged", "native-tagged"):
            iface.ovs_vlan_mode = value
            if value == "native-tagged":
                skip("vnetlab trunks carry their native VLAN untagged (native-untagged)")
        elif key == "bond_mode" and value in ("active-backup", "balance-slb", "balance-tcp"):
            iface.bond_mode = (value, (option.file, option.line))
        elif key == "lacp" and value in ("active", "passive", "off"):
            if value != "off":
                iface.bond_mode = ("balance-tcp", (option.file, option.line))
        elif key.startswith("other_config:") or key.startswith("bond_") or key == "vlan_mode":
            skip(f"the OVS option {word} has no counterpart in vnetlab")
        else:
            skip(f"the OVS option {word} is not one vnetlab reads")


def _hook(net: HostNetwork, iface: NetIface, option: Option) -> None:
    fact = hooks.parse_hook(option.value)
    where = (option.file, option.line)
    if isinstance(fact, hooks.Unknown):
        make = problem if fact.cut_off else not_imported
        if fact.cut_off:
            net.reports.append(problem(option.file, option.line, f"`{option.text}`: {fact.why}"))
        else:
            net.reports.append(make(option.file, option.line, option.text, fact.why))
        return
    if isinstance(fact, hooks.Undo):
        return  # the down half of an up hook: the lab's `down` removes everything anyway
    if option.key in hooks.DOWN_HOOKS:
        net.reports.append(not_imported(option.file, option.line, option.text,
                                        "a down hook that undoes nothing of the up hooks"))
        return
    net.facts.append((fact, iface.name, where))


def _cidr(word: str, netmask: Optional[Option]) -> Optional[str]:
    try:
        if "/" in word:
            return str(ipaddress.ip_interface(word))
        if netmask is None:
            ip = ipaddress.ip_address(word)
            return f"{ip}/{ip.max_prefixlen}"
        mask = netmask.value.split()[0]
        return str(ipaddress.ip_interface(f"{word}/{mask}"))
    except ValueError:
        return None


def _vids(words: list[str]) -> Optional[list[int]]:
    vids: list[int] = []
    for word in words:
        low, _, high = word.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            return None
        first, last = int(low), int(high or low)
        if not 1 <= first <= last <= 4094:
            return None
        vids += range(first, last + 1)
        if len(vids) > 4094:
            return vids
    return vids


def _implicit(net: HostNetwork) -> None:
    """Interfaces named only as ports or members (``eno1.5`` in bridge-ports,
    OVS ports named by ``ovs_ports``) exist too."""
    for iface in list(net.interfaces.values()):
        for port, where in iface.ports + iface.members:
            if port not in net.interfaces:
                net.interfaces[port] = NetIface(port, where, declared=False)
        if iface.master is not None:
            bond = net.interfaces.get(iface.master[0])
            if bond is not None and all(m != iface.name for m, _ in bond.members):
                bond.kind = "bond"
                bond.members.append((iface.name, iface.master[1]))
    for iface in list(net.interfaces.values()):
        base, dot, suffix = iface.name.rpartition(".")
        if dot and base and suffix.isdigit() and base not in net.interfaces and iface.kind == "nic":
            net.interfaces[base] = NetIface(base, iface.where, declared=False)  # eno1 of eno1.5


def _kinds(net: HostNetwork) -> None:
    """VLAN interfaces by name (``eno1.5``, ``vlan5`` with vlan-raw-device)."""
    for iface in net.interfaces.values():
        base, dot, suffix = iface.name.rpartition(".")
        if iface.kind == "nic" and dot and base and suffix.isdigit() and 1 <= int(suffix) <= 4094:
            iface.kind, iface.vlan_parent, iface.vlan_id = "vlan", base, int(suffix)
        match = re.fullmatch(r"vlan(\d+)", iface.name)
        if iface.kind == "vlan" and iface.vlan_id is None and match and 1 <= int(match.group(1)) <= 4094:
            iface.vlan_id = int(match.group(1))


def is_physical(name: str) -> bool:
    """Whether ``name`` looks like a NIC the kernel names (eno1, enp3s0f1, eth0)."""
    return bool(PHYSICAL_NIC.match(name)) and "." not in name
