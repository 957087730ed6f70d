"""The lab's supervisor as a backend: TAP pumps (and, later, services).

PumpFrames ops only collect the wanted pumps; ``finish`` writes the
supervisor's config and starts it, or tells a running one to re-read it.
The supervisor's PID and start time go in the journal, so ``down`` stops it
by PID after checking it is still the same process — never by name.
"""

from __future__ import annotations

import json
import os
from typing import Optional

from vnetlab.executors import supervisor
from vnetlab.executors.state import write_atomic
from vnetlab.plan import Op, PumpFrames, StopPump

PumpKey = tuple[str, str, str, str]


class SupervisorBackend:
    """Keeps the lab supervisor's pumps in line with the plan."""

    def __init__(self, lab: str, rundir: str, recorder=None):
        self.lab, self.rundir, self.recorder = lab, rundir, recorder
        self.config_path = os.path.join(rundir, "supervisor.json")
        self.pumps: dict[PumpKey, None] = dict.fromkeys(self._configured())
        self._dirty = False

    def _configured(self) -> list[PumpKey]:
        try:
            with open(self.config_path) as handle:
                config = json.load(handle)
        except (FileNotFoundError, json.JSONDecodeError):
            return []
        return [(p["a"]["netns"], p["a"]["ifname"], p["b"]["netns"], p["b"]["ifname"])
                for p in config.get("pumps", [])]

    def handles(self, op: Op) -> bool:
        """PumpFrames and StopPump."""
        return isinstance(op, PumpFrames)

    def apply(self, op: Op) -> Optional[Op]:
        """Adds or drops one pump in the wanted set."""
        key = (op.netns, op.ifname, op.peer_netns, op.peer_ifname)
        if isinstance(op, StopPump):
            if key not in self.pumps:
                return None
            del self.pumps[key]
            self._dirty = True
            return PumpFrames(op.netns, ifname=op.ifname, peer_netns=op.peer_netns, peer_ifname=op.peer_ifname)
        if key in self.pumps:
            return None
        self.pumps[key] = None
        self._dirty = True
        return StopPump(op.netns, ifname=op.ifname, peer_netns=op.peer_netns, peer_ifname=op.peer_ifname)

    def finish(self) -> None:
        """Makes the running supervisor match the wanted pumps."""
        record = supervisor.read_pidfile(self.rundir)
        running = record is not None and supervisor.is_running(record)
        if not self.pumps:
            if running:
                supervisor.stop(record)
            return
        if not self._dirty and running:
            return
        config = {"lab": self.lab, "pumps": [
            {"a": {"netns": a_ns, "ifname": a_if}, "b": {"netns": b_ns, "ifname": b_if}}
            for a_ns, a_if, b_ns, b_if in self.pumps
        ]}
        write_atomic(self.config_path, json.dumps(config, indent=2))
        if running:
            supervisor.reload(record)
            return
        if self.recorder is not None:
            self.recorder.record("process-intent", role="supervisor")
        record = supervisor.start(self.rundir)
        if self.recorder is not None:
            self.recorder.record("process", role="supervisor", **record.to_dict())
        self._dirty = False
