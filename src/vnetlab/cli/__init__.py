"""The ``vnetlab`` command: a thin layer over the Python API.

One module per command group (``lifecycle``, ``inspecting``, ``inside``,
``checking``, ``probing``); each defines its commands' arguments
(``add_NAME(command)``) and handlers, and renders their output. This module
builds the parser from them and maps errors to exit codes, from the error's
class, in one place (:func:`main`).

Exit codes (DESIGN.md): 0 success; 1 a check or probe failed; 2 bad usage or
an invalid lab file; 3 the environment lacks something.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from typing import Optional, Sequence

from vnetlab.cli import checking, course, graph, importing, inside, inspecting, lifecycle, links, probing, transfer, web
from vnetlab.cli.common import EXIT_ENVIRONMENT, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError
from vnetlab.errors import VnetlabError

__all__ = ["main", "build_parser", "report_error", "UsageError",
           "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_ENVIRONMENT"]

# The order `vnetlab --help` lists the commands in.
COMMANDS = (
        lifecycle.add_validate,
        lifecycle.add_plan,
        lifecycle.add_up,
        lifecycle.add_down,
        lifecycle.add_reboot,
        links.add_impair,
        links.add_link,
        inspecting.add_status,
        inside.add_exec,
        inside.add_shell,
        checking.add_check,
        lifecycle.add_enable,
        lifecycle.add_disable,
        probing.add_capture,
        probing.add_reach,
        probing.add_scan,
        inspecting.add_sockets,
        probing.add_trace,
        graph.add_graph,
        web.add_web,
)
# Commands with subcommands of their own register on the subparsers themselves.
COMMAND_GROUPS = (
    importing.register,  # import interfaces|proxmox
    transfer.register,   # export, try
    course.register,     # course list|start|hint|answer|grade|reset|stop|solve|show
)


class _Unused:
    """Stands in for the parser of a command this run does not parse: every
    call on it (``add_argument``, ``set_defaults``, ``add_subparsers`` …) is
    taken and ignored."""

    def __getattr__(self, name: str):
        return self._ignore

    def _ignore(self, *args, **kwargs) -> "_Unused":
        return self


class _Only:
    """The parser's subparsers, as the command modules see them when only
    ``name`` is parsed: ``add_parser`` makes the real parser for it and an
    :class:`_Unused` for every other command."""

    def __init__(self, sub, name: str):
        self._sub, self._name, self.found = sub, name, False

    def add_parser(self, name: str, **kwargs):
        if name != self._name:
            return _Unused()
        self.found = True
        return self._sub.add_parser(name, **kwargs)


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """The ``vnetlab`` parser; with ``only``, one whose subcommands are just
    that command (a run parses one command, and building all of them costs
    every process ~20 ms), or the whole parser if ``only`` names no command."""
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
    adding = _Only(sub, only) if only is not None else sub

    def command(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = adding.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    for add in COMMANDS:
        add(command)
    for register in COMMAND_GROUPS:
        register(adding)
    if only is not None and not adding.found:
        return build_parser()  # not a command: the whole parser says so, listing them
    for name, subparser in sub.choices.items():  # `exec` has an argument named "command" of its own
        subparser.set_defaults(vnetlab_command=name)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``vnetlab`` command."""
    # A command is one short process that may build big object graphs (a
    # 10,000-node lab file, its 100,000-op plan). With the default thresholds
    # the cyclic GC rescans them all the while: 60% of loading such a file.
    gc.set_threshold(50_000, 20, 20)
    argv = sys.argv[1:] if argv is None else list(argv)
    # The first argument names the command (the top level has only -h and --version).
    parser = build_parser(argv[0] if argv and not argv[0].startswith("-") else None)
    args = parser.parse_args(argv)
    rootless = os.geteuid() != 0
    try:
        if rootless:
            _enter_lab_root(args.vnetlab_command)
        return args.func(args)
    except VnetlabError as exc:
        report_error(exc)
        return exc.exit_code
    except (LookupError, KeyError) as exc:  # no such lab, node or interface
        message = exc.args[0] if exc.args else str(exc)
        print(f"vnetlab: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("vnetlab: interrupted", file=sys.stderr)
        return 130
    finally:
        if rootless:
            from vnetlab.host import lab_root

            lab_root.leave_if_idle()


# Rootless: what a command needs of the user's lab root (vnetlab.host.lab_root).
READS_FILES_ONLY = frozenset({"validate", "import", "export"})  # no namespace at all
MAKES_LABS = frozenset({"up", "try", "course", "web"})  # may need a lab root that is not there yet
# (`graph` is in neither: a file needs no namespace, but a running lab's live state is read inside them)
# Binds its listening socket on the host first: the lab root has a network namespace of its own,
# which a browser on the host could not reach (cli/web.py joins the lab root once it listens).
ENTERS_LAB_ROOT_ITSELF = frozenset({"web"})


def _enter_lab_root(command: str) -> None:
    """Run by an ordinary user: points the run directory at the user's own and
    joins the user's lab root (made for commands that build labs) — before
    anything reads a path or starts a thread."""
    from vnetlab.host import lab_root

    lab_root.activate()
    if command not in READS_FILES_ONLY and command not in ENTERS_LAB_ROOT_ITSELF:
        lab_root.enter(create=command in MAKES_LABS)


def report_error(exc: VnetlabError) -> None:
    """Prints an error as the command line shows it; the exit code is the class's."""
    from vnetlab.errors import ApplyError
    from vnetlab.model.errors import LabFileError

    if isinstance(exc, LabFileError):
        for problem in exc.problems:
            print(str(problem), file=sys.stderr)
        count = len(exc.problems)
        print(f"{count} problem{'s' if count != 1 else ''}; nothing was created", file=sys.stderr)
    elif isinstance(exc, ApplyError):
        first, _, details = str(exc).partition("\n")  # e.g. a failed service's output
        print(f"vnetlab: {first}; everything this run changed was undone" + (f"\n{details}" if details else ""),
              file=sys.stderr)
    else:
        print(f"vnetlab: {exc}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
