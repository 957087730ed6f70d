"""A node's firewall and NAT -> one nftables table, ``inet vnetlab`` (pure, no root).

Each rule of the lab file is first resolved into :class:`NftRule` (addresses
expanded, one rule per IP version where a rule's addresses need it), then
rendered three ways from that one structure, so they cannot disagree:
libnftables JSON commands, ``nft -f`` text and iptables/ip6tables argv lists.

Both nft forms replace the table atomically (``add table`` makes sure it
exists so ``delete table`` cannot fail, then it is defined anew, all in one
transaction) and carry a sha256 digest of the desired content in the
table's comment, so the executor can leave a table that is already right
untouched. Only the table ``inet vnetlab`` is ever named: tables of other
tools in the namespace are never touched (STYLE.md, "own what you make").
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from typing import Any, Optional, Union

from vnetlab.compile.builder import Phase, PlanBuilder
from vnetlab.model.resolve import Network, resolve_forward_target, resolve_hosts
from vnetlab.model.schema import Chain, FirewallRule, LabSpec, Node
from vnetlab.plan import ApplyRuleset
from vnetlab.plan.firewall import DIGEST_PREFIX, digest_of  # noqa: F401 (read from here too)

TABLE = "vnetlab"
FAMILY = "inet"

FILTER_CHAINS = ("input", "forward", "output")
# chain -> (type, hook, priority number, priority name as nft prints it)
CHAIN_TYPES = {
    "input": ("filter", "input", 0, "filter"),
    "forward": ("filter", "forward", 0, "filter"),
    "output": ("filter", "output", 0, "filter"),
    "prerouting": ("nat", "prerouting", -100, "dstnat"),
    "postrouting": ("nat", "postrouting", 100, "srcnat"),
}
IPTABLES_CHAIN = {name: name.upper() for name in CHAIN_TYPES}
NAT_CHAINS = ("prerouting", "postrouting")
# ICMPv6 neighbour discovery: without it IPv6 stops resolving neighbours
# under policy drop (NDP is what ARP is to IPv4, and conntrack does not
# see it as "established").
ND_TYPES = ("nd-neighbor-solicit", "nd-neighbor-advert", "nd-router-solicit", "nd-router-advert")
ND_TYPES_IPTABLES = ("neighbour-solicitation", "neighbour-advertisement",
                     "router-solicitation", "router-advertisement")
L3 = {4: "ip", 6: "ip6"}
ICMP = {4: "icmp", 6: "ipv6-icmp"}
BINARY = {4: "iptables", 6: "ip6tables"}

Port = Union[int, str]


@dataclass(frozen=True)
class NftRule:
    """One resolved rule: every given field must match, then ``verdict``.

    ``family`` None means both IP versions (no address in the rule);
    ``verdict`` is accept, drop, reject, masquerade or dnat."""

    chain: str
    verdict: str
    family: Optional[int] = None
    iif: Optional[str] = None
    oif: Optional[str] = None
    saddr: tuple[Network, ...] = ()
    daddr: tuple[Network, ...] = ()
    established: bool = False
    proto: Optional[str] = None  # tcp, udp, icmp
    dport: Optional[Port] = None
    icmpv6_nd: bool = False
    dnat_to: Optional[tuple[str, int]] = None
    comment: Optional[str] = None


@dataclass(frozen=True)
class ChainSpec:
    """A base chain of the table."""

    name: str
    policy: str = "accept"


@dataclass(frozen=True)
class CompiledRuleset:
    """The table of one node in the three forms ``vnetlab plan`` shows."""

    commands: list[dict[str, Any]]  # libnftables JSON commands, atomic replace first
    text: str  # the same as `nft -f` input
    iptables: tuple[tuple[str, ...], ...]
    digest: str

    def json(self) -> str:
        """The commands as one libnftables JSON document."""
        return json.dumps({"nftables": self.commands}, separators=(",", ":"))


def compile_firewall(builder: PlanBuilder, name: str, node: Node, ipv6: bool) -> None:
    """Adds the ApplyRuleset op of node ``name`` (its firewall and NAT)."""
    ruleset = compile_ruleset(builder.spec, node, ipv6)
    builder.add(Phase.FIREWALL, ApplyRuleset(
        builder.ns(name), table=TABLE, family=FAMILY, ruleset=ruleset.json(), text=ruleset.text,
        iptables=ruleset.iptables, digest=ruleset.digest,
    ))


def compile_ruleset(spec: LabSpec, node: Node, ipv6: bool) -> CompiledRuleset:
    """Compiles ``node``'s firewall and NAT (validated as part of ``spec``).

    Args:
        spec: the lab, to resolve node names in rules.
        node: the node whose table this is.
        ipv6: whether the node has IPv6 (then neighbour discovery is let
            through chains with policy drop, and ip6tables is shown too).
    """
    chains, rules = resolve(spec, node, ipv6)
    body = [_chain_command(chain) for chain in chains] + [_rule_command(rule) for rule in rules]
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    table = {"family": FAMILY, "name": TABLE}
    commands = [
        {"add": {"table": dict(table)}},
        {"delete": {"table": dict(table)}},
        {"add": {"table": {**table, "comment": DIGEST_PREFIX + digest}}},
        *body,
    ]
    families = (4, 6) if ipv6 or any(rule.family == 6 for rule in rules) else (4,)
    return CompiledRuleset(commands, render_text(chains, rules, digest),
                           render_iptables(chains, rules, families), digest)


# -- resolution ----------------------------------------------------------
def resolve(spec: LabSpec, node: Node, ipv6: bool) -> tuple[list[ChainSpec], list[NftRule]]:
    """The table's chains and rules, in order, with every name resolved."""
    chains: list[ChainSpec] = []
    rules: list[NftRule] = []
    firewall = node.firewall
    for chain_name in FILTER_CHAINS:
        chain: Optional[Chain] = getattr(firewall, chain_name) if firewall else None
        if chain is None:
            continue
        chains.append(ChainSpec(chain_name, chain.policy))
        if chain.policy == "drop":
            rules += _preamble(chain_name, ipv6)
        for rule in chain.rules:
            rules += _filter_rules(spec, chain_name, rule)
    if node.nat is not None:
        chains += [ChainSpec(name) for name in NAT_CHAINS]
        for forward in node.nat.forward:
            target = resolve_forward_target(spec, node, forward.to)
            assert not isinstance(target, str), target  # validation reported it
            address, port = target
            rules.append(NftRule("prerouting", "dnat", family=address.version, iif=forward.in_,
                                 proto=forward.proto, dport=forward.port,
                                 dnat_to=(str(address), port)))
        for masquerade in node.nat.masquerade:
            source = ipaddress.ip_network(masquerade.source, strict=False) if masquerade.source else None
            rules.append(NftRule("postrouting", "masquerade", family=source.version if source else None,
                                 saddr=(source,) if source else (), oif=masquerade.out))
    return chains, rules


def _preamble(chain: str, ipv6: bool) -> list[NftRule]:
    """What policy drop accepts first: loopback, replies, IPv6 neighbour discovery."""
    rules = []
    if chain == "input":
        rules.append(NftRule(chain, "accept", iif="lo"))
    elif chain == "output":
        rules.append(NftRule(chain, "accept", oif="lo"))
    rules.append(NftRule(chain, "accept", established=True))
    if ipv6 and chain != "forward":  # NDP never crosses a router
        rules.append(NftRule(chain, "accept", family=6, icmpv6_nd=True))
    return rules


def _filter_rules(spec: LabSpec, chain: str, rule: FirewallRule) -> list[NftRule]:
    """One rule per IP version its addresses need (one for both if none)."""
    sources = _hosts(spec, rule.from_)
    destinations = _hosts(spec, rule.to)
    common = dict(chain=chain, verdict=rule.action, iif=rule.in_, oif=rule.out,
                  proto=None if rule.proto == "any" else rule.proto, dport=rule.port,
                  comment=rule.comment)
    if sources is None and destinations is None:
        return [NftRule(**common)]
    resolved = []
    for family in (4, 6):
        saddr = tuple(n for n in sources or () if n.version == family)
        daddr = tuple(n for n in destinations or () if n.version == family)
        if (sources is None or saddr) and (destinations is None or daddr):
            resolved.append(NftRule(**common, family=family, saddr=saddr, daddr=daddr))
    return resolved


def _hosts(spec: LabSpec, text: Optional[str]) -> Optional[list[Network]]:
    if text is None:
        return None
    hosts = resolve_hosts(spec, text)
    assert hosts is not None, text  # validation reported it
    return hosts


# -- libnftables JSON ----------------------------------------------------
def _chain_command(chain: ChainSpec) -> dict[str, Any]:
    kind, hook, prio, _ = CHAIN_TYPES[chain.name]
    return {"add": {"chain": {"family": FAMILY, "table": TABLE, "name": chain.name, "type": kind,
                              "hook": hook, "prio": prio, "policy": chain.policy}}}


def _match(left: dict[str, Any], right: Any, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


def _json_addresses(networks: tuple[Network, ...]) -> Any:
    def one(net: Network) -> Any:
        if net.prefixlen == net.max_prefixlen:
            return str(net.network_address)
        return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}

    return one(networks[0]) if len(networks) == 1 else {"set": [one(n) for n in networks]}


def _json_port(port: Port) -> Any:
    if isinstance(port, str):
        low, high = port.split("-")
        return {"range": [int(low), int(high)]}
    return port


def _icmp_protos(family: Optional[int]) -> list[str]:
    return [ICMP[family]] if family else [ICMP[4], ICMP[6]]


def _rule_command(rule: NftRule) -> dict[str, Any]:
    expr: list[dict[str, Any]] = []
    if rule.iif:
        expr.append(_match({"meta": {"key": "iifname"}}, rule.iif))
    if rule.oif:
        expr.append(_match({"meta": {"key": "oifname"}}, rule.oif))
    for field, networks in (("saddr", rule.saddr), ("daddr", rule.daddr)):
        if networks:
            expr.append(_match({"payload": {"protocol": L3[rule.family], "field": field}},
                               _json_addresses(networks)))
    if rule.established:
        expr.append(_match({"ct": {"key": "state"}}, ["established", "related"], op="in"))
    if rule.icmpv6_nd:
        expr.append(_match({"payload": {"protocol": "icmpv6", "field": "type"}}, {"set": list(ND_TYPES)}))
    if rule.proto in ("tcp", "udp") and rule.dport is not None:
        expr.append(_match({"payload": {"protocol": rule.proto, "field": "dport"}}, _json_port(rule.dport)))
    elif rule.proto == "icmp":
        protos = _icmp_protos(rule.family)
        expr.append(_match({"meta": {"key": "l4proto"}}, protos[0] if len(protos) == 1 else {"set": protos}))
    elif rule.proto is not None:
        expr.append(_match({"meta": {"key": "l4proto"}}, rule.proto))
    if rule.verdict == "dnat":
        address, port = rule.dnat_to
        expr.append({"dnat": {"family": L3[rule.family], "addr": address, "port": port}})
    else:
        expr.append({rule.verdict: None})
    body: dict[str, Any] = {"family": FAMILY, "table": TABLE, "chain": rule.chain, "expr": expr}
    if rule.comment:
        body["comment"] = rule.comment
    return {"add": {"rule": body}}


# -- nft -f text ---------------------------------------------------------
def _text_addresses(networks: tuple[Network, ...]) -> str:
    def one(net: Network) -> str:
        return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)

    return one(networks[0]) if len(networks) == 1 else "{ " + ", ".join(one(n) for n in networks) + " }"


def rule_text(rule: NftRule) -> str:
    """One rule in nft syntax, as ``nft list`` prints it."""
    parts: list[str] = []
    if rule.iif:
        parts.append(f'iifname "{rule.iif}"')
    if rule.oif:
        parts.append(f'oifname "{rule.oif}"')
    for field, networks in (("saddr", rule.saddr), ("daddr", rule.daddr)):
        if networks:
            parts.append(f"{L3[rule.family]} {field} {_text_addresses(networks)}")
    if rule.established:
        parts.append("ct state established,related")
    if rule.icmpv6_nd:
        parts.append("icmpv6 type { " + ", ".join(ND_TYPES) + " }")
    if rule.proto in ("tcp", "udp") and rule.dport is not None:
        parts.append(f"{rule.proto} dport {rule.dport}")
    elif rule.proto == "icmp":
        protos = _icmp_protos(rule.family)
        parts.append("meta l4proto " + (protos[0] if len(protos) == 1 else "{ " + ", ".join(protos) + " }"))
    elif rule.proto is not None:
        parts.append(f"meta l4proto {rule.proto}")
    if rule.verdict == "dnat":
        address, port = rule.dnat_to
        host = f"[{address}]" if rule.family == 6 else address
        parts.append(f"dnat {L3[rule.family]} to {host}:{port}")
    else:
        parts.append(rule.verdict)
    if rule.comment:
        parts.append(f'comment "{rule.comment}"')
    return " ".join(parts)


def render_text(chains: list[ChainSpec], rules: list[NftRule], digest: str) -> str:
    """The table as ``nft -f`` input that replaces it atomically."""
    lines = [
        "# one transaction: make sure the table exists, delete it, define it anew",
        f"add table {FAMILY} {TABLE}",
        f"delete table {FAMILY} {TABLE}",
        f"table {FAMILY} {TABLE} {{",
        f'\tcomment "{DIGEST_PREFIX}{digest}"',
    ]
    for index, chain in enumerate(chains):
        kind, hook, _, prio_name = CHAIN_TYPES[chain.name]
        if index:
            lines.append("")
        lines.append(f"\tchain {chain.name} {{")
        lines.append(f"\t\ttype {kind} hook {hook} priority {prio_name}; policy {chain.policy};")
        lines += [f"\t\t{rule_text(rule)}" for rule in rules if rule.chain == chain.name]
        lines.append("\t}")
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- iptables ------------------------------------------------------------
def _ipt_addresses(networks: tuple[Network, ...]) -> str:
    return ",".join(str(n) if n.prefixlen != n.max_prefixlen else str(n.network_address)
                    for n in networks)


def rule_iptables(rule: NftRule, family: int) -> list[list[str]]:
    """The rule as iptables (family 4) or ip6tables (6) commands."""
    chain = IPTABLES_CHAIN[rule.chain]
    head = [BINARY[family]] + (["-t", "nat"] if rule.chain in NAT_CHAINS else []) + ["-A", chain]
    args: list[str] = []
    if rule.iif:
        args += ["-i", rule.iif]
    if rule.proto is not None:
        args += ["-p", ICMP[family] if rule.proto == "icmp" else rule.proto]
    if rule.saddr:
        args += ["-s", _ipt_addresses(rule.saddr)]
    if rule.daddr:
        args += ["-d", _ipt_addresses(rule.daddr)]
    if rule.oif:
        args += ["-o", rule.oif]
    if rule.dport is not None:
        args += ["--dport", str(rule.dport).replace("-", ":")]
    if rule.established:
        args += ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED"]
    if rule.comment:
        args += ["-m", "comment", "--comment", rule.comment]
    if rule.verdict == "dnat":
        address, port = rule.dnat_to
        host = f"[{address}]" if family == 6 else address
        target = ["-j", "DNAT", "--to-destination", f"{host}:{port}"]
    else:
        target = ["-j", rule.verdict.upper()]
    if rule.icmpv6_nd:  # one ICMPv6 type per ip6tables rule
        return [head + ["-p", ICMP[6], "--icmpv6-type", kind] + args + target for kind in ND_TYPES_IPTABLES]
    return [head + args + target]


def render_iptables(chains: list[ChainSpec], rules: list[NftRule],
                    families: tuple[int, ...]) -> tuple[tuple[str, ...], ...]:
    """The same table as iptables/ip6tables commands, chain by chain."""
    commands: list[list[str]] = []
    for chain in chains:
        if chain.policy != "accept":
            commands += [[BINARY[f], "-P", IPTABLES_CHAIN[chain.name], chain.policy.upper()] for f in families]
        for rule in rules:
            if rule.chain != chain.name:
                continue
            for family in (rule.family,) if rule.family else families:
                commands += rule_iptables(rule, family)
    return tuple(tuple(argv) for argv in commands)

