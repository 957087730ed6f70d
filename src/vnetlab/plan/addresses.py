"""Ops on layer 3: addresses on interfaces and static routes."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from vnetlab.plan.base import Key, Op, _ip_n


def norm_address(address: str) -> str:
    """An address as the kernel lists it (``2001:db8::0001/64`` -> ``2001:db8::1/64``)."""
    return str(ipaddress.ip_interface(address))


def norm_route(family: int, to: str, via: Optional[str]) -> str:
    """A route's identity as one comparable string: destination, gateway, family of 'default'."""
    if to not in ("default",):
        net = ipaddress.ip_network(to, strict=False)
        to = "default" if net.prefixlen == 0 else str(net)
    text = to
    if via:
        text += f" via {ipaddress.ip_address(via)}"
    return text + (" (IPv6)" if family == 6 and to == "default" else "")


@dataclass(frozen=True)
class AddAddress(Op):
    """An address on an interface (IPv6 without DAD: the lab is ours)."""

    name: ClassVar[str] = "add_address"
    observed: ClassVar[bool] = True
    ifname: str = ""
    address: str = ""

    def commands(self) -> list[list[str]]:
        cmd = _ip_n(self.netns) + ["addr", "add", self.address, "dev", self.ifname]
        return [cmd + ["nodad"] if ":" in self.address else cmd]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("address", self.netns, f"{self.ifname} {norm_address(self.address)}"), "present"),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return DeleteAddress(self.netns, ifname=self.ifname, address=self.address)


@dataclass(frozen=True)
class DeleteAddress(Op):
    """Removes an address from an interface."""

    name: ClassVar[str] = "delete_address"
    removes: ClassVar[bool] = True
    ifname: str = ""
    address: str = ""

    def commands(self) -> list[list[str]]:
        return [_ip_n(self.netns) + ["addr", "del", self.address, "dev", self.ifname]]

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return AddAddress(self.netns, ifname=self.ifname, address=self.address)


@dataclass(frozen=True)
class AddRoute(Op):
    """A static route; ``to`` is a CIDR or 'default' (family from ``family``)."""

    name: ClassVar[str] = "add_route"
    observed: ClassVar[bool] = True
    follows_links: ClassVar[bool] = True
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

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("route", self.netns, norm_route(self.family, self.to, self.via)), "present"),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return DeleteRoute(self.netns, to=self.to, via=self.via, dev=self.dev, family=self.family)


@dataclass(frozen=True)
class DeleteRoute(AddRoute):
    """Removes a static route."""

    name: ClassVar[str] = "delete_route"
    observed: ClassVar[bool] = False
    removes: ClassVar[bool] = True

    def commands(self) -> list[list[str]]:
        six = ["-6"] if self.family == 6 and self.to == "default" else []
        return [["ip", *six, "-n", self.netns, "route", "del", *self._spec()]]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ()

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return AddRoute(self.netns, to=self.to, via=self.via, dev=self.dev, family=self.family)
