"""Ops on namespaces themselves: making, removing, and their sysctls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from vnetlab.plan.base import Key, Op


@dataclass(frozen=True)
class CreateNamespace(Op):
    """A node's network namespace, pinned at /run/netns/NETNS."""

    name: ClassVar[str] = "create_netns"
    observed: ClassVar[bool] = True
    makes_netns: ClassVar[bool] = True

    def commands(self) -> list[list[str]]:
        return [["ip", "netns", "add", self.netns]]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("node", self.netns, ""), "present"),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return DeleteNamespace(self.netns)


@dataclass(frozen=True)
class DeleteNamespace(Op):
    """Removes a namespace and, with it, every interface inside."""

    name: ClassVar[str] = "delete_netns"
    removes: ClassVar[bool] = True
    removes_netns: ClassVar[bool] = True

    def commands(self) -> list[list[str]]:
        return [["ip", "netns", "del", self.netns]]

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return CreateNamespace(self.netns)


@dataclass(frozen=True)
class SetSysctl(Op):
    """A per-namespace sysctl (forwarding, IPv6 autoconf...)."""

    name: ClassVar[str] = "sysctl"
    observed: ClassVar[bool] = True
    key: str = ""
    value: str = ""

    def commands(self) -> list[list[str]]:
        return [["ip", "netns", "exec", self.netns, "sysctl", "-qw", f"{self.key}={self.value}"]]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("sysctl", self.netns, self.key), self.value),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        """``previous``: the value before (None: unknown, no undo)."""
        return None if previous is None else SetSysctl(self.netns, key=self.key, value=previous)
