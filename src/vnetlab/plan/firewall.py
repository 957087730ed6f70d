"""Firewall ops: a node's nftables table, applied or removed."""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from vnetlab.plan.base import Key, Op

# An applied table's comment is DIGEST_PREFIX + the digest of its desired content.
DIGEST_PREFIX = "vnetlab sha256:"


def digest_of(text: str) -> Optional[str]:
    """The digest in the comment of a listed ``inet vnetlab`` table, if any."""
    for line in text.splitlines()[1:2]:  # the comment is the line after "table ... {"
        stripped = line.strip()
        if stripped.startswith(f'comment "{DIGEST_PREFIX}') and stripped.endswith('"'):
            return stripped[len(f'comment "{DIGEST_PREFIX}'):-1]
    return None


@dataclass(frozen=True)
class ApplyRuleset(Op):
    """A node's nftables table (firewall and NAT), replaced atomically.

    ``text`` is the ruleset in ``nft -f`` syntax (what is applied, and what
    ``vnetlab plan`` shows); ``ruleset`` the same as libnftables JSON
    commands; ``iptables`` the equivalent iptables/ip6tables argv lists;
    ``digest`` the sha256 of the desired content, kept in the table's
    comment so an unchanged table is left alone."""

    name: ClassVar[str] = "apply_ruleset"
    observed: ClassVar[bool] = True
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

    def command_lines(self) -> list[str]:
        """``nft -f -`` with the ruleset as a here-document."""
        return [f"ip netns exec {self.netns} nft -f - <<'EOF'", *self.script().rstrip().splitlines(), "EOF"]

    def plan_lines(self) -> list[str]:
        """The here-document, then the same table as iptables commands."""
        prefix = f"ip netns exec {shlex.quote(self.netns)} "
        return [f"{prefix}nft -f - <<'EOF'", *f"{self.script().rstrip()}\nEOF".split("\n"),
                "# the same with iptables:", *(prefix + shlex.join(command) for command in self.iptables)]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("ruleset", self.netns, f"{self.family} {self.table}"), self.digest),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        """``previous``: the table that was there (an ApplyRuleset), None: none."""
        return previous if previous is not None else DeleteRuleset(self.netns, table=self.table, family=self.family)

    def unconditional(self) -> Op:
        return dataclasses.replace(self, digest="")  # no digest: never "already there"


@dataclass(frozen=True)
class DeleteRuleset(Op):
    """Removes a node's nftables table (absent is fine)."""

    name: ClassVar[str] = "delete_ruleset"
    removes: ClassVar[bool] = True
    table: str = "vnetlab"
    family: str = "inet"

    def commands(self) -> list[list[str]]:
        return [["nft", "delete", "table", self.family, self.table]]

    def inverse(self, previous: Any = None) -> Optional[Op]:
        """``previous``: the table that was there (an ApplyRuleset that restores it)."""
        return previous
