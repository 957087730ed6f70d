"""``vnetlab import interfaces FILE`` and ``vnetlab import proxmox ROOT``.

A real host's network files become a lab file (stdout, or ``-o OUT``);
every input line that is not imported is reported on stderr as
``FILE:LINE: not imported: … — why``. ``--check`` lints the real files
instead: it prints what would break the host at boot and exits 1 if
anything would (0 if nothing). ``--strict`` makes any not-imported line an
error (exit 2). No root needed: nothing touches the kernel.
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(subparsers) -> None:
    """Adds the ``import`` command group to the ``vnetlab`` parser."""
    group = subparsers.add_parser(
        "import", help="make a lab file from a real host's network files (nothing silently dropped)",
        description="Make a lab file from a real host's network files. Lines that cannot be imported are "
                    "reported on stderr as FILE:LINE: not imported: … — why.")
    kinds = group.add_subparsers(dest="import_kind", metavar="KIND")
    kinds.required = True
    for kind, what, help_text in (
            ("interfaces", "FILE", "an ifupdown/ifupdown2 interfaces file (following source lines)"),
            ("proxmox", "ROOT", "a copy of a Proxmox host's / : etc/network/interfaces, "
                                "etc/pve/qemu-server, etc/pve/lxc, etc/pve/firewall")):
        p = kinds.add_parser(kind, help=help_text, description=f"Import {help_text}.")
        p.set_defaults(func=cmd_import, import_kind=kind)
        p.add_argument("source", metavar=what)
        p.add_argument("-o", "--output", metavar="OUT", help="write the lab file here (default: stdout)")
        p.add_argument("--name", metavar="LAB", help="the lab's name (default: made from the file name)")
        p.add_argument("--check", action="store_true",
                       help="lint the real files: print what would break the host at boot as FILE:LINE: …; "
                            "exit 1 if anything would, 0 if not")
        p.add_argument("--strict", action="store_true", help="any line that is not imported is an error (exit 2)")
        p.add_argument("--json", action="store_true",
                       help="print one JSON object on stdout instead: the reports (file, line, kind, text), the "
                            "problems, and the lab file (unless --check); the exit code is the same")


def cmd_import(args: argparse.Namespace) -> int:
    """Runs ``vnetlab import interfaces|proxmox``."""
    from vnetlab.io.importer import import_interfaces, import_proxmox
    if args.name is not None:
        from vnetlab.names import lab_name

        lab_name(args.name)  # UnsafeName: exit 2
    if args.import_kind == "interfaces":
        imported = import_interfaces(args.source, args.name)
    else:
        imported = import_proxmox(args.source, args.name)
    # One decision, two renderings (text or --json).
    if args.check:
        code = EXIT_FAILED if imported.problems else EXIT_OK
    elif args.strict and imported.not_imported:
        code = EXIT_USAGE
    else:
        code = EXIT_OK
    (_print_json if args.json else _print_text)(args, imported, code)
    return code


def _write_lab(args: argparse.Namespace, imported) -> None:
    with open(args.output, "w", encoding="utf-8") as handle:
        handle.write(imported.text)


def _print_text(args: argparse.Namespace, imported, code: int) -> None:
    if args.check:
        for report in imported.problems:
            print(report)
        count = len(imported.problems)
        print(f"{count} problem{'s' if count != 1 else ''} that would break the host at boot"
              if count else "no problems found", file=sys.stderr)
        return
    for report in imported.reports:  # problems too: the lab is made, but the real host would not boot right
        print(report, file=sys.stderr)
    if code == EXIT_USAGE:
        count = len(imported.not_imported)
        print(f"--strict: {count} line{'s' if count != 1 else ''} not imported; no lab file written",
              file=sys.stderr)
    elif args.output:
        _write_lab(args, imported)
        print(f"{args.output}: lab {imported.lab['lab']} with {len(imported.lab['nodes'])} nodes and "
              f"{len(imported.lab.get('checks', []))} checks", file=sys.stderr)
    else:
        sys.stdout.write(imported.text)


def _report_dict(report) -> dict:
    return {"file": report.file, "line": report.line, "kind": report.kind, "text": report.text}


def _print_json(args: argparse.Namespace, imported, code: int) -> None:
    """``--json``: the same outcome as the text form, as one object (for CI and editors)."""
    result: dict = {"source": args.source, "problems": [_report_dict(r) for r in imported.problems],
                    "reports": [_report_dict(r) for r in imported.reports]}
    if not args.check and code == EXIT_OK:
        result["lab"] = imported.lab["lab"]
        if args.output:
            _write_lab(args, imported)
            result["output"] = args.output
        else:
            result["lab_file"] = imported.text
    result["exit"] = code
    print(json.dumps(result, indent=2))
