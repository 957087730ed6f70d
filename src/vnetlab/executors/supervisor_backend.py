"""The lab's supervisor as a backend: TAP pumps, services and impaired ends.

PumpFrames and RunService ops only collect what is wanted (and so do the
userspace impairments the impairment backend hands over, ``executors/impair.py``); ``finish`` writes
the supervisor's config and starts it, or tells a running one to re-read it
and waits until it has applied it, so ``vnetlab up`` returns with every
service listening. Each command it started must then keep running for a
moment (a oneshot: finish with exit 0, :mod:`vnetlab.executors.service_start`);
if one does not, the supervisor is put back as it was and ``up`` fails. The
supervisor's PID and start time go in the journal, so ``down`` stops it by
PID after checking it is still the same process — never by name.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional

from vnetlab.agents import services, supervisor
from vnetlab.executors.service_start import ServiceExited, watch_started
from vnetlab.agents.services import ServiceSpec
from vnetlab.host.state import write_atomic
from vnetlab.plan import Op, PumpFrames, RunDhcpClient, RunDhcpServer, RunService, StopPump, StopService

PumpKey = tuple[str, str, str, str]


class SupervisorBackend:
    """Keeps the lab supervisor's pumps and services in line with the plan."""

    def __init__(self, lab: str, rundir: str, recorder=None):
        self.lab, self.rundir, self.recorder = lab, rundir, recorder
        self.config_path = os.path.join(rundir, supervisor.CONFIG_FILE)
        self.initial = self._configured()
        self.pumps: dict[PumpKey, None] = dict.fromkeys(
            (p.a.netns, p.a.ifname, p.b.netns, p.b.ifname) for p in self.initial.pumps)
        self.services: dict[ServiceSpec, None] = dict.fromkeys(self.initial.services)
        self.impaired: dict[tuple[str, str], supervisor.ImpairSpec] = {i.key: i for i in self.initial.impaired}
        # dnsmasq and udhcpc: up waits until their leases are held (executors/leases.py), which
        # proves more than START_GRACE of running would, and watches them exit meanwhile.
        self.awaited: set[ServiceSpec] = set()
        self._dirty = False

    def _configured(self) -> supervisor.SupervisorConfig:
        try:
            with open(self.config_path) as handle:
                return supervisor.SupervisorConfig.from_dict(json.load(handle))
        except (FileNotFoundError, ValueError):  # JSONDecodeError is a ValueError
            return supervisor.SupervisorConfig(lab=self.lab)

    def handles(self, op: Op) -> bool:
        """PumpFrames, StopPump, RunService and StopService."""
        return isinstance(op, (PumpFrames, RunService))

    def apply(self, op: Op) -> Optional[Op]:
        """Adds or drops one pump or service in the wanted set."""
        if isinstance(op, RunService):
            return self._apply_service(op)
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

    # -- impaired ends (the userspace path; executors/impair.py decides them)
    def impaired_end(self, netns: str, ifname: str) -> Optional[supervisor.ImpairSpec]:
        """The impaired end the supervisor is (or will be) told to carry for ``ifname``, if any."""
        return self.impaired.get((netns, ifname))

    def carry(self, spec: supervisor.ImpairSpec) -> bool:
        """Wants ``spec`` carried (added, or its impairment changed); False if it already was."""
        if self.impaired.get(spec.key) == spec:
            return False
        self.impaired[spec.key] = spec
        self._dirty = True
        return True

    def let_go(self, netns: str, ifname: str) -> Optional[supervisor.ImpairSpec]:
        """Wants ``ifname`` no longer carried; what was wanted, or None."""
        spec = self.impaired.pop((netns, ifname), None)
        if spec is not None:
            self._dirty = True
        return spec

    def _apply_service(self, op: RunService) -> Optional[Op]:
        spec = ServiceSpec(op.netns, node=op.node, listen=op.listen, command=op.command, oneshot=op.oneshot)
        fields = dict(node=op.node, listen=op.listen, command=op.command, oneshot=op.oneshot)
        if isinstance(op, StopService):
            if spec not in self.services:
                return None
            del self.services[spec]
            self._dirty = True
            return RunService(op.netns, **fields)
        if isinstance(op, (RunDhcpServer, RunDhcpClient)):
            self.awaited.add(spec)
        if spec in self.services:
            return None
        self.services[spec] = None
        self._dirty = True
        return StopService(op.netns, **fields)

    def _config(self, generation: int) -> supervisor.SupervisorConfig:
        pumps = tuple(
            supervisor.PumpSpec(supervisor.Endpoint(a_ns, a_if), supervisor.Endpoint(b_ns, b_if))
            for a_ns, a_if, b_ns, b_if in self.pumps
        )
        return supervisor.SupervisorConfig(self.lab, pumps, tuple(self.services), generation,
                                           tuple(self.impaired.values()))

    def finish(self) -> None:
        """Makes the running supervisor match the wanted pumps and services.

        Raises:
            ServiceExited: a command it started exited at once, or a oneshot
                did not exit 0 (the supervisor is put back as it was: on its
                old config, or stopped if this run started it).
            RuntimeError: the supervisor did not start, or could not apply
                everything (a running one is then put back on its old config).
        """
        record = supervisor.read_pidfile(self.rundir)
        running = record is not None and supervisor.is_running(record)
        if not self.pumps and not self.services and not self.impaired:
            if running:
                supervisor.stop(record)
            if self._dirty:  # the last ones were removed: say so, for status and the next up
                write_atomic(self.config_path, json.dumps(self._config(self.initial.generation + 1).to_dict()))
                self._dirty = False
            return
        if not self._dirty and running:
            return
        reported = services.read_state(self.rundir).get("generation", 0)
        generation = max(self.initial.generation, reported if isinstance(reported, int) else 0) + 1
        config = self._config(generation)
        write_atomic(self.config_path, json.dumps(config.to_dict(), indent=2))
        if running:
            fresh = [s for s in self.services if s.command is not None and s not in self.initial.services
                     and s not in self.awaited]
            errors = supervisor.reload_and_wait(self.rundir, record, generation)
            failures = [] if errors else watch_started(self.rundir, fresh)
            if errors or failures:
                old = dataclasses.replace(self.initial, generation=generation + 1)
                write_atomic(self.config_path, json.dumps(old.to_dict(), indent=2))
                supervisor.reload_and_wait(self.rundir, record, old.generation)
                if failures:
                    raise ServiceExited("\n".join(failures))
                raise RuntimeError("; ".join(errors))
            self._dirty = False
            return
        if self.recorder is not None:
            self.recorder.record("process-intent", role="supervisor")
        record = supervisor.start(self.rundir)
        if self.recorder is not None:
            self.recorder.record("process", role="supervisor", **record.to_dict())
        failures = watch_started(self.rundir, [s for s in self.services
                                               if s.command is not None and s not in self.awaited])
        if failures:  # this run started it: stopped again, on the config it had
            supervisor.stop(record, timeout=services.STOP_TIMEOUT + 2.0)  # it stops its services first
            if self.recorder is not None:
                self.recorder.record("process-gone", role="supervisor")
            write_atomic(self.config_path, json.dumps(self.initial.to_dict(), indent=2))
            raise ServiceExited("\n".join(failures))
        self._dirty = False

