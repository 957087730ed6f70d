"""The Plan: an ordered list of small, typed operations (pure data).

The compiler produces a Plan from a lab file; executors apply it. Every op
can say which hand-typed commands do the same thing (``commands``), which is
what ``vnetlab plan`` prints, and can be turned into plain data (``to_dict``)
for ``--format json``. Ops are idempotent "ensure" steps: applying one whose
effect is already there changes nothing.
"""

from __future__ import annotations

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
        # Fields hold only strings, numbers, None and tuples of them: a shallow
        # copy is what dataclasses.asdict would give, at a fraction of its cost
        # (a 10,000-host plan has 100,000 ops).
        return {"op": self.name, **vars(self)}

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
    any program (``command``) started inside the node's namespace: one that
    keeps running, or with ``oneshot`` one that ``up`` waits for and that
    must exit 0.
    """

    name: ClassVar[str] = "run_service"
    node: str = ""
    listen: Optional[str] = None
    command: Optional[tuple[str, ...]] = None
    oneshot: bool = False

    def commands(self) -> list[list[str]]:
        if self.listen is not None:
            return [["#", f"the lab supervisor listens on {self.listen} in {self.netns} "
                          "and answers with the client's address"]]
        return [["ip", "netns", "exec", self.netns, *(self.command or ()), *([] if self.oneshot else ["&"])]]


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


# -- Linux L2: 802.1Q devices, bonds, VLAN-aware bridges (issue 4) ----------
@dataclass(frozen=True)
class CreateVlan(Op):
    """An 802.1Q device IFNAME on PARENT: frames it sends carry tag VLAN_ID."""

    name: ClassVar[str] = "create_vlan"
    ifname: str = ""
    parent: str = ""
    vlan_id: int = 0

    def commands(self) -> list[list[str]]:
        return [_ip_n(self.netns) + ["link", "add", "link", self.parent, "name", self.ifname,
                                     "type", "vlan", "id", str(self.vlan_id)]]


@dataclass(frozen=True)
class CreateBond(Op):
    """A Linux bond (link aggregation), its links checked every MIIMON ms.

    A cut cable fails over within MIIMON ms; ``lacp_rate`` only for 802.3ad."""

    name: ClassVar[str] = "create_bond"
    ifname: str = ""
    mode: str = "active-backup"
    miimon: int = 100
    lacp_rate: Optional[str] = None

    def commands(self) -> list[list[str]]:
        cmd = _ip_n(self.netns) + ["link", "add", self.ifname, "type", "bond",
                                   "mode", self.mode, "miimon", str(self.miimon)]
        if self.lacp_rate:
            cmd += ["lacp_rate", self.lacp_rate]
        return [cmd]


@dataclass(frozen=True)
class SetBondMember(Op):
    """Makes IFNAME a member of bond BOND, down first (or frees it when BOND is None).

    The bonding driver refuses a member that is up; the bond brings it up."""

    name: ClassVar[str] = "set_bond_member"
    ifname: str = ""
    bond: Optional[str] = None

    def commands(self) -> list[list[str]]:
        if self.bond is None:
            return [_ip_n(self.netns) + ["link", "set", self.ifname, "nomaster"]]
        return [_ip_n(self.netns) + ["link", "set", self.ifname, "down"],
                _ip_n(self.netns) + ["link", "set", self.ifname, "master", self.bond]]


@dataclass(frozen=True)
class SetBridgeVlanFiltering(Op):
    """Turns VLAN filtering of a Linux bridge on (a VLAN-aware bridge) or off."""

    name: ClassVar[str] = "bridge_vlan_filtering"
    bridge: str = ""
    on: bool = True

    def commands(self) -> list[list[str]]:
        return [_ip_n(self.netns) + ["link", "set", self.bridge, "type", "bridge",
                                     "vlan_filtering", "1" if self.on else "0"]]


@dataclass(frozen=True)
class BridgeVlan(Op):
    """A VLAN on a port of a VLAN-aware bridge (or, with self, on the bridge itself).

    Tagged by default; ``pvid``/``untagged`` make it the port's untagged
    (access) VLAN; ``self`` lets the bridge device, and so BRIDGE.VID, in."""

    name: ClassVar[str] = "bridge_vlan"
    ifname: str = ""
    vid: int = 0
    pvid: bool = False
    untagged: bool = False
    self: bool = False

    def _spec(self) -> list[str]:
        spec = ["dev", self.ifname, "vid", str(self.vid)]
        if self.pvid:
            spec.append("pvid")
        if self.untagged:
            spec.append("untagged")
        if self.self:
            spec.append("self")
        return spec

    def commands(self) -> list[list[str]]:
        return [["bridge", "-n", self.netns, "vlan", "add", *self._spec()]]


@dataclass(frozen=True)
class DeleteBridgeVlan(BridgeVlan):
    """Removes VLAN VID from a bridge port (or, with self, from the bridge)."""

    name: ClassVar[str] = "delete_bridge_vlan"

    def _spec(self) -> list[str]:
        return ["dev", self.ifname, "vid", str(self.vid)] + (["self"] if self.self else [])

    def commands(self) -> list[list[str]]:
        return [["bridge", "-n", self.netns, "vlan", "del", *self._spec()]]


# -- Open vSwitch (issue 4): a per-node ovsdb-server + ovs-vswitchd ---------
OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
OVS_PROTOCOLS = "OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow14,OpenFlow15"


def ovs_env(rundir: str) -> dict[str, str]:
    """The environment that points every ovs-* tool at one node's switch."""
    return {"OVS_RUNDIR": rundir, "OVS_DBDIR": rundir, "OVS_LOGDIR": rundir, "OVS_SYSCONFDIR": rundir}


def _vsctl(rundir: str, *args: str) -> list[str]:
    return ["ovs-vsctl", f"--db=unix:{rundir}/db.sock", *args]


def _ofctl_target(rundir: str, bridge: str) -> str:
    return f"unix:{rundir}/{bridge}.mgmt"


@dataclass(frozen=True)
class StartOvs(Op):
    """A node's own Open vSwitch: ovsdb-server and ovs-vswitchd in its namespace.

    Database, sockets, pidfiles and logs live in RUNDIR; the host's OVS is never used."""

    name: ClassVar[str] = "start_ovs"
    node: str = ""
    rundir: str = ""

    def commands(self) -> list[list[str]]:
        env = ["env", *(f"{k}={v}" for k, v in ovs_env(self.rundir).items())]
        daemon = ["--pidfile", "--detach", "--no-chdir", "--log-file"]
        return [
            ["mkdir", "-p", self.rundir],
            ["ovsdb-tool", "create", f"{self.rundir}/conf.db", OVS_SCHEMA],
            ["ip", "netns", "exec", self.netns, *env, "ovsdb-server", f"{self.rundir}/conf.db",
             f"--remote=punix:{self.rundir}/db.sock", *daemon],
            _vsctl(self.rundir, "--no-wait", "init"),
            ["ip", "netns", "exec", self.netns, *env, "ovs-vswitchd", f"unix:{self.rundir}/db.sock", *daemon],
        ]


@dataclass(frozen=True)
class StopOvs(StartOvs):
    """Stops a node's ovs-vswitchd and ovsdb-server (the inverse of :class:`StartOvs`)."""

    name: ClassVar[str] = "stop_ovs"

    def commands(self) -> list[list[str]]:
        return [["pkill", "-F", f"{self.rundir}/ovs-vswitchd.pid"],
                ["pkill", "-F", f"{self.rundir}/ovsdb-server.pid"]]


@dataclass(frozen=True)
class OvsAddBridge(Op):
    """An Open vSwitch bridge on the userspace datapath, speaking OpenFlow 1.0-1.5.

    With a controller, ``fail_mode=secure``: no NORMAL switching until the
    controller installs flows."""

    name: ClassVar[str] = "ovs_add_bridge"
    rundir: str = ""
    bridge: str = ""
    controller: Optional[str] = None

    def commands(self) -> list[list[str]]:
        cmd = _vsctl(self.rundir, "--may-exist", "add-br", self.bridge, "--", "set", "bridge", self.bridge,
                     "datapath_type=netdev", f"protocols={OVS_PROTOCOLS}")
        if self.controller:
            cmd += ["--", "set-fail-mode", self.bridge, "secure",
                    "--", "set-controller", self.bridge, self.controller]
        return [cmd]


@dataclass(frozen=True)
class OvsDeleteBridge(Op):
    """Removes an OVS bridge and its ports."""

    name: ClassVar[str] = "ovs_del_bridge"
    rundir: str = ""
    bridge: str = ""

    def commands(self) -> list[list[str]]:
        return [_vsctl(self.rundir, "--if-exists", "del-br", self.bridge)]


def _vlan_settings(tag: Optional[int], trunks: tuple[int, ...]) -> list[str]:
    """An access port (tag), a trunk (trunks), or a trunk whose untagged
    frames belong to VLAN tag (native-untagged)."""
    if tag is not None and trunks:
        return [f"tag={tag}", f"trunks={','.join(map(str, trunks))}", "vlan_mode=native-untagged"]
    if tag is not None:
        return [f"tag={tag}", "vlan_mode=access"]
    if trunks:
        return [f"trunks={','.join(map(str, trunks))}", "vlan_mode=trunk"]
    return []


@dataclass(frozen=True)
class OvsAddPort(Op):
    """A port of an OVS bridge: access (tag), trunk (trunks), or an internal port.

    An internal port is a new interface of the switch itself (``vmbr0.20``:
    an access port in VLAN 20 that the host uses for its own address)."""

    name: ClassVar[str] = "ovs_add_port"
    rundir: str = ""
    bridge: str = ""
    port: str = ""
    tag: Optional[int] = None
    trunks: tuple[int, ...] = ()
    internal: bool = False

    def settings(self) -> list[str]:
        """The port's column settings (tag=, trunks=, vlan_mode=)."""
        return _vlan_settings(self.tag, self.trunks)

    def commands(self) -> list[list[str]]:
        cmd = _vsctl(self.rundir, "--may-exist", "add-port", self.bridge, self.port, *self.settings())
        if self.internal:
            cmd += ["--", "set", "interface", self.port, "type=internal"]
        return [cmd]


@dataclass(frozen=True)
class OvsDeletePort(Op):
    """Removes a port (or bond) from an OVS bridge."""

    name: ClassVar[str] = "ovs_del_port"
    rundir: str = ""
    bridge: str = ""
    port: str = ""

    def commands(self) -> list[list[str]]:
        return [_vsctl(self.rundir, "--if-exists", "del-port", self.bridge, self.port)]


@dataclass(frozen=True)
class OvsAddBond(Op):
    """A bond port of an OVS bridge (link aggregation over MEMBERS).

    Modes ``active-backup``, ``balance-slb``, or ``balance-tcp`` with LACP
    (what a Linux 802.3ad bond is on OVS); link loss is detected by carrier,
    LACP runs at the fast rate."""

    name: ClassVar[str] = "ovs_add_bond"
    rundir: str = ""
    bridge: str = ""
    bond: str = ""
    members: tuple[str, ...] = ()
    mode: str = "active-backup"
    lacp: bool = False
    tag: Optional[int] = None
    trunks: tuple[int, ...] = ()

    def settings(self) -> list[str]:
        """The bond port's column settings."""
        settings = [f"bond_mode={self.mode}"]
        if self.lacp:
            settings += ["lacp=active", "other_config:lacp-time=fast"]
        return settings + _vlan_settings(self.tag, self.trunks)

    def commands(self) -> list[list[str]]:
        return [_vsctl(self.rundir, "--may-exist", "add-bond", self.bridge, self.bond, *self.members,
                       *self.settings())]


@dataclass(frozen=True)
class OvsReplaceFlows(Op):
    """The OpenFlow table of an OVS bridge, replaced as a whole.

    ``ovs-ofctl replace-flows`` changes only the flows that differ, atomically."""

    name: ClassVar[str] = "ovs_replace_flows"
    rundir: str = ""
    bridge: str = ""
    flows: tuple[str, ...] = ()

    def commands(self) -> list[list[str]]:
        target = _ofctl_target(self.rundir, self.bridge)
        return ([["#", f"the flows of {self.bridge} become exactly these (ovs-ofctl replace-flows, atomic):"],
                 ["ovs-ofctl", "-O", "OpenFlow13", "del-flows", target]]
                + [["ovs-ofctl", "-O", "OpenFlow13", "add-flow", target, flow] for flow in self.flows])


@dataclass(frozen=True)
class SetTxChecksum(Op):
    """TX checksum offload off on a veth end, as OVS's userspace datapath needs.

    It forwards frames whose TCP/UDP checksum the kernel left for the NIC to fill in."""

    name: ClassVar[str] = "tx_checksum"
    ifname: str = ""
    on: bool = False

    def commands(self) -> list[list[str]]:
        return [["ip", "netns", "exec", self.netns, "ethtool", "-K", self.ifname, "tx",
                 "on" if self.on else "off"]]
