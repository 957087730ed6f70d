"""The lab file's schema (v1): pure pydantic models, no I/O, no root.

Field-level rules (patterns, CIDRs, enums) live here; rules that relate
several parts of the file (links, subnets, gateways) live in
``model/validate.py``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Callable, Literal, Optional, Union

from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, ValidationInfo,
    field_validator, model_validator,
)
from pydantic_core import PydanticCustomError

from vnetlab.model import impairment
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

# -- DHCP, DNS and router advertisements (issue 13) ---------------------------
# An interface's address may be one of these words instead of ADDRESS/PREFIX:
# the address then comes from the segment's DHCP server (IPv4) or from its
# router advertisements (IPv6 SLAAC, the kernel's own autoconfiguration).
DYNAMIC_ADDRESSES = ("dhcp", "slaac")
# A DNS name (RFC 1123 labels); a DHCP host reservation's name is one label.
DNS_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
LEASE_TIME = re.compile(r"(\d+)([smhdw]?)")
LEASE_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MIN_LEASE = 120  # dnsmasq's own floor: it never hands out a shorter lease


def check_interface_address(value: str) -> str:
    """An interface's address: ADDRESS/PREFIX, or ``dhcp`` / ``slaac``; raises ValueError otherwise."""
    if value in DYNAMIC_ADDRESSES:
        return value
    if isinstance(value, str) and value.lower() in DYNAMIC_ADDRESSES:
        raise ValueError(f"write {value.lower()!r} in lowercase")
    try:
        return check_address(value)
    except ValueError as err:
        raise ValueError(f"{err} (or dhcp / slaac for an address the segment hands out)") from None


InterfaceAddress = Annotated[str, AfterValidator(check_interface_address)]


def check_ipv4(value: str) -> str:
    """A plain IPv4 address (no prefix); raises ValueError otherwise."""
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address — write e.g. 10.0.3.1") from None
    return value


def check_ip(value: str) -> str:
    """A plain IPv4 or IPv6 address (no prefix); raises ValueError otherwise."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address — write e.g. 10.0.3.20 or fd00:3::20") from None
    return value


def check_dns_name(value: str) -> str:
    """A DNS name: dot-separated labels of letters, digits and '-'; raises ValueError otherwise."""
    labels = value.split(".") if isinstance(value, str) else []
    if not labels or len(value) > 253 or not all(DNS_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{value!r} is not a DNS name — use letters, digits and '-' in dot-separated "
                         "labels, e.g. db or db.lab")
    return value


def check_hostname(value: str) -> str:
    """A host name: one DNS label; raises ValueError otherwise."""
    if not isinstance(value, str) or not DNS_LABEL.fullmatch(value):
        raise ValueError(f"{value!r} is not a host name — use one label of letters, digits and '-', e.g. web")
    return value


def check_mac(value: str) -> str:
    """A unicast MAC address; raises ValueError otherwise."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", value):
        raise ValueError(f"{value!r} is not a MAC address — write e.g. 02:00:00:00:00:01")
    if int(value[:2], 16) & 1:
        raise ValueError(f"{value!r} is a multicast MAC — the first octet must be even, e.g. 02")
    return value


def lease_seconds(value: str | int) -> int:
    """A lease time (``3600``, ``90s``, ``30m``, ``1h``, ``1d``, ``1w``) in seconds; raises ValueError."""
    match = LEASE_TIME.fullmatch(str(value)) if not isinstance(value, bool) else None
    if match is None:
        raise ValueError(f"{value!r} is not a lease time — write seconds or a number with s, m, h, d or w, "
                         "e.g. 1h or 30m")
    seconds = int(match.group(1)) * LEASE_UNITS[match.group(2)]
    if seconds < MIN_LEASE:
        raise ValueError(f"lease {value!r} is shorter than dnsmasq's minimum of 2 minutes — write 2m or more")
    return seconds


Ipv4 = Annotated[str, AfterValidator(check_ipv4)]
IpAddress = Annotated[str, AfterValidator(check_ip)]
DnsName = Annotated[str, AfterValidator(check_dns_name)]
HostName = Annotated[str, AfterValidator(check_hostname)]
Mac = Annotated[str, AfterValidator(check_mac)]


class DhcpHost(Strict):
    """A DHCP reservation: the client with ``mac`` always gets ``address`` (and the name ``name``)."""

    name: HostName
    mac: Mac
    address: Ipv4


class DhcpServer(Strict):
    """``dhcp:`` on a serving interface: dnsmasq hands out addresses of ``range`` on its segment."""

    range: str = Field(json_schema_extra={
        "missing": "dhcp needs 'range' — the addresses it hands out, e.g. range: 10.0.3.100-10.0.3.200"})
    lease: Union[int, str] = "1h"
    router: Optional[Ipv4] = None    # option 3; default: the interface's own address
    dns: Optional[Ipv4] = None       # option 6; default: the interface's own address when it serves DNS
    hosts: list[DhcpHost] = Field(default_factory=list)

    @field_validator("range")
    @classmethod
    def _range(cls, value: str) -> str:
        first, sep, last = value.partition("-") if isinstance(value, str) else ("", "", "")
        try:
            low, high = ipaddress.IPv4Address(first.strip()), ipaddress.IPv4Address(last.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a range of IPv4 addresses — write FIRST-LAST, "
                             "e.g. 10.0.3.100-10.0.3.200") from None
        if not sep or low > high:
            raise ValueError(f"range {value!r} is backwards — write {high}-{low}")
        return value

    @field_validator("lease")
    @classmethod
    def _lease(cls, value: Union[int, str]) -> Union[int, str]:
        lease_seconds(value)
        return value

    @property
    def bounds(self) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
        """The first and the last address of the range."""
        first, _, last = self.range.partition("-")
        return ipaddress.IPv4Address(first.strip()), ipaddress.IPv4Address(last.strip())

    @property
    def lease_seconds(self) -> int:
        """The lease time in seconds."""
        return lease_seconds(self.lease)


class RouterAdverts(Strict):
    """``ra:`` on a serving interface: dnsmasq announces ``prefix`` for SLAAC (RFC 4862)."""

    prefix: str = Field(json_schema_extra={
        "missing": "ra needs 'prefix' — the /64 its hosts form addresses in, e.g. prefix: \"fd00:3::/64\""})

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        try:
            network = ipaddress.IPv6Network(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv6 prefix without host bits — write e.g. \"fd00:3::/64\"") \
                from None
        if network.prefixlen != 64:
            raise ValueError(f"prefix {value!r} is a /{network.prefixlen} — SLAAC forms addresses in a /64 only, "
                             "e.g. \"fd00:3::/64\"")
        return value


class DnsServer(Strict):
    """``dns:`` on a serving interface: dnsmasq answers names there.

    It knows ``NODE.DOMAIN`` and ``NODE`` for every node of the lab with a
    static address (unless ``nodes: false``), its DHCP clients by the name
    they send, the reservations' names, and ``records``."""

    domain: Optional[DnsName] = None  # default: LAB.lab
    records: dict[DnsName, IpAddress] = Field(default_factory=dict)
    nodes: bool = True


def check_vlan_id(value: int) -> int:
    """A VLAN id 1–4094 (0 and 4095 are reserved by 802.1Q)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4094:
        raise ValueError(f"VLAN id {value!r} is outside 1–4094 — 0 and 4095 are reserved by 802.1Q")
    return value


VlanId = Annotated[int, AfterValidator(check_vlan_id)]


class Interface(Strict):
    """One interface of a node. Without ``type`` it is a link end (veth)."""

    type: Optional[str] = None
    address: Optional[InterfaceAddress] = None
    addresses: list[InterfaceAddress] = Field(default_factory=list)
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
    # -- serving a segment (issue 13): one dnsmasq per node serves all of these --
    dhcp: Optional[DhcpServer] = None        # hand out IPv4 addresses
    ra: Optional[RouterAdverts] = None       # announce an IPv6 prefix for SLAAC
    dns: Optional[DnsServer] = None          # answer names

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
        return None if value is None else check_mac(value)

    @model_validator(mode="after")
    def _shape(self) -> "Interface":
        if self.address is not None and self.addresses:
            raise ValueError("give either 'address' or 'addresses', not both")
        if self.ports and self.type != "bridge":
            raise ValueError("'ports' is only for interfaces with type: bridge")
        return self

    def written_addresses(self) -> list[str]:
        """Everything under ``address``/``addresses`` in file order, ``dhcp`` and ``slaac`` too."""
        return ([self.address] if self.address else []) + list(self.addresses)

    def all_addresses(self) -> list[str]:
        """The interface's static addresses (ADDRESS/PREFIX) in file order; not ``dhcp`` or ``slaac``."""
        return [a for a in self.written_addresses() if a not in DYNAMIC_ADDRESSES]

    @property
    def uses_dhcp(self) -> bool:
        """Whether the interface takes an IPv4 address from the segment's DHCP server."""
        return "dhcp" in self.written_addresses()

    @property
    def uses_slaac(self) -> bool:
        """Whether the interface forms IPv6 addresses from the segment's router advertisements."""
        return "slaac" in self.written_addresses()

    @property
    def serves(self) -> bool:
        """Whether the node's dnsmasq serves this interface (DHCP, RA or DNS)."""
        return self.dhcp is not None or self.ra is not None or self.dns is not None


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


class _RouteShape(Strict):
    """``to`` (a CIDR or ``default``) and ``via`` (a gateway of the same family), as a
    lab file's routes and a route check both write them."""

    to: str
    via: Optional[str] = None

    @field_validator("to")
    @classmethod
    def _destination(cls, value: str) -> str:
        return check_destination(value)

    @field_validator("via")
    @classmethod
    def _gateway(cls, value: Optional[str]) -> Optional[str]:
        return check_gateway(value)

    def _same_family(self) -> None:
        if not same_family(self.to, self.via):
            raise ValueError("'to' and 'via' must both be IPv4 or both IPv6")


class Route(_RouteShape):
    """A static route: ``to`` a CIDR or ``default``, ``via`` a gateway and/or ``dev``."""

    dev: Optional[str] = None

    @model_validator(mode="after")
    def _needs_target(self) -> "Route":
        if self.via is None and self.dev is None:
            raise ValueError("a route needs 'via' (a gateway) or 'dev' (an interface), or both")
        self._same_family()
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


# -- state checks (issue 12) -------------------------------------------------
# Each reads one kind of kernel state of a node; a state check names exactly one.
STATE_KINDS = ("sysctl", "address", "route", "link", "listening", "flow", "nft", "command", "resolve", "leased")
HOST_NAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?")
NXDOMAIN = "nxdomain"  # a resolve check's expectation that the name does not resolve
NFT_FAMILIES = ("ip", "ip6", "inet", "arp", "bridge", "netdev")
# Only net.* sysctls belong to a network namespace; the others would read the host's.
SYSCTL_KEY = re.compile(r"net(\.[A-Za-z0-9_\-]+)+")
NFT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")
LINK_KIND = re.compile(r"[a-z][a-z0-9_\-]{0,31}")
LISTENING = re.compile(r"(tcp|udp)/(?:(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]|\*):)?(\d+)")
NUMBER = re.compile(r"[+-]?\d+")


def check_sysctl_key(key: str) -> str:
    """A dotted sysctl name below ``net.`` (e.g. ``net.ipv4.ip_forward``); raises ValueError otherwise."""
    if not SYSCTL_KEY.fullmatch(key):
        raise ValueError(f"{key!r} is not a sysctl of a node — write a dotted net.* name, e.g. "
                         "net.ipv4.ip_forward (only net.* sysctls belong to a node's namespace)")
    return key


def sysctl_text(value: Any) -> str:
    """A sysctl value as checks compare it: true/false as 1/0, each number
    without leading zeros or '+', words separated by one space (the kernel
    separates them with tabs)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, str)):
        return " ".join(str(int(word)) if NUMBER.fullmatch(word) else word for word in str(value).split())
    raise ValueError(f"expected a number or text, got {type(value).__name__} — write e.g. 1 or \"4096 87380\"")


SysctlKey = Annotated[str, AfterValidator(check_sysctl_key)]
SysctlValue = Annotated[str, BeforeValidator(sysctl_text)]


def _one_or_list(value: Any, check_one: Callable[[Any], Any], example: str) -> Any:
    """A single item becomes a one-item list; it is checked first, so its error points at the key itself."""
    if isinstance(value, str):
        check_one(value)
        return [value]
    if isinstance(value, list) and not value:
        raise ValueError(f"the list is empty — give one item or a list of them, e.g. {example}")
    return value


def _nonempty_text(value: str) -> str:
    if not value:
        raise ValueError("expected some text, got an empty string")
    return value


NonEmptyText = Annotated[str, AfterValidator(_nonempty_text)]


class AddressState(Strict):
    """``address: {dev: eth0, has: 10.0.0.1/24}``: the interface holds each address (with its prefix)."""

    dev: Optional[IfName] = None  # without it: any interface of the node
    has: list[Address]

    @field_validator("has", mode="before")
    @classmethod
    def _one_address(cls, value: Any) -> Any:
        return _one_or_list(value, check_address, "has: 10.0.0.1/24")


class ResolveState(Strict):
    """``resolve: {name: web, expect: 10.0.3.10}`` (written ``{from: c1, resolve: web, expect: …}``):
    looked up inside the node as its programs look names up (``getent ahosts``, through the node's own
    resolv.conf and hosts), the name gives every expected address; ``expect: nxdomain``: it gives none."""

    name: str
    expect: list[str]

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not HOST_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a host name — write e.g. web or db.lab")
        return value

    @field_validator("expect", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        if value in (NXDOMAIN, [NXDOMAIN]):  # as written, and as lab.json keeps it
            return [NXDOMAIN]
        items = value if isinstance(value, list) else [value]
        for item in items:
            try:
                ipaddress.ip_address(str(item))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address — write the address(es) the name must give, "
                                 f"or {NXDOMAIN} for a name that must not resolve") from None
        return [str(item) for item in items]

    @property
    def nxdomain(self) -> bool:
        return self.expect == [NXDOMAIN]


class LeasedState(Strict):
    """``leased: {dev: eth0, from: 10.0.3.0/24}``: the interface holds an IPv4 address with a finite
    lifetime (a DHCP lease, as the kernel shows it: ``dynamic``), inside ``from`` if given."""

    dev: IfName
    from_: Optional[str] = Field(default=None, alias="from")  # an IPv4 subnet, kept as written (lab.json is JSON)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("from_")
    @classmethod
    def _subnet(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return value
        try:
            return str(ipaddress.IPv4Network(value, strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 subnet — write e.g. from: 10.0.3.0/24") from None


class RouteState(_RouteShape):
    """``route: {to: default, via: 10.0.0.254}``: the main table has that route (``via``/``dev`` if given)."""

    dev: Optional[IfName] = None

    @model_validator(mode="after")
    def _families(self) -> "RouteState":
        self._same_family()
        return self


class LinkState(Strict):
    """``link: {name: bond0, kind: bond, up: true, master: vmbr0}``: the interface exists, with these settings."""

    name: IfName
    kind: Optional[str] = None    # the kernel's kind: bond, bridge, veth, vlan, tun (tap), macvlan, …
    up: Optional[bool] = None     # set up and with carrier (an OVS bond: while a member is)
    master: Optional[IfName] = None
    mtu: Optional[int] = Field(default=None, ge=68, le=65535)
    vlan: Optional[VlanId] = None  # the 802.1Q id of a vlan interface

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not LINK_KIND.fullmatch(value):
            raise ValueError(f"{value!r} is not an interface kind — write the kernel's name, e.g. bond, "
                             "bridge, veth, vlan or tap")
        return value


class FlowState(Strict):
    """``flow: {contains: "nw_src=10.0.0.66", actions: drop}``: some OpenFlow flow of the node's OVS
    bridges (or of ``bridge``) holds every ``contains`` text, and its actions hold ``actions``."""

    bridge: Optional[IfName] = None
    contains: list[NonEmptyText]
    actions: Optional[NonEmptyText] = None

    @field_validator("contains", mode="before")
    @classmethod
    def _one_text(cls, value: Any) -> Any:
        return _one_or_list(value, _nonempty_text, 'contains: "nw_src=10.0.0.66"')


class NftState(Strict):
    """``nft: {chain: input, policy: drop}``: a chain of the node's nftables ruleset (in ``table``/``family``
    if given) exists, with that policy, and some rule of it contains ``rule``."""

    chain: str
    table: Optional[str] = None
    family: Optional[Literal[NFT_FAMILIES]] = None  # type: ignore[valid-type]
    policy: Optional[Literal["accept", "drop"]] = None
    rule: Optional[NonEmptyText] = None  # a substring of the rule as `nft list` prints it

    @field_validator("chain", "table")
    @classmethod
    def _name(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not NFT_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not an nftables name — use letters, digits, '_', '-' and '.', "
                             "e.g. input or filter")
        return value


class CommandExpect(Strict):
    """What a ``command`` check's program must do: exit with ``exit`` and print something ``output`` matches."""

    exit: int = Field(default=0, ge=0, le=255)
    output: Optional[str] = None  # a regular expression searched in stdout and stderr

    @field_validator("output")
    @classmethod
    def _regex(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a regular expression ({exc}) — escape special "
                                 "characters with \\\\, e.g. \"1 received\" or \"ttl=\\\\d+\"") from None
        return value


class StateCheck(Strict):
    """One assertion about the state of a node, read from its kernel (netlink, nft, OVS) — never
    from a file in the node that could be edited to fake it. Exactly one of :data:`STATE_KINDS`;
    ``not: true`` inverts it (the state must be absent)."""

    node: str = Field(json_schema_extra={
        "missing": "a state check needs 'node' — the node whose state it reads, e.g. node: r1"})
    name: Optional[str] = None
    not_: bool = Field(default=False, alias="not")
    timeout: float = Field(default=5.0, gt=0, le=60)  # how long reading the state (or the command) may take
    sysctl: Optional[dict[SysctlKey, SysctlValue]] = None
    address: Optional[AddressState] = None
    route: Optional[RouteState] = None
    link: Optional[LinkState] = None
    listening: Optional[str] = None  # tcp/PORT, udp/PORT, tcp/10.0.0.1:22, tcp/[fd00::1]:22
    flow: Optional[FlowState] = None
    nft: Optional[NftState] = None
    command: Optional[list[str]] = None
    expect: Optional[CommandExpect] = None  # with command only
    resolve: Optional[ResolveState] = None
    leased: Optional[LeasedState] = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _no_reboot(cls, data: Any) -> Any:
        if isinstance(data, dict) and "reboot" in data:
            raise ValueError("'reboot' is a step of a course task's checks — a lab file's checks read "
                             "the running lab and cannot reboot a node (vnetlab reboot LAB NODE does)")
        if isinstance(data, dict) and isinstance(data.get("resolve"), str):
            # {from: c1, resolve: web, expect: 10.0.3.10}: the lookup happens in the 'from' node
            data = dict(data)
            name = data.pop("resolve")
            if "from" in data:
                data["node"] = data.pop("from")
            if "expect" not in data:
                raise ValueError(f"a resolve check needs expect: — the address {name} must give, or "
                                 f"{NXDOMAIN}")
            data["resolve"] = {"name": name, "expect": data.pop("expect")}
        return data

    @field_validator("sysctl")
    @classmethod
    def _some_sysctl(cls, value: Optional[dict]) -> Optional[dict]:
        if value is not None and not value:
            raise ValueError("'sysctl' needs at least one key — write e.g. sysctl: {net.ipv4.ip_forward: 1}")
        return value

    @field_validator("listening")
    @classmethod
    def _listening(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return value
        match = LISTENING.fullmatch(value)
        if not match:
            raise ValueError(f"{value!r} is not a listener — write tcp/PORT or udp/PORT, optionally with "
                             "the address: tcp/22, udp/53, tcp/10.0.0.1:22, tcp/[fd00::1]:22")
        address = match.group(2)
        if address not in (None, "*"):
            try:
                ipaddress.ip_address(address.strip("[]"))
            except ValueError:
                raise ValueError(f"{address!r} in {value!r} is not an IP address — write e.g. "
                                 "tcp/10.0.0.1:22") from None
            if address.startswith("[") != (":" in address):
                raise ValueError(f"write an IPv6 address in brackets and an IPv4 one without: "
                                 f"tcp/[fd00::1]:22, tcp/10.0.0.1:22 (not {value!r})")
        check_port(int(match.group(3)))
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: Optional[list[str]]) -> Optional[list[str]]:
        if value is not None and (not value or not all(value)):
            raise ValueError("'command' is a non-empty list of arguments, e.g. [ping, -c1, 10.0.0.1]")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> "StateCheck":
        kinds = [kind for kind in STATE_KINDS if getattr(self, kind) is not None]
        if not kinds:
            raise ValueError(f"a state check needs one of: {', '.join(STATE_KINDS)} — e.g. "
                             "{node: r1, sysctl: {net.ipv4.ip_forward: 1}}")
        if len(kinds) > 1:
            raise ValueError(f"a state check has exactly one of {', '.join(STATE_KINDS)}, this one has "
                             f"{' and '.join(kinds)} — write one check for each")
        if self.expect is not None and self.command is None:
            raise ValueError("'expect' goes with 'command' (what the program must do) — drop it, or "
                             "write the check as a probe with from: and to:")
        return self

    @property
    def kind(self) -> str:
        """Which state the check reads: one of :data:`STATE_KINDS`."""
        return next(kind for kind in STATE_KINDS if getattr(self, kind) is not None)

    @property
    def command_expect(self) -> CommandExpect:
        """What a command check expects (exit 0 when ``expect`` is not given)."""
        return self.expect or CommandExpect()

    @property
    def listening_parts(self) -> tuple[str, Optional[str], int]:
        """(proto, address or None for any, port) of a ``listening`` check."""
        match = LISTENING.fullmatch(self.listening or "")
        if match is None:
            raise ValueError("not a listening check")
        address = match.group(2)
        return match.group(1), None if address in (None, "*") else address.strip("[]"), int(match.group(3))

    def subject(self) -> str:
        """What the check looks at, in a few words: ``route default``, ``sysctl net.ipv4.ip_forward``."""
        kind = self.kind
        if kind == "sysctl":
            return "sysctl " + ", ".join(self.sysctl or {})
        if kind == "address":
            return f"address {self.address.dev}" if self.address.dev else "address"
        if kind == "route":
            return f"route {self.route.to}"
        if kind == "link":
            return f"link {self.link.name}"
        if kind == "listening":
            return f"listening {self.listening}"
        if kind == "flow":
            return "flow " + ", ".join(self.flow.contains)
        if kind == "nft":
            return f"nft chain {self.nft.chain}"
        if kind == "resolve":
            return f"resolve {self.resolve.name}"
        if kind == "leased":
            return f"leased {self.leased.dev}"
        return "command " + " ".join(self.command or [])

    def label(self) -> str:
        """A short human description of the check."""
        if self.name:
            return self.name
        return f"{self.node}: {'not ' if self.not_ else ''}{self.subject()}"

    def expectation(self) -> str:
        """The expected state in words, e.g. ``route default via 10.0.0.254``
        (``not …`` when inverted)."""
        text = self._expected_state()
        return f"not {text}" if self.not_ else text

    def _expected_state(self) -> str:
        kind = self.kind
        if kind == "sysctl":
            return ", ".join(f"{key}={value}" for key, value in (self.sysctl or {}).items())
        if kind == "address":
            where = f" on {self.address.dev}" if self.address.dev else ""
            return f"address {', '.join(self.address.has)}{where}"
        if kind == "route":
            route = self.route
            return " ".join(["route", route.to] + ([f"via {route.via}"] if route.via else [])
                            + ([f"dev {route.dev}"] if route.dev else []))
        if kind == "link":
            link = self.link
            wanted = [f"kind {link.kind}" if link.kind else "",
                      "" if link.up is None else ("up" if link.up else "down"),
                      f"master {link.master}" if link.master else "",
                      f"mtu {link.mtu}" if link.mtu else "",
                      f"vlan {link.vlan}" if link.vlan else ""]
            return " ".join(["link", link.name] + [w for w in wanted if w])
        if kind == "listening":
            return f"listening {self.listening}"
        if kind == "flow":
            flow = self.flow
            text = "flow with " + " and ".join(repr(c) for c in flow.contains)
            if flow.actions:
                text += f", actions {flow.actions!r}"
            return text + (f" on {flow.bridge}" if flow.bridge else "")
        if kind == "nft":
            nft = self.nft
            where = " ".join(part for part in (nft.family, nft.table) if part)
            text = f"nft chain {nft.chain}" + (f" of table {where}" if where else "")
            if nft.policy:
                text += f", policy {nft.policy}"
            if nft.rule:
                text += f", a rule with {nft.rule!r}"
            return text
        if kind == "resolve":
            if self.resolve.nxdomain:
                return f"{self.resolve.name} does not resolve"
            return f"{self.resolve.name} -> {', '.join(self.resolve.expect)}"
        if kind == "leased":
            return f"a lease on {self.leased.dev}" + (f" from {self.leased.from_}" if self.leased.from_ else "")
        expect = self.command_expect
        text = f"exit {expect.exit}"
        return text + (f", output matching {expect.output!r}" if expect.output is not None else "")


class RebootStep(Strict):
    """``{reboot: NODE}`` in a course task's checks: the grader reboots the node, and the checks
    after it run against what came back. Not allowed in a lab file's checks."""

    reboot: str
    name: Optional[str] = None

    def label(self) -> str:
        """A short human description of the step."""
        return self.name or f"reboot {self.reboot}"


class CableStep(Strict):
    """``{cut: NODE:IF}`` or ``{replug: NODE:IF}`` in a course task's checks: the grader
    pulls (or plugs back) the cable of that link end, and the checks after it run
    against the lab so; every cable a task's steps cut is plugged back after the task.
    Not allowed in a lab file's checks."""

    cut: Optional[str] = None
    replug: Optional[str] = None
    name: Optional[str] = None

    @model_validator(mode="after")
    def _one(self) -> "CableStep":
        if (self.cut is None) == (self.replug is None):
            raise ValueError("a cable step has one of cut: NODE:IF or replug: NODE:IF")
        return self

    @property
    def end(self) -> str:
        return self.cut if self.cut is not None else str(self.replug)

    def label(self) -> str:
        """A short human description of the step."""
        return self.name or (f"cutting the cable of {self.cut}" if self.cut else f"plugging {self.replug} back")


def _check_tag(value: Any, reboot: str) -> str:
    """Which model a check mapping is: ``probe`` when it has ``from``, ``reboot`` when it has ``reboot``,
    ``state`` when it has ``node`` or a state kind; else ``probe`` (whose messages fit a mapping that
    lacks ``from``)."""
    if isinstance(value, Check):
        return "probe"
    if isinstance(value, StateCheck):
        return "state"
    if isinstance(value, RebootStep):
        return "reboot"
    if isinstance(value, CableStep):
        return "cable"
    if isinstance(value, dict):
        if reboot == "reboot" and ("cut" in value or "replug" in value):
            return "cable"
        if isinstance(value.get("resolve"), str):
            return "state"  # {from: c1, resolve: web, expect: …} reads c1's resolver
        if "from" in value or "from_" in value:
            return "probe"
        if "reboot" in value:
            return reboot
        if "node" in value or any(kind in value for kind in STATE_KINDS):
            return "state"
    return "probe"


def node_of(check: Union[Check, StateCheck, RebootStep]) -> str:
    """The node a check runs on: a probe's ``from``, a state check's ``node``, the node a step reboots."""
    if isinstance(check, Check):
        return check.from_
    if isinstance(check, StateCheck):
        return check.node
    return check.reboot


# The tag keeps pydantic's error to the one model the mapping is meant to be
# (the loader strips the tag from error locations).
AnyCheck = Annotated[
    Union[Annotated[Check, Tag("probe")], Annotated[StateCheck, Tag("state")]],
    Discriminator(lambda value: _check_tag(value, reboot="state")),  # StateCheck explains 'reboot'
]
TaskCheck = Annotated[
    Union[Annotated[Check, Tag("probe")], Annotated[StateCheck, Tag("state")], Annotated[RebootStep, Tag("reboot")],
          Annotated[CableStep, Tag("cable")]],
    Discriminator(lambda value: _check_tag(value, reboot="reboot")),
]
"""A course task's check: a probe, a state check, a reboot step or a cable step."""


LinkEnd = str  # "node:ifname"


def _impairment_text(key: str) -> Callable[[Any], Any]:
    """A field validator that checks an impairment value's text (its units,
    its range) and keeps it as written."""
    def check(value: Any) -> Any:
        if value is not None:
            impairment.PARSERS[key](value)
        return value
    return check


ImpairText = Optional[Union[str, int, float]]


class Impair(Strict):
    """What one end does to the frames it sends (netem's words and units)."""

    delay: Annotated[ImpairText, AfterValidator(_impairment_text("delay"))] = None
    jitter: Annotated[ImpairText, AfterValidator(_impairment_text("jitter"))] = None
    distribution: Annotated[Optional[str], AfterValidator(_impairment_text("distribution"))] = None
    loss: Annotated[ImpairText, AfterValidator(_impairment_text("loss"))] = None
    loss_correlation: Annotated[ImpairText, AfterValidator(_impairment_text("loss_correlation"))] = None
    duplicate: Annotated[ImpairText, AfterValidator(_impairment_text("duplicate"))] = None
    corrupt: Annotated[ImpairText, AfterValidator(_impairment_text("corrupt"))] = None
    reorder: Annotated[ImpairText, AfterValidator(_impairment_text("reorder"))] = None
    rate: Annotated[ImpairText, AfterValidator(_impairment_text("rate"))] = None
    limit: Annotated[Optional[int], AfterValidator(_impairment_text("limit"))] = None

    @model_validator(mode="after")
    def _meaningful(self) -> "Impair":
        problem = self.parsed().problem()
        if problem:
            raise ValueError(problem)
        return self

    def parsed(self) -> "impairment.Impairment":
        return impairment.Impairment.parse(self.model_dump(exclude_none=True, exclude=set(self.model_extra or ())))


class Link(Impair):
    """A link written as a mapping: its two ends, what both ends do to what
    they send, and under an end's node name what that end alone does
    (``{ends: [a:eth0, b:eth0], delay: 20ms, b: {loss: 10%}}``; the node-name
    keys are checked with the other links, in model/validate.py)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    ends: list[LinkEnd]


def _link_tag(value: Any) -> str:
    return "link" if isinstance(value, (dict, Link)) else "pair"


AnyLink = Annotated[
    Union[Annotated[list[LinkEnd], Tag("pair")], Annotated[Link, Tag("link")]],
    Discriminator(_link_tag),
]


def link_ends(link: "list[LinkEnd] | Link") -> list[LinkEnd]:
    """A link's two ends, whichever way it is written."""
    return link.ends if isinstance(link, Link) else link


def link_end_path(link: "list[LinkEnd] | Link", index: int, position: int) -> tuple:
    """Where in the file the end at ``position`` of ``links[index]`` is written."""
    return ("links", index, "ends", position) if isinstance(link, Link) else ("links", index, position)


class LabSpec(Strict):
    """The whole lab file."""

    lab: str
    description: Optional[str] = None
    nodes: dict[NodeName, Node] = Field(default_factory=dict)
    links: list[AnyLink] = Field(default_factory=list)
    checks: list[AnyCheck] = Field(default_factory=list)

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
