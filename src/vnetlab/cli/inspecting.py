"""Commands that read a running lab back: status (with drift) and sockets, and their rendering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
import argparse
import json
import time

from vnetlab.cli.common import EXIT_OK, EXIT_FAILED, _console, _lab_name_of, _node_name, _running

if TYPE_CHECKING:
    from vnetlab.observe.sockets import SocketInfo


def cmd_status(args: argparse.Namespace) -> int:
    from vnetlab.lab import require_root, running_labs
    from vnetlab.observe.status import lab_status

    require_root("vnetlab status")
    names = [_lab_name_of(args.lab)] if args.lab else running_labs()
    if args.lab and names[0] not in running_labs():
        raise LookupError(f"lab {names[0]!r} is not up — start it with: vnetlab up LABFILE")
    statuses = [lab_status(name) for name in names]
    from vnetlab.observe.drift import drift

    for status in statuses:
        status["drift"] = [c.to_dict(status["lab"]) for c in drift(status["lab"]).changes]
    drifted = any(status["drift"] for status in statuses)
    if args.json:
        print(json.dumps(statuses if not args.lab else statuses[0], indent=2))
    elif not statuses:
        print("no labs are up")
    else:
        console = _console()
        for status in statuses:
            render_status(status, console)
            _render_drift(status, console)
    return EXIT_FAILED if args.check_drift and drifted else EXIT_OK


def _render_drift(status: dict, console) -> None:
    from rich.markup import escape

    if not status["drift"]:
        console.print(f"[bold]drift[/bold]: none — lab {status['lab']} is as its file says")
        return
    console.print(f"[bold]drift[/bold] ({len(status['drift'])}; `vnetlab up FILE` repairs exactly these)")
    for change in status["drift"]:
        console.print(f"  [yellow]{change['sign']}[/yellow] {escape(change['message'])}")
    console.print()


def cmd_sockets(args: argparse.Namespace) -> int:
    from vnetlab.host import processes, state
    from vnetlab.agents import supervisor
    from vnetlab.lab import require_root
    from vnetlab.observe.sockets import node_sockets

    require_root("vnetlab sockets")
    lab = _running(args.lab)
    node = lab.node(_node_name(args.node))
    record = supervisor.read_pidfile(state.lab_dir(lab.name))
    extra = [record.pid] if record is not None and processes.is_running(record) else []
    found = node_sockets(node.netns, extra_pids=extra)
    if args.listening:
        found = [s for s in found if s.listening]
    if args.json:
        print(json.dumps({"lab": lab.name, "node": args.node, "sockets": [s.to_dict() for s in found]}, indent=2))
    else:
        render_sockets(found, _console())
    return EXIT_OK


def add_status(command) -> None:
    p = command("status", cmd_status, "labs that are up: nodes, interfaces, addresses, routes, processes, "
                "and drift (changes made by hand since the last up)")
    p.add_argument("lab", nargs="?", metavar="LAB|LABFILE")
    p.add_argument("--json", action="store_true")
    p.add_argument("--check-drift", action="store_true",
                   help="exit 1 if a lab drifted from its file (changes made by hand)")


def add_sockets(command) -> None:
    p = command("sockets", cmd_sockets, "TCP and UDP sockets of a node with their processes, like ss -tuapn")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("node")
    p.add_argument("-l", "--listening", action="store_true", help="only listening TCP and unconnected UDP sockets")
    p.add_argument("--json", action="store_true")


def render_status(status: dict[str, Any], console) -> None:
    """Prints one lab's status as rich tables."""
    from rich.markup import escape
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
    services = [(node, svc) for node, info in status["nodes"].items() for svc in info.get("services", [])]
    if services:
        console.print("[bold]services[/bold]")
        for node, svc in services:
            what = escape(svc["listen"] if "listen" in svc else " ".join(svc["command"]))
            if svc.get("oneshot"):
                what += " (oneshot)"
            mark = svc["state"] if svc["running"] or svc["state"] == "done" else f"[red]{svc['state']}[/red]"
            pid = f"pid {svc['pid']}" if svc["pid"] is not None else \
                f"exit {svc['exit_status']}" if svc.get("exit_status") is not None else "no pid"
            console.print(f"  {node}: {what} — {mark}, {pid}", markup=True, highlight=False)
    for node, served in status.get("dhcp", {}).items():
        console.print(f"[bold]leases[/bold] of {node}'s dnsmasq")
        if not served["leases"]:
            console.print("  (none)")
        for lease in served["leases"]:
            expires = "never" if lease["expires"] is None else \
                time.strftime("%H:%M:%S", time.localtime(lease["expires"])) + \
                f" (in {max(0, int(lease['expires'] - time.time()))} s)"
            console.print(f"  {escape(lease['client'] or '?')}  {lease['mac']}  {lease['address']}  expires {expires}",
                          markup=True, highlight=False)
        if served["records"]:
            console.print(f"[bold]dns[/bold] of {node} (domain {escape(served['domain'] or '')})")
            for record in served["records"]:
                console.print(f"  {escape(' '.join(record['names']))}  {record['address']}  ({record['origin']})",
                              markup=True, highlight=False)
    impaired = [link for link in status.get("links", []) if link["wanted"] or link["kernel"] != "none"]
    if impaired:
        console.print("[bold]impairments[/bold] (what each end does to what it sends)")
        for link in impaired:
            origin = "set at runtime" if link["origin"] == "runtime" else "from the file"
            wanted = f"{link['wanted']} ({link['mechanism']}, {origin})" if link["wanted"] else \
                "none" + (" (cleared at runtime)" if link["origin"] else "")
            console.print(f"  {escape(link['end'])} → {escape(link['peer'])}: {escape(wanted)}; "
                          f"kernel: {escape(link['kernel'])}", markup=True, highlight=False)
    cut = [link for link in status.get("links", []) if link["cut"]]
    if cut:
        console.print("[bold]cut cables[/bold] (vnetlab link LAB NODE:IF up plugs one in)")
        shown: set[str] = set()
        for link in cut:
            if link["peer"] in shown:
                continue
            shown.add(link["end"])
            console.print(f"  [red]{escape(link['end'])} — {escape(link['peer'])}[/red]: both ends down, no carrier",
                          markup=True, highlight=False)
    switches = [(node, bridge, info) for node, node_info in status["nodes"].items()
                for bridge, info in node_info.get("ovs", {}).items()]
    for node, bridge, info in switches:
        console.print(f"[bold]flows[/bold] of {node}:{bridge} (Open vSwitch)")
        for flow in info["flows"]:
            console.print(f"  {flow['n_packets']:>8} pkts  {escape(flow['flow'])}", markup=True, highlight=False)
    for proc in status["processes"]:
        mark = "running" if proc["running"] else "[red]not running[/red]"
        console.print(f"[bold]process[/bold] {proc['role']} pid {proc['pid']} {mark} — {proc['does']}")
    console.print()


def render_sockets(sockets: list[SocketInfo], console) -> None:
    """Prints the sockets as ``ss -tuapn`` lays them out (never truncated)."""
    from vnetlab.observe.sockets import SocketInfo

    rows = [("Netid", "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port", "Process")]
    for s in sockets:
        rows.append((s.proto, s.state, str(s.recv_q), str(s.send_q), SocketInfo.endpoint(s.local, s.local_port),
                     SocketInfo.endpoint(s.peer, s.peer_port),
                     "users:(" + ",".join(str(o) for o in s.owners) + ")" if s.owners else ""))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        cells = [cell.rjust(w) if 2 <= i <= 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        console.print("  ".join(cells + [row[6]]).rstrip(), markup=False, highlight=False)
