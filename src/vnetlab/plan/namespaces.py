"""Ops on namespaces themselves: making, removing, and their sysctls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from vnetlab.plan.base import Op


@dataclass(frozen=True)
class CreateNamespace(Op):
    """A node's network namespace, pinned at /run/netns/NETNS."""

    name: ClassVar[str] = "create_netns"

    def commands(self) -> list[list[str]]:
        return [["ip", "netns", "add", self.netns]]


@dataclass(frozen=True)
class DeleteNamespace(Op):
    """Removes a namespace and, with it, every interface inside."""

    name: ClassVar[str] = "delete_netns"

    def commands(self) -> list[list[str]]:
        return [["ip", "netns", "del", self.netns]]


@dataclass(frozen=True)
class SetSysctl(Op):
    """A per-namespace sysctl (forwarding, IPv6 autoconf...)."""

    name: ClassVar[str] = "sysctl"
    key: str = ""
    value: str = ""

    def commands(self) -> list[list[str]]:
        return [["ip", "netns", "exec", self.netns, "sysctl", "-qw", f"{self.key}={self.value}"]]
