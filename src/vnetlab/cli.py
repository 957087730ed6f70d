"""The ``vnetlab`` command: a thin layer over the Python API.

Exit codes (DESIGN.md): 0 success; 1 a check or probe failed; 2 bad usage or
an invalid lab file; 3 the environment lacks something.
"""

from __future__ import annotations

import argparse
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

    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file — give the path of a lab file (.yaml)")
    return Lab.load(path)


def _looks_like_file(arg: str) -> bool:
    return os.path.sep in arg or arg.endswith((".yaml", ".yml")) or os.path.isfile(arg)


def _lab_name_of(arg: str) -> str:
    """A lab name from LAB|LABFILE; a file that no longer validates still
    names its lab, so ``down`` works after the file was broken by an edit."""
    if not _looks_like_file(arg):
        return arg
    from vnetlab.model import LabFileError

    try:
        return _load(arg).name
    except LabFileError:
        import yaml

        try:
            with open(arg) as handle:
                data = yaml.safe_load(handle)
            name = data.get("lab") if isinstance(data, dict) else None
        except (OSError, yaml.YAMLError):
            name = None
        if isinstance(name, str):
            return name
        raise


def _running(arg: str):
    """The running lab named by LAB|LABFILE (with the file's checks if a file)."""
    from vnetlab.lab import Lab

    if _looks_like_file(arg):
        lab = _load(arg)
        Lab.running(lab.name)  # raises LookupError if not up
        return lab
    return Lab.running(arg)


# -- commands -------------------------------------------------------------
def cmd_validate(args: argparse.Namespace) -> int:
    lab = _load(args.labfile)
    spec = lab.spec
    summary = {"lab": spec.lab, "nodes": len(spec.nodes), "links": len(spec.links), "checks": len(spec.checks)}
    if args.json:
        print(json.dumps({"valid": True, **summary}))
    else:
        print(f"{args.labfile}: ok — lab {spec.lab}: {summary['nodes']} nodes, "
              f"{summary['links']} links, {summary['checks']} checks")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from vnetlab.plan import ApplyRuleset, format_command

    lab = _load(args.labfile)
    plan = lab.plan()
    if args.format == "json":
        print(plan.to_json())
        return EXIT_OK
    print(f"# lab {plan.lab}: {len(plan.ops)} operations, as the commands you could type by hand")
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


def cmd_up(args: argparse.Namespace) -> int:
    lab = _load(args.labfile)
    console = _console(stderr=True)
    started = time.monotonic()
    progress = None
    if not args.json and not args.quiet and sys.stderr.isatty():
        from rich.progress import Progress

        bar = Progress(transient=True, console=console)
        task = bar.add_task(f"building {lab.name}", total=None)

        def progress(step: int, total: int) -> None:
            if step % 50 == 0 or step == total:
                bar.update(task, completed=step, total=total)

        bar.start()
    try:
        report = lab.up(progress=progress)
    finally:
        if progress is not None:
            bar.stop()
    seconds = time.monotonic() - started
    result = {"lab": lab.name, "nodes": len(lab.spec.nodes), "links": len(lab.spec.links),
              "changed": len(report.changed), "unchanged": report.unchanged, "seconds": round(seconds, 3)}
    if args.json:
        print(json.dumps(result))
    elif not args.quiet:
        what = "is up" if report.changed else "was already up; nothing changed"
        print(f"lab {lab.name} {what}: {result['nodes']} nodes, {result['links']} links, "
              f"{result['changed']} changes ({seconds:.2f} s)")
        if report.changed and lab.spec.checks:
            print(f"next: vnetlab check {lab.name}    |    vnetlab status {lab.name}    |    "
                  f"vnetlab down {lab.name}")
    return EXIT_OK


def cmd_down(args: argparse.Namespace) -> int:
    from vnetlab.lab import down

    name = _lab_name_of(args.lab)
    removed = down(name)
    if args.json:
        print(json.dumps({"lab": name, "removed": removed}))
    elif not args.quiet:
        print(f"lab {name} is down" if removed else f"lab {name} was not up; nothing to do")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from vnetlab.lab import require_root, running_labs
    from vnetlab.observe.status import lab_status, render_status

    require_root("vnetlab status")
    names = [_lab_name_of(args.lab)] if args.lab else running_labs()
    if args.lab and args.lab not in running_labs() and names[0] not in running_labs():
        raise LookupError(f"lab {names[0]!r} is not up — start it with: vnetlab up LABFILE")
    statuses = [lab_status(name) for name in names]
    if args.json:
        print(json.dumps(statuses if not args.lab else statuses[0], indent=2))
    elif not statuses:
        print("no labs are up")
    else:
        console = _console()
        for status in statuses:
            render_status(status, console)
    return EXIT_OK


def cmd_exec(args: argparse.Namespace) -> int:
    from vnetlab.lab import require_root

    require_root("vnetlab exec")
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UsageError("give a command after --, e.g. vnetlab exec LAB NODE -- ip addr")
    node = _running(args.lab).node(args.node)
    try:
        return node.run(command).returncode
    except FileNotFoundError as exc:
        print(f"vnetlab: {exc.filename or command[0]}: command not found inside {args.node}", file=sys.stderr)
        return 127


def cmd_shell(args: argparse.Namespace) -> int:
    from vnetlab.lab import require_root

    require_root("vnetlab shell")
    lab = _running(args.lab)
    node = lab.node(args.node)
    shell = os.environ.get("SHELL") or "/bin/bash"
    if not os.path.exists(shell):
        shell = "/bin/sh"
    env = dict(os.environ, PS1=f"[{lab.name}:{args.node}] \\w# ", VNETLAB_LAB=lab.name, VNETLAB_NODE=args.node)
    argv = [shell, "--norc", "-i"] if shell.endswith("bash") else [shell, "-i"]
    print(f"entering node {args.node} of lab {lab.name} (namespace {node.netns}); exit to leave",
          file=sys.stderr)
    return node.run(argv, env=env).returncode


def cmd_check(args: argparse.Namespace) -> int:
    from vnetlab.check import render_table, write_junit

    lab = _running(args.lab)
    if not lab.spec.checks:
        print(f"lab {lab.name} has no checks", file=sys.stderr)
        return EXIT_OK
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


# -- parser ---------------------------------------------------------------
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

    p = command("up", cmd_up, "build the lab, or converge a running one (idempotent)")
    p.add_argument("labfile")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")

    p = command("down", cmd_down, "remove everything a lab made (idempotent; works on half-built labs)")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("--json", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")

    p = command("status", cmd_status, "labs that are up: nodes, interfaces, addresses, routes, processes")
    p.add_argument("lab", nargs="?", metavar="LAB|LABFILE")
    p.add_argument("--json", action="store_true")

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
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``vnetlab`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from vnetlab.executors.apply import ApplyError
    from vnetlab.executors.state import LabBusy
    from vnetlab.lab import EnvironmentProblem
    from vnetlab.model import LabFileError

    try:
        return args.func(args)
    except LabFileError as exc:
        for problem in exc.problems:
            print(str(problem), file=sys.stderr)
        count = len(exc.problems)
        print(f"{count} problem{'s' if count != 1 else ''}; nothing was created", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
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
        print(f"vnetlab: {exc}; everything this run changed was undone", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except LabBusy as exc:
        print(f"vnetlab: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("vnetlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
