"""Firewall ops: a node's nftables table, applied or removed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from vnetlab.plan.base import Op


@dataclass(frozen=True)
class ApplyRuleset(Op):
    """A node's nftables table (firewall and NAT), replaced atomically.

    ``text`` is the ruleset in ``nft -f`` syntax (what is applied, and what
    ``vnetlab plan`` shows); ``ruleset`` the same as libnftables JSON
    commands; ``iptables`` the equivalent iptables/ip6tables argv lists;
    ``digest`` the sha256 of the desired content, kept in the table's
    comment so an unchanged table is left alone."""

    name: ClassVar[str] = "apply_ruleset"
    table: str = "vnetlab"
    family: str = "inet"
    ruleset: str = ""
    text: str = ""
    iptables: tuple[tuple[str, ...], ...] = ()
    digest: str = ""

    def __post_init__(self) -> None:
        # from_dict turns only the outer JSON list into a tuple.
        object.__setattr__(self, "iptables", tuple(tuple(argv) for argv in self.iptables))

    def commands(self) -> list[list[str]]:
        return [["nft", "-f", "-"]]

    def script(self) -> str:
        """The ruleset as ``nft -f`` input."""
        return self.text


@dataclass(frozen=True)
class DeleteRuleset(Op):
    """Removes a node's nftables table (absent is fine)."""

    name: ClassVar[str] = "delete_ruleset"
    table: str = "vnetlab"
    family: str = "inet"

    def commands(self) -> list[list[str]]:
        return [["nft", "delete", "table", self.family, self.table]]
