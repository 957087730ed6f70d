"""Commands that make and unmake labs: validate, plan, up, down, reboot, enable, disable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from vnetlab.cli.common import (
    EXIT_FAILED, EXIT_OK, _console, _lab_name_of, _load, _node_name, _require_file, _running, _say_raised,
)


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
    lab = _load(args.labfile)
    features = _layer2_features(lab)
    plan = lab.plan(features)
    if not args.full and _is_running_here(lab.name):
        return _print_plan_diff(lab, args.format)
    if args.format == "json":
        print(plan.to_json())
        return EXIT_OK
    print(f"# lab {plan.lab}: {len(plan.ops)} operations, as the commands you could type by hand")
    from vnetlab.compile.l2 import assumed_backends

    for line in assumed_backends(lab.spec, features):
        print(f"# bridge {line}")
    if not features.detected and any(op.name == "set_impairment" for op in plan.ops):
        print("# impairments: netem assumed (this kernel was not probed; as root, vnetlab plan says which "
              "mechanism each end gets here)")
    last = None
    for op in plan.ops:
        if op.name != last:
            print(f"# {op.describe()}")
            last = op.name
        for line in op.plan_lines():
            print(line)
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


def _print_plan_diff(lab, fmt: str) -> int:
    """``vnetlab plan`` against a running lab: only what ``up`` would change."""
    from vnetlab.host import state
    from vnetlab.observe.drift import converge

    plan = lab._plan_for_this_machine()
    with state.locked(lab.name):
        result = converge(lab.name, lab.as_running(plan))
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


def cmd_reboot(args: argparse.Namespace) -> int:
    lab = _running(args.lab)
    report = lab.reboot(_node_name(args.node))
    if args.json:
        print(json.dumps({"lab": lab.name, "node": report.node, "seconds": report.seconds, "file": report.file,
                          "ok": report.ok, "applied": report.applied,
                          "problems": [str(r) for r in report.problems], "skipped": [str(r) for r in report.skipped],
                          "notes": [str(r) for r in report.notes]}))
        return EXIT_OK if report.ok else EXIT_FAILED
    for line in [*report.notes, *report.skipped]:
        print(f"vnetlab: {line}", file=sys.stderr)
    for line in report.problems:
        print(str(line), file=sys.stderr)
    if not report.ok:
        print(f"vnetlab: node {report.node} came up with its part of the lab file only: nothing of its "
              f"/etc/network/interfaces was applied — fix it (vnetlab exec {lab.name} {report.node} -- "
              f"cat -n /etc/network/interfaces) and reboot again", file=sys.stderr)
    if not args.quiet:
        added = f"; its /etc/network/interfaces added {len(report.applied)}" if report.applied else ""
        print(f"node {report.node} of lab {lab.name} rebooted ({report.seconds:.2f} s): runtime state gone, "
              f"lab file applied{added}")
        for line in report.applied:
            print(f"  + {line}")
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_enable(args: argparse.Namespace) -> int:
    from vnetlab.host import systemd as persist
    from vnetlab.lab import require_root

    lab = _load(args.labfile)
    if persist.unit_dir() == persist.UNIT_DIR:
        from vnetlab.host import lab_root

        lab_root.refuse("vnetlab enable (a system unit in " + persist.UNIT_DIR + ")",
                        "for your own labs, write a unit of your own in ~/.config/systemd/user/ running "
                        "`vnetlab up --restore FILE` and `systemctl --user enable UNIT`")
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
        from vnetlab.host import lab_root

        lab_root.refuse("vnetlab disable (a system unit in " + persist.UNIT_DIR + ")",
                        "for your own labs, write a unit of your own in ~/.config/systemd/user/ running "
                        "`vnetlab up --restore FILE` and `systemctl --user disable UNIT`")
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


def add_validate(command) -> None:
    p = command("validate", cmd_validate, "check a lab file (no root needed)")
    p.add_argument("labfile")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def add_plan(command) -> None:
    p = command("plan", cmd_plan, "show the operations as the equivalent ip/sysctl commands (no root)")
    p.add_argument("labfile")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--full", action="store_true",
                   help="every operation, even when the lab is up (default then: only the differences)")


def add_up(command) -> None:
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


def add_down(command) -> None:
    p = command("down", cmd_down, "remove everything a lab made (idempotent; works on half-built labs)")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("--json", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")


def add_reboot(command) -> None:
    p = command("reboot", cmd_reboot, "reboot a node: drop its runtime state (ip, sysctl, nft changes, processes), "
                                      "then apply its part of the lab file and its own /etc/network/interfaces; "
                                      "exits 1 if that file has a problem (the node then runs with the lab file's "
                                      "part only)")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("node")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")


def add_enable(command) -> None:
    p = command("enable", cmd_enable, "persist a lab: a systemd unit that runs `vnetlab up --restore FILE` at boot")
    p.add_argument("labfile")
    p.add_argument("--json", action="store_true")


def add_disable(command) -> None:
    p = command("disable", cmd_disable, "remove the lab's systemd unit (idempotent)")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("--json", action="store_true")
