"""Probe commands: capture, reach, scan, trace, and their rendering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional
import argparse
import json
import os
import sys

from vnetlab.cli.common import EXIT_OK, EXIT_FAILED, UsageError, _console, _node_name, _running, _room_maker, RAISE_PROBE_HELP


# -- observe: capture, reach, scan, sockets (issue 5) ---------------------
def cmd_capture(args: argparse.Namespace) -> int:
    import signal
    import threading
    from datetime import datetime

    from vnetlab.lab import EnvironmentProblem, require_root
    from vnetlab.probe import capture as cap

    require_root("vnetlab capture")
    if args.count is not None and args.count < 1:
        raise UsageError("-c needs a positive number of packets")
    if args.duration is not None and args.duration <= 0:
        raise UsageError("--duration needs a positive number of seconds")
    lab = _running(args.lab)
    namespaces = {node: lab.namespace_of(node) for node in lab.node_names}
    interfaces = cap.select_interfaces(namespaces, args.targets)
    if not interfaces:
        raise UsageError("no interface is up on the nodes given — name one as NODE:IF")
    err = sys.stderr

    def ready() -> None:
        names = ", ".join(i.label for i in interfaces)
        print(f"capturing on {len(interfaces)} interfaces ({names}) — Ctrl-C to stop", file=err, flush=True)

    def show(interface, packet, linktype) -> None:
        if args.json:  # one JSON object per packet, then the summary object
            print(json.dumps({"time_ns": packet.ts_ns, "interface": interface.label, "length": packet.orig_len,
                              "summary": cap.summarize(packet.data, linktype)}), flush=True)
            return
        stamp = datetime.fromtimestamp(packet.ts_ns / 1e9).strftime("%H:%M:%S.%f")
        print(f"{stamp} {interface.label} {cap.summarize(packet.data, linktype)}", flush=True)

    # Ctrl-C and SIGTERM end the capture cleanly: the file is completed.
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        output = open(args.write, "wb") if args.write else None
    except OSError as exc:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        raise UsageError(f"cannot write the capture to {args.write}: {exc.strerror}") from None
    try:
        report = cap.capture(interfaces, bpf=args.filter, output=output, count=args.count, duration=args.duration,
                             on_packet=None if output else show, on_ready=None if args.json else ready, stop=stop)
    except FileNotFoundError as exc:
        raise EnvironmentProblem(str(exc)) from None
    except cap.CaptureError as exc:
        raise UsageError(str(exc)) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if output is not None:
            output.close()
    if args.json:
        print(json.dumps({"lab": lab.name, "file": args.write, "packets": report.packets,
                          "stopped_by": report.stopped_by,
                          "interfaces": [{"interface": s.label, "captured": s.captured, "received": s.received,
                                          "dropped_by_kernel": s.dropped} for s in report.interfaces]}))
    else:
        where = f"; written to {args.write}" if args.write else ""
        print(report.summary() + where, file=sys.stdout if args.write else err)
    return EXIT_OK

if TYPE_CHECKING:
    from vnetlab.probe.reach import ReachMatrix
    from vnetlab.probe.scan import ScanReport


def _check_timeout_and_port(timeout: float, flag: str, port: Optional[int]) -> None:
    """Refuses a --timeout that is not positive and a port outside 1..65535 (exit 2)."""
    if timeout <= 0:
        raise UsageError("--timeout needs a positive number of seconds")
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"{flag} {port}: ports are 1 to 65535")


def cmd_reach(args: argparse.Namespace) -> int:
    from vnetlab.lab import EnvironmentProblem, require_root
    from vnetlab.probe.reach import NeighbourTableTooSmall, reach_matrix

    require_root("vnetlab reach")
    _check_timeout_and_port(args.timeout, "--tcp", args.tcp)
    lab = _running(args.lab)
    nodes = [n for n in args.nodes.split(",") if n] if args.nodes else None
    room = _room_maker(args, lab)
    try:
        matrix = reach_matrix(lab.spec, lab.namespace_of, tcp_port=args.tcp, timeout=args.timeout, nodes=nodes,
                              make_room=None if room is None else (lambda needed: room({4: needed})))
    except NeighbourTableTooSmall as exc:
        raise EnvironmentProblem(str(exc)) from None
    if args.json:
        print(json.dumps(matrix.to_dict(), indent=2))
    else:
        render_matrix(matrix, _console())
    return EXIT_OK  # a matrix is a report: unreachable pairs are often what a lab wants


def cmd_scan(args: argparse.Namespace) -> int:
    from vnetlab.probe.checks import resolve_target
    from vnetlab.probe.held import held_addresses
    from vnetlab.lab import EnvironmentProblem, require_root
    from vnetlab.probe.scan import DEFAULT_PORTS, parse_ports, scan

    require_root("vnetlab scan")
    try:
        ports = parse_ports(args.ports or DEFAULT_PORTS)
    except ValueError as exc:
        raise UsageError(f"-p: {exc}") from None
    lab = _running(args.lab)
    source = lab.node(_node_name(args.src))
    try:
        address, port = resolve_target(lab.spec, args.target, held=held_addresses(lab.spec, lab.namespace_of))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if port is not None:
        raise UsageError(f"{args.target!r}: give the ports with -p, not in the target")
    room = _room_maker(args, lab)
    if room is not None:  # the scan resolves one neighbour at each end
        room({6 if ":" in address else 4: 2})
    no_nmap = args.no_nmap or os.environ.get("VNETLAB_NO_NMAP", "") not in ("", "0")
    try:
        report = scan(source.netns, address, ports, use_nmap=False if no_nmap else None, timeout=args.timeout)
    except FileNotFoundError as exc:
        raise EnvironmentProblem(str(exc)) from None
    if args.json:
        print(json.dumps({"lab": lab.name, "from": args.src, "target": args.target, "address": address,
                          "scanner": report.scanner, "counts": report.counts(),
                          "ports": [{"port": p.port, "proto": "tcp", "state": p.state, "reason": p.reason}
                                    for p in report.ports]}, indent=2))
    else:
        console = _console()
        console.print(f"scan of {args.target} ({address}) from {args.src}")
        render_scan(report, console, show_all=args.all)
    return EXIT_OK  # a scan reports states; none of them is a failure


# -- trace (issue 5) --------------------------------------------------------
def cmd_trace(args: argparse.Namespace) -> int:
    from vnetlab.lab import require_root
    from vnetlab.probe.trace import ANSWERED, DELIVERED, missing, render_text, trace

    require_root("vnetlab trace")
    _check_timeout_and_port(args.timeout, "--port", args.port)
    lab = _running(args.lab)
    try:
        result = trace(lab.spec, lab.namespace_of, args.src, args.dst, proto=args.proto, port=args.port,
                       timeout=args.timeout, family=args.family)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except FileNotFoundError as exc:
        raise missing(exc) from None
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(render_text(result))
    return EXIT_OK if result.result in (ANSWERED, DELIVERED) else EXIT_FAILED


def add_capture(command) -> None:
    p = command("capture", cmd_capture, "capture interfaces (default: all) into one pcapng named node:ifname, "
                                        "or print one line per packet")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("targets", nargs="*", metavar="NODE[:IF]", help="where to capture (default: every interface)")
    p.add_argument("-f", "--filter", metavar="BPF", help="a tcpdump filter, e.g. 'tcp port 80'")
    p.add_argument("-w", "--write", metavar="FILE.pcapng", help="write one pcapng instead of printing packets")
    stop_when = p.add_mutually_exclusive_group()
    stop_when.add_argument("-c", "--count", type=int, metavar="N", help="stop after N packets in total")
    stop_when.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--json", action="store_true", help="the final summary as JSON")


def add_reach(command) -> None:
    p = command("reach", cmd_reach, "reachability matrix between every node with an address (ICMP or TCP)")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("--tcp", type=int, metavar="PORT", help="connect to this TCP port instead of pinging")
    p.add_argument("--nodes", metavar="A,B,...", help="only these nodes")
    p.add_argument("--timeout", type=float, default=1.0, metavar="S", help="seconds per probe (default 1)")
    p.add_argument("--raise-neigh-limit", action="store_true", help=RAISE_PROBE_HELP)
    p.add_argument("--json", action="store_true")


def add_scan(command) -> None:
    p = command("scan", cmd_scan, "TCP port scan from a node (nmap inside the node when installed)")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("src", metavar="SRC", help="the node to scan from")
    p.add_argument("target", metavar="TARGET", help="a node or an IP address")
    p.add_argument("-p", "--ports", metavar="PORTS", help="e.g. 22,80,1000-1010 (default 1-1024)")
    p.add_argument("--no-nmap", action="store_true", help="use the built-in connect scan even if nmap is installed "
                                                         "(also: VNETLAB_NO_NMAP=1)")
    p.add_argument("--timeout", type=float, default=1.0, metavar="S", help="seconds per port (built-in scan)")
    p.add_argument("--all", action="store_true", help="list closed and filtered ports too")
    p.add_argument("--raise-neigh-limit", action="store_true", help=RAISE_PROBE_HELP)
    p.add_argument("--json", action="store_true")


def add_trace(command) -> None:
    p = command("trace", cmd_trace, "send one marked packet and show its path and the reply's, hop by hop, "
                                    "with the kernel's reason for each decision")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("src", metavar="SRC", help="the node the packet starts from")
    p.add_argument("dst", metavar="DST", help="a node, an IPv4 or IPv6 address, or NODE:PORT / IP:PORT / [IPV6]:PORT")
    family = p.add_mutually_exclusive_group()
    family.add_argument("-4", "--ipv4", dest="family", action="store_const", const=4,
                        help="trace to the node's IPv4 address (the default for a node that has one)")
    family.add_argument("-6", "--ipv6", dest="family", action="store_const", const=6,
                        help="trace to the node's IPv6 address (like ping -6)")
    p.add_argument("--proto", choices=("icmp", "tcp", "udp"), default="icmp")
    p.add_argument("--port", type=int, metavar="N", help="destination port (tcp, udp)")
    p.add_argument("--timeout", type=float, default=1.0, metavar="S", help="seconds to wait for an answer")
    p.add_argument("--json", action="store_true")


def render_matrix(matrix: ReachMatrix, console) -> None:
    """Prints the matrix: rows are sources, columns targets, ✓ or ✗."""
    from rich.table import Table

    what = f"TCP port {matrix.port}" if matrix.proto == "tcp" else "ICMP echo"
    table = Table(title=f"lab {matrix.lab}: {what}, from (rows) to (columns)", box=None, pad_edge=False)
    table.add_column("from \\ to")
    for name in matrix.nodes:
        table.add_column(name, justify="center")
    for source in matrix.nodes:
        row = [source]
        for target in matrix.nodes:
            if source == target:
                row.append("·")
            else:
                row.append("[green]✓[/]" if matrix.cells[(source, target)].ok else "[red]✗[/]")
        table.add_row(*row)
    console.print(table)
    console.print(f"{matrix.reachable()} of {len(matrix.cells)} pairs reachable in {matrix.seconds:.2f} s "
                  f"(targets: " + ", ".join(f"{n} {a}" for n, a in matrix.addresses.items()) + ")")


def render_scan(report: ScanReport, console, *, show_all: bool = False) -> None:
    """Prints one line per port, like nmap: closed and filtered ports are
    folded into a count line unless ``show_all`` or there are few."""
    from rich.table import Table

    from vnetlab.probe.transport import CLOSED, FILTERED, OPEN

    counts = report.counts()
    shown = report.ports if show_all or len(report.ports) <= 30 else [p for p in report.ports if p.state == OPEN]
    table = Table(box=None, pad_edge=False)
    table.add_column("PORT")
    table.add_column("STATE")
    table.add_column("REASON")
    colour = {OPEN: "green", CLOSED: "red", FILTERED: "yellow"}
    for port in shown:
        table.add_row(f"{port.port}/tcp", f"[{colour[port.state]}]{port.state}[/]", port.reason)
    console.print(table)
    hidden = len(report.ports) - len(shown)
    if hidden:
        console.print(f"not shown: {hidden} closed or filtered ports (--all shows them)")
    console.print(f"{len(report.ports)} ports scanned with {report.scanner}: {counts[OPEN]} open, "
                  f"{counts[CLOSED]} closed, {counts[FILTERED]} filtered")
