"""Recognising the well-known hook lines of an interfaces file (pure, never executed).

``up``/``post-up``/``down`` … lines are shell commands the real host runs.
vnetlab never runs them: it recognises the handful every Proxmox and Debian
how-to uses and turns each into a fact the importer can express —
forwarding and other sysctls, masquerading and SNAT, DNAT port forwards,
static routes, and the conntrack-zone rule the Proxmox docs give for NAT
with the firewall on. :func:`parse_hook` says what a line is, or why it is
not understood.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass
from typing import Optional, Union

UP_HOOKS = ("pre-up", "up", "post-up")
DOWN_HOOKS = ("down", "pre-down", "post-down")
HOOKS = UP_HOOKS + DOWN_HOOKS
# Flags that take a value: a line ending in one was cut off mid-command.
NEEDS_VALUE = {"-t", "-A", "-I", "-D", "-s", "-d", "-i", "-o", "-p", "-j", "--dport", "--sport", "--to",
               "--to-source", "--to-destination", "--zone", "via", "dev", "gw", "netmask", "-net", "-host",
               "-w", "add", "del", "route", ">", "--source", "--destination", "--jump", "--table"}
PROC_SYS = "/proc/sys/"


@dataclass(frozen=True)
class Sysctl:
    """``sysctl -w KEY=VALUE`` or ``echo VALUE > /proc/sys/KEY`` (KEY dotted)."""

    key: str
    value: str


@dataclass(frozen=True)
class Masquerade:
    """``iptables -t nat -A POSTROUTING [-s SRC] -o OUT -j MASQUERADE``."""

    source: Optional[str]
    out: Optional[str]


@dataclass(frozen=True)
class Snat:
    """``… -j SNAT --to-source ADDR``: masquerading to a fixed address."""

    source: Optional[str]
    out: Optional[str]
    to_source: str


@dataclass(frozen=True)
class Dnat:
    """``iptables -t nat -A PREROUTING [-i IN] -p PROTO --dport PORT -j DNAT --to IP[:PORT]``."""

    in_: Optional[str]
    proto: str
    port: int
    to_ip: str
    to_port: int


@dataclass(frozen=True)
class RouteAdd:
    """``ip route add TO [via GW] [dev DEV]`` / ``route add -net … gw …``."""

    to: str
    via: Optional[str]
    dev: Optional[str]


@dataclass(frozen=True)
class ConntrackZone:
    """``iptables -t raw -I PREROUTING -i fwbr+ -j CT --zone 1`` (Proxmox docs, NAT with firewall)."""

    zone: str


@dataclass(frozen=True)
class Undo:
    """A down hook undoing an up hook (``-D`` for ``-A``, ``route del``, ``echo 0``)."""

    of: str


Fact = Union[Sysctl, Masquerade, Snat, Dnat, RouteAdd, ConntrackZone, Undo]


@dataclass(frozen=True)
class Unknown:
    """A hook line vnetlab does not import; ``why`` says so; ``cut_off`` marks a broken line."""

    why: str
    cut_off: bool = False


def parse_hook(command: str) -> Union[Fact, Unknown]:
    """What one hook command does, as a fact, or why it is not imported.

    Args:
        command: the text after ``up``/``post-up``/… (one shell command line).

    Returns:
        A fact, or :class:`Unknown` with the reason (``cut_off`` set when
        the line ends mid-command or leaves a quote open).
    """
    text = command.strip()
    for tail in ("|| true", "||true", "|| :"):
        if text.endswith(tail):
            text = text[: -len(tail)].strip()
    if not text:
        return Unknown("an empty hook runs nothing", cut_off=True)
    try:
        words = shlex.split(text, comments=False)
    except ValueError:
        return Unknown("a quote is left open — the line is cut off mid-command", cut_off=True)
    if any(w in (";", "&&", "||", "|") or w.endswith(";") for w in words):
        return Unknown("several commands on one line are not taken apart — write one per hook line")
    if words[-1] in NEEDS_VALUE or words[-1].endswith("="):
        return Unknown(f"it ends with `{words[-1]}`, which needs a value — the line is cut off mid-command",
                       cut_off=True)
    program = words[0].rsplit("/", 1)[-1]
    if program == "echo":
        return _echo(words)
    if program == "sysctl":
        return _sysctl(words[1:])
    if program in ("iptables", "ip6tables", "iptables-legacy", "iptables-nft"):
        return _iptables(words[1:])
    if program == "ip":
        return _ip(words[1:])
    if program == "route":
        return _route(words[1:])
    return Unknown(f"`{program}` is not a hook vnetlab knows how to import (it never runs hooks)")


def _echo(words: list[str]) -> Union[Fact, Unknown]:
    # echo 1 > /proc/sys/net/ipv4/ip_forward, also written echo 1 >/proc/… or echo "1">…
    joined = " ".join(words[1:]).replace(">", " > ")
    value, arrow, target = joined.partition(" > ")
    target, value = target.strip(), value.strip()
    if not arrow or not target.startswith(PROC_SYS) or len(value.split()) != 1:
        return Unknown("only `echo VALUE > /proc/sys/…` is imported from echo lines")
    key = target[len(PROC_SYS):].replace("/", ".")
    if value == "0" and _is_on_off(key):
        return Undo(f"echo 1 > {target}")
    return Sysctl(key, value)


def _is_on_off(key: str) -> bool:
    return key.endswith(("ip_forward", "forwarding", "proxy_arp", "proxy_ndp"))


def _sysctl(args: list[str]) -> Union[Fact, Unknown]:
    settings = [a for a in args if not a.startswith("-")]
    if len(settings) != 1 or "=" not in settings[0]:
        return Unknown("only `sysctl -w KEY=VALUE` (one setting) is imported")
    key, _, value = settings[0].partition("=")
    if not value:
        return Unknown(f"`{settings[0]}` sets no value — the line is cut off mid-command", cut_off=True)
    return Sysctl(key.replace("/", "."), value)


def _flags(args: list[str]) -> dict[str, str]:
    """iptables flags → values (the last word of each flag wins); '!' negations are kept as '!VALUE'."""
    found: dict[str, str] = {}
    aliases = {"--table": "-t", "--append": "-A", "--insert": "-I", "--delete": "-D", "--source": "-s",
               "--destination": "-d", "--in-interface": "-i", "--out-interface": "-o", "--protocol": "-p",
               "--jump": "-j", "--to": "--to-destination", "--match": "-m"}
    index, negate = 0, False
    while index < len(args):
        word = aliases.get(args[index], args[index])
        if word == "!":
            negate, index = True, index + 1
            continue
        if word.startswith("-") and index + 1 < len(args) and not args[index + 1].startswith("-"):
            value = args[index + 1]
            if word in ("-I", "-A", "-D") and index + 2 < len(args) and args[index + 2].isdigit():
                index += 1  # -I CHAIN N: the position does not matter here
            found[word] = ("!" if negate else "") + value
            index += 2
        else:
            found[word] = ""
            index += 1
        negate = False
    return found


def _iptables(args: list[str]) -> Union[Fact, Unknown]:
    flags = _flags(args)
    table = flags.get("-t", "filter")
    chain_flag = next((f for f in ("-A", "-I", "-D") if f in flags), None)
    if chain_flag is None:
        return Unknown("only iptables lines that append, insert or delete one rule are imported")
    chain, target = flags[chain_flag], flags.get("-j", "")
    negated = [k for k, v in flags.items() if v.startswith("!")]
    if negated:
        return Unknown(f"a negated match ({negated[0]} !…) has no counterpart in vnetlab's nat: section")
    extra = set(flags) - {"-t", chain_flag, "-j", "-s", "-o", "-i", "-p", "-d", "--dport", "--to-source",
                          "--to-destination", "-m", "--zone"}
    if table == "raw" and chain == "PREROUTING" and target == "CT" and "--zone" in flags:
        return ConntrackZone(flags["--zone"])
    if extra:
        return Unknown(f"the match {sorted(extra)[0]} has no counterpart in vnetlab's nat: section")
    if table != "nat":
        return Unknown(f"iptables rules of table {table} are not imported — write the node's firewall: instead")
    if chain_flag == "-D":
        return Undo(" ".join(args).replace("-D", "-A", 1))
    source, out = flags.get("-s"), flags.get("-o")
    if chain == "POSTROUTING" and target == "MASQUERADE":
        return Masquerade(_network(source), out) if _network(source) or source is None else \
            Unknown(f"source {source!r} is not a network")
    if chain == "POSTROUTING" and target == "SNAT" and "--to-source" in flags:
        return Snat(_network(source), out, flags["--to-source"])
    if chain == "PREROUTING" and target == "DNAT":
        return _dnat(flags)
    return Unknown(f"nat rule {chain} -j {target or '?'} is not one vnetlab imports (MASQUERADE, SNAT, DNAT)")


def _network(text: Optional[str]) -> Optional[str]:
    if text is None:
        return None
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        return None


def _dnat(flags: dict[str, str]) -> Union[Fact, Unknown]:
    proto, port, to = flags.get("-p"), flags.get("--dport"), flags.get("--to-destination")
    if proto not in ("tcp", "udp") or not (port or "").isdigit() or not to:
        return Unknown("a DNAT rule is imported with -p tcp|udp, one --dport and --to-destination IP[:PORT]")
    if "-d" in flags:
        return Unknown("a DNAT rule that matches -d is not imported — vnetlab forwards by incoming interface")
    host, _, to_port = to.rpartition(":") if to.count(":") == 1 else (to, "", "")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return Unknown(f"DNAT target {to!r} is not IP[:PORT]")
    if to_port and not to_port.isdigit():
        return Unknown(f"DNAT target {to!r} has a port range, which is not imported")
    return Dnat(flags.get("-i"), proto, int(port), host, int(to_port or port))


def _ip(args: list[str]) -> Union[Fact, Unknown]:
    args = [a for a in args if a not in ("-4", "-6")]
    if len(args) < 3 or args[0] not in ("route", "r", "ro", "rou") or args[1] not in ("add", "del", "replace",
                                                                                          "delete", "append"):
        return Unknown("only `ip route add|del …` lines are imported from ip commands")
    if args[1] in ("del", "delete"):
        return Undo("ip route add " + " ".join(args[2:]))
    to, via, dev = args[2], None, None
    rest = args[3:]
    for key, value in zip(rest[::2], rest[1::2]):
        if key == "via":
            via = value
        elif key == "dev":
            dev = value
        elif key not in ("proto", "metric", "src", "onlink", "table"):
            return Unknown(f"`{key} {value}` has no counterpart in vnetlab routes")
        elif key in ("table", "src"):
            return Unknown(f"routes with `{key}` (policy routing, source selection) are not imported")
    if "onlink" in rest:
        return Unknown("an onlink route (a gateway outside the interface's subnets) is not imported")
    return _route_fact(to, via, dev)


def _route_fact(to: str, via: Optional[str], dev: Optional[str]) -> Union[Fact, Unknown]:
    if to != "default":
        try:
            to = str(ipaddress.ip_network(to if "/" in to else f"{to}/{32 if ':' not in to else 128}",
                                          strict=False))
        except ValueError:
            return Unknown(f"route destination {to!r} is not a network")
    if via is None and dev is None:
        return Unknown("a route without `via` or `dev` leads nowhere", cut_off=True)
    return RouteAdd(to, via, dev)


def _route(args: list[str]) -> Union[Fact, Unknown]:
    # route add -net 10.0.0.0 netmask 255.255.255.0 gw 1.2.3.4 [dev X]; route add default gw …
    if not args or args[0] not in ("add", "del"):
        return Unknown("only `route add|del …` lines are imported from route commands")
    words = args[1:]
    to, mask, via, dev = None, None, None, None
    index = 0
    while index < len(words):
        word = words[index]
        value = words[index + 1] if index + 1 < len(words) else None
        if word in ("-net", "-host"):
            to, index = value, index + 2
        elif word == "default":
            to, index = "default", index + 1
        elif word == "netmask":
            mask, index = value, index + 2
        elif word == "gw":
            via, index = value, index + 2
        elif word == "dev":
            dev, index = value, index + 2
        elif word == "metric":
            index += 2
        elif to is None:
            to, index = word, index + 1
        else:
            dev, index = word, index + 1  # route add -net … gw … eth0: the device last, without `dev`
    if to is None:
        return Unknown("a route without a destination", cut_off=True)
    if mask is not None and to != "default":
        try:
            to = str(ipaddress.ip_network(f"{to}/{mask}", strict=False))
        except ValueError:
            return Unknown(f"netmask {mask!r} is not a netmask")
    if args[0] == "del":
        return Undo(f"route add {to}")
    return _route_fact(to, via, dev)
