"""Commands on a running lab's links: impair (delay, loss, rate … of one end) and link (cut, replug)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from vnetlab.cli.common import EXIT_OK, UsageError, _console, _running

# option -> impairment key, in the order netem writes them
OPTIONS = (("--delay", "delay", "e.g. 100ms: added to everything the end sends"),
           ("--jitter", "jitter", "e.g. 10ms: the delay varies by this much (needs --delay)"),
           ("--distribution", "distribution", "normal, pareto, paretonormal or uniform: how the jitter is spread"),
           ("--loss", "loss", "e.g. 5%%: a share of the frames is dropped"),
           ("--loss-correlation", "loss_correlation", "e.g. 25%%: how much a loss depends on the one before"),
           ("--duplicate", "duplicate", "e.g. 1%%: a share of the frames is sent twice"),
           ("--corrupt", "corrupt", "e.g. 0.1%%: a share of the frames gets one bit flipped"),
           ("--reorder", "reorder", "e.g. 25%%: a share of the frames is sent at once, ahead of delayed ones "
                                    "(needs --delay)"),
           ("--rate", "rate", "e.g. 10mbit: at most this many bits a second"),
           ("--limit", "limit", "e.g. 100: at most this many frames wait; more are dropped"))


def _values(args: argparse.Namespace) -> dict[str, Any]:
    """The impairment given on the command line, parsed; a bad value is exit 2 naming its option."""
    from vnetlab.model.impairment import PARSERS

    values: dict[str, Any] = {}
    for option, key, _ in OPTIONS:
        text = getattr(args, key)
        if text is None:
            continue
        try:
            values[key] = PARSERS[key](int(text) if key == "limit" and text.isdigit() else text)
        except ValueError as exc:
            raise UsageError(f"{option}: {exc}") from None
    needs = (("jitter", "delay", "jitter varies the delay around its value"),
             ("reorder", "delay", "reordering sends some frames at once and delays the rest"),
             ("distribution", "jitter", "the distribution shapes the jitter"),
             ("loss_correlation", "loss", "the correlation is of the losses"))
    for key, needed, why in needs:
        if key in values and not values.get(needed):
            raise UsageError(f"--{key.replace('_', '-')} needs --{needed} ({why}): add e.g. "
                             f"--{needed} {'20ms' if needed in ('delay', 'jitter') else '1%'}")
    return values


def cmd_impair(args: argparse.Namespace) -> int:
    from vnetlab.lab import require_root

    given = _values(args)  # bad input first: exit 2 before anything is looked up
    if (args.clear or args.reset) and given:
        raise UsageError("--clear and --reset take no impairment options: give either what the end does, "
                         "or --clear (no impairment), or --reset (what the file says)")
    if args.clear and args.reset:
        raise UsageError("--clear or --reset, not both")
    if args.end is None and (given or args.clear or args.reset):
        raise UsageError("name the link end to change: vnetlab impair LAB NODE:IF …")
    require_root("vnetlab impair")
    lab = _running(args.lab)
    if args.end is None:
        return _show(lab.impairments(), lab.name, args.json)
    if args.clear:
        end = lab.clear_impairment(args.end)
    elif args.reset:
        end = lab.reset_impairment(args.end)
    elif given:
        from vnetlab.model.impairment import Impairment

        end = lab.impair(args.end, Impairment(**given))
    else:
        found = [end for end in lab.links() if end.end == args.end]
        if not found:
            lab.reset_impairment(args.end)  # raises NotALinkEnd / NoSuchNode with the lab's words
        return _show(found, lab.name, args.json)
    if args.json:
        print(json.dumps(end.to_dict(), indent=2))
    else:
        print(_end_line(end))
    return EXIT_OK


def _end_line(end: Any) -> str:
    what = end.impairment.text() if not end.impairment.empty else "no impairment"
    line = f"{end.end} (to {end.peer}): {what}"
    if end.mechanism:
        line += f" — {end.mechanism}"
    if end.origin == "runtime":
        file_text = end.file.text() if not end.file.empty else "none"
        line += f", set while the lab runs (the file says: {file_text}; --reset puts it back)"
    elif end.origin == "file":
        line += ", from the lab file"
    elif not end.file.empty:
        line += f" (cleared while the lab runs; the file says: {end.file.text()}; --reset puts it back)"
    if end.cut:
        line += "; cable cut"
    return line


def _show(ends: list, lab: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"lab": lab, "ends": [end.to_dict() for end in ends]}, indent=2))
        return EXIT_OK
    if not ends:
        print(f"lab {lab}: no impairments and no cut cables — every link sends as a plain veth")
        return EXIT_OK
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("end", "to", "impairment", "mechanism", "from", "cable"):
        table.add_column(column)
    for end in ends:
        origin = {"runtime": "set at runtime", "file": "the file"}.get(end.origin or "", "")
        if end.origin is None and not end.file.empty:
            origin = "cleared at runtime"
        table.add_row(end.end, end.peer, end.impairment.text() if not end.impairment.empty else "-",
                      end.mechanism or "-", origin, "[red]cut[/red]" if end.cut else "plugged in")
    console = _console()
    console.print(f"[bold]lab {lab}[/bold]: what each end does to what it sends")
    console.print(table)
    return EXIT_OK


def cmd_link(args: argparse.Namespace) -> int:
    from vnetlab.lab import require_root

    require_root("vnetlab link")
    lab = _running(args.lab)
    end = lab.cut(args.end) if args.state == "down" else lab.replug(args.end)
    if args.json:
        print(json.dumps(end.to_dict(), indent=2))
    elif end.cut:
        print(f"cable {end.end} — {end.peer} cut: both ends are down, neither has carrier "
              f"(vnetlab link {lab.name} {end.end} up plugs it in again)")
    else:
        print(f"cable {end.end} — {end.peer} plugged in: both ends are up again")
    return EXIT_OK


def add_impair(command) -> None:
    p = command("impair", cmd_impair, "change what one end of a running link does to what it sends (delay, jitter, "
                "loss, rate …) without making the link again; without NODE:IF, list what is in force")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("end", nargs="?", metavar="NODE:IF", help="a link end; what it sends is impaired")
    for option, key, text in OPTIONS:
        metavar = {"delay": "TIME", "jitter": "TIME", "distribution": "NAME", "rate": "RATE", "limit": "FRAMES"}
        p.add_argument(option, dest=key, metavar=metavar.get(key, "PERCENT"), help=text)
    p.add_argument("--clear", action="store_true", help="send without impairment (also one the file gives)")
    p.add_argument("--reset", action="store_true", help="back to what the lab file says for this end")
    p.add_argument("--json", action="store_true")


def add_link(command) -> None:
    p = command("link", cmd_link, "cut a running lab's cable (down: both ends lose carrier, as a bond sees a "
                "pulled cable) or plug it in again (up)")
    p.add_argument("lab", metavar="LAB|LABFILE")
    p.add_argument("end", metavar="NODE:IF", help="either end of the link")
    p.add_argument("state", choices=("down", "up"))
    p.add_argument("--json", action="store_true")
