"""Ops on layer 3: addresses on interfaces and static routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from vnetlab.plan.base import Op, _ip_n


@dataclass(frozen=True)
class AddAddress(Op):
    """An address on an interface (IPv6 without DAD: the lab is ours)."""

    name: ClassVar[str] = "add_address"
    ifname: str = ""
    address: str = ""

    def commands(self) -> list[list[str]]:
        cmd = _ip_n(self.netns) + ["addr", "add", self.address, "dev", self.ifname]
        return [cmd + ["nodad"] if ":" in self.address else cmd]


@dataclass(frozen=True)
class DeleteAddress(Op):
    """Removes an address from an interface."""

    name: ClassVar[str] = "delete_address"
    ifname: str = ""
    address: str = ""

    def commands(self) -> list[list[str]]:
        return [_ip_n(self.netns) + ["addr", "del", self.address, "dev", self.ifname]]


@dataclass(frozen=True)
class AddRoute(Op):
    """A static route; ``to`` is a CIDR or 'default' (family from ``family``)."""

    name: ClassVar[str] = "add_route"
    to: str = ""
    via: Optional[str] = None
    dev: Optional[str] = None
    family: int = 4

    def _spec(self) -> list[str]:
        spec = [self.to]
        if self.via:
            spec += ["via", self.via]
        if self.dev:
            spec += ["dev", self.dev]
        return spec

    def commands(self) -> list[list[str]]:
        six = ["-6"] if self.family == 6 and self.to == "default" else []
        return [["ip", *six, "-n", self.netns, "route", "add", *self._spec()]]


@dataclass(frozen=True)
class DeleteRoute(AddRoute):
    """Removes a static route."""

    name: ClassVar[str] = "delete_route"

    def commands(self) -> list[list[str]]:
        six = ["-6"] if self.family == 6 and self.to == "default" else []
        return [["ip", *six, "-n", self.netns, "route", "del", *self._spec()]]
