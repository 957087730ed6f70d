"""The Plan: an ordered list of small, typed operations (pure data).

The compiler produces a Plan from a lab file; executors apply it. Every op
can say which hand-typed commands do the same thing (``commands``), which is
what ``vnetlab plan`` prints, and can be turned into plain data (``to_dict``)
for ``--format json``. Ops are idempotent "ensure" steps: applying one whose
effect is already there changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

OP_TYPES: dict[str, type["Op"]] = {}


def format_command(command: list[str] | tuple[str, ...]) -> str:
    """One argv as a line a person can paste: quoted, except that comment
    lines stay as written and a trailing '&' (run in background) stays bare."""
    if command and command[0] == "#":
        return " ".join(command)
    if command and command[-1] == "&":
        return shlex.join(command[:-1]) + " &"
    return shlex.join(command)


def _ip_n(netns: str) -> list[str]:
    return ["ip", "-n", netns]


@dataclass(frozen=True)
class Op:
    """One step. Subclasses register under their ``name``."""

    name: ClassVar[str] = ""
    netns: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            OP_TYPES[cls.name] = cls

    def commands(self) -> list[list[str]]:
        """The equivalent commands a person would type (argv lists)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The op as plain JSON-able data."""
        return {"op": self.name, **dataclasses.asdict(self)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "Op":
        """Rebuilds an op from :meth:`to_dict` output."""
        fields = dict(data)
        cls = OP_TYPES[fields.pop("op")]
        for key, value in fields.items():
            if isinstance(value, list):
                fields[key] = tuple(value)
        return cls(**fields)


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


@dataclass(frozen=True)
class CreateVeth(Op):
    """A veth pair made inside NETNS, its peer moved into PEER_NETNS."""

    name: ClassVar[str] = "create_veth"
    ifname: str = ""
    peer_netns: str = ""
    peer_ifname: str = ""
    mtu: Optional[int] = None
    mac: Optional[str] = None
    peer_mac: Optional[str] = None

    def commands(self) -> list[list[str]]:
        cmd = _ip_n(self.netns) + ["link", "add", self.ifname]
        if self.mac:
            cmd += ["address", self.mac]
        if self.mtu:
            cmd += ["mtu", str(self.mtu)]
        cmd += ["type", "veth", "peer", "name", self.peer_ifname]
        if self.peer_mac:
            cmd += ["address", self.peer_mac]
        if self.mtu:
            cmd += ["mtu", str(self.mtu)]
        return [cmd + ["netns", self.peer_netns]]


@dataclass(frozen=True)
class CreateBridge(Op):
    """A Linux bridge (STP off, so ports forward at once)."""

    name: ClassVar[str] = "create_bridge"
    ifname: str = ""
    mtu: Optional[int] = None
    mac: Optional[str] = None

    def commands(self) -> list[list[str]]:
        cmd = _ip_n(self.netns) + ["link", "add", self.ifname]
        if self.mac:
            cmd += ["address", self.mac]
        if self.mtu:
            cmd += ["mtu", str(self.mtu)]
        return [cmd + ["type", "bridge", "stp_state", "0"]]


@dataclass(frozen=True)
class CreateTap(Op):
    """A persistent TAP device, like Proxmox's tap100i0 for a VM NIC."""

    name: ClassVar[str] = "create_tap"
    ifname: str = ""
    mtu: Optional[int] = None
    mac: Optional[str] = None

    def commands(self) -> list[list[str]]:
        cmds = [_ip_n(self.netns) + ["tuntap", "add", "dev", self.ifname, "mode", "tap"]]
        if self.mac:
            cmds.append(_ip_n(self.netns) + ["link", "set", self.ifname, "address", self.mac])
        if self.mtu:
            cmds.append(_ip_n(self.netns) + ["link", "set", self.ifname, "mtu", str(self.mtu)])
        return cmds


@dataclass(frozen=True)
class DeleteLink(Op):
    """Removes an interface (a veth takes its peer with it)."""

    name: ClassVar[str] = "delete_link"
    ifname: str = ""

    def commands(self) -> list[list[str]]:
        return [_ip_n(self.netns) + ["link", "del", self.ifname]]


@dataclass(frozen=True)
class SetMaster(Op):
    """Makes IFNAME a port of bridge MASTER (or frees it when MASTER is None)."""

    name: ClassVar[str] = "set_master"
    ifname: str = ""
    master: Optional[str] = None

    def commands(self) -> list[list[str]]:
        if self.master is None:
            return [_ip_n(self.netns) + ["link", "set", self.ifname, "nomaster"]]
        return [_ip_n(self.netns) + ["link", "set", self.ifname, "master", self.master]]


@dataclass(frozen=True)
class SetLinkState(Op):
    """Brings an interface up (or down)."""

    name: ClassVar[str] = "link_state"
    ifname: str = ""
    up: bool = True

    def commands(self) -> list[list[str]]:
        return [_ip_n(self.netns) + ["link", "set", self.ifname, "up" if self.up else "down"]]


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


@dataclass(frozen=True)
class PumpFrames(Op):
    """Connects a TAP to a VM's NIC: the lab's supervisor copies frames both
    ways, the way QEMU does between a tap and a guest's virtio NIC."""

    name: ClassVar[str] = "pump_frames"
    ifname: str = ""
    peer_netns: str = ""
    peer_ifname: str = ""

    def commands(self) -> list[list[str]]:
        return [["#", "the", "lab", "supervisor", "pumps", "frames", "between",
                 f"{self.netns}:{self.ifname}", "and", f"{self.peer_netns}:{self.peer_ifname}",
                 "(as", "QEMU", "would)"]]


@dataclass(frozen=True)
class StopPump(PumpFrames):
    """Disconnects a TAP pump."""

    name: ClassVar[str] = "stop_pump"


@dataclass
class Plan:
    """The ordered operations that build one lab."""

    lab: str
    ops: list[Op] = field(default_factory=list)

    def add(self, op: Op) -> None:
        """Appends one op."""
        self.ops.append(op)

    def namespaces(self) -> list[str]:
        """The namespaces this plan creates, in order."""
        return [op.netns for op in self.ops if isinstance(op, CreateNamespace)]

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-able data."""
        return {"lab": self.lab, "ops": [op.to_dict() for op in self.ops]}

    def to_json(self) -> str:
        """The plan as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def commands(self) -> list[list[str]]:
        """Every equivalent command, in order."""
        return [cmd for op in self.ops for cmd in op.commands()]


@dataclass(frozen=True)
class RunService(Op):
    """A node's service, run by the lab supervisor.

    Either a built-in listener (``listen``: ``tcp/80`` answers HTTP,
    ``udp/53`` echoes; both report the client's address as they saw it) or
    any program (``command``) started inside the node's namespace.
    """

    name: ClassVar[str] = "run_service"
    node: str = ""
    listen: Optional[str] = None
    command: Optional[tuple[str, ...]] = None

    def commands(self) -> list[list[str]]:
        if self.listen is not None:
            return [["#", f"the lab supervisor listens on {self.listen} in {self.netns} "
                          "and answers with the client's address"]]
        return [["ip", "netns", "exec", self.netns, *(self.command or ()), "&"]]


@dataclass(frozen=True)
class StopService(RunService):
    """Stops a service (the inverse of :class:`RunService`)."""

    name: ClassVar[str] = "stop_service"

    def commands(self) -> list[list[str]]:
        if self.listen is not None:
            return [["#", f"the lab supervisor stops listening on {self.listen} in {self.netns}"]]
        return [["#", "the lab supervisor stops", *(self.command or ()), "in", self.netns,
                 "(SIGTERM to its recorded pid)"]]


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
