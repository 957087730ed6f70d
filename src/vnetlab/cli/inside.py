"""Commands that run inside a node: exec and shell.
"""

from __future__ import annotations

import argparse
import os
import sys

from vnetlab.cli.common import UsageError, _node_name, _running


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


def add_exec(command) -> None:
    p = command("exec", cmd_exec, "run a command inside a node (exit code passed through)")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("node")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")


def add_shell(command) -> None:
    p = command("shell", cmd_shell, "an interactive shell inside a node")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("node")
