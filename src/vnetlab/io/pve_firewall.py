"""The Proxmox VE firewall files → the ``firewall:`` section of lab-file nodes (pure).

``read_firewall(root, local_network=..., guests=...)`` reads

- ``ROOT/etc/pve/firewall/cluster.fw`` — the datacenter: ``[OPTIONS]``
  (``enable`` is the master switch, default off; ``policy_in`` default DROP,
  ``policy_out`` default ACCEPT for the hosts), ``[ALIASES]``,
  ``[IPSET name]``, ``[group name]`` security groups and ``[RULES]`` that
  apply to every host;
- ``ROOT/etc/pve/nodes/*/host.fw`` — the host: ``[OPTIONS]`` (``enable``
  default on) and ``[RULES]``;
- ``ROOT/etc/pve/firewall/<vmid>.fw`` — a guest: ``[OPTIONS]`` (``enable``
  default off, ``policy_in`` default DROP, ``policy_out`` default ACCEPT),
  its own aliases and IP sets, ``[RULES]``.

**Result keys** (what the importer maps to node names): :data:`HOST` (the
string ``"host"``) for the hypervisor's node, and the guest's vmid (an
``int``) for each guest whose firewall is on — cluster ``enable: 1``, the
guest's ``enable: 1`` and, when ``guests`` is given, a NIC with
``firewall=1``. A key is present only where a firewall is active; its value
is a plain dict in the lab file's shape (``{"input": {"policy": "drop",
"rules": [...]}, "output": {...}}``, see ``model/schema.py`` ``Firewall``),
ready for ``Firewall.model_validate``.

How the Proxmox rules map (``IN`` → ``input``, ``OUT`` → ``output``):

- the host chain is, in order: the ``blacklist`` IP set dropped; **the
  built-in management rule** — tcp 22, 8006, 5900-5999 and 3128 accepted
  from ``local_network`` (an ``[ALIASES]`` entry of that name wins over the
  argument) and from the ``management`` IP set, so turning the firewall on
  cannot lock the admin out; then the host's rules, then the cluster's
  (Proxmox puts host rules first, so a host can override the datacenter);
- ``ACCEPT``/``DROP``/``REJECT`` become accept/drop/reject; a ``REJECT``
  policy becomes policy drop with a final reject rule (vnetlab's policies
  are accept or drop);
- macros (``SSH(ACCEPT)``, ``DNS``, ``Ping`` …, see :data:`MACROS`) expand
  to one rule per protocol and port;
- ``-source``/``-dest`` lists, ranges (as the CIDRs that cover them exactly),
  aliases and ``+ipset`` references expand to one rule per address;
  ``-dport 80,443`` to one per port, ``8000:8080`` to the range 8000-8080;
- ``-i`` is the host's interface, or ``netN`` of a guest (its NIC N);
- ``GROUP name`` inlines the security group's rules at that place.

Each rule's ``comment`` is the ``file:line`` it came from (and its own
comment). What cannot be expressed — ``-sport``, negated IP set entries,
protocols other than tcp/udp/icmp, options such as ``ipfilter`` — is
reported, never silently dropped; a rule that would lose a condition is left
out as a whole rather than imported broader than written.
"""

from __future__ import annotations

import glob
import ipaddress
import itertools
import os
import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

from vnetlab.io.pve_guests import read_small_text
from vnetlab.io.report import Report, not_imported, note

HOST = "host"
CLUSTER_FILE = os.path.join("etc", "pve", "firewall", "cluster.fw")
HOST_FILES = os.path.join("etc", "pve", "nodes", "*", "host.fw")
GUEST_DIR = os.path.join("etc", "pve", "firewall")
MAX_FW_BYTES = 1024 * 1024
MAX_EXPANSION = 256  # rules one Proxmox rule may become (addresses x ports)
MANAGEMENT_PORTS = (("22", "ssh"), ("8006", "web UI"), ("5900-5999", "VNC consoles"), ("3128", "SPICE proxy"))
COMMENT_MAX = 128  # nft's limit, also enforced by the lab-file validator

# Proxmox's macros (PVE/Firewall.pm $pve_fw_macros), the common ones: (proto, dport) pairs.
MACROS: dict[str, list[tuple[str, Optional[str]]]] = {
    "SSH": [("tcp", "22")], "HTTP": [("tcp", "80")], "HTTPS": [("tcp", "443")],
    "Web": [("tcp", "80"), ("tcp", "443")], "Ping": [("icmp", None)], "DNS": [("udp", "53"), ("tcp", "53")],
    "FTP": [("tcp", "21")], "Telnet": [("tcp", "23")], "SMTP": [("tcp", "25")], "SMTPS": [("tcp", "465")],
    "Submission": [("tcp", "587")], "POP3": [("tcp", "110")], "POP3S": [("tcp", "995")],
    "IMAP": [("tcp", "143")], "IMAPS": [("tcp", "993")], "NTP": [("udp", "123")],
    "MySQL": [("tcp", "3306")], "PostgreSQL": [("tcp", "5432")], "RDP": [("tcp", "3389")],
    "VNC": [("tcp", "5900:5999")], "Squid": [("tcp", "3128")], "Rsync": [("tcp", "873")],
    "SNMP": [("udp", "161:162"), ("tcp", "161")], "Syslog": [("udp", "514"), ("tcp", "514")],
    "LDAP": [("tcp", "389")], "LDAPS": [("tcp", "636")], "HKP": [("tcp", "11371")],
    "Git": [("tcp", "9418")], "DHCPfwd": [("udp", "67:68")], "Ceph": [("tcp", "6789"), ("tcp", "3300"),
                                                                      ("tcp", "6800:7300")],
    "OpenVPN": [("udp", "1194")], "Jabberd": [("tcp", "5222"), ("tcp", "5269")], "IRC": [("tcp", "6667")],
    "Razor": [("tcp", "2703")], "SixXS": [("tcp", "3874"), ("udp", "3740"), ("udp", "5072")],
    "Trcrt": [("udp", "33434:33524"), ("icmp", None)], "BitTorrent": [("tcp", "6881:6889"), ("udp", "6881")],
}
ACTIONS = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "reject"}
PROTOS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp",
          "icmpv6": "icmp", "ipv6-icmp": "icmp", "58": "icmp"}
RULE = re.compile(r"^(\|)?\s*(IN|OUT|GROUP|FORWARD)\s+(\S+)(.*)$", re.IGNORECASE)
MACRO = re.compile(r"^([A-Za-z][A-Za-z0-9]*)\((ACCEPT|DROP|REJECT)\)$")


@dataclass
class _Line:
    file: str
    line: int
    text: str


@dataclass
class FwFile:
    """One ``.fw`` file, sorted by section, each entry with its line."""

    file: str
    options: dict[str, _Line] = field(default_factory=dict)
    rules: list[_Line] = field(default_factory=list)
    aliases: dict[str, _Line] = field(default_factory=dict)
    ipsets: dict[str, list[_Line]] = field(default_factory=dict)
    groups: dict[str, list[_Line]] = field(default_factory=dict)

    def option(self, key: str, default: str) -> str:
        """An option's value, or ``default``."""
        entry = self.options.get(key)
        return entry.text if entry is not None else default


def parse_fw(text: str, shown: str, reports: list[Report]) -> FwFile:
    """A ``.fw`` file's text → its sections (nothing is interpreted yet)."""
    fw = FwFile(shown)
    section: Optional[tuple[str, str]] = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = re.fullmatch(r"\[\s*([A-Za-z_]+)(?:\s+([^\]\s]+))?\s*\](?:\s*#.*)?", line)
        if header:
            kind, name = header.group(1).upper(), header.group(2)
            if kind in ("OPTIONS", "RULES", "ALIASES") and name is None:
                section = (kind, "")
            elif kind in ("IPSET", "GROUP") and name:
                section = (kind, name)
                (fw.ipsets if kind == "IPSET" else fw.groups).setdefault(name, [])
            else:
                section = ("UNKNOWN", line)
                reports.append(not_imported(shown, number, line, "a section vnetlab does not know; its lines "
                                                                 "are left out"))
            continue
        entry = _Line(shown, number, line)
        if section is None:
            reports.append(not_imported(shown, number, line, "outside any [SECTION]"))
        elif section[0] == "OPTIONS":
            key, _, value = line.partition(":")
            if not value and not _:
                reports.append(not_imported(shown, number, line, "an option is `key: value`"))
            else:
                fw.options[key.strip().lower()] = _Line(shown, number, value.split("#")[0].strip())
        elif section[0] == "RULES":
            fw.rules.append(entry)
        elif section[0] == "ALIASES":
            words = line.split("#")[0].split()
            if len(words) != 2:
                reports.append(not_imported(shown, number, line, "an alias is `NAME ADDRESS`"))
            else:
                fw.aliases[words[0].lower()] = _Line(shown, number, words[1])
        elif section[0] == "IPSET":
            fw.ipsets[section[1]].append(_Line(shown, number, line.split("#")[0].strip()))
        elif section[0] == "GROUP":
            fw.groups[section[1]].append(entry)
    return fw


def _read(root: str, relative: str, reports: list[Report]) -> Optional[FwFile]:
    path = os.path.join(root, relative)
    if not os.path.isfile(path):
        return None
    text = read_small_text(path, relative, MAX_FW_BYTES, reports)
    if text is None:
        return None
    return parse_fw(text, relative, reports)


def read_firewall(root: str, local_network: Optional[str] = None,
                  guests: Optional[Iterable] = None) -> tuple[dict, list[Report]]:
    """Reads the cluster, host and guest firewall files under ``root``.

    Args:
        root: a directory laid out like a Proxmox host's ``/``.
        local_network: the host's management subnet (a CIDR), for the
            built-in management rule; by default found as Proxmox finds it
            (:func:`detect_local_network`).
        guests: the guests of :func:`vnetlab.io.pve_guests.read_guests`, to
            know which have a NIC with ``firewall=1`` and what ``netN`` is
            called inside each; None treats every enabled ``<vmid>.fw`` as on.

    Returns:
        ``{HOST or vmid: firewall dict}`` for each node whose firewall is on,
        and the reports (file names relative to ``root``).
    """
    reports: list[Report] = []
    if local_network is None:
        local_network = detect_local_network(root)
    cluster = _read(root, CLUSTER_FILE, reports) or FwFile(CLUSTER_FILE)
    hosts = [path for path in sorted(glob.glob(os.path.join(root, HOST_FILES)))]
    host_files = [_read(root, os.path.relpath(path, root), reports) for path in hosts]
    host_files = [fw for fw in host_files if fw is not None]
    if len(host_files) > 1:
        reports.append(note(host_files[1].file, 0, "a cluster: only the first node's host.fw "
                                                   f"({host_files[0].file}) is this host's"))
    guest_files = _guest_files(root, reports)
    result: dict = {}
    if cluster.option("enable", "0") != "1":
        files = [f for f in (cluster, *host_files, *guest_files.values()) if f.rules or f.options]
        for fw in files:
            reports.append(not_imported(fw.file, 0, "the whole file", "the datacenter firewall is off "
                                        f"({CLUSTER_FILE} has no `enable: 1`), so Proxmox applies none of it"))
        return result, reports
    _report_options(cluster, {"enable", "policy_in", "policy_out"}, reports)
    used: set = set()
    host = host_files[0] if host_files else FwFile(HOST_FILES.replace("*", "NODE"))
    for fw in host_files[1:]:
        _report_options(fw, set(), reports)
    if host.option("enable", "1") == "1":
        _report_options(host, {"enable"}, reports)
        result[HOST] = _host_firewall(cluster, host, local_network, reports, used)
    else:
        reports.append(note(host.file, host.options["enable"].line, "the host firewall is off (enable: 0)"))
    nics_of = {g.vmid: g for g in guests} if guests is not None else None
    applied: list[FwFile] = []
    for vmid, fw in sorted(guest_files.items()):
        if fw.option("enable", "0") != "1":
            reports.append(not_imported(fw.file, 0, "the whole file", "this guest's firewall is off "
                                                                      "(no `enable: 1` in [OPTIONS])"))
            continue
        guest = nics_of.get(vmid) if nics_of is not None else None
        if nics_of is not None and (guest is None or not guest.firewalled):
            why = "there is no guest with this vmid" if guest is None else "no NIC of the guest has firewall=1"
            reports.append(not_imported(fw.file, 0, "the whole file", f"{why}, so Proxmox filters nothing with it"))
            continue
        if guest is not None and not all(nic.firewall for nic in guest.nics):
            reports.append(note(fw.file, 0, f"guest {vmid} has NICs without firewall=1; vnetlab filters the whole "
                                            "guest, so the rules apply to those too"))
        _report_options(fw, {"enable", "policy_in", "policy_out"}, reports)
        result[vmid] = _guest_firewall(cluster, fw, guest, reports, used)
        applied.append(fw)
    _report_unused([cluster, *host_files, *applied], used, reports)
    return result, reports


def _report_unused(files: list[FwFile], used: set, reports: list[Report]) -> None:
    """Aliases, IP sets and groups no applied rule took: said, so no line goes unmentioned."""
    for fw in files:
        named = [("alias", name, [entry]) for name, entry in fw.aliases.items()] + \
                [("ipset", name, entries) for name, entries in fw.ipsets.items()] + \
                [("group", name, entries) for name, entries in fw.groups.items()]
        for kind, name, entries in named:
            if (fw.file, kind, name if kind != "alias" else name.lower()) in used:
                continue
            line = entries[0].line - (0 if kind == "alias" else 1) if entries else 0
            if kind == "ipset" and re.fullmatch(r"ipfilter-net\d+", name):
                reports.append(not_imported(fw.file, line, f"[IPSET {name}]", "the ipfilter option (addresses a "
                                            "guest NIC may use) is not modelled"))
            else:
                what = {"alias": "alias", "ipset": "IP set", "group": "security group"}[kind]
                reports.append(note(fw.file, line, f"{what} {name} is used by no rule that applies"))


def detect_local_network(root: str) -> Optional[str]:
    """The host's local network as Proxmox finds it: the subnet of the address
    its hostname resolves to (``etc/hostname`` and ``etc/hosts``), looked up
    in ``etc/network/interfaces``; failing that, the subnet of the address on
    the interface with the default gateway. None if neither is there."""
    from vnetlab.io.hostnet import host_network
    from vnetlab.io.interfaces import read_interfaces
    from vnetlab.io.report import SourceFileError

    path = os.path.join(root, "etc", "network", "interfaces")
    if not os.path.isfile(path):
        return None
    try:
        net = host_network(read_interfaces(path, root=root, shown="etc/network/interfaces"))
    except SourceFileError:
        return None
    wanted = _hostname_address(root)
    candidates = []
    for iface in net.interfaces.values():
        for addr in iface.addresses:
            network = ipaddress.ip_interface(addr.cidr)
            if wanted is not None and network.ip == wanted:
                return str(network.network)
            if network.version == 4:
                candidates.append((0 if iface.gateways else 1, str(network.network)))
    return min(candidates)[1] if candidates else None


def _hostname_address(root: str) -> Optional[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        with open(os.path.join(root, "etc", "hostname"), encoding="utf-8") as handle:
            hostname = handle.read(256).strip()
        with open(os.path.join(root, "etc", "hosts"), encoding="utf-8") as handle:
            hosts = handle.read(MAX_FW_BYTES)
    except (OSError, UnicodeDecodeError):
        return None
    short = hostname.split(".")[0]
    for line in hosts.splitlines():
        words = line.split("#")[0].split()
        if len(words) >= 2 and (hostname in words[1:] or short in words[1:]):
            try:
                address = ipaddress.ip_address(words[0])
            except ValueError:
                continue
            if not address.is_loopback:
                return address
    return None


def _guest_files(root: str, reports: list[Report]) -> dict[int, FwFile]:
    files = {}
    directory = os.path.join(root, GUEST_DIR)
    if not os.path.isdir(directory):
        return files
    for entry in sorted(os.listdir(directory)):
        if entry == "cluster.fw":
            continue
        relative = os.path.join(GUEST_DIR, entry)
        match = re.fullmatch(r"(\d+)\.fw", entry)
        if not match:
            reports.append(note(relative, 0, "not imported: not a guest firewall file (<vmid>.fw)"))
            continue
        fw = _read(root, relative, reports)
        if fw is not None:
            files[int(match.group(1))] = fw
    return files


KNOWN_QUIET = {"log_level_in", "log_level_out", "log_nf_conntrack", "log_ratelimit"}


def _report_options(fw: FwFile, used: set[str], reports: list[Report]) -> None:
    for key, entry in fw.options.items():
        if key in used:
            continue
        if key in KNOWN_QUIET:
            reports.append(note(fw.file, entry.line, f"not imported: `{key}: {entry.text}` — logging makes no "
                                                       "difference to what passes"))
        elif key == "dhcp" and entry.text == "1":
            reports.append(note(fw.file, entry.line, "not imported: `dhcp: 1` — vnetlab's guests have static "
                                                       "addresses; no DHCP to let through"))
        else:
            reports.append(not_imported(fw.file, entry.line, f"{key}: {entry.text}",
                                        "a firewall option vnetlab does not model"))


class _Scope:
    """Aliases and IP sets a rule may name: the file's own, then the datacenter's
    (``dc/NAME``); ``guest/NAME`` is the guest file's."""

    def __init__(self, cluster: FwFile, own: Optional[FwFile], used: set):
        self.cluster, self.own = cluster, own
        self.used = used  # (file, "alias"|"ipset"|"group", name) of what some rule took

    def alias(self, name: str) -> Optional[_Line]:
        """An alias (names are case-insensitive) by ``NAME``, ``dc/NAME`` or ``guest/NAME``."""
        return self._find("alias", name)

    def ipset(self, name: str) -> Optional[list[_Line]]:
        """An IP set's entries by ``NAME``, ``dc/NAME`` or ``guest/NAME``."""
        return self._find("ipset", name)

    def _find(self, kind: str, name: str):
        scope, _, bare = name.rpartition("/")
        key = bare.lower() if kind == "alias" else bare
        for fw, scopes in ((self.own, ("", "guest")), (self.cluster, ("", "dc"))):
            table = None if fw is None else (fw.aliases if kind == "alias" else fw.ipsets)
            if table is not None and scope in scopes and key in table:
                self.used.add((fw.file, kind, key))
                return table[key]
        return None


class _Unusable(Exception):
    """A rule (or part) vnetlab cannot express; the message says why."""


def _addresses(spec: Optional[str], scope: _Scope, depth: int = 0) -> list[Optional[str]]:
    """``-source``/``-dest`` → CIDRs/addresses (``[None]``: any)."""
    if spec is None:
        return [None]
    if depth > 4:
        raise _Unusable(f"{spec!r} refers to itself")
    result: list[Optional[str]] = []
    for item in spec.split(","):
        item = item.strip()
        if item.startswith("+"):
            entries = scope.ipset(item[1:])
            if entries is None:
                raise _Unusable(f"IP set {item[1:]!r} is defined nowhere")
            for entry in entries:
                if entry.text.startswith("!"):
                    raise _Unusable(f"IP set {item[1:]!r} has a negated entry `{entry.text}` "
                                    f"({entry.file}:{entry.line}), which a lab rule cannot express")
                result.extend(_addresses(entry.text, scope, depth + 1))
            if not entries:
                raise _Unusable(f"IP set {item[1:]!r} is empty, so the rule matches nothing")
            continue
        if re.fullmatch(r"[0-9a-fA-F:.]+-[0-9a-fA-F:.]+", item):
            low, high = (ipaddress.ip_address(part) for part in item.split("-"))
            result.extend(str(net) for net in ipaddress.summarize_address_range(low, high))
            continue
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError:
            alias = scope.alias(item)
            if alias is None:
                raise _Unusable(f"{item!r} is no address, range, alias or +ipset") from None
            result.extend(_addresses(alias.text, scope, depth + 1))
            continue
        result.append(item if "/" not in item else str(network))
    return result


def _ports(spec: Optional[str]) -> list[Optional[str]]:
    if spec is None:
        return [None]
    ports = []
    for item in spec.split(","):
        item = item.strip()
        if re.fullmatch(r"\d+", item):
            ports.append(item)
        elif re.fullmatch(r"\d+:\d+", item):
            ports.append(item.replace(":", "-"))
        else:
            raise _Unusable(f"port {item!r} is not a number or a range a:b")
    return ports


def _parse_options(words: list[str]) -> tuple[dict[str, str], str]:
    """``-p tcp -dport 22 # ssh`` → ({p: tcp, dport: 22}, "ssh")."""
    options: dict[str, str] = {}
    rest = " ".join(words)
    body, _, comment = rest.partition("#")
    tokens = body.split()
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if not token.startswith("-") or token == "-" or index + 1 >= len(tokens):
            raise _Unusable(f"`{token}` — the old positional rule form or a stray word; write -source/-dest/-p "
                            "-dport options")
        options[token[1:].lower()] = tokens[index + 1]
        index += 2
    return options, comment.strip()


def _comment(where: _Line, extra: str) -> str:
    text = f"{os.path.basename(where.file)}:{where.line}" + (f" {extra}" if extra else "")
    text = text.replace('"', "'").replace("\n", " ")
    return text[:COMMENT_MAX]


def _expand(where: _Line, direction: str, action_word: str, rest: list[str], scope: _Scope,
            iface_of, reports: list[Report], group_iface: Optional[str] = None) -> list[tuple[str, dict]]:
    """One ``IN|OUT`` rule → (chain, rule dict) pairs; raises _Unusable."""
    options, user_comment = _parse_options(rest)
    macro = MACRO.match(action_word)
    if macro:
        if macro.group(1) not in MACROS:
            raise _Unusable(f"macro {macro.group(1)!r} is not one vnetlab knows "
                            f"(known: {', '.join(sorted(MACROS))})")
        action = ACTIONS[macro.group(2)]
        services = MACROS[macro.group(1)]
        if "p" in options or "dport" in options:
            raise _Unusable("a macro with its own -p/-dport")
    elif action_word.upper() in ACTIONS:
        action = ACTIONS[action_word.upper()]
        proto = options.pop("p", None)
        if proto is not None and proto.lower() not in PROTOS:
            raise _Unusable(f"protocol {proto!r}: a lab rule matches tcp, udp or icmp only")
        services = [(PROTOS[proto.lower()] if proto else "any", options.pop("dport", None))]
    else:
        raise _Unusable(f"action {action_word!r} is not ACCEPT, DROP, REJECT or MACRO(ACTION)")
    options.pop("p", None)
    options.pop("dport", None)
    if "sport" in options:
        raise _Unusable("-sport: a lab rule cannot match the source port")
    icmp_type = options.pop("icmp-type", None)
    if icmp_type is not None and icmp_type not in ("echo-request", "ping", "8"):
        raise _Unusable(f"-icmp-type {icmp_type}: a lab rule matches all of ICMP or echo requests, not {icmp_type}")
    options.pop("log", None)
    source, dest = options.pop("source", None), options.pop("dest", None)
    iface = options.pop("i", None) or options.pop("iface", None) or group_iface
    if options:
        raise _Unusable(f"option -{next(iter(options))} is not one vnetlab knows")
    chain = "input" if direction == "IN" else "output"
    ifname = iface_of(iface) if iface is not None else None
    sources, dests = _addresses(source, scope), _addresses(dest, scope)
    expanded = []
    for (proto, port_spec) in services:
        if port_spec is not None and proto not in ("tcp", "udp"):
            raise _Unusable("-dport needs -p tcp or -p udp")
        for port, source, dest in itertools.product(_ports(port_spec), sources, dests):
            rule: dict = {"action": action}
            if proto != "any":
                rule["proto"] = proto
            if port is not None:
                rule["port"] = int(port) if port.isdigit() else port
            if source is not None:
                rule["from"] = source
            if dest is not None:
                rule["to"] = dest
            if ifname is not None:
                rule["in" if chain == "input" else "out"] = ifname
            rule["comment"] = _comment(where, action_word if macro else user_comment)
            expanded.append((chain, rule))
    if len(expanded) > MAX_EXPANSION:
        raise _Unusable(f"it would become {len(expanded)} lab rules (at most {MAX_EXPANSION})")
    if icmp_type is not None:
        reports.append(note(where.file, where.line, "-icmp-type echo-request imported as all of ICMP"))
    return expanded


def _rules(lines: list[_Line], scope: _Scope, cluster: FwFile, iface_of, reports: list[Report],
           group_iface: Optional[str] = None, depth: int = 0) -> list[tuple[str, dict]]:
    result: list[tuple[str, dict]] = []
    for where in lines:
        match = RULE.match(where.text)
        if not match:
            reports.append(not_imported(where.file, where.line, where.text,
                                        "not a rule (IN|OUT ACTION …, or GROUP name)"))
            continue
        disabled, direction, word, rest = match.group(1), match.group(2).upper(), match.group(3), match.group(4)
        if disabled:
            reports.append(note(where.file, where.line, f"not imported: `{where.text}` — disabled (`|`)"))
            continue
        if direction == "FORWARD":
            reports.append(not_imported(where.file, where.line, where.text,
                                        "FORWARD rules (Proxmox SDN/nftables firewall) are not modelled"))
            continue
        try:
            if direction == "GROUP":
                group = cluster.groups.get(word)
                scope.used.add((cluster.file, "group", word))
                if group is None:
                    raise _Unusable(f"security group {word!r} has no [group {word}] in {CLUSTER_FILE}")
                if depth > 0:
                    raise _Unusable("a group inside a group")
                options, _ = _parse_options(rest.split())
                iface = options.pop("i", None) or options.pop("iface", None)
                if options:
                    raise _Unusable(f"option -{next(iter(options))} on a GROUP line")
                result.extend(_rules(group, scope, cluster, iface_of, reports, iface, depth + 1))
            else:
                result.extend(_expand(where, direction, word, rest.split(), scope, iface_of, reports,
                                      group_iface))
        except _Unusable as why:
            reports.append(not_imported(where.file, where.line, where.text, str(why)))
    return result


def _chains(rules: list[tuple[str, dict]], policy_in: str, policy_out: str, where: FwFile,
            reports: list[Report]) -> dict:
    firewall: dict = {}
    for chain, policy in (("input", policy_in), ("output", policy_out)):
        policy = policy.upper()
        if policy not in ("ACCEPT", "DROP", "REJECT"):
            entry = where.options.get("policy_in" if chain == "input" else "policy_out")
            reports.append(not_imported(where.file, entry.line if entry else 0, f"policy {policy}",
                                        "a policy is ACCEPT, DROP or REJECT; DROP assumed"))
            policy = "DROP"
        chain_rules = [rule for name, rule in rules if name == chain]
        if policy == "REJECT":
            chain_rules.append({"action": "reject", "comment": f"{os.path.basename(where.file)} policy REJECT"})
        if chain_rules or policy != "ACCEPT":
            firewall[chain] = {"policy": "accept" if policy == "ACCEPT" else "drop", "rules": chain_rules}
    return firewall


def _host_firewall(cluster: FwFile, host: FwFile, local_network: Optional[str], reports: list[Report],
                   used: set) -> dict:
    scope = _Scope(cluster, None, used)

    def iface_of(name: str) -> str:
        return name

    rules: list[tuple[str, dict]] = []
    blacklist = cluster.ipsets.get("blacklist")
    if blacklist:
        try:
            for address in _addresses("+blacklist", scope):
                rules.append(("input", {"action": "drop", "from": address,
                                        "comment": f"{os.path.basename(cluster.file)} ipset blacklist"}))
        except _Unusable as why:
            reports.append(not_imported(cluster.file, blacklist[0].line, "[IPSET blacklist]", str(why)))
    rules.extend(_management_rules(cluster, scope, local_network, reports))
    rules.extend(_rules(host.rules, scope, cluster, iface_of, reports))
    rules.extend(_rules(cluster.rules, scope, cluster, iface_of, reports))
    return _chains(rules, cluster.option("policy_in", "DROP"), cluster.option("policy_out", "ACCEPT"),
                   cluster, reports)


def _management_rules(cluster: FwFile, scope: _Scope, local_network: Optional[str],
                      reports: list[Report]) -> list[tuple[str, dict]]:
    """Proxmox's built-in rule: management ports open from the local network
    and the ``management`` IP set, ahead of every rule of the files."""
    sources: list[Optional[str]] = []
    alias = cluster.aliases.get("local_network")
    scope.used.add((cluster.file, "alias", "local_network"))
    local = alias.text if alias is not None else local_network
    if local is not None:
        sources.append(local)
    if "management" in cluster.ipsets:
        try:
            sources.extend(_addresses("+management", scope))
        except _Unusable as why:
            reports.append(not_imported(cluster.file, cluster.ipsets["management"][0].line
                                        if cluster.ipsets["management"] else 0, "[IPSET management]", str(why)))
    sources = list(dict.fromkeys(s for s in sources if s is not None))
    if not sources:
        reports.append(note(cluster.file, 0, "the host's local network is unknown, so Proxmox's built-in "
                                             "management rule (ssh, 8006 from the local network) is left out"))
        return []
    rules = []
    for source in sources:
        for port, what in MANAGEMENT_PORTS:
            rules.append(("input", {"action": "accept", "proto": "tcp", "port": int(port) if port.isdigit() else port,
                                    "from": source, "comment": f"Proxmox built-in: {what} from {'the local network' if source == local else 'the management IP set'}"}))
    return rules


def _guest_firewall(cluster: FwFile, fw: FwFile, guest, reports: list[Report], used: set) -> dict:
    scope = _Scope(cluster, fw, used)

    def iface_of(name: str) -> str:
        match = re.fullmatch(r"net(\d+)", name)
        if not match:
            raise _Unusable(f"-i {name}: a guest rule names its NIC as netN")
        if guest is None:
            return f"eth{match.group(1)}"
        nic = next((n for n in guest.nics if n.index == int(match.group(1))), None)
        if nic is None:
            raise _Unusable(f"-i {name}: guest {guest.vmid} has no {name}")
        return nic.guest_ifname

    rules = _rules(fw.rules, scope, cluster, iface_of, reports)
    return _chains(rules, fw.option("policy_in", "DROP"), fw.option("policy_out", "ACCEPT"), fw, reports)
