"""The ``vnetlab`` command: a thin layer over the Python API.

Exit codes (DESIGN.md): 0 success; 1 a check or probe failed; 2 bad usage or
an invalid lab file; 3 the environment lacks something.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import sys
import time
from typing import Optional, Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ENVIRONMENT = 0, 1, 2, 3


class UsageError(Exception):
    """Bad usage; exit 2."""


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _load(path: str):
    from vnetlab.lab import Lab

    _require_file(path)
    return Lab.load(path)


def _require_file(path: str) -> None:
    shown = _shown(path)
    if not os.path.exists(path):
        raise UsageError(f"{shown}: no such file — give the path of a lab file (.yaml)")
    if not os.path.isfile(path):
        raise UsageError(f"{shown}: is not a file — give the path of a lab file (.yaml)")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{shown}: you may not read it — check its permissions (ls -l {shlex.quote(path)})")


def _shown(text: str) -> str:
    """User text for a message, control characters escaped (never raw to a terminal)."""
    from vnetlab.names import shown

    return shown(text)[1:-1]


def _looks_like_file(arg: str) -> bool:
    return os.path.sep in arg or arg.endswith((".yaml", ".yml")) or os.path.isfile(arg)


def _lab_name_of(arg: str) -> str:
    """A lab name from LAB|LABFILE, always checked against the lab-name
    pattern before it is used. A file that no longer validates still names
    its lab, so ``down`` works after the file was broken by an edit — but
    only if that name is a valid one; otherwise the file's problems are
    reported (exit 2)."""
    from vnetlab.names import lab_name

    if not _looks_like_file(arg):
        return lab_name(arg)
    from vnetlab.model import LabFileError

    try:
        return _load(arg).name
    except LabFileError as exc:
        if exc.lab is not None:
            return exc.lab
        raise


def _node_name(arg: str) -> str:
    from vnetlab.names import node_name

    return node_name(arg)


def _running(arg: str):
    """The running lab named by LAB|LABFILE (with the file's checks if a file)."""
    from vnetlab.lab import Lab

    if _looks_like_file(arg):
        lab = _load(arg)
        Lab.running(lab.name)  # raises LookupError if not up
        return lab
    return Lab.running(_lab_name_of(arg))


# -- commands -------------------------------------------------------------
def cmd_validate(args: argparse.Namespace) -> int:
    # A valid file is exit 0 even where `up` would lack something (os-ken):
    # the file may be meant for another machine. The warnings say what `up`
    # would refuse, and `up` exits 3 for it before it creates anything.
    from vnetlab.agents.controller import osken_installed
    from vnetlab.model import check_lab_file

    _require_file(args.labfile)
    spec, warnings = check_lab_file(args.labfile, missing_packages=() if osken_installed() else ("os-ken",))
    summary = {"lab": spec.lab, "nodes": len(spec.nodes), "links": len(spec.links), "checks": len(spec.checks)}
    if args.json:
        print(json.dumps({"valid": True, **summary, "warnings": [str(w) for w in warnings]}))
        return EXIT_OK
    for warning in warnings:
        print(warning, file=sys.stderr)
    print(f"{args.labfile}: ok — lab {spec.lab}: {summary['nodes']} nodes, "
          f"{summary['links']} links, {summary['checks']} checks"
          + (f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}" if warnings else ""))
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from vnetlab.plan import ApplyRuleset, format_command

    lab = _load(args.labfile)
    features = _layer2_features(lab)
    plan = lab.plan(features)
    if not args.full and _is_running_here(lab.name):
        return _print_plan_diff(lab, lab._plan_for_this_machine(), args.format)
    if args.format == "json":
        print(plan.to_json())
        return EXIT_OK
    print(f"# lab {plan.lab}: {len(plan.ops)} operations, as the commands you could type by hand")
    from vnetlab.compile.l2 import assumed_backends

    for line in assumed_backends(lab.spec, features):
        print(f"# bridge {line}")
    last = None
    for op in plan.ops:
        if op.name != last:
            print(f"# {type(op).__doc__.splitlines()[0].rstrip('.')}")
            last = op.name
        if isinstance(op, ApplyRuleset):
            prefix = f"ip netns exec {shlex.quote(op.netns)} "
            print(f"{prefix}nft -f - <<'EOF'\n{op.script().rstrip()}\nEOF")
            print("# the same with iptables:")
            for command in op.iptables:
                print(prefix + shlex.join(command))
            continue
        for command in op.commands():
            print(format_command(command))
    return EXIT_OK


def _layer2_features(lab):
    """What the kernel offers for VLANs and bonds: probed as root when the lab
    needs to know, else assumed complete (``plan`` says which it used)."""
    from vnetlab.model.bridges import ASSUMED

    if os.geteuid() != 0:
        return ASSUMED
    from vnetlab.executors import capabilities

    return capabilities.detect() if capabilities.lab_needs_probe(lab.spec) else ASSUMED


def _is_running_here(name: str) -> bool:
    """Whether lab ``name`` is up and we may read it (root)."""
    from vnetlab.host import state

    return os.geteuid() == 0 and os.path.isdir(state.lab_dir(name))


def _print_plan_diff(lab, plan, fmt: str) -> int:
    """``vnetlab plan`` against a running lab: only what ``up`` would change."""
    from vnetlab.host import state
    from vnetlab.observe.drift import converge

    with state.locked(lab.name):
        result = converge(lab.name, plan)
    if fmt == "json":
        print(json.dumps({"lab": lab.name, "running": True,
                          "changes": [c.to_dict(lab.name) for c in result.changes]}, indent=2))
        return EXIT_OK
    if not result.changes:
        print(f"# lab {lab.name} is up and matches {args_path(lab)}: `vnetlab up` would change nothing")
        print("# (vnetlab plan --full shows every operation)")
        return EXIT_OK
    drift = len(result.drift)
    print(f"# lab {lab.name} is up: {len(result.changes)} differences from the file "
          f"({drift} made by hand); `vnetlab up` applies exactly these")
    print("# + create   - remove   ~ change;  [file] the file changed, [drift] a change made by hand")
    for line in result.lines():
        print(line)
    return EXIT_OK


def args_path(lab) -> str:
    """The lab's file, for messages."""
    return lab.source or "its file"


def cmd_up(args: argparse.Namespace) -> int:
    lab = _load(args.labfile)
    started = time.monotonic()
    progress = None
    if not args.json and not args.quiet and sys.stderr.isatty():
        from rich.progress import Progress

        bar = Progress(transient=True, console=_console(stderr=True))
        task = bar.add_task(f"building {lab.name}", total=None)

        def progress(step: int, total: int) -> None:
            if step % 50 == 0 or step == total:
                bar.update(task, completed=step, total=total)

        bar.start()
    try:
        report = lab.up(progress=progress, raise_neigh_limit=getattr(args, "raise_neigh_limit", False),
                        replace=args.replace)
    finally:
        if progress is not None:
            bar.stop()
    seconds = time.monotonic() - started
    _neigh_notes(lab, raised=getattr(args, "raise_neigh_limit", False), quiet=args.quiet)
    result = {"lab": lab.name, "nodes": len(lab.spec.nodes), "links": len(lab.spec.links),
              "changed": len(report.changed), "unchanged": report.unchanged, "seconds": round(seconds, 3)}
    if lab.last_diff is not None:
        result["converged"] = [c.to_dict(lab.name) for c in lab.last_diff.changes]
    if args.json:
        print(json.dumps(result))
    elif not args.quiet and lab.last_diff is not None and lab.last_diff.changes:
        verb = "restored" if args.restore else "converged"
        print(f"lab {lab.name} {verb}: {len(lab.last_diff.changes)} differences applied, "
              f"{result['changed']} changes, everything else untouched ({seconds:.2f} s)")
        for change in lab.last_diff.changes:
            print(f"  {change.sign} {change.describe(lab.name)}")
    elif not args.quiet:
        what = "is up" if report.changed else "was already up; nothing changed"
        print(f"lab {lab.name} {what}: {result['nodes']} nodes, {result['links']} links, "
              f"{result['changed']} changes ({seconds:.2f} s)")
        if report.changed and lab.spec.checks:
            print(f"next: vnetlab check {lab.name}    |    vnetlab status {lab.name}    |    "
                  f"vnetlab down {lab.name}")
    return EXIT_OK


def _neigh_notes(lab, raised: bool, quiet: bool) -> None:  # noqa: ANN001 — a vnetlab.lab.Lab
    """Warns (stderr) when the lab's checks can overflow the host-wide
    neighbour table; says what --raise-neigh-limit set."""
    from vnetlab.host import neigh

    if not quiet:
        _say_raised(lab.name, lab.raised_neigh_limits)
    for line in neigh.warnings(lab.spec, raised=raised):
        print(f"vnetlab: warning: {line}", file=sys.stderr)


def _say_raised(lab: str, values: dict) -> None:
    """Tells (stderr) which host neighbour limits were raised for ``lab``, if any."""
    from vnetlab.host import neigh

    if values:
        print(f"vnetlab: raised host neighbour limits until 'vnetlab down {lab}': {neigh.summary(values)}",
              file=sys.stderr)


def _room_maker(args: argparse.Namespace, lab):  # noqa: ANN001, ANN202 — a vnetlab.lab.Lab
    """With --raise-neigh-limit: a function that raises the host's neighbour
    limits for ``needs`` (family -> entries) of a probe of ``lab``, journaled
    in the lab's journal (its down restores them); None without the flag."""
    if not args.raise_neigh_limit:
        return None
    from vnetlab.host import neigh

    def make_room(needs: dict[int, int]) -> None:
        _say_raised(lab.name, neigh.make_room(lab.name, needs))

    return make_room


def cmd_down(args: argparse.Namespace) -> int:
    from vnetlab.lab import down

    name = _lab_name_of(args.lab)
    notes: list[str] = []
    removed = down(name, notes)
    for note in notes:
        print(f"vnetlab: warning: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps({"lab": name, "removed": removed, "left_alone": notes}))
    elif not args.quiet:
        print(f"lab {name} is down" if removed else f"lab {name} was not up; nothing to do")
    return EXIT_OK


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


def cmd_enable(args: argparse.Namespace) -> int:
    from vnetlab.host import systemd as persist
    from vnetlab.lab import require_root

    lab = _load(args.labfile)
    if persist.unit_dir() == persist.UNIT_DIR:
        require_root("vnetlab enable")
    result = persist.enable(lab.name, args.labfile)
    if args.json:
        print(json.dumps({"lab": lab.name, "unit": result.path, "changed": result.changed,
                          "systemd": result.systemd, "messages": result.messages}))
        return EXIT_OK
    print(f"{'wrote' if result.changed else 'unchanged'}: {result.path} "
          f"(at boot: vnetlab up --restore {os.path.abspath(args.labfile)})")
    for message in result.messages:
        print(message)
    return EXIT_OK


def cmd_disable(args: argparse.Namespace) -> int:
    from vnetlab.host import systemd as persist
    from vnetlab.lab import require_root

    name = _lab_name_of(args.lab)
    if persist.unit_dir() == persist.UNIT_DIR:
        require_root("vnetlab disable")
    result = persist.disable(name)
    if args.json:
        print(json.dumps({"lab": name, "unit": result.path, "removed": result.changed,
                          "systemd": result.systemd, "messages": result.messages}))
        return EXIT_OK
    print(f"removed {result.path}" if result.changed else f"{result.path} was not there; nothing to do")
    for message in result.messages:
        print(message)
    return EXIT_OK


def cmd_exec(args: argparse.Namespace) -> int:
    from vnetlab.lab import require_root

    require_root("vnetlab exec")
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("give a command after --, e.g. vnetlab exec LAB NODE -- ip addr")
    node = _running(args.lab).node(_node_name(args.node))
    try:
        return node.run(command).returncode
    except FileNotFoundError as exc:
        print(f"vnetlab: {exc.filename or command[0]}: command not found inside {args.node}", file=sys.stderr)
        return 127


def cmd_shell(args: argparse.Namespace) -> int:
    from vnetlab.lab import require_root

    require_root("vnetlab shell")
    lab = _running(args.lab)
    node = lab.node(_node_name(args.node))
    shell = os.environ.get("SHELL") or "/bin/bash"
    if not os.path.exists(shell):
        shell = "/bin/sh"
    env = dict(os.environ, PS1=f"[{lab.name}:{args.node}] \\w# ", VNETLAB_LAB=lab.name, VNETLAB_NODE=args.node)
    argv = [shell, "--norc", "-i"] if shell.endswith("bash") else [shell, "-i"]
    print(f"entering node {args.node} of lab {lab.name} (namespace {node.netns}); exit to leave",
          file=sys.stderr)
    return node.run(argv, env=env).returncode


def cmd_check(args: argparse.Namespace) -> int:
    from vnetlab.probe.checks import render_table, write_junit

    lab = _running(args.lab)
    if not lab.spec.checks:
        print(f"lab {lab.name} has no checks", file=sys.stderr)
        return EXIT_OK
    _neigh_notes(lab, raised=False, quiet=False)
    results = lab.check()
    if args.junit:
        write_junit(results, args.junit, lab.name)
    failed = sum(not r.ok for r in results)
    if args.json:
        print(json.dumps({"lab": lab.name, "passed": len(results) - failed, "failed": failed, "results": [
            {"check": r.check.label(), "expect": r.check.expect, "observed": r.observed, "ok": r.ok,
             "target": r.target, "detail": r.detail} for r in results]}, indent=2))
    else:
        console = _console()
        render_table(results, console)
        console.print(f"{len(results) - failed} passed, {failed} failed")
    return EXIT_FAILED if failed else EXIT_OK


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
    namespaces = {node: lab.namespace_of(node) for node in lab.spec.nodes}
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
    output = open(args.write, "wb") if args.write else None
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


def cmd_reach(args: argparse.Namespace) -> int:
    from vnetlab.lab import EnvironmentProblem, require_root
    from vnetlab.probe.reach import NeighbourTableTooSmall, reach_matrix, render_matrix

    require_root("vnetlab reach")
    if args.timeout <= 0:
        raise UsageError("--timeout needs a positive number of seconds")
    if args.tcp is not None and not 1 <= args.tcp <= 65535:
        raise UsageError(f"--tcp {args.tcp}: ports are 1 to 65535")
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
    from vnetlab.lab import EnvironmentProblem, require_root
    from vnetlab.probe.scan import DEFAULT_PORTS, parse_ports, render_scan, scan

    require_root("vnetlab scan")
    try:
        ports = parse_ports(args.ports or DEFAULT_PORTS)
    except ValueError as exc:
        raise UsageError(f"-p: {exc}") from None
    lab = _running(args.lab)
    source = lab.node(_node_name(args.src))
    try:
        address, port = resolve_target(lab.spec, args.target)
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


# -- trace (issue 5) --------------------------------------------------------
def cmd_trace(args: argparse.Namespace) -> int:
    from vnetlab.lab import EnvironmentProblem, require_root
    from vnetlab.probe.trace import ANSWERED, DELIVERED, render_text, trace

    require_root("vnetlab trace")
    if args.timeout <= 0:
        raise UsageError("--timeout needs a positive number of seconds")
    if args.port is not None and not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: ports are 1 to 65535")
    lab = _running(args.lab)
    try:
        result = trace(lab.spec, lab.namespace_of, args.src, args.dst, proto=args.proto, port=args.port,
                       timeout=args.timeout, family=args.family)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except FileNotFoundError as exc:
        if exc.filename in ("tcpdump", "nft", "conntrack"):
            raise EnvironmentProblem(f"{exc.filename} is not installed — apt-get install {exc.filename}") from None
        raise LookupError(str(exc)) from None
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(render_text(result))
    return EXIT_OK if result.result in (ANSWERED, DELIVERED) else EXIT_FAILED

# -- parser ---------------------------------------------------------------
RAISE_PROBE_HELP = ("if the host-wide neighbour table is too small for what this probe resolves, raise its "
                    "limits (net.ipv4/ipv6.neigh.default.gc_thresh1/2/3) until 'vnetlab down LAB' restores them")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vnetlab",
        description="A sandbox for Linux virtual networking: a YAML lab file becomes real "
                    "network namespaces, veths, bridges and TAPs on this kernel.",
        epilog="exit codes: 0 ok, 1 a check failed, 2 bad usage or lab file, 3 missing privilege/feature",
    )
    from vnetlab import __version__

    parser.add_argument("--version", action="version", version=f"vnetlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = command("validate", cmd_validate, "check a lab file (no root needed)")
    p.add_argument("labfile")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command("plan", cmd_plan, "show the operations as the equivalent ip/sysctl commands (no root)")
    p.add_argument("labfile")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--full", action="store_true",
                   help="every operation, even when the lab is up (default then: only the differences)")

    p = command("up", cmd_up, "build the lab, or converge a running one (idempotent); exits 1 if a service "
                              "it starts exits at once (or a oneshot fails), undoing what it did")
    p.add_argument("labfile")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.add_argument("--raise-neigh-limit", action="store_true",
                   help="raise the host's neighbour-table limits (net.ipv4/ipv6.neigh.default.gc_thresh1/2/3) "
                        "as far as the lab's checks need, until 'vnetlab down' restores them "
                        "(reach and scan take the same flag for what they probe)")
    p.add_argument("--restore", action="store_true",
                   help="after a reboot: rebuild from the file (stale state under /run is converged)")
    p.add_argument("--replace", action="store_true",
                   help="a lab of this name is up from another file: rebuild it from this one")

    p = command("down", cmd_down, "remove everything a lab made (idempotent; works on half-built labs)")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("--json", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")

    p = command("status", cmd_status, "labs that are up: nodes, interfaces, addresses, routes, processes, "
                "and drift (changes made by hand since the last up)")
    p.add_argument("lab", nargs="?", metavar="LAB|LABFILE")
    p.add_argument("--json", action="store_true")
    p.add_argument("--check-drift", action="store_true",
                   help="exit 1 if a lab drifted from its file (changes made by hand)")

    p = command("exec", cmd_exec, "run a command inside a node (exit code passed through)")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("node")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")

    p = command("shell", cmd_shell, "an interactive shell inside a node")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("node")

    p = command("check", cmd_check, "evaluate the lab file's checks against the running lab")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (for CI and graders)")
    p.add_argument("--json", action="store_true")

    p = command("enable", cmd_enable, "persist a lab: a systemd unit that runs `vnetlab up --restore FILE` at boot")
    p.add_argument("labfile")
    p.add_argument("--json", action="store_true")

    p = command("disable", cmd_disable, "remove the lab's systemd unit (idempotent)")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("--json", action="store_true")

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

    p = command("reach", cmd_reach, "reachability matrix between every node with an address (ICMP or TCP)")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("--tcp", type=int, metavar="PORT", help="connect to this TCP port instead of pinging")
    p.add_argument("--nodes", metavar="A,B,...", help="only these nodes")
    p.add_argument("--timeout", type=float, default=1.0, metavar="S", help="seconds per probe (default 1)")
    p.add_argument("--raise-neigh-limit", action="store_true", help=RAISE_PROBE_HELP)
    p.add_argument("--json", action="store_true")

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

    p = command("sockets", cmd_sockets, "TCP and UDP sockets of a node with their processes, like ss -tuapn")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("node")
    p.add_argument("-l", "--listening", action="store_true", help="only listening TCP and unconnected UDP sockets")
    p.add_argument("--json", action="store_true")

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
    from vnetlab.cli import importing, transfer  # issue 11: import; export, try

    importing.register(sub)
    transfer.register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``vnetlab`` command."""
    # A command is one short process that may build big object graphs (a
    # 10,000-node lab file, its 100,000-op plan). With the default thresholds
    # the cyclic GC rescans them all the while: 60% of loading such a file.
    gc.set_threshold(50_000, 20, 20)
    parser = build_parser()
    args = parser.parse_args(argv)
    # Light modules only: the layers that raise these load when a command needs them.
    from vnetlab.errors import ApplyError, EnvironmentProblem, LabConflict
    from vnetlab.host.state import LabBusy
    from vnetlab.model.errors import LabFileError
    from vnetlab.names import UnsafeName

    try:
        return args.func(args)
    except LabFileError as exc:
        for problem in exc.problems:
            print(str(problem), file=sys.stderr)
        count = len(exc.problems)
        print(f"{count} problem{'s' if count != 1 else ''}; nothing was created", file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, UnsafeName, LabConflict) as exc:
        print(f"vnetlab: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (LookupError, KeyError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        print(f"vnetlab: {message}", file=sys.stderr)
        return EXIT_USAGE
    except EnvironmentProblem as exc:
        print(f"vnetlab: {exc}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except ApplyError as exc:
        from vnetlab.executors.service_start import ServiceExited

        first, _, details = str(exc).partition("\n")  # e.g. a failed service's output
        print(f"vnetlab: {first}; everything this run changed was undone" + (f"\n{details}" if details else ""),
              file=sys.stderr)
        return EXIT_FAILED if isinstance(exc.cause, ServiceExited) else EXIT_ENVIRONMENT
    except LabBusy as exc:
        print(f"vnetlab: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("vnetlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
