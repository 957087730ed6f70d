"""Open vSwitch inside the lab: one ovsdb-server + ovs-vswitchd per node.

Each node with OVS bridges gets its own daemon pair, started inside the
node's namespace (so ovs-vswitchd sees that node's interfaces), with its
database, sockets, pidfiles and logs under ``/run/vnetlab/<lab>/ovs/<node>/``.
Every ovs-* call names that directory (``OVS_RUNDIR`` and friends, and
``--db``/``unix:`` targets), so the host's own OVS, if any, is never used.
Bridges use the userspace datapath (``datapath_type=netdev``): this needs no
kernel module, but it forwards frames as the kernel handed them to a socket,
so TX checksum offload is turned off on the veth ends (``SetTxChecksum``).

The daemons' pids and start times go into the lab journal as soon as they
exist; ``down`` stops them from there, and :func:`stop_leftovers` finds the
ones a SIGKILLed ``up`` started but could not journal any more (their
pidfiles, checked against the program name and the node's namespace).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import socket
import struct
import subprocess
from typing import Callable, Optional

from vnetlab.host import netns, processes
from vnetlab.host.ovs_paths import db_socket, env_for, mgmt_target, node_rundir, ovs_env, vsctl
from vnetlab.host.ovs_tools import BINARIES, VSCTL_TIMEOUT, OvsError, find_binary, installed, run_tool
from vnetlab.names import namespace
from vnetlab.plan import (
    OVS_PROTOCOLS, OVS_SCHEMA, Op, OvsAddBond, OvsAddBridge, OvsAddPort, OvsDeleteBridge, OvsDeletePort,
    OvsReplaceFlows, SetTxChecksum, StartOvs, StopOvs,
)

__all__ = [  # the run-dir conventions and client helpers, for callers that reach them from here
    "BINARIES", "VSCTL_TIMEOUT", "OvsBackend", "OvsError", "daemon_record", "env_for", "find_binary",
    "installed", "node_rundir", "run_tool", "stop_leftovers", "tx_checksum",
]

DAEMONS = ("ovsdb-server", "ovs-vswitchd")
DAEMON_FLAGS = ["--pidfile", "--detach", "--no-chdir", "--log-file"]

SIOCETHTOOL = 0x8946
ETHTOOL_GTXCSUM = 0x16
ETHTOOL_STXCSUM = 0x17


def daemon_record(rundir: str, program: str, netns_name: Optional[str] = None) -> Optional[processes.ProcessRecord]:
    """The running daemon behind ``RUNDIR/PROGRAM.pid``, or None.

    The pid counts only if that process is ``program`` and, when
    ``netns_name`` is given, runs in that namespace: a stale pidfile never
    leads to signalling someone else's process."""
    try:
        with open(os.path.join(rundir, f"{program}.pid")) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    stat = processes.read_stat(pid)
    if stat is None or stat.comm != program[:15] or stat.state == "Z":
        return None
    if netns_name is not None:
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino != os.stat(netns.netns_path(netns_name)).st_ino:
                return None
        except OSError:
            return None
    return processes.ProcessRecord(pid=pid, starttime=stat.starttime)


def stop_leftovers(lab_directory: str) -> list[int]:
    """Stops every OVS daemon of the lab found by pidfile; returns their pids.

    For ``down``: covers daemons started by an ``up`` that was killed before
    it could journal them. Only processes with the daemon's name running in
    the node's own namespace are stopped."""
    lab = os.path.basename(os.path.normpath(lab_directory))
    stopped = []
    with contextlib.suppress(FileNotFoundError):
        for node in sorted(os.listdir(os.path.join(lab_directory, "ovs"))):
            rundir = os.path.join(lab_directory, "ovs", node)
            for program in reversed(DAEMONS):
                record = daemon_record(rundir, program, namespace(lab, node))
                if record is not None and processes.stop(record, timeout=5.0):
                    stopped.append(record.pid)
    return stopped


def _ethtool(ifname: str, cmd: int, data: int = 0) -> int:
    """One ETHTOOL_[GS]* value ioctl in the calling thread's namespace."""
    value = ctypes.create_string_buffer(struct.pack("II", cmd, data), 8)
    ifreq = struct.pack("16sP", ifname.encode(), ctypes.addressof(value)).ljust(40, b"\0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
    return struct.unpack("II", value.raw)[1]


def tx_checksum(netns_name: str, ifname: str) -> bool:
    """Whether TX checksum offload is on for ``ifname`` in ``netns_name``."""
    with netns.entered(netns_name):
        return bool(_ethtool(ifname, ETHTOOL_GTXCSUM))


class OvsBackend:
    """Applies the OVS ops of a lab.

    Args:
        recorder: the lab journal (daemon pids and start times go there).
        on_new_links: called with a namespace name after OVS made interfaces
            in it (a bridge's or an internal port), so the kernel backend
            forgets its cached list of that namespace's links.
    """

    def __init__(self, recorder=None, on_new_links: Optional[Callable[[str], None]] = None):
        self._recorder = recorder
        self._on_new_links = on_new_links or (lambda _ns: None)
        self._handlers: dict[type, Callable[[Op], Optional[Op]]] = {
            StartOvs: self._start,
            StopOvs: self._stop,
            OvsAddBridge: self._add_bridge,
            OvsDeleteBridge: self._delete_bridge,
            OvsAddPort: self._add_port,
            OvsDeletePort: self._delete_port,
            OvsAddBond: self._add_bond,
            OvsReplaceFlows: self._replace_flows,
            SetTxChecksum: self._tx_checksum,
        }

    def handles(self, op: Op) -> bool:
        """Whether this backend applies ``op``."""
        return type(op) in self._handlers

    def apply(self, op: Op) -> Optional[Op]:
        """Applies one op; returns its inverse, or None if nothing changed."""
        return self._handlers[type(op)](op)

    def _record(self, kind: str, **data: object) -> None:
        if self._recorder is not None:
            self._recorder.record(kind, **data)

    # -- daemons ----------------------------------------------------------
    def _start(self, op: StartOvs) -> Optional[Op]:
        """Starts the node's daemons, or restarts the one(s) that died (a
        killed daemon is drift; converging re-applies the bridges, ports and
        flows after this op)."""
        running = {p: daemon_record(op.rundir, p, op.netns) for p in DAEMONS}
        if all(running.values()):
            return None
        if running["ovsdb-server"] is None and running["ovs-vswitchd"] is not None:
            # A vswitchd that lost its database forwarded nothing here (no ping for 6 s) and reconnects only on
            # its own backoff (1, 2, 4, 8 s); restarted after the database, it has read its whole
            # configuration by the time --detach returns.
            processes.stop(running["ovs-vswitchd"], timeout=5.0)
            self._record("process-gone", role=f"ovs-vswitchd@{op.node}")
            running["ovs-vswitchd"] = None
        from vnetlab.host import run as runner

        os.makedirs(op.rundir, mode=0o755, exist_ok=True)
        env = {**os.environ, **ovs_env(op.rundir)}
        db = os.path.join(op.rundir, "conf.db")
        if running["ovsdb-server"] is None:
            if not os.path.exists(db):
                run_tool(op.rundir, ["ovsdb-tool", "create", db, OVS_SCHEMA])
            self._daemon(op, runner, env, [find_binary("ovsdb-server") or "ovsdb-server", db,
                                           f"--remote=punix:{db_socket(op.rundir)}", *DAEMON_FLAGS])
            run_tool(op.rundir, vsctl(op.rundir, "--no-wait", "init"))
        if running["ovs-vswitchd"] is None:
            self._daemon(op, runner, env, [find_binary("ovs-vswitchd") or "ovs-vswitchd",
                                           f"unix:{db_socket(op.rundir)}", *DAEMON_FLAGS])
            self._on_new_links(op.netns)  # it (re)made its bridges' and internal ports' interfaces
        return StopOvs(op.netns, node=op.node, rundir=op.rundir)

    def _daemon(self, op: StartOvs, runner, env: dict[str, str], argv: list[str]) -> None:
        program = os.path.basename(argv[0])
        # --detach returns once the daemon is ready; its stdio is /dev/null by then.
        result = runner.run(op.netns, argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=60)
        record = daemon_record(op.rundir, program, op.netns)
        if result.returncode != 0 or record is None:
            raise OvsError(f"{program} did not start in {op.netns}: "
                           f"{(result.stderr or '').strip() or 'see ' + op.rundir + '/' + program + '.log'}")
        self._record("process", role=f"{program}@{op.node}", pid=record.pid, starttime=record.starttime,
                     does=f"Open vSwitch of node {op.node} ({op.rundir})")

    def _stop(self, op: StopOvs) -> Optional[Op]:
        stopped = False
        for program in reversed(DAEMONS):
            record = daemon_record(op.rundir, program, op.netns)
            if record is not None:
                stopped |= processes.stop(record, timeout=5.0)
                self._record("process-gone", role=f"{program}@{op.node}")
        return StartOvs(op.netns, node=op.node, rundir=op.rundir) if stopped else None

    # -- bridges ----------------------------------------------------------
    def _vsctl(self, rundir: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run_tool(rundir, vsctl(rundir, *args), check=check)

    def _add_bridge(self, op: OvsAddBridge) -> Optional[Op]:
        exists = self._vsctl(op.rundir, "br-exists", op.bridge, check=False).returncode == 0
        if exists:
            got = self._vsctl(op.rundir, "get", "bridge", op.bridge, "datapath_type", "protocols",
                              "fail_mode").stdout.split("\n")
            controller = self._vsctl(op.rundir, "get-controller", op.bridge).stdout.strip() or None
            want_protocols = "[" + ", ".join(OVS_PROTOCOLS.split(",")) + "]"
            if (got[0] == "netdev" and got[1] == want_protocols and controller == op.controller
                    and (got[2] == "secure") == bool(op.controller)):
                return None
        for command in op.commands():
            run_tool(op.rundir, command)
        if exists:
            if not op.controller:
                self._vsctl(op.rundir, "del-controller", op.bridge, "--", "del-fail-mode", op.bridge)
            return OvsAddBridge(op.netns, rundir=op.rundir, bridge=op.bridge, controller=controller)
        self._on_new_links(op.netns)
        return OvsDeleteBridge(op.netns, rundir=op.rundir, bridge=op.bridge)

    def _delete_bridge(self, op: OvsDeleteBridge) -> Optional[Op]:
        if daemon_record(op.rundir, "ovsdb-server") is None:
            return None  # no database: no bridge
        if self._vsctl(op.rundir, "br-exists", op.bridge, check=False).returncode != 0:
            return None
        self._vsctl(op.rundir, "del-br", op.bridge)
        return None  # re-creating a deleted bridge is not an undo we offer

    # -- ports and bonds --------------------------------------------------
    def _port_settings(self, rundir: str, port: str,
                       local_of: Optional[str] = None) -> Optional[tuple[Optional[str], list[str]]]:
        """(bridge, [tag, trunks, vlan_mode, bond_mode, lacp]) of a port, or None if absent.

        ``local_of``: the bridge, when ``port`` may be that bridge's own (local)
        port, which exists with the bridge and which port-to-br does not name."""
        if port == local_of:
            bridge = port
        else:
            found = self._vsctl(rundir, "port-to-br", port, check=False)
            if found.returncode != 0:
                return None
            bridge = found.stdout.strip()
        columns = self._vsctl(rundir, "get", "port", port, "tag", "trunks", "vlan_mode", "bond_mode",
                              "lacp").stdout.split("\n")[:5]
        return bridge, columns

    @staticmethod
    def _wanted(tag: Optional[int], trunks: tuple[int, ...], bond_mode: Optional[str] = None,
                lacp: bool = False) -> list[str]:
        mode = "native-untagged" if tag is not None and trunks else "access" if tag is not None \
            else "trunk" if trunks else "[]"
        return [str(tag) if tag is not None else "[]",
                "[" + ", ".join(map(str, trunks)) + "]", mode,
                bond_mode or "[]", "active" if lacp else "[]"]

    def _add_port(self, op: OvsAddPort) -> Optional[Op]:
        current = self._port_settings(op.rundir, op.port, local_of=op.bridge)
        if current is None:
            for command in op.commands():
                run_tool(op.rundir, command)
            if op.internal:
                self._on_new_links(op.netns)
            return OvsDeletePort(op.netns, rundir=op.rundir, bridge=op.bridge, port=op.port)
        bridge, columns = current
        if bridge == op.bridge and columns == self._wanted(op.tag, op.trunks):
            return None
        if bridge != op.bridge:
            self._vsctl(op.rundir, "del-port", bridge, op.port)
            for command in op.commands():
                run_tool(op.rundir, command)
            return OvsDeletePort(op.netns, rundir=op.rundir, bridge=op.bridge, port=op.port)
        self._set_vlans(op.rundir, op.port, op.tag, op.trunks)
        old_tag = int(columns[0]) if columns[0].isdigit() else None
        old_trunks = tuple(int(v) for v in columns[1].strip("[]").split(",") if v.strip())
        return OvsAddPort(op.netns, rundir=op.rundir, bridge=op.bridge, port=op.port, tag=old_tag,
                          trunks=old_trunks, internal=op.internal)

    def _set_vlans(self, rundir: str, port: str, tag: Optional[int], trunks: tuple[int, ...]) -> None:
        tag_text, trunks_text, mode, _, _ = self._wanted(tag, trunks)
        self._vsctl(rundir, "set", "port", port, f"tag={tag_text}",
                    f"trunks={trunks_text.strip('[]').replace(' ', '') or '[]'}", f"vlan_mode={mode}")

    def _delete_port(self, op: OvsDeletePort) -> Optional[Op]:
        if daemon_record(op.rundir, "ovsdb-server") is None:
            return None
        self._vsctl(op.rundir, "--if-exists", "del-port", op.bridge, op.port)
        return None

    def _add_bond(self, op: OvsAddBond) -> Optional[Op]:
        current = self._port_settings(op.rundir, op.bond)
        if current is not None:
            bridge, columns = current
            members = set(self._vsctl(op.rundir, "list-ifaces", op.bridge).stdout.split())
            if bridge == op.bridge and set(op.members) <= members \
                    and columns == self._wanted(op.tag, op.trunks, op.mode, op.lacp):
                return None
            self._vsctl(op.rundir, "del-port", bridge, op.bond)  # re-made below, as the file says
        for command in op.commands():
            run_tool(op.rundir, command)
        return OvsDeletePort(op.netns, rundir=op.rundir, bridge=op.bridge, port=op.bond)

    # -- flows ------------------------------------------------------------
    def _replace_flows(self, op: OvsReplaceFlows) -> Optional[Op]:
        target = mgmt_target(op.rundir, op.bridge)
        path = os.path.join(op.rundir, f"flows-{op.bridge}.txt")
        with open(path, "w") as handle:
            handle.write("".join(f"{flow}\n" for flow in op.flows))
        diff = run_tool(op.rundir, ["ovs-ofctl", "-O", "OpenFlow13", "diff-flows", target, path], check=False)
        if diff.returncode not in (0, 2):
            raise OvsError(f"ovs-ofctl diff-flows {op.bridge}: {diff.stderr.strip()}")
        changes = diff.stdout.splitlines()
        if self._vsctl(op.rundir, "get-controller", op.bridge).stdout.strip():
            changes = [line for line in changes if not line.startswith("-")]  # the controller's own flows
        if not changes:
            return None
        old = run_tool(op.rundir, ["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "--no-stats", target]).stdout
        run_tool(op.rundir, ["ovs-ofctl", "-O", "OpenFlow13", "replace-flows", target, path])
        return OvsReplaceFlows(op.netns, rundir=op.rundir, bridge=op.bridge,
                               flows=tuple(line.strip() for line in old.splitlines()
                                           if line.strip() and "reply" not in line))

    # -- offload ----------------------------------------------------------
    def _tx_checksum(self, op: SetTxChecksum) -> Optional[Op]:
        with netns.entered(op.netns):
            if bool(_ethtool(op.ifname, ETHTOOL_GTXCSUM)) == op.on:
                return None
            _ethtool(op.ifname, ETHTOOL_STXCSUM, int(op.on))
        return SetTxChecksum(op.netns, ifname=op.ifname, on=not op.on)
