"""A node's panel: what ``vnetlab status`` and ``vnetlab sockets`` know about one node.

Interfaces, addresses and routes from netlink (``observe/rtnl``), the
forwarding switches, the nft ruleset as the node's ``nft list ruleset``
prints it, the node's Open vSwitch bridges and flows, its TCP/UDP sockets
with their processes, and every process running in its namespace.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any, Optional

NFT_TIMEOUT = 5.0


def route_line(route: dict[str, Any]) -> str:
    """One route as ``ip route`` prints it: ``default via 10.0.0.1 dev eth0 proto static``."""
    from vnetlab.observe.rtnl import route_text

    return route_text(route, with_proto=True)


def interface_row(link: dict[str, Any]) -> dict[str, Any]:
    """An interface as the panel lists it."""
    state = link.get("state") or ("UP" if link.get("up") else "DOWN")
    if link.get("up") and not link.get("carrier") and link.get("name") != "lo":
        state = "NO-CARRIER"
    return {"name": link["name"], "kind": link.get("kind"), "state": state, "up": bool(link.get("up")),
            "mac": link.get("mac"), "mtu": link.get("mtu"), "master": link.get("master"),
            "addresses": list(link.get("addresses", [])) + list(link.get("dynamic", []))}


def ruleset(netns_name: str) -> str:
    """The node's ``nft list ruleset`` ('' when it has none; a note when nft is missing)."""
    from vnetlab.host import run

    try:
        done = run.run(netns_name, ["nft", "list", "ruleset"], capture_output=True, text=True, timeout=NFT_TIMEOUT)
    except FileNotFoundError:
        return "(nft is not installed — apt-get install nftables)"
    except subprocess.TimeoutExpired:
        return "(nft list ruleset did not answer in time)"
    return done.stdout if done.returncode == 0 else f"(nft list ruleset failed: {done.stderr.strip()})"


def namespace_processes(netns_name: str) -> list[dict[str, Any]]:
    """Every process whose network namespace is the node's, by pid, with its command line."""
    from vnetlab.host import netns
    from vnetlab.observe.sockets import pids_in_namespace

    try:
        inode = os.stat(netns.netns_path(netns_name)).st_ino
    except OSError:
        return []
    found = []
    for pid in pids_in_namespace(inode):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
        except OSError:
            continue  # gone meanwhile
        if argv:
            found.append({"pid": pid, "command": " ".join(argv)})
    return sorted(found, key=lambda p: p["pid"])


def socket_rows(netns_name: str, supervisor_pid: Optional[int]) -> list[dict[str, Any]]:
    """The node's sockets as ``ss -tuapn`` lists them."""
    from vnetlab.observe.sockets import SocketInfo, node_sockets

    rows = []
    for s in node_sockets(netns_name, extra_pids=[supervisor_pid] if supervisor_pid else []):
        rows.append({"proto": s.proto, "local": SocketInfo.endpoint(s.local, s.local_port),
                     "peer": SocketInfo.endpoint(s.peer, s.peer_port), "state": s.state, "listening": s.listening,
                     "process": ", ".join(f"{o.command} (pid {o.pid})" for o in s.owners)})
    return rows


def _supervisor_pid(lab: str) -> Optional[int]:
    from vnetlab.agents import supervisor
    from vnetlab.host import processes, state

    record = supervisor.read_pidfile(state.lab_dir(lab))
    return record.pid if record is not None and processes.is_running(record) else None


def details(lab: Any, node: str) -> dict[str, Any]:
    """``GET /api/labs/LAB/nodes/NODE``: the node's panel (``lab``: a running ``vnetlab.lab.Lab``).

    Raises:
        LookupError: the node's namespace is gone.
    """
    from vnetlab.host import netns, state
    from vnetlab.observe.status import node_services, ovs_status, read_namespace_fast

    ns = lab.namespace_of(node)
    if not netns.exists(ns):
        raise LookupError(f"namespace {ns} of node {node} does not exist — is lab {lab.name} still up?")
    snapshot = read_namespace_fast(ns)
    sysctls = snapshot["sysctls"]
    return {
        "lab": lab.name, "node": node, "netns": ns, "kind": lab.spec.nodes[node].kind,
        "interfaces": [interface_row(link) for link in snapshot["links"]],
        "routes": [route_line(route) for route in snapshot["routes"]],
        "forwarding": {"ipv4": sysctls.get("net.ipv4.ip_forward") == "1",
                       "ipv6": sysctls.get("net.ipv6.conf.all.forwarding") == "1"},
        "nft": ruleset(ns),
        "ovs": ovs_status(ns) or None,
        "sockets": socket_rows(ns, _supervisor_pid(lab.name)),
        "processes": namespace_processes(ns),
        "services": node_services(state.lab_dir(lab.name)).get(node, []),
    }
