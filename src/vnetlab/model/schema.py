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
    AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator,
)
from pydantic_core import PydanticCustomError

from vnetlab.model.kinds import INTERFACE_TYPES, MODES, NODE_KINDS  # the one list of kind names
from vnetlab.names import LAB_NAME, NODE_NAME

# The kernel refuses "", ".", "..", names with '/', ':' or whitespace and
# names over 15 bytes (IFNAMSIZ - 1). We are stricter than the kernel on
# purpose: the names end up in argv lists shown to users and must be
# unambiguous in "node:ifname" references.
IFNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,14}$")

BRIDGE_BACKENDS = ("linux", "ovs", "auto")
BOND_MODES = MODES["bond"]
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
    if name in (".", "..") or not IFNAME.fullmatch(name):
        raise ValueError(
            f"interface name {name!r} has characters the kernel or vnetlab refuses — "
            "use letters, digits, '_', '-' and '.', e.g. eth0"
        )
    return name


def check_node_name(name: str) -> str:
    """Raises ValueError unless ``name`` matches the node-name pattern."""
    if not isinstance(name, str) or not NODE_NAME.fullmatch(name):
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


def check_vlan_id(value: int) -> int:
    """A VLAN id 1–4094 (0 and 4095 are reserved by 802.1Q)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4094:
        raise ValueError(f"VLAN id {value!r} is outside 1–4094 — 0 and 4095 are reserved by 802.1Q")
    return value


VlanId = Annotated[int, AfterValidator(check_vlan_id)]


class Interface(Strict):
    """One interface of a node. Without ``type`` it is a link end (veth)."""

    type: Optional[str] = None
    address: Optional[Address] = None
    addresses: list[Address] = Field(default_factory=list)
    ports: list[str] = Field(default_factory=list)
    mtu: Optional[int] = Field(default=None, ge=68, le=65535)
    mac: Optional[str] = None
    # -- L2 (issue 4): bridge-port settings live on the port's own entry --
    vlan: Optional[VlanId] = None            # access port: untagged in this VLAN
    trunk: Optional[list[VlanId]] = None     # trunk port: tagged, these VLANs
    vlan_aware: bool = False                 # bridges: filter by VLAN
    backend: Literal["linux", "ovs", "auto"] = "auto"  # bridges: Linux bridge or Open vSwitch
    flows: list[str] = Field(default_factory=list)     # OVS bridges: ovs-ofctl flow syntax
    controller: Optional[str] = None         # OVS bridges: "builtin" or "tcp:IP:PORT"
    members: list[str] = Field(default_factory=list)   # bonds
    mode: Optional[Literal[tuple(m for modes in MODES.values() for m in modes)]] = None  # type: ignore[valid-type]  # bonds
    parent: Optional[str] = None             # type: vlan — the bridge or interface it sits on
    id: Optional[VlanId] = None              # type: vlan — the VLAN id

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and value not in INTERFACE_TYPES:
            raise ValueError(
                f"unknown interface type {value!r} — use one of: {', '.join(INTERFACE_TYPES)}"
            )
        return value

    @field_validator("mode", mode="before")
    @classmethod
    def _mode_of_its_type(cls, value: Any, info: ValidationInfo) -> Any:
        # One Literal holds every type's modes; a typo lists only its own type's.
        modes = MODES.get(info.data.get("type") or "")
        if value is not None and modes is not None and value not in modes:
            listed = ", ".join(repr(m) for m in modes[:-1]) + f" or {modes[-1]!r}"
            raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": listed})
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


def check_destination(value: str) -> str:
    """A route's ``to``: ``default`` or a CIDR without host bits; raises ValueError otherwise."""
    if value == "default":
        return value
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        try:
            fixed = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a destination — write a CIDR like 10.1.0.0/24 or 'default'"
            ) from None
        raise ValueError(f"{value!r} has host bits set — write {fixed}") from None
    return value


def check_gateway(value: Optional[str]) -> Optional[str]:
    """A route's ``via``: an IP address; raises ValueError otherwise."""
    if value is not None:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IP address — write the gateway's address, e.g. 10.0.0.254"
            ) from None
    return value


def same_family(to: str, via: Optional[str]) -> bool:
    """Whether a route's ``to`` and ``via`` are of one IP version (``default`` fits both)."""
    if via is None or to == "default":
        return True
    return ipaddress.ip_address(via).version == ipaddress.ip_network(to).version


class Route(Strict):
    """A static route: ``to`` a CIDR or ``default``, ``via`` a gateway and/or ``dev``."""

    to: str
    via: Optional[str] = None
    dev: Optional[str] = None

    @field_validator("to")
    @classmethod
    def _destination(cls, value: str) -> str:
        return check_destination(value)

    @field_validator("via")
    @classmethod
    def _gateway(cls, value: Optional[str]) -> Optional[str]:
        return check_gateway(value)

    @model_validator(mode="after")
    def _needs_target(self) -> "Route":
        if self.via is None and self.dev is None:
            raise ValueError("a route needs 'via' (a gateway) or 'dev' (an interface), or both")
        if not same_family(self.to, self.via):
            raise ValueError("'to' and 'via' must both be IPv4 or both IPv6")
        return self


# -- firewall, NAT, services (issue 3) -------------------------------------
RULE_ACTIONS = ("accept", "drop", "reject")
RULE_PROTOS = ("tcp", "udp", "icmp", "any")
SERVICE_PROTOS = ("tcp", "udp")


def check_port_spec(value: Any) -> Any:
    """A port number 1–65535 or a range "a-b"; raises ValueError otherwise."""
    if value is None:
        return value
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a port — write a number 1–65535 or a range like 8000-8080")
    if isinstance(value, int):
        low = high = value
    elif isinstance(value, str) and re.fullmatch(r"\d+-\d+", value):
        low, high = (int(part) for part in value.split("-"))
        if low > high:
            raise ValueError(f"port range {value!r} is backwards — write {high}-{low}")
    else:
        raise ValueError(f"{value!r} is not a port — write a number 1–65535 or a range like 8000-8080")
    for port in (low, high):
        if not 1 <= port <= 65535:
            raise ValueError(f"port {port} is outside 1–65535")
    return value


def check_port(value: int) -> int:
    """A single port number 1–65535."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"{value!r} is not a port — write a number from 1 to 65535")
    return value


PortSpec = Annotated[Optional[Union[int, str]], AfterValidator(check_port_spec)]
Port = Annotated[int, AfterValidator(check_port)]


class FirewallRule(Strict):
    """One rule of a chain; every given field must match.

    ``from``/``to`` are an address, a CIDR or a node name (its addresses);
    ``in``/``out`` are interfaces of this node."""

    action: Literal["accept", "drop", "reject"]
    proto: Literal["tcp", "udp", "icmp", "any"] = "any"
    port: PortSpec = None
    from_: Optional[str] = Field(default=None, alias="from")
    to: Optional[str] = None
    in_: Optional[str] = Field(default=None, alias="in")
    out: Optional[str] = None
    comment: Optional[str] = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _port_needs_proto(self) -> "FirewallRule":
        if self.port is not None and self.proto not in ("tcp", "udp"):
            raise ValueError("'port' needs proto: tcp or udp")
        return self


class Chain(Strict):
    """A filter chain: rules in order, then the policy."""

    policy: Literal["accept", "drop"] = "accept"
    rules: list[FirewallRule] = Field(default_factory=list)


class Firewall(Strict):
    """The node's packet filter; with policy drop, loopback and
    established/related traffic are accepted first."""

    input: Optional[Chain] = None
    forward: Optional[Chain] = None
    output: Optional[Chain] = None


class Masquerade(Strict):
    """SNAT to the address of ``out`` for packets from ``source`` (all if absent)."""

    source: Optional[str] = None
    out: str = Field(json_schema_extra={
        "missing": "masquerade needs 'out' — the interface whose address packets leave with, "
                   "e.g. out: vmbr0"})

    @field_validator("source")
    @classmethod
    def _source(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"{value!r} is not a network — write a CIDR like 10.10.10.0/24") from None
        return value


class PortForward(Strict):
    """DNAT, like ``docker run -p 8080:80``: ``port`` arriving on ``in`` goes to ``to``."""

    in_: Optional[str] = Field(default=None, alias="in")
    proto: Literal["tcp", "udp"] = "tcp"
    port: Port
    to: str  # "ip:port" or "node:port"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Nat(Strict):
    """Source and destination NAT of a node."""

    masquerade: list[Masquerade] = Field(default_factory=list)
    forward: list[PortForward] = Field(default_factory=list)


class Service(Strict):
    """A listener the lab runs inside the node: built-in (``listen: tcp/80``)
    or any program (``command: [python3, -m, http.server, "8000"]``).

    A command service must keep running; ``oneshot: true`` marks one that is
    meant to finish (a setup script): ``up`` waits for it, and it must exit 0."""

    listen: Optional[str] = None
    command: Optional[list[str]] = None
    oneshot: bool = False

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return value
        match = re.fullmatch(r"(tcp|udp)/(\d+)", value)
        if not match:
            raise ValueError(f"{value!r} is not a listener — write tcp/PORT or udp/PORT, e.g. tcp/80")
        check_port(int(match.group(2)))
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        if value is not None and (not value or not all(isinstance(a, str) and a for a in value)):
            raise ValueError("'command' is a non-empty list of arguments, e.g. [python3, -m, http.server, \"8000\"]")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> "Service":
        if (self.listen is None) == (self.command is None):
            raise ValueError("a service has exactly one of 'listen' (tcp/80) or 'command' ([prog, args...])")
        if self.oneshot and self.command is None:
            raise ValueError("'oneshot' is for a command service (a program that runs once and exits) — "
                             "drop it from this listener")
        return self

    @property
    def proto_port(self) -> Optional[tuple[str, int]]:
        """('tcp', 80) for a built-in listener, else None."""
        if self.listen is None:
            return None
        proto, port = self.listen.split("/")
        return proto, int(port)


class Node(Strict):
    """A node: one network namespace named ``<lab>-<node>``."""

    kind: str = "host"
    description: Optional[str] = None
    interfaces: dict[IfName, Interface] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    forwarding: Optional[bool] = None
    firewall: Optional[Firewall] = None
    nat: Optional[Nat] = None
    services: list[Service] = Field(default_factory=list)
    # A switch node's br0 settings (issue 4): same meaning as on a bridge.
    backend: Literal["linux", "ovs", "auto"] = "auto"
    vlan_aware: bool = False
    flows: list[str] = Field(default_factory=list)
    controller: Optional[str] = None

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
    seen_as: Optional[str] = None  # the source address the target's built-in service must report
    via: list[str] = Field(default_factory=list)  # nodes a trace of the probe must pass (issue 5)
    dropped_by: Optional[str] = None  # the node where a trace of the probe must be dropped (issue 5)

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
        if self.seen_as is not None and self.expect != "open":
            raise ValueError("'seen_as' needs expect: open (the service must answer to report the source)")
        if self.dropped_by is not None and self.expect not in ("no-reach", "filtered", "closed"):
            raise ValueError("'dropped_by' needs expect: no-reach, filtered or closed (a packet that is "
                             "dropped cannot reach)")
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
        if not LAB_NAME.fullmatch(value):
            raise ValueError(
                f"lab name {value!r} is not allowed — use 1–10 lowercase letters and digits, "
                "starting with a letter, e.g. redblue"
            )
        return value


AnyAddress = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]
Kind = Literal[tuple(NODE_KINDS)]  # type: ignore[valid-type]  # the declared node kinds
