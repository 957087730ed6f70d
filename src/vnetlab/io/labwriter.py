"""Writing a lab-file dict as YAML with a ``# file:line`` comment per object (pure).

The layout is the one the examples use: one line per interface, route,
service, link and check (flow style), so each object's comment sits on its
line. Strings are quoted (JSON style, valid YAML) unless plainly safe.
"""

from __future__ import annotations

import json
import re
from typing import Any

SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")
YAML_WORDS = {"yes", "no", "on", "off", "true", "false", "null", "y", "n", "~"}
COMMENT_COLUMN = 56


def scalar(value: Any) -> str:
    """One YAML scalar, quoted where YAML could read it as something else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if SAFE.match(text) and text.lower() not in YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


def flow(value: Any) -> str:
    """``value`` in YAML flow style on one line."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return scalar(value)


def commented(text: str, comment: str | None) -> str:
    """``text`` with ``# comment`` aligned after it."""
    if not comment:
        return text
    return f"{text.ljust(COMMENT_COLUMN)} # {comment}" if len(text) < COMMENT_COLUMN else f"{text}  # {comment}"


def render(lab: dict, notes: dict[tuple, str], header: list[str]) -> str:
    """The lab file's text.

    Args:
        lab: the lab file as plain data (the schema's keys).
        notes: path → comment, e.g. ``("nodes", "pve", "interfaces", "vmbr0")`` →
            ``"etc/network/interfaces:12"``.
        header: comment lines for the top of the file.
    """
    out = [f"# {line}" if line else "#" for line in header]
    for key in ("lab", "description"):
        if key in lab:
            out.append(commented(f"{key}: {scalar(lab[key])}", notes.get((key,))))
    out.append("nodes:")
    for name, node in lab["nodes"].items():
        out.append(commented(f"  {name}:", notes.get(("nodes", name))))
        for key, value in node.items():
            path = ("nodes", name, key)
            if not value and isinstance(value, (dict, list)):
                out.append(commented(f"    {key}: {flow(value)}", notes.get(path)))
            elif key == "interfaces":
                out.append("    interfaces:")
                for ifname, iface in value.items():
                    out.append(commented(f"      {scalar(ifname)}: {flow(iface)}", notes.get((*path, ifname))))
            elif key in ("routes", "services"):
                out.append(f"    {key}:")
                out += [commented(f"      - {flow(item)}", notes.get((*path, index)))
                        for index, item in enumerate(value)]
            elif key == "nat":
                out.append(f"    {key}:")
                for part, items in value.items():
                    out.append(f"      {part}:")
                    out += [commented(f"        - {flow(item)}", notes.get((*path, part, index)))
                            for index, item in enumerate(items)]
            elif isinstance(value, dict):
                out.append(commented(f"    {key}:", notes.get(path)))
                for sub, item in value.items():
                    out.append(commented(f"      {sub}: {flow(item)}", notes.get((*path, sub))))
            else:
                out.append(commented(f"    {key}: {flow(value)}", notes.get(path)))
    for key in ("links", "checks"):
        if lab.get(key):
            out.append(f"{key}:")
            out += [commented(f"  - {flow(item)}", notes.get((key, index))) for index, item in enumerate(lab[key])]
    return "\n".join(out) + "\n"
