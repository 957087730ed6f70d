"""``vnetlab status``: what a running lab really has, read from the kernel."""

from __future__ import annotations

from typing import Any

from vnetlab.executors import netns, state
from vnetlab.observe.snapshot import read_namespace


def lab_status(name: str) -> dict[str, Any]:
    """Per node: interfaces, addresses, routes, forwarding; plus the lab's processes."""
    from vnetlab.executors import processes, supervisor
    from vnetlab.lab import Lab

    journal = state.Journal(name)
    record = journal.read()
    try:
        lab = Lab.running(name)
        nodes = {node: lab.namespace_of(node) for node in lab.spec.nodes}
        source = lab.source
    except LookupError:
        nodes = {ns.removeprefix(f"{name}-"): ns for ns in record.namespaces}
        source = record.source
    result: dict[str, Any] = {"lab": name, "source": source, "nodes": {}, "processes": []}
    for node, ns in nodes.items():
        if not netns.exists(ns):
            result["nodes"][node] = {"netns": ns, "missing": True}
            continue
        snapshot = read_namespace(ns)
        result["nodes"][node] = {
            "netns": ns,
            "forwarding": snapshot["sysctls"].get("net.ipv4.ip_forward") == "1",
            "interfaces": snapshot["links"],
            "routes": snapshot["routes"],
        }
    pid_record = supervisor.read_pidfile(journal.dir)
    if pid_record is not None:
        result["processes"].append({
            "role": "supervisor", "pid": pid_record.pid,
            "running": processes.is_running(pid_record),
            "does": "pumps frames between TAPs and VM NICs",
        })
    return result


def render_status(status: dict[str, Any], console) -> None:
    """Prints one lab's status as rich tables."""
    from rich.table import Table

    console.print(f"[bold]lab {status['lab']}[/bold]" + (f"  ({status['source']})" if status["source"] else ""))
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("node", "interface", "kind", "state", "master", "addresses"):
        table.add_column(column)
    for node, info in status["nodes"].items():
        if info.get("missing"):
            table.add_row(node, "-", "-", "[red]namespace missing[/red]", "", "")
            continue
        label = node + (" (fwd)" if info["forwarding"] else "")
        for link in info["interfaces"]:
            up = "UP" if link["up"] else "down"
            if link["up"] and not link["carrier"] and link["name"] != "lo":
                up = "UP, no carrier"
            table.add_row(label, link["name"], link["kind"], up, link["master"] or "",
                          " ".join(link["addresses"]))
            label = ""
    console.print(table)
    routes = [(node, r) for node, info in status["nodes"].items() for r in info.get("routes", [])
              if r["via"] or r["to"] == "default"]
    if routes:
        console.print("[bold]routes[/bold] (static)")
        for node, route in routes:
            via = f" via {route['via']}" if route["via"] else ""
            console.print(f"  {node}: {route['to']}{via} dev {route['dev']}")
    for proc in status["processes"]:
        mark = "running" if proc["running"] else "[red]not running[/red]"
        console.print(f"[bold]process[/bold] {proc['role']} pid {proc['pid']} {mark} — {proc['does']}")
    console.print()
