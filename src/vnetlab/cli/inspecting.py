"""Commands that read a running lab back: status (with drift) and sockets, and their rendering.
"""

from __future__ import annotations

import argparse
import json

from vnetlab.cli.common import EXIT_OK, EXIT_FAILED, _console, _lab_name_of, _node_name, _running


def cmd_status(args: argparse.Namespace) -> int:
    from vnetlab.lab import require_root, running_labs
    from vnetlab.observe.status import lab_status, render_status

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
    from vnetlab.observe.sockets import node_sockets, render_sockets

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
