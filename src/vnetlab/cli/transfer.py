"""``vnetlab export`` and ``vnetlab try``: a node back out as a host's configuration, and a change tried first."""

from __future__ import annotations

import argparse
import json
import os
import sys

EXIT_OK, EXIT_FAILED = 0, 1


def _existing(path: str) -> str:
    """An argparse type: a path that exists (else a usage error, exit 2)."""
    if not os.path.exists(path):
        raise argparse.ArgumentTypeError(f"{path}: no such file or directory — give a copy of the host's / "
                                         "or an interfaces file")
    return path


def register(sub) -> None:
    """Adds ``export`` and ``try`` to the ``vnetlab`` subcommands."""
    p = sub.add_parser("export", help="write a node's network as /etc/network/interfaces, nmcli commands or ip "
                                      "commands (no root)",
                       description="write a node's network as the persistent configuration a host would use")
    p.set_defaults(func=cmd_export)
    p.add_argument("lab", metavar="LAB|FILE", help="a lab file, or the name of a lab that is up")
    p.add_argument("node")
    p.add_argument("--format", choices=("interfaces", "nmcli", "ip"), default="interfaces")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")

    p = sub.add_parser("try", help="build a host before and after a change, side by side, and report what the "
                                   "change breaks (lock-outs first); exit 1 if anything that worked breaks",
                       description="import OLD and NEW (each a copy of a host's root or an interfaces file), build "
                                   "both as labs, run the same generated checks on each and report every check that "
                                   "passes with OLD and fails with NEW")
    p.set_defaults(func=cmd_try)
    p.add_argument("old", metavar="OLD", type=_existing, help="the host as it is: a root directory or an interfaces file")
    p.add_argument("new", metavar="NEW", type=_existing, help="the host after the change, the same way")
    p.add_argument("--keep", action="store_true", help="leave both labs up afterwards (their names are printed)")
    p.add_argument("--json", action="store_true", help="machine-readable result")


def cmd_export(args: argparse.Namespace) -> int:
    from vnetlab.cli.common import _load, _looks_like_file
    from vnetlab.io.export import export_node

    if _looks_like_file(args.lab):
        spec = _load(args.lab).spec
    else:
        from vnetlab.lab import Lab
        from vnetlab.names import lab_name

        spec = Lab.running(lab_name(args.lab)).spec
    text = export_node(spec, args.node, args.format)  # ExportError: bad input, exit 2
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_try(args: argparse.Namespace) -> int:
    from vnetlab.lab import require_root
    from vnetlab.labs.try_change import try_change

    require_root("vnetlab try")
    quiet = args.json

    def progress(text: str) -> None:
        if not quiet:
            print(f"try: {text}", file=sys.stderr)

    result = try_change(args.old, args.new, keep=args.keep, progress=progress)
    if args.json:
        print(json.dumps({
            "ok": result.ok, "old_lab": result.old_lab, "new_lab": result.new_lab, "kept": result.kept,
            "lost_management": result.lost_management,
            "broken": [{"check": b.label, "old": b.old, "new": b.new, "reason": b.reason, "management": b.management,
                        "lines": [str(c) for c in b.lines]} for b in result.broken],
            "fixed": result.fixed, "still_failing": result.still_failing, "passed": result.passed,
            "seconds": {k: round(v, 2) for k, v in result.seconds.items()},
        }))
        return EXIT_OK if result.ok else EXIT_FAILED
    for address in result.lost_management:
        print(f"LOCKED OUT: NEW no longer has the management address {address} — the admin cannot reach the host")
    for breakage in result.broken:
        print(f"{'LOCKED OUT' if breakage.management else 'BROKEN'}: {breakage}")
    for label in result.fixed:
        print(f"fixed: {label}")
    for label in result.still_failing:
        print(f"fails with both (not this change): {label}")
    times = ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items() if k != "total")
    print(f"{result.passed} check{'s' if result.passed != 1 else ''} pass with both, {len(result.broken)} break with "
          f"NEW, {len(result.fixed)} fixed; {result.seconds['total']:.1f} s ({times})")
    if result.kept:
        print(f"kept: OLD is lab {result.old_lab}, NEW is lab {result.new_lab} — vnetlab down each when done")
    return EXIT_OK if result.ok else EXIT_FAILED
