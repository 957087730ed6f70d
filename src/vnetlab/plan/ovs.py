"""Open vSwitch ops (issue 4): a per-node ovsdb-server + ovs-vswitchd, its bridges, ports, bonds, flows.

The conventions a rendered command needs (schema path, protocols, ``ovs_env``,
the db socket, the management socket) are spelled here, once: plan/ is pure, and
``host/ovs_paths.py`` re-exports them for the run-time layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Optional

from vnetlab.plan.base import Key, Op


# -- Open vSwitch (issue 4): a per-node ovsdb-server + ovs-vswitchd ---------
OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
OVS_PROTOCOLS = "OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow14,OpenFlow15"


def ovs_env(rundir: str) -> dict[str, str]:
    """The environment that points every ovs-* tool at one node's switch."""
    return {"OVS_RUNDIR": rundir, "OVS_DBDIR": rundir, "OVS_LOGDIR": rundir, "OVS_SYSCONFDIR": rundir}


def ovs_vlans(tag: Optional[int | str], trunks: Iterable[int | str]) -> str:
    """An OVS port's VLAN settings as one comparable string."""
    listed = ",".join(str(t) for t in trunks)
    return f"tag={tag if tag not in (None, '') else '-'} trunks={listed or '-'}"


def db_socket(rundir: str) -> str:
    """The ovsdb-server's unix socket of the switch in ``rundir``."""
    return f"{rundir}/db.sock"


def db_option(rundir: str) -> str:
    """``--db=unix:…`` for ovs-vsctl, naming that switch's database."""
    return f"--db=unix:{db_socket(rundir)}"


def vsctl(rundir: str, *args: str) -> list[str]:
    """An ovs-vsctl command line against the switch in ``rundir``."""
    return ["ovs-vsctl", db_option(rundir), *args]


def mgmt_target(rundir: str, bridge: str) -> str:
    """The ovs-ofctl target of ``bridge``'s management socket."""
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
             f"--remote=punix:{db_socket(self.rundir)}", *daemon],
            vsctl(self.rundir, "--no-wait", "init"),
            ["ip", "netns", "exec", self.netns, *env, "ovs-vswitchd", f"unix:{db_socket(self.rundir)}", *daemon],
        ]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("ovs-daemons", self.netns, self.node), "running"),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return StopOvs(self.netns, node=self.node, rundir=self.rundir)


@dataclass(frozen=True)
class StopOvs(StartOvs):
    """Stops a node's ovs-vswitchd and ovsdb-server (the inverse of :class:`StartOvs`)."""

    name: ClassVar[str] = "stop_ovs"

    def commands(self) -> list[list[str]]:
        return [["pkill", "-F", f"{self.rundir}/ovs-vswitchd.pid"],
                ["pkill", "-F", f"{self.rundir}/ovsdb-server.pid"]]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ()

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return StartOvs(self.netns, node=self.node, rundir=self.rundir)


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
        cmd = vsctl(self.rundir, "--may-exist", "add-br", self.bridge, "--", "set", "bridge", self.bridge,
                     "datapath_type=netdev", f"protocols={OVS_PROTOCOLS}")
        if self.controller:
            cmd += ["--", "set-fail-mode", self.bridge, "secure",
                    "--", "set-controller", self.bridge, self.controller]
        return [cmd]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("ovs-bridge", self.netns, self.bridge), "present"),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        """``previous``: the bridge as it was (an OvsAddBridge), None: there was none."""
        return previous if previous is not None else OvsDeleteBridge(self.netns, rundir=self.rundir,
                                                                    bridge=self.bridge)


@dataclass(frozen=True)
class OvsDeleteBridge(Op):
    """Removes an OVS bridge and its ports."""

    name: ClassVar[str] = "ovs_del_bridge"
    removes: ClassVar[bool] = True
    rundir: str = ""
    bridge: str = ""

    def commands(self) -> list[list[str]]:
        return [vsctl(self.rundir, "--if-exists", "del-br", self.bridge)]

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return None  # re-creating a deleted bridge is not an undo we offer


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
        if self.port == self.bridge:  # the bridge's own (local) port exists with the bridge
            return [vsctl(self.rundir, "set", "port", self.port, *self.settings())]
        cmd = vsctl(self.rundir, "--may-exist", "add-port", self.bridge, self.port, *self.settings())
        if self.internal:
            cmd += ["--", "set", "interface", self.port, "type=internal"]
        return [cmd]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("ovs-port", self.netns, f"{self.bridge} {self.port}"), ovs_vlans(self.tag, self.trunks)),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        """``previous``: the port as it was (an OvsAddPort), None: there was none."""
        return previous if previous is not None else OvsDeletePort(self.netns, rundir=self.rundir,
                                                                  bridge=self.bridge, port=self.port)


@dataclass(frozen=True)
class OvsDeletePort(Op):
    """Removes a port (or bond) from an OVS bridge."""

    name: ClassVar[str] = "ovs_del_port"
    removes: ClassVar[bool] = True
    rundir: str = ""
    bridge: str = ""
    port: str = ""

    def commands(self) -> list[list[str]]:
        return [vsctl(self.rundir, "--if-exists", "del-port", self.bridge, self.port)]

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return None  # re-creating a deleted port is not an undo we offer


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
        return [vsctl(self.rundir, "--may-exist", "add-bond", self.bridge, self.bond, *self.members,
                       *self.settings())]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("ovs-port", self.netns, f"{self.bridge} {self.bond}"), ovs_vlans(self.tag, self.trunks)),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return OvsDeletePort(self.netns, rundir=self.rundir, bridge=self.bridge, port=self.bond)


@dataclass(frozen=True)
class OvsReplaceFlows(Op):
    """The OpenFlow table of an OVS bridge, replaced as a whole.

    ``ovs-ofctl replace-flows`` changes only the flows that differ, atomically."""

    name: ClassVar[str] = "ovs_replace_flows"
    rundir: str = ""
    bridge: str = ""
    flows: tuple[str, ...] = ()

    def commands(self) -> list[list[str]]:
        target = mgmt_target(self.rundir, self.bridge)
        return ([["#", f"the flows of {self.bridge} become exactly these (ovs-ofctl replace-flows, atomic):"],
                 ["ovs-ofctl", "-O", "OpenFlow13", "del-flows", target]]
                + [["ovs-ofctl", "-O", "OpenFlow13", "add-flow", target, flow] for flow in self.flows])

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("ovs-flows", self.netns, self.bridge), f"{len(self.flows)} flows as in the file"),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        """``previous``: the table as it was (an OvsReplaceFlows), None: unknown, no undo."""
        return previous


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

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return SetTxChecksum(self.netns, ifname=self.ifname, on=not self.on)
