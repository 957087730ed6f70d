"""The Python API: ``Lab.load(path)``, ``up``, ``down``, ``node(..).run``, ``check``.

The CLI is a thin layer over this module; so are the tests.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from vnetlab.errors import EnvironmentProblem
from vnetlab.executors import netns, state
from vnetlab.executors.applied import SPEC_COPY
from vnetlab.executors.state import Journal, LabBusy, write_atomic

# The model (pydantic), the compiler and the plan are imported where they are
# used: `vnetlab down LAB` works from the journal alone and should not pay
# for loading them (most of a small lab's down otherwise).
if TYPE_CHECKING:
    import subprocess

    from vnetlab.executors.apply import ApplyReport
    from vnetlab.model import LabSpec
    from vnetlab.plan import Plan


def require_root(action: str) -> None:
    """Raises EnvironmentProblem unless we are root."""
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            f"{action} needs root (network namespaces are privileged) — run it with sudo"
        )


def _require_kernel_features(plan: Plan) -> None:
    if any(op.name == "create_tap" for op in plan.ops) and not os.path.exists("/dev/net/tun"):
        raise EnvironmentProblem(
            "this lab has TAP devices but /dev/net/tun is missing — load the tun module "
            "(modprobe tun) or create the device node (mknod /dev/net/tun c 10 200)"
        )
    if any(op.name == "apply_ruleset" for op in plan.ops):
        from vnetlab.executors import nftables

        if not nftables.available():
            raise EnvironmentProblem(nftables.MISSING)


@dataclass
class NodeHandle:
    """One node of a running lab."""

    lab: str
    name: str

    @property
    def netns(self) -> str:
        """The node's namespace name."""
        from vnetlab.compile import netns_name

        return netns_name(self.lab, self.name)

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess:
        """Runs ``argv`` inside the node (subprocess.run semantics)."""
        from vnetlab.executors import run as runner

        return runner.run(self.netns, argv, **kwargs)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        """Starts ``argv`` inside the node and returns the Popen."""
        from vnetlab.executors import run as runner

        return runner.popen(self.netns, argv, **kwargs)


class Lab:
    """A lab file, and the namespaces it runs in once ``up``.

    Use as a context manager to get ``up`` on entry and ``down`` on exit.
    """

    def __init__(self, spec: LabSpec, source: Optional[str] = None):
        self.spec = spec
        self.source = source
        self.last_diff = None  # what the last up of a running lab changed (a compile.diff.Diff)
        self.raised_neigh_limits: dict = {}  # what up --raise-neigh-limit set (family -> sysctls)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Lab":
        """Loads and validates a lab file (raises LabFileError)."""
        from vnetlab.model import load_lab

        return cls(load_lab(path), source=os.path.abspath(path))

    @classmethod
    def running(cls, name: str) -> "Lab":
        """The lab as it was last brought up (from its run directory)."""
        path = os.path.join(state.lab_dir(name), SPEC_COPY)
        try:
            with open(path) as handle:
                data = json.load(handle)
        except FileNotFoundError:
            raise LookupError(f"lab {name!r} is not up — start it with: vnetlab up LABFILE") from None
        from vnetlab.model import LabSpec

        return cls(LabSpec.model_validate(data["spec"]), source=data.get("source"))

    @property
    def name(self) -> str:
        """The lab's name."""
        return self.spec.lab

    def plan(self, features=None) -> Plan:
        """The ops that build this lab (``features``: a compile.l2.KernelFeatures;
        None assumes a kernel with every L2 feature)."""
        from vnetlab.compile import compile_lab

        return compile_lab(self.spec, features)

    def _plan_for_this_machine(self) -> Plan:
        """The plan with every ``backend: auto`` bridge resolved against what
        this kernel can do (probed only when the lab has VLANs, bonds or OVS);
        raises EnvironmentProblem when the lab needs what the machine lacks."""
        from vnetlab.compile import compile_lab
        from vnetlab.compile.l2 import unmet_needs
        from vnetlab.executors import capabilities

        if not capabilities.lab_needs_probe(self.spec):
            return self.plan()
        features = capabilities.detect()
        problems = unmet_needs(self.spec, features)
        if problems:
            raise EnvironmentProblem("; ".join(problems))
        return compile_lab(self.spec, features)

    def node(self, name: str) -> NodeHandle:
        """A handle on node ``name``."""
        if name not in self.spec.nodes:
            raise KeyError(f"lab {self.name} has no node {name!r} (nodes: {', '.join(self.spec.nodes)})")
        return NodeHandle(self.name, name)

    def namespace_of(self, node: str) -> str:
        """The namespace of ``node``."""
        from vnetlab.compile import netns_name

        return netns_name(self.name, node)

    def up(self, progress: Optional[Callable[[int, int], None]] = None,
           raise_neigh_limit: bool = False) -> ApplyReport:
        """Builds the lab, or converges a running one; unchanged objects stay.

        ``raise_neigh_limit``: raise the host's neighbour-table limits
        (gc_thresh1/2/3) as far as the lab's checks need, until ``down``."""
        require_root("vnetlab up")
        plan = self._plan_for_this_machine()
        _require_kernel_features(plan)
        with state.locked(self.name):
            existed = os.path.isdir(state.lab_dir(self.name))
            ops = plan.ops
            if existed:
                # A running (or stale, after a reboot) lab: remove what the file
                # no longer has and what was added by hand, then ensure the rest.
                from vnetlab.observe.drift import converge

                self.last_diff = converge(self.name, plan)
                ops = self.last_diff.converge_ops()
            journal = Journal(self.name).open()
            try:
                if existed:
                    _forget_vanished(journal, plan)
                journal.record("source", path=self.source)
                if raise_neigh_limit:
                    from vnetlab.executors import neigh

                    self.raised_neigh_limits = neigh.raise_limits(self.spec, journal)
                write_atomic(
                    os.path.join(journal.dir, SPEC_COPY),
                    json.dumps({"source": self.source, "spec": self.spec.model_dump(by_alias=True)}),
                )
                from vnetlab.executors.apply import apply_plan
                from vnetlab.executors.kernel import KernelBackend
                from vnetlab.executors.nftables import NftBackend
                from vnetlab.executors.pumps import SupervisorBackend

                kernel = KernelBackend()
                try:
                    restarts = self.last_diff.restarts() if self.last_diff is not None else []
                    if restarts:  # failed services: drop them first, so the plan starts them afresh
                        apply_plan(restarts, [SupervisorBackend(self.name, journal.dir, journal)], journal)
                    backends = [kernel, SupervisorBackend(self.name, journal.dir, journal), NftBackend()]
                    from vnetlab.executors.linux_l2 import LinuxL2Backend  # 802.1Q, bonds, bridge VLANs

                    backends.append(LinuxL2Backend(kernel))
                    from vnetlab.executors.ovs import OvsBackend  # per-node Open vSwitch

                    backends.append(OvsBackend(journal, on_new_links=kernel.forget))
                    report = apply_plan(ops, backends, journal, progress)
                    from vnetlab.executors.controller import wait_for_builtin_controllers

                    try:  # OVS switches get their built-in controller's flows before `up` returns
                        wait_for_builtin_controllers(plan.ops)
                    except RuntimeError as exc:
                        raise EnvironmentProblem(str(exc)) from exc
                    from vnetlab.observe.drift import record_baseline

                    record_baseline(self.name, plan)
                    return report
                except Exception:
                    if not existed:
                        _teardown(self.name, journal)  # a failed first up leaves nothing
                    raise
                finally:
                    kernel.close()
            finally:
                journal.close()

    def down(self) -> bool:
        """Removes everything the lab made; False if it was not up."""
        return down(self.name)

    def check(self) -> list:
        """Runs the file's checks against the running lab."""
        from vnetlab.check import run_checks

        require_root("vnetlab check")
        return run_checks(self.spec, self.namespace_of)

    def __enter__(self) -> "Lab":
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()


def down(name: str) -> bool:
    """Removes lab ``name`` from its journal alone (the file is not needed).

    Idempotent: an absent lab is success (returns False)."""
    require_root("vnetlab down")
    if not os.path.isdir(state.lab_dir(name)):
        return False
    with state.locked(name):
        journal = Journal(name)
        _teardown(name, journal)
    try:
        os.unlink(state.lock_path(name))
    except FileNotFoundError:
        pass
    return True


def _teardown(name: str, journal: Journal) -> None:
    """Stops the lab's processes, then unpins its namespaces, then forgets it."""
    from vnetlab.executors import processes, services, supervisor

    record = journal.read()
    grace = services.STOP_TIMEOUT + 2.0  # the supervisor may wait that long for its services
    for entry in record.processes:
        proc = processes.ProcessRecord.from_dict(entry)
        processes.stop(proc, timeout=grace)
    pidfile = supervisor.read_pidfile(journal.dir)
    if pidfile is not None:
        processes.stop(pidfile, timeout=grace)
    # A supervisor stops its services as it exits; one that was SIGKILLed
    # left them to PR_SET_PDEATHSIG, which a program may ignore.
    for service in services.recorded_commands(journal.dir):
        processes.stop(service, group=True)
    from vnetlab.executors import ovs

    ovs.stop_leftovers(journal.dir)  # OVS daemons an up killed mid-start could not journal
    netns.delete_all(record.namespaces[::-1])
    from vnetlab.executors import neigh

    neigh.restore_limits(name, journal)  # host limits raised by up --raise-neigh-limit
    journal.remove()


def _forget_vanished(journal: Journal, plan: Plan) -> None:
    """Drops journaled namespaces that no longer exist (a reboot, or ``ip netns
    del`` by hand): ones the plan still has are journaled again as they are made."""
    for ns in journal.read().namespaces:
        if not netns.exists(ns):
            journal.record("netns-gone", name=ns)


def running_labs() -> list[str]:
    """Names of labs with a run directory."""
    return state.lab_names()


__all__ = ["EnvironmentProblem", "Lab", "LabBusy", "NodeHandle", "down", "running_labs"]
