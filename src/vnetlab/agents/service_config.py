"""What services a lab runs (:class:`ServiceSpec`) and the supervisor's
record of them, ``RUNDIR/services.json`` (see :mod:`vnetlab.agents.services`)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
from typing import Any, Optional

from vnetlab.host.processes import ProcessRecord

SERVICES_FILE = "services.json"

_LISTEN_RE = re.compile(r"(tcp|udp)/(\d{1,5})")


@dataclasses.dataclass(frozen=True)
class ServiceSpec:
    """One service of one node: exactly one of ``listen`` and ``command``;
    ``oneshot`` (commands only) for a program that runs once and exits."""

    netns: str
    node: str
    listen: Optional[str] = None
    command: Optional[tuple[str, ...]] = None
    oneshot: bool = False

    def __str__(self) -> str:
        what = self.listen if self.listen is not None else shlex.join(self.command or ())
        return f"{self.node}({self.netns}): {what}" + (" (oneshot)" if self.oneshot else "")

    @property
    def proto_port(self) -> tuple[str, int]:
        """('tcp', 80) of a built-in listener."""
        proto, port = (self.listen or "").split("/")
        return proto, int(port)

    @classmethod
    def from_dict(cls, data: Any) -> ServiceSpec:
        """Parses one entry of the config's ``services``; raises ValueError."""
        if not isinstance(data, dict) or not isinstance(data.get("netns"), str) \
                or not isinstance(data.get("node"), str):
            raise ValueError(f"a service needs string 'netns' and 'node', got {data!r}")
        listen, command = data.get("listen"), data.get("command")
        if (listen is None) == (command is None):
            raise ValueError(f"a service has exactly one of 'listen' and 'command', got {data!r}")
        if listen is not None:
            match = _LISTEN_RE.fullmatch(listen) if isinstance(listen, str) else None
            if match is None or not 1 <= int(match.group(2)) <= 65535:
                raise ValueError(f"'listen' is tcp/PORT or udp/PORT, got {listen!r}")
        if command is not None and (not isinstance(command, list) or not command
                                    or not all(isinstance(a, str) and a for a in command)):
            raise ValueError(f"'command' is a non-empty list of strings, got {command!r}")
        oneshot = data.get("oneshot", False)
        if not isinstance(oneshot, bool) or (oneshot and command is None):
            raise ValueError(f"'oneshot' is true or false, and only for a command, got {data!r}")
        return cls(netns=data["netns"], node=data["node"], listen=listen,
                   command=tuple(command) if command is not None else None, oneshot=oneshot)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"netns": self.netns, "node": self.node}
        if self.listen is not None:
            data["listen"] = self.listen
        else:
            data["command"] = list(self.command or ())
        if self.oneshot:
            data["oneshot"] = True
        return data


def read_state(rundir: str) -> dict[str, Any]:
    """``RUNDIR/services.json`` as written by the supervisor; {} if absent or unreadable."""
    try:
        with open(os.path.join(rundir, SERVICES_FILE)) as handle:
            data = json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def recorded_commands(rundir: str) -> list[ProcessRecord]:
    """The command-service processes ``services.json`` lists (they may have exited)."""
    records = []
    for entry in read_state(rundir).get("services", []):
        if isinstance(entry, dict) and "command" in entry and "pid" in entry:
            try:
                records.append(ProcessRecord.from_dict(entry))
            except ValueError:
                continue
    return records
