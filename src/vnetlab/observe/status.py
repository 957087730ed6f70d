"""``vnetlab status``: what a running lab really has, read from the kernel."""

from __future__ import annotations

from typing import Any

from vnetlab.host import applied, netns, state
from vnetlab.names import split_namespace
from vnetlab.observe.snapshot import read_sysctls


def read_namespace_fast(name: str) -> dict[str, Any]:
    """What :func:`vnetlab.observe.snapshot.read_namespace` returns, read with
    raw netlink dumps (:mod:`vnetlab.observe.rtnl`): about 15 times faster,
    which a 1,000-node lab needs."""
    from vnetlab.observe import rtnl

    links, routes = rtnl.read(name)
    return {"links": links, "routes": routes, "sysctls": read_sysctls(name)}


def node_services(rundir: str) -> dict[str, list[dict[str, Any]]]:
    """Per node, the services the supervisor was told to run and whether they run.

    Each is ``{"listen": "tcp/80"}`` or ``{"command": [...], "oneshot": bool}``
    plus ``pid`` (a listener's is the supervisor's), ``running`` and
    ``state`` (as the supervisor last reported it: listening, running,
    restarting, done — a oneshot that exited 0 —, failed, or ``not
    started``); a command's ``exit_status`` once it has exited.
    """
    from vnetlab.host import processes
    from vnetlab.agents import services, supervisor

    state = services.read_state(rundir)
    reported = {}
    for entry in state.get("services", []):
        try:
            spec = services.ServiceSpec.from_dict({k: entry.get(k) for k in ("netns", "node", "listen", "command",
                                                                             "oneshot") if entry.get(k) is not None})
        except (ValueError, AttributeError):
            continue
        reported[spec] = entry
    try:
        wanted = list(supervisor.SupervisorConfig.load(rundir).services)
    except (OSError, ValueError):
        wanted = list(reported)
    owner = supervisor.read_pidfile(rundir)
    owner_running = owner is not None and processes.is_running(owner)
    result: dict[str, list[dict[str, Any]]] = {}
    for spec in wanted:
        entry = reported.get(spec, {})
        item: dict[str, Any] = (
            {"listen": spec.listen} if spec.listen is not None
            else {"command": list(spec.command or ()), "oneshot": spec.oneshot}
        )
        item["state"] = entry.get("state", "not started")
        if spec.listen is not None:
            item["pid"] = owner.pid if owner is not None else None
            item["running"] = owner_running and item["state"] == "listening"
            item["address"] = entry.get("address")
        else:
            record = None
            if "pid" in entry:
                try:
                    record = processes.ProcessRecord.from_dict(entry)
                except ValueError:
                    pass
            item["pid"] = record.pid if record is not None else None
            item["running"] = record is not None and processes.is_running(record)
            item["log"] = entry.get("log")
            item["exit_status"] = entry.get("exit_status")
        if not owner_running and not item["running"]:
            item["state"] = "stopped"
        result.setdefault(spec.node, []).append(item)
    return result


def ovs_status(netns_name: str) -> dict[str, Any]:
    """A node's Open vSwitch bridges, each with its flows and their counters
    (``ovs-ofctl dump-flows``); {} if the node has no OVS."""
    from vnetlab.executors import ovs
    from vnetlab.host.ovs_paths import mgmt_target, vsctl

    rundir = ovs.node_rundir(netns_name)
    if rundir is None or ovs.daemon_record(rundir, "ovs-vswitchd") is None:
        return {}
    listed = ovs.run_tool(rundir, vsctl(rundir, "list-br"), check=False)
    bridges: dict[str, Any] = {}
    for bridge in listed.stdout.split():
        dump = ovs.run_tool(rundir, ["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", mgmt_target(rundir, bridge)],
                            check=False)
        flows = [line.strip() for line in dump.stdout.splitlines() if line.strip() and "reply" not in line]
        bridges[bridge] = {"flows": [_flow_entry(line) for line in flows]}
    return bridges


def _flow_entry(line: str) -> dict[str, Any]:
    """One dump-flows line as {"flow": match and actions, "n_packets", "n_bytes"}."""
    counters: dict[str, Any] = {}
    kept = []
    for part in line.replace(" actions=", ", actions=").split(", "):
        key, _, value = part.partition("=")
        if key in ("n_packets", "n_bytes") and value.isdigit():
            counters[key] = int(value)
        elif key not in ("cookie", "duration", "idle_age", "hard_age", "reset_counts") or key == "table":
            kept.append(part)
    flow = ",".join(kept).replace(",actions=", " actions=")
    return {"flow": flow, "n_packets": counters.get("n_packets", 0), "n_bytes": counters.get("n_bytes", 0)}


def dhcp_status(name: str) -> dict[str, Any]:
    """Per serving node (issue 13): its dnsmasq's leases (client, MAC, address,
    expiry: dnsmasq's own lease file) and the DNS records it serves (its
    config's ``host-record`` lines, and each leased client's name), read from
    the run directory; {} for a lab without dnsmasq."""
    from vnetlab.plan import RunDhcpServer

    plan = applied.read_plan(name)  # what the last up applied (drift's applied_plan would import a cycle)
    servers = [op for op in plan.ops if isinstance(op, RunDhcpServer)] if plan is not None else []
    result: dict[str, Any] = {}
    for op in servers:
        config = _read_lines(op.config)
        domain = next((line.partition("=")[2] for line in config if line.startswith("domain=")), None)
        records = []
        for line in config:
            if line.startswith("host-record="):
                *names, address = line.partition("=")[2].split(",")
                records.append({"names": names, "address": address, "origin": "file"})
        leases = []
        for line in _read_lines(op.leases):
            fields = line.split()
            if len(fields) < 4 or not fields[0].isdigit():
                continue
            expiry, mac, address, host = int(fields[0]), fields[1], fields[2], fields[3]
            leases.append({"client": None if host == "*" else host, "mac": mac, "address": address,
                           "expires": expiry or None})  # 0: never
            if host != "*":
                names = [f"{host}.{domain}", host] if domain else [host]
                records.append({"names": names, "address": address, "origin": "lease"})
        result[op.node] = {"leases": leases, "records": records if domain else [], "domain": domain}
    return result


def _read_lines(path: str) -> list[str]:
    try:
        with open(path) as handle:
            return handle.read().splitlines()
    except OSError:
        return []


def lab_status(name: str) -> dict[str, Any]:
    """Per node: interfaces, addresses, routes, forwarding, services; plus the lab's processes."""
    from vnetlab.names import namespace as netns_name
    from vnetlab.host import processes
    from vnetlab.agents import supervisor

    journal = state.Journal(name)
    record = journal.read()
    copy = applied.spec_copy(name)  # the nodes in file order, without loading the model
    names = applied.node_names(copy)
    if names is not None:
        nodes = {node: netns_name(name, node) for node in names}
        source = copy.get("source")
    else:
        nodes = {split_namespace(ns)[1]: ns for ns in record.namespaces}
        source = record.source
    result: dict[str, Any] = {"lab": name, "source": source, "nodes": {}, "processes": []}
    service_map = node_services(journal.dir)
    for node, ns in nodes.items():
        if not netns.exists(ns):
            result["nodes"][node] = {"netns": ns, "missing": True, "services": service_map.get(node, [])}
            continue
        snapshot = read_namespace_fast(ns)
        result["nodes"][node] = {
            "netns": ns,
            "forwarding": snapshot["sysctls"].get("net.ipv4.ip_forward") == "1",
            "interfaces": snapshot["links"],
            "routes": snapshot["routes"],
            "services": service_map.get(node, []),
        }
        switch = ovs_status(ns)
        if switch:
            result["nodes"][node]["ovs"] = switch
    for entry in record.processes:
        if "does" in entry:  # e.g. a node's ovsdb-server and ovs-vswitchd
            try:
                proc = processes.ProcessRecord.from_dict(entry)
            except ValueError:
                continue
            result["processes"].append({"role": entry["role"], "pid": proc.pid,
                                        "running": processes.is_running(proc), "does": entry["does"]})
    dhcp = dhcp_status(name)
    if dhcp:
        result["dhcp"] = dhcp
    from vnetlab.observe.impairments import link_status

    links = link_status(name)
    if links:
        result["links"] = links
    pid_record = supervisor.read_pidfile(journal.dir)
    if pid_record is not None:
        result["processes"].append({
            "role": "supervisor", "pid": pid_record.pid,
            "running": processes.is_running(pid_record),
            "does": "pumps frames between TAPs and VM NICs, carries impaired link ends, runs the nodes' services",
        })
    return result
