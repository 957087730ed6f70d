"""The lab file's schema (v1): pure pydantic models, no I/O, no root.

Field-level rules (patterns, CIDRs, enums) live here; rules that relate
several parts of the file (links, subnets, gateways) live in
``model/validate.py``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator,
)

LAB_NAME = re.compile(r"^[a-z][a-z0-9]{0,9}$")
NODE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,14}$")
# The kernel refuses "", ".", "..", names with '/', ':' or whitespace and
# names over 15 bytes (IFNAMSIZ - 1). We are stricter than the kernel on
# purpose: the names end up in argv lists shown to users and must be
# unambiguous in "node:ifname" references.
IFNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,14}$")

NODE_KINDS = ("host", "router", "switch", "vm")
INTERFACE_TYPES = ("veth", "bridge", "tap")
CHECK_EXPECTS = ("reach", "no-reach", "open", "closed", "filtered")
CHECK_PROTOS = ("icmp", "tcp", "udp")


class Strict(BaseModel):
    """Base for every lab-file object: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_empty(cls, data: Any) -> Any:
        # "eno1:" with nothing after it reads as null in YAML; users mean "{}".
        return {} if data is None else data


def parse_interface_address(value: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    """Parses 'ADDR/PREFIX' strictly; raises ValueError with advice."""
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(
            f"{value!r} has no prefix length — write it as ADDRESS/PREFIX, e.g. 10.0.0.1/24"
        )
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a valid address/prefix — write e.g. 10.0.0.1/24 or fd00::1/64"
        ) from None
    if iface.ip.is_multicast or iface.ip.is_unspecified:
        raise ValueError(f"{value!r} cannot be an interface address — use a unicast address")
    net = iface.network
    if net.prefixlen < net.max_prefixlen - 1 and iface.ip in (net.network_address, net.broadcast_address) \
            and iface.version == 4:
        raise ValueError(
            f"{value!r} is the {'network' if iface.ip == net.network_address else 'broadcast'} "
            f"address of {net} — pick a host address inside it"
        )
    return iface


def check_address(value: str) -> str:
    """Returns ``value`` if it is a valid interface address; raises ValueError otherwise."""
    parse_interface_address(value)
    return value


def check_ifname(name: str) -> str:
    """Raises ValueError unless ``name`` is an interface name the kernel accepts."""
    if not isinstance(name, str):
        raise ValueError(f"interface name {name!r} must be a string")
    if len(name.encode()) > 15:
        raise ValueError(
            f"interface name {name!r} is {len(name.encode())} bytes — the kernel allows at most 15"
        )
    if name in (".", "..") or not IFNAME.match(name):
        raise ValueError(
            f"interface name {name!r} has characters the kernel or vnetlab refuses — "
            "use letters, digits, '_', '-' and '.', e.g. eth0"
        )
    return name


def check_node_name(name: str) -> str:
    """Raises ValueError unless ``name`` matches the node-name pattern."""
    if not isinstance(name, str) or not NODE_NAME.match(name):
        raise ValueError(
            f"node name {name!r} is not allowed — use 1–15 lowercase letters, digits and '-', "
            "starting with a letter, e.g. red or web-1"
        )
    return name


# Names are validated as dict keys, so an error points at the offending key.
IfName = Annotated[str, AfterValidator(check_ifname)]
NodeName = Annotated[str, AfterValidator(check_node_name)]
# Each address is checked on its own, so an error points at the list item.
Address = Annotated[str, AfterValidator(check_address)]


class Interface(Strict):
    """One interface of a node. Without ``type`` it is a link end (veth)."""

    type: Optional[str] = None
    address: Optional[Address] = None
    addresses: list[Address] = Field(default_factory=list)
    ports: list[str] = Field(default_factory=list)
    mtu: Optional[int] = Field(default=None, ge=68, le=65535)
    mac: Optional[str] = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and value not in INTERFACE_TYPES:
            raise ValueError(
                f"unknown interface type {value!r} — use one of: {', '.join(INTERFACE_TYPES)}"
            )
        return value

    @field_validator("mac")
    @classmethod
    def _mac(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", value):
            raise ValueError(f"{value!r} is not a MAC address — write e.g. 02:00:00:00:00:01")
        if value is not None and int(value[:2], 16) & 1:
            raise ValueError(f"{value!r} is a multicast MAC — the first octet must be even, e.g. 02")
        return value

    @model_validator(mode="after")
    def _shape(self) -> "Interface":
        if self.address is not None and self.addresses:
            raise ValueError("give either 'address' or 'addresses', not both")
        if self.ports and self.type != "bridge":
            raise ValueError("'ports' is only for interfaces with type: bridge")
        return self

    def all_addresses(self) -> list[str]:
        """The interface's addresses in file order."""
        return ([self.address] if self.address else []) + list(self.addresses)


class Route(Strict):
    """A static route: ``to`` a CIDR or ``default``, ``via`` a gateway and/or ``dev``."""

    to: str
    via: Optional[str] = None
    dev: Optional[str] = None

    @field_validator("to")
    @classmethod
    def _destination(cls, value: str) -> str:
        if value == "default":
            return value
        try:
            net = ipaddress.ip_network(value, strict=True)
        except ValueError:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a destination — write a CIDR like 10.1.0.0/24 or 'default'"
                ) from None
            fixed = ipaddress.ip_network(value, strict=False)
            raise ValueError(f"{value!r} has host bits set — write {fixed}") from None
        del net
        return value

    @field_validator("via")
    @classmethod
    def _gateway(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not an IP address — write the gateway's address, e.g. 10.0.0.254"
                ) from None
        return value

    @model_validator(mode="after")
    def _needs_target(self) -> "Route":
        if self.via is None and self.dev is None:
            raise ValueError("a route needs 'via' (a gateway) or 'dev' (an interface), or both")
        if self.via is not None and self.to != "default":
            if ipaddress.ip_address(self.via).version != ipaddress.ip_network(self.to).version:
                raise ValueError("'to' and 'via' must both be IPv4 or both IPv6")
        return self


class Node(Strict):
    """A node: one network namespace named ``<lab>-<node>``."""

    kind: str = "host"
    description: Optional[str] = None
    interfaces: dict[IfName, Interface] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    forwarding: Optional[bool] = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in NODE_KINDS:
            raise ValueError(f"unknown kind {value!r} — use one of: {', '.join(NODE_KINDS)}")
        return value

    @property
    def forwards(self) -> bool:
        """Whether IP forwarding is on: explicit, else true for routers."""
        return self.forwarding if self.forwarding is not None else self.kind == "router"


class Check(Strict):
    """One assertion about the running lab."""

    from_: str = Field(alias="from")
    to: str
    proto: str = "icmp"
    expect: str = "reach"
    timeout: float = Field(default=1.0, gt=0, le=30)
    name: Optional[str] = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("proto")
    @classmethod
    def _proto(cls, value: str) -> str:
        if value not in CHECK_PROTOS:
            raise ValueError(f"unknown proto {value!r} — use one of: {', '.join(CHECK_PROTOS)}")
        return value

    @field_validator("expect")
    @classmethod
    def _expect(cls, value: str) -> str:
        if value not in CHECK_EXPECTS:
            raise ValueError(f"unknown expectation {value!r} — use one of: {', '.join(CHECK_EXPECTS)}")
        return value

    @model_validator(mode="after")
    def _proto_matches_expect(self) -> "Check":
        if self.proto == "icmp" and self.expect not in ("reach", "no-reach"):
            raise ValueError(
                f"expect: {self.expect} needs proto: tcp or udp and a port in 'to' (\"node:80\")"
            )
        if self.proto != "icmp" and self.expect in ("reach", "no-reach"):
            raise ValueError(
                f"proto: {self.proto} checks expect open, closed or filtered — "
                "use proto: icmp for reach/no-reach"
            )
        return self

    def label(self) -> str:
        """A short human description of the check."""
        if self.name:
            return self.name
        return f"{self.from_} -> {self.to} {self.proto} {self.expect}"


LinkEnd = str  # "node:ifname"


class LabSpec(Strict):
    """The whole lab file."""

    lab: str
    description: Optional[str] = None
    nodes: dict[NodeName, Node] = Field(default_factory=dict)
    links: list[list[LinkEnd]] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)

    @field_validator("lab")
    @classmethod
    def _lab_name(cls, value: str) -> str:
        if not LAB_NAME.match(value):
            raise ValueError(
                f"lab name {value!r} is not allowed — use 1–10 lowercase letters and digits, "
                "starting with a letter, e.g. redblue"
            )
        return value


AnyAddress = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]
Kind = Literal["host", "router", "switch", "vm"]
