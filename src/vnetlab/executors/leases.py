"""Waiting, at the end of ``up``, until every DHCP client holds its lease and
every SLAAC address is formed (DESIGN.md invariant 8: "DHCP clients hold leases").

The supervisor's ready signal says dnsmasq and udhcpc were *started*; a
client's first DISCOVER (the kernel's first router solicitation) may well
have gone out before dnsmasq listened, and would be retried only a second
(four seconds) later. So :func:`wait_for_addresses`:

1. waits until each dnsmasq of the plan has bound its socket (DHCP's port
   67, read from ``/proc/PID/net/udp``: the namespace's sockets, seen through
   its own process; DNS's 53 or a raw ICMPv6 socket for a server without
   DHCP) — or fails at once with its output when it exited (also a server
   without clients: its start is watched here, not by the supervisor's grace);
2. sends a router solicitation from each SLAAC interface that has no
   address yet, from inside the node as ``rdisc6`` sends one (the kernel
   forms the address from the answer, as from any router advertisement);
   the kernel's own went out when the link came up, before dnsmasq ran,
   and it would send the next one four seconds later. A DHCP client needs
   no such nudge: the supervisor starts dnsmasq before the clients, and a
   client's first DISCOVER leaves only after its hook's ``deconfig`` run
   (40 ms), by when dnsmasq listens; a DISCOVER lost anyway is sent again
   after a second (``-T 1``). (busybox's udhcpc ignores SIGUSR1 until its
   first lease: "initial negotiation in progress, do not disturb".)
3. polls until each lease is recorded by this run's udhcpc (the hook's
   record names the udhcpc that wrote it) and each SLAAC address is there
   and no longer tentative, soliciting again every second.

A client that gets nothing within :data:`ADDRESS_TIMEOUT` seconds fails
``up`` with a message naming it, its server, and the last lines its udhcpc
(or the server) printed.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from typing import Any, Optional, Sequence

from vnetlab.agents import services
from vnetlab.agents.dhcp_hook import read_lease
from vnetlab.agents.services import ServiceSpec
from vnetlab.compile.dnsmasq import SlaacClient
from vnetlab.errors import Failed
from vnetlab.executors.service_start import last_output
from vnetlab.host import netns, processes
from vnetlab.plan import Op, RunDhcpClient, RunDhcpServer, RunService

ADDRESS_TIMEOUT = 10.0   # seconds: a lease takes milliseconds once dnsmasq listens
POLL_INTERVAL = 0.005    # seconds between two looks
NUDGE_INTERVAL = 1.0     # seconds between two router solicitations of an interface that still has nothing
IFA_F_TENTATIVE, IFA_F_DADFAILED = 0x40, 0x08
ND_ROUTER_SOLICIT = 133
ALL_ROUTERS = "ff02::2"


class AddressTimeout(Failed, RuntimeError):
    """A DHCP client got no lease, a SLAAC interface no address, or a dnsmasq
    exited, while ``up`` waited (exit 1: the lab's own servers or clients)."""


def wait_for_addresses(ops: Sequence[Op], slaac: Sequence[SlaacClient], rundir: str,
                       timeout: Optional[float] = None) -> float:
    """Waits until the plan's DHCP clients hold leases and ``slaac`` has its addresses.

    Args:
        ops: the plan (its RunDhcpServer and RunDhcpClient ops are waited for).
        slaac: the SLAAC interfaces of the lab.
        rundir: the lab's run directory (``services.json``, the hook's lease records).
        timeout: seconds to wait in all (default :data:`ADDRESS_TIMEOUT`).

    Returns:
        The seconds it waited.

    Raises:
        AddressTimeout: naming each client that got nothing (or the server that exited).
    """
    servers = [op for op in ops if isinstance(op, RunDhcpServer)]
    clients = [op for op in ops if isinstance(op, RunDhcpClient)]
    if not servers and not clients and not slaac:
        return 0.0
    timeout = ADDRESS_TIMEOUT if timeout is None else timeout
    started = time.monotonic()
    deadline = started + timeout
    waiting_servers = list(servers)
    nudged_at: Optional[float] = None
    while True:
        entries = _entries(rundir)
        for server in list(waiting_servers):
            state = _process(entries, server)
            if state is None:
                raise AddressTimeout(_server_failed(rundir, server, entries))
            if _listening(state.pid, server):
                waiting_servers.remove(server)
        pending = [c for c in clients if not _holds_lease(rundir, entries, c)]
        formed = [c for c in slaac if not _slaac_formed(c)]
        if not pending and not formed:
            return time.monotonic() - started
        now = time.monotonic()
        if not waiting_servers and (nudged_at is None or now - nudged_at >= NUDGE_INTERVAL):
            for client in formed:
                _solicit_router(client)
            nudged_at = now
        for client in pending:
            if _process(entries, client) is None and _started(entries, client):
                raise AddressTimeout(_client_failed(rundir, client, entries, "got no DHCP lease: its udhcpc exited"))
        if now >= deadline:
            break
        time.sleep(POLL_INTERVAL)
    messages = [_server_failed(rundir, s, entries, listening=False) for s in waiting_servers]
    messages += [_client_failed(rundir, c, entries, f"got no DHCP lease within {timeout:g} s") for c in pending]
    messages += [f"{c.node}:{c.ifname} formed no SLAAC address in {c.prefix} within {timeout:g} s — "
                 + (f"{c.server} advertises it: is that node's dnsmasq running (vnetlab status)?" if c.server
                    else "no interface of its L2 segment advertises a prefix (ra:)") for c in formed]
    raise AddressTimeout("\n".join(messages))


def _spec(op: RunService) -> ServiceSpec:
    return ServiceSpec(op.netns, node=op.node, listen=op.listen, command=op.command, oneshot=op.oneshot)


def _entries(rundir: str) -> dict[ServiceSpec, dict[str, Any]]:
    """The command entries of the supervisor's ``services.json`` by their spec."""
    found = {}
    for entry in services.read_state(rundir).get("services", []):
        if isinstance(entry, dict) and "command" in entry:
            try:
                spec = ServiceSpec.from_dict({k: entry[k] for k in ("netns", "node", "command", "oneshot")
                                              if k in entry})
            except ValueError:
                continue
            found[spec] = entry
    return found


def _started(entries: dict, op: RunService) -> bool:
    return _spec(op) in entries


def _process(entries: dict, op: RunService) -> Optional[processes.ProcessRecord]:
    """The running process of the op's service, or None (not started yet, or exited)."""
    entry = entries.get(_spec(op))
    if entry is None or entry.get("state") != "running":
        return None
    try:
        record = processes.ProcessRecord.from_dict(entry)
    except ValueError:
        return None
    return record if processes.is_running(record) else None


def _listening(pid: int, server: RunDhcpServer) -> bool:
    """Whether the server's namespace has the socket its op names bound (``udp/67``: DHCP)."""
    table, _, port = (server.ready or "udp/67").partition("/")
    return _bound(pid, table, int(port))


def _bound(pid: int, table: str, port: int) -> bool:
    text = _read(f"/proc/{pid}/net/{table}")
    wanted = f":{port:04X}"
    return any(line.split()[1].endswith(wanted) for line in text.splitlines()[1:] if len(line.split()) > 1)


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return ""


def _holds_lease(rundir: str, entries: dict, client: RunDhcpClient) -> bool:
    """Whether this client's running udhcpc recorded a lease (a record of an earlier one does not count)."""
    record = read_lease(rundir, client.node, client.ifname)
    state = _process(entries, client)
    return record is not None and state is not None and record.get("client_pid") == state.pid


def _slaac_formed(client: SlaacClient) -> bool:
    """Whether the interface has a usable (not tentative) address in the prefix."""
    prefix = ipaddress.IPv6Network(client.prefix)
    try:
        with netns.entered(client.netns):
            text = _read("/proc/thread-self/net/if_inet6")
    except OSError:
        return False
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 6 or fields[5] != client.ifname:
            continue
        address = ipaddress.IPv6Address(int(fields[0], 16))
        if address in prefix and not int(fields[4], 16) & (IFA_F_TENTATIVE | IFA_F_DADFAILED):
            return True
    return False


def _solicit_router(client: SlaacClient) -> None:
    """Sends one router solicitation from the client's interface (the kernel sent one when
    the link came up, most likely before dnsmasq listened)."""
    try:
        with netns.entered(client.netns):
            sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.IPPROTO_ICMPV6)
        try:
            with netns.entered(client.netns):
                index = socket.if_nametoindex(client.ifname)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
            sock.sendto(bytes([ND_ROUTER_SOLICIT, 0, 0, 0, 0, 0, 0, 0]), (ALL_ROUTERS, 0, 0, index))
        finally:
            sock.close()
    except OSError:
        pass  # the link is not ready yet: the next nudge tries again


def _client_failed(rundir: str, client: RunDhcpClient, entries: dict, what: str) -> str:
    where = (f" (its server: {client.server})" if client.server else
             " — no interface of its L2 segment serves DHCP (dhcp:); serve it, or give it a static address")
    return (f"{client.node}:{client.ifname} {what}{where}"
            + last_output(rundir, entries.get(_spec(client), {}), "udhcpc"))


def _server_failed(rundir: str, server: RunDhcpServer, entries: dict, listening: bool = True) -> str:
    entry = entries.get(_spec(server), {})
    status = entry.get("exit_status")
    how = f"exited with status {status}" if isinstance(status, int) and listening else \
        ("is not running" if listening else "did not open its sockets")
    return f"dnsmasq of node {server.node} {how} (config {server.config})" + last_output(rundir, entry, "dnsmasq")
