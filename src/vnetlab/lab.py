"""The Python API: ``Lab.load(path)``, ``up``, ``down``, ``node(..).run``, ``check``.

The CLI is a thin layer over this module; so are the tests.
"""

from __future__ import annotations

import errno
import json
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from vnetlab.errors import ApplyError, BadInput, EnvironmentProblem, LabConflict
from vnetlab.host import netns, node_etc, state
from vnetlab.host.applied import SPEC_COPY
from vnetlab.host.state import Journal, LabBusy, LabRecord, write_atomic

CHECKS_COPY = "checks.json"  # the last check run's results, in the lab's run directory

# The model (pydantic), the compiler and the plan are imported where they are
# used: `vnetlab down LAB` works from the journal alone and should not pay
# for loading them (most of a small lab's down otherwise).
if TYPE_CHECKING:
    import subprocess

    from vnetlab.compile.persistent import NodeExtras
    from vnetlab.executors.apply import ApplyReport
    from vnetlab.io.report import Report
    from vnetlab.model import LabSpec
    from vnetlab.observe.diff import Diff
    from vnetlab.plan import Op, Plan


def require_root(action: str) -> None:
    """Raises EnvironmentProblem unless we are root, on the host or in the
    user's lab root (rootless mode: vnetlab.host.lab_root)."""
    from vnetlab.host import lab_root

    if os.geteuid() != 0 and not lab_root.is_rootless():
        raise EnvironmentProblem(
            f"{action} needs root, or the user's own lab root: run it from the vnetlab command (which enters one "
            "without sudo), or call vnetlab.host.lab_root.enter() first"
        )


class NoSuchNode(BadInput, KeyError):
    """The lab has no node of that name (exit 2)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass
class RebootReport:
    """What ``Lab.reboot`` did.

    Attributes:
        node: the node that was rebooted.
        seconds: how long it took, from the call to the node forwarding again.
        file: where the node's /etc/network/interfaces is kept on the host.
        applied: what the node's file added to its part of the lab file, one
            line each (``eth0: address 10.0.0.5/24 (/etc/network/interfaces:9)``);
            empty when the file has a problem.
        problems: the file's faults (``FILE:LINE: …``); when there is one,
            nothing of the file was applied: the node runs with its part of
            the lab file only, as a host whose ifupdown cannot read its file.
        skipped: lines of the file understood but not applied, with why.
        notes: anything else worth saying (no file at all).
    """

    node: str
    seconds: float
    file: str
    applied: list[str] = field(default_factory=list)
    problems: list[Report] = field(default_factory=list)
    skipped: list[Report] = field(default_factory=list)
    notes: list[Report] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the node's file was applied without a problem."""
        return not self.problems


class NotALinkEnd(BadInput, KeyError):
    """``NODE:IF`` is not an end of one of the lab's links (exit 2)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass
class LinkEnd:
    """One end of a running lab's link: what it does to what it sends, and its cable.

    Attributes:
        end: ``node:ifname``.
        peer: the link's other end.
        impairment: what is in force now (empty: nothing); ``mechanism``
            carries it (netem, tbf, userspace; None without impairment).
        origin: ``file`` (the lab file's), ``runtime`` (set by
            ``vnetlab impair`` / :meth:`Lab.impair` while the lab runs), or
            None without impairment.
        file: what the lab file says for this end (empty: nothing).
        cut: the cable is cut (``vnetlab link … down`` / :meth:`Lab.cut`).
    """

    end: str
    peer: str
    impairment: Any
    mechanism: Optional[str]
    origin: Optional[str]
    file: Any
    cut: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"end": self.end, "peer": self.peer, "impairment": self.impairment.to_dict(),
                "text": self.impairment.text() if not self.impairment.empty else None,
                "mechanism": self.mechanism, "origin": self.origin, "file": self.file.to_dict(), "cut": self.cut}


def _require_kernel_features(plan: Plan) -> None:
    # the userspace impairment path redirects an interface into a TAP of its own
    taps = any(op.name == "create_tap" or (op.name == "set_impairment" and op.mechanism == "userspace")
               for op in plan.ops)
    ovs = any(op.name == "start_ovs" for op in plan.ops)  # the userspace datapath's ports are TAPs too
    if (taps or ovs) and not os.path.exists("/dev/net/tun"):
        raise EnvironmentProblem(
            "this lab has TAP devices but /dev/net/tun is missing — load the tun module "
            "(modprobe tun) or create the device node (mknod /dev/net/tun c 10 200)"
        )
    if taps or ovs:
        from vnetlab.host import lab_root, tuntap

        if lab_root.is_rootless() and not tuntap.can_open():
            needs = "TAP devices" if taps else "Open vSwitch (its userspace datapath makes TAP devices)"
            raise EnvironmentProblem(
                f"this lab has {needs}, and you cannot open /dev/net/tun here (it is not readable and writable "
                "by you) — an administrator can allow it as Debian does by default: sudo chmod 0666 /dev/net/tun "
                "(a udev rule, KERNEL==\"tun\", MODE=\"0666\", keeps it), or run this lab as root"
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
        from vnetlab.names import namespace as netns_name

        return netns_name(self.lab, self.name)

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess:
        """Runs ``argv`` inside the node (subprocess.run semantics), with the
        node's own /etc (made now if this is the first time it is needed)."""
        from vnetlab.host import run as runner

        give_node_etc(self.lab, self.name)
        return runner.run(self.netns, argv, **kwargs)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        """Starts ``argv`` inside the node and returns the Popen (the node's
        own /etc as for :meth:`run`)."""
        from vnetlab.host import run as runner

        give_node_etc(self.lab, self.name)
        return runner.popen(self.netns, argv, **kwargs)


def give_node_etc(lab: str, node: str, spec: Optional[LabSpec] = None, held: bool = False) -> bool:
    """Gives ``node`` of running lab ``lab`` its own /etc (``/etc/netns/<ns>/``
    with its ``network/interfaces``, the node's part of the lab file as ``up``
    last built it), the first time something runs in it on a user's behalf:
    most nodes of a big lab are never entered, and each directory and file
    costs an inode on the host's file system at ``up`` and at ``down``.

    A directory already there is kept as it is (its files are the node's
    persistent configuration, the student's to edit). The directory is
    journaled before it is made (``down`` removes it also after SIGKILL) and
    marked, under the lab's lock. Nothing is made for a lab that is not up
    or a node it does not run.

    Args:
        lab: the lab's name.
        node: the node.
        spec: the running lab's spec, if the caller has it (else read from
            its run directory).
        held: the caller holds the lab's lock already.

    Returns:
        Whether the directory was made now (False: it was there, or the lab
        does not run the node).

    Raises:
        EnvironmentProblem: ``/etc/netns/<ns>`` exists and vnetlab did not
            make it (it is never used or removed).
        LabBusy: another vnetlab process held the lab's lock too long.
    """
    from vnetlab.names import namespace as netns_name

    ns = netns_name(lab, node)
    if node_etc.ownership(ns, lab) == node_etc.OURS:
        return False  # the common case, without the lock: a directory marked as the lab's stays the lab's
    if held:
        return _make_node_etc(lab, node, ns, spec)
    with state.locked(lab):
        return _make_node_etc(lab, node, ns, spec)


def _make_node_etc(lab: str, node: str, ns: str, spec: Optional[LabSpec]) -> bool:
    if not os.path.isdir(state.lab_dir(lab)):
        return False  # not up: nothing to give, and no run directory to make
    journal = Journal(lab)
    if ns in journal.read().etc and os.path.isdir(node_etc.directory(ns)):
        return False  # ours by the journal (a file system without extended attributes)
    if spec is None:
        try:
            spec = Lab.running(lab).spec
        except LookupError:
            return False
    if node not in spec.nodes:
        return False
    from vnetlab.compile.dnsmasq import etc_files
    from vnetlab.io.persistent import interfaces_text

    files = {node_etc.INTERFACES: interfaces_text(spec, node), **etc_files(spec).get(node, {})}
    journal.open()
    try:
        return bool(node_etc.create(lab, {ns: files}, journal))
    finally:
        journal.close()


class Lab:
    """A lab file, and the namespaces it runs in once ``up``.

    Use as a context manager to get ``up`` on entry and ``down`` on exit.
    """

    def __init__(self, spec: LabSpec, source: Optional[str] = None):
        self._spec: Optional[LabSpec] = spec
        self._saved: Optional[dict] = None  # lab.json's spec, validated when first asked for (see running)
        self._name: Optional[str] = None  # the (checked) name it was asked for by
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
        lab = cls(None, source=data.get("source"))  # type: ignore[arg-type]  # the spec comes from _saved
        lab._saved, lab._name = data["spec"], name
        return lab

    @property
    def spec(self) -> LabSpec:
        """The lab file's content (of a running lab: as its last ``up`` saved it, validated on
        first use — ``exec``, ``shell`` and ``capture`` need only the names and skip the schema)."""
        if self._spec is None:
            from vnetlab.model import LabSpec

            self._spec = LabSpec.model_validate(self._saved)
        return self._spec

    @spec.setter
    def spec(self, value: LabSpec) -> None:
        self._spec = value

    @property
    def name(self) -> str:
        """The lab's name."""
        return self._spec.lab if self._spec is not None else self._name

    @property
    def node_names(self) -> list[str]:
        """The names of the lab's nodes, in file order."""
        return list(self._spec.nodes if self._spec is not None else self._saved.get("nodes", {}))

    def plan(self, features=None) -> Plan:
        """The ops that build this lab (``features``: a compile.l2.KernelFeatures;
        None assumes a kernel with every L2 feature)."""
        from vnetlab.compile import compile_lab

        return compile_lab(self.spec, features, run_dir=state.lab_dir(self.spec.lab))

    def _plan_for_this_machine(self) -> Plan:
        """The plan with every ``backend: auto`` bridge resolved against what
        this kernel can do (probed only when the lab has VLANs, bonds or OVS);
        raises EnvironmentProblem when the lab needs what the machine lacks."""
        from vnetlab.executors import capabilities

        return capabilities.plan_for_this_machine(self.spec, state.lab_dir(self.spec.lab))

    def node(self, name: str) -> NodeHandle:
        """A handle on node ``name``."""
        nodes = self.node_names
        if name not in nodes:
            raise NoSuchNode(f"lab {self.name} has no node {name!r} (nodes: {', '.join(nodes)})")
        return NodeHandle(self.name, name)

    def namespace_of(self, node: str) -> str:
        """The namespace of ``node``."""
        from vnetlab.names import namespace as netns_name

        return netns_name(self.name, node)

    def up(self, progress: Optional[Callable[[int, int], None]] = None,
           raise_neigh_limit: bool = False, replace: bool = False) -> ApplyReport:
        """Builds the lab, or converges a running one; unchanged objects stay.

        Args:
            progress: called with (step, total) as ops are applied.
            raise_neigh_limit: raise the host's neighbour-table limits
                (gc_thresh1/2/3) as far as the lab's checks need, until ``down``.
            replace: converge a running lab of the same name even when it was
                built from another file.

        Raises:
            LabConflict: a lab of this name runs from another file (and not
                ``replace``).
            EnvironmentProblem: the machine lacks something, a namespace the
                lab needs exists and is not the lab's own, or the run
                directory is full; nothing was left behind.
            ApplyError: an op failed; this run's changes were undone.
        """
        require_root("vnetlab up")
        if raise_neigh_limit:
            from vnetlab.host import lab_root

            lab_root.refuse("--raise-neigh-limit (a host-wide sysctl)",
                            "leave it out; a lab that big needs the host's root to raise "
                            "net.ipv4.neigh.default.gc_thresh3")
        plan = self._plan_for_this_machine()
        _require_kernel_features(plan)
        with state.locked(self.name):
            existed = os.path.isdir(state.lab_dir(self.name))
            record = Journal(self.name).read() if existed else LabRecord(self.name)
            if existed and not replace:
                self._refuse_other_file(record)
            _refuse_foreign_namespaces(self.name, plan, record)
            node_etc.refuse_foreign(self.name, [ns for ns in plan.namespaces() if ns not in record.etc])
            if existed:
                plan = self.as_running(plan)
            try:
                return self._apply(plan, existed, progress, raise_neigh_limit)
            except (OSError, ApplyError) as exc:
                cause = exc.cause if isinstance(exc, ApplyError) else exc
                full = isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT)
                # A helper process (the supervisor, an OVS daemon) that could not
                # write its files fails in its own words: judge by the space left.
                if full or _run_root_nearly_full():
                    raise EnvironmentProblem(
                        f"no space left in {state.RUN_ROOT}, where vnetlab keeps each lab's journal, "
                        f"logs and databases ({exc}) — free some space there (df -h {state.RUN_ROOT}) "
                        "and run up again; "
                        + ("nothing of this run was left behind" if not existed else
                           f"run up again once there is space and it converges lab {self.name}")
                    ) from exc
                raise

    def with_booted(self, plan: Plan) -> Plan:
        """``plan`` with what rebooted nodes' own interfaces files added at their
        last boot (``booted.json`` of the running lab): ``up`` keeps those, as
        a host keeps what it booted with, instead of taking them for drift."""
        from vnetlab.compile.persistent import NodeExtras, with_extras
        from vnetlab.host import applied

        booted = {node: NodeExtras.from_dict(data) for node, data in applied.read_booted(self.name).items()
                  if node in self.spec.nodes}
        return with_extras(plan, self.spec, booted, state.lab_dir(self.name))

    def as_running(self, plan: Plan) -> Plan:
        """``plan`` with what the running lab keeps beyond its file: what rebooted
        nodes' own files added (:meth:`with_booted`) and what ``vnetlab impair``
        and ``vnetlab link`` changed (``runtime.json``, ``compile/runtime.py``)."""
        return self.with_runtime(self.with_booted(plan))

    def with_runtime(self, plan: Plan) -> Plan:
        """``plan`` with the running lab's impairments and cut cables set while it
        runs (``runtime.json``): ``up`` keeps them instead of taking them for drift."""
        from vnetlab.compile.runtime import RuntimeChanges
        from vnetlab.host import applied

        return self.with_runtime_changes(plan, RuntimeChanges.from_dict(applied.read_runtime(self.name)))

    def with_runtime_changes(self, plan: Plan, changes: Any) -> Plan:
        """``plan`` with ``changes`` (a ``compile.runtime.RuntimeChanges``); a runtime
        impairment's mechanism is what this kernel offers (netem, tbf, userspace)."""
        from vnetlab.compile.runtime import with_runtime

        if not changes:
            return plan
        features = None
        if any(changes.impairments.values()):
            from vnetlab.executors import capabilities

            features = capabilities.impairment_features()
        return with_runtime(plan, self.spec, changes, features)

    # -- impairments and cables of a running lab (issue 15) -----------------
    def links(self) -> list[LinkEnd]:
        """Every link end of the running lab with its impairment in force (from
        the file or set while it runs) and whether its cable is cut.

        Raises:
            LookupError: the lab is not up.
        """
        from vnetlab.compile.runtime import RuntimeChanges
        from vnetlab.host import applied

        running = Lab.running(self.name)
        return running._link_ends(RuntimeChanges.from_dict(applied.read_runtime(self.name)))

    def impairments(self) -> list[LinkEnd]:
        """The link ends that have an impairment in force, one the file gives (also when it
        was cleared while the lab runs), or a cut cable (see :meth:`links`)."""
        return [end for end in self.links() if not end.impairment.empty or not end.file.empty or end.cut]

    def _link_ends(self, changes: Any, plan: Any = None) -> list[LinkEnd]:
        """Every link end of this (running) lab's spec, as the applied plan (read if not given) has it."""
        from vnetlab.compile.impair import end_impairments
        from vnetlab.model.impairment import Impairment
        from vnetlab.model.schema import link_ends
        from vnetlab.observe.drift import applied_plan
        from vnetlab.plan import SetImpairment

        if plan is None:
            plan = applied_plan(self.name)
        in_force = {(op.netns, op.ifname): op for op in (plan.ops if plan is not None else ())
                    if isinstance(op, SetImpairment)}
        from_file = end_impairments(self.spec)
        found = []
        for link in self.spec.links:
            ends = link_ends(link)
            for end, peer in ((ends[0], ends[1]), (ends[1], ends[0])):
                node, _, ifname = end.partition(":")
                op = in_force.get((self.namespace_of(node), ifname))
                value = op.value if op is not None else Impairment()
                origin = None if value.empty else ("runtime" if end in changes.impairments else "file")
                found.append(LinkEnd(end, peer, value, op.mechanism if op is not None else None, origin,
                                     from_file.get((node, ifname), Impairment()), changes.is_cut(end)))
        return found

    def impair(self, end: str, impairment: Any = None, **values: Any) -> LinkEnd:
        """Changes what link end ``end`` (``node:ifname``) of the running lab does
        to what it sends, at once and in place: the link is not made again (the
        interface keeps its index, connections through it stay).

        Args:
            end: ``node:ifname``, an end of one of the lab's links.
            impairment: an :class:`vnetlab.model.impairment.Impairment`, or a
                mapping in the lab file's words (``{"delay": "100ms"}``).
            values: the same as keyword arguments (``delay="100ms", loss="5%"``).
                Nothing given: the end sends as it is (no impairment, whatever
                the file says) — see :meth:`clear_impairment`.

        The impairment replaces the one in force; it is kept across ``up``
        until :meth:`reset_impairment` (back to the file) or ``down``.

        Raises:
            NotALinkEnd, NoSuchNode, BadInput: the end or a value is wrong (exit 2).
            LookupError: the lab is not up.
            ApplyError: the kernel refused (nothing was changed).
        """
        from vnetlab.model.impairment import Impairment

        if isinstance(impairment, Impairment):
            value = impairment.merged(Impairment.parse(values)) if values else impairment
        else:
            try:
                value = Impairment.parse({**(impairment or {}), **values})
            except ValueError as exc:
                raise BadInput(f"{end}: {exc}") from None
            unknown = set(impairment or {}) | set(values)
            from vnetlab.model.impairment import KEYS

            unknown -= set(KEYS)
            if unknown:
                raise BadInput(f"{end}: {', '.join(sorted(unknown))} is not an impairment key — use "
                               f"{', '.join(KEYS)}")
        problem = value.problem()
        if problem:
            raise BadInput(f"{end}: {problem}")
        return self._change_end(end, lambda changes, spec: changes.impairments.__setitem__(end, value.to_dict()))

    def clear_impairment(self, end: str) -> LinkEnd:
        """``end`` sends without impairment from now on (also one the file gives it), until
        :meth:`reset_impairment` or ``down``."""
        return self._change_end(end, lambda changes, spec: changes.impairments.__setitem__(end, {}))

    def reset_impairment(self, end: str) -> LinkEnd:
        """``end`` has the lab file's impairment again (or none, if the file gives it none)."""
        return self._change_end(end, lambda changes, spec: changes.impairments.pop(end, None))

    def cut(self, end: str) -> LinkEnd:
        """Cuts the cable of ``end``'s link: both ends go administratively down, so
        neither has carrier (what a bond sees as a pulled cable); kept across
        ``up`` until :meth:`replug`. A TAP (VM) link's two TAPs likewise."""
        def cut(changes: Any, spec: LabSpec) -> None:
            from vnetlab.compile.runtime import link_of

            pair = link_of(spec, end)
            if pair is not None and not changes.is_cut(end):
                changes.cut.append(pair)
        return self._change_end(end, cut)

    def replug(self, end: str) -> LinkEnd:
        """Plugs the cable of ``end``'s link in again: both ends as the file has them (up)."""
        return self._change_end(end, lambda changes, spec: changes.cut.__setitem__(
            slice(None), [pair for pair in changes.cut if end not in pair]))

    def _change_end(self, end: str, change: Callable[[Any, LabSpec], None]) -> LinkEnd:
        """Applies one runtime change of link end ``end``: the ops that make its link
        as the lab runs afterwards (its impairment, both ends' state), through the
        kernel, impairment and supervisor backends (journaled, rolled back on
        failure); then keeps the plan the lab runs (``plan.json``, the one applied
        with only that link changed) and the change (``runtime.json``)."""
        require_root("changing a running lab's links")
        from vnetlab.compile.impair import end_impairments
        from vnetlab.compile.runtime import RuntimeChanges, link_of, with_cable, with_end_impairment
        from vnetlab.executors import capabilities
        from vnetlab.host import applied
        from vnetlab.model.impairment import Impairment, tap_name
        from vnetlab.observe.drift import applied_plan
        from vnetlab.plan import ClearImpairment, SetImpairment, SetLinkState

        with state.locked(self.name):
            running = Lab.running(self.name)
            node, sep, ifname = end.partition(":")
            if not sep or not ifname:
                raise NotALinkEnd(f"{end!r} is not NODE:IF — name a link end, e.g. {self._example_end(running)}")
            running.node(node)  # NoSuchNode
            pair = link_of(running.spec, end)
            if pair is None:
                raise NotALinkEnd(f"{end} is not the end of a link of lab {self.name} — link ends: "
                                  f"{', '.join(e.end for e in running._link_ends(RuntimeChanges()))}")
            old = applied_plan(self.name)
            if old is None:
                raise LookupError(f"lab {self.name!r} is not up — start it with: vnetlab up LABFILE")
            changes = RuntimeChanges.from_dict(applied.read_runtime(self.name))
            before = RuntimeChanges.from_dict(changes.to_dict())
            change(changes, running.spec)
            here = (running.namespace_of(node), ifname)
            ends = {(running.namespace_of(e.partition(":")[0]), e.partition(":")[2]) for e in pair}
            new = old
            if changes.impairments.get(end) != before.impairments.get(end):
                values = changes.impairments.get(end)
                value = Impairment.from_dict(values) if values is not None else \
                    end_impairments(running.spec).get((node, ifname), Impairment())
                new = with_end_impairment(new, *here, value, capabilities.impairment_features())
            if changes.is_cut(end) != before.is_cut(end):
                new = with_cable(new, ends, up=not changes.is_cut(end))
            ops: list[Op] = [op for op in new.ops if isinstance(op, SetImpairment) and (op.netns, op.ifname) == here]
            if not ops:
                was = [op for op in old.ops if isinstance(op, SetImpairment) and (op.netns, op.ifname) == here]
                ops.append(ClearImpairment(here[0], ifname=ifname, mechanism=was[0].mechanism if was else "userspace",
                                           tap=was[0].tap if was else tap_name(ifname)))
            ops += [op for op in new.ops if isinstance(op, SetLinkState) and (op.netns, op.ifname) in ends]
            running._apply_change(ops)
            applied.write_plan(self.name, new)
            applied.write_runtime(self.name, changes.to_dict())
            return next(e for e in running._link_ends(changes) if e.end == end)

    @staticmethod
    def _example_end(lab: "Lab") -> str:
        from vnetlab.model.schema import link_ends

        return link_ends(lab.spec.links[0])[0] if lab.spec.links else "NODE:IF"

    def _apply_change(self, ops: list[Op]) -> None:
        """Applies the ops of a runtime change (journaled; undone on failure)."""
        from vnetlab.executors.apply import apply_plan
        from vnetlab.executors.impair import ImpairBackend
        from vnetlab.executors.kernel import KernelBackend
        from vnetlab.executors.supervisor_backend import SupervisorBackend

        from vnetlab.plan import Plan

        _require_kernel_features(Plan(lab=self.name, ops=ops))
        journal = Journal(self.name)
        journal.open()
        kernel = KernelBackend()
        try:
            supervisor = SupervisorBackend(self.name, journal.dir, journal)
            apply_plan(ops, [ImpairBackend(kernel, supervisor), kernel, supervisor], journal)
        finally:
            kernel.close()
            journal.close()

    def _refuse_other_file(self, record: LabRecord) -> None:
        """Raises LabConflict when the running lab came from another file."""
        if record.source and self.source and record.source != self.source:
            raise LabConflict(
                f"lab {self.name} is already up, built from {record.source}; {self.source} uses the same "
                f"name — bring the running one down first (vnetlab down {self.name}), give this file "
                "another lab: name, or pass --replace to rebuild the running lab from this file"
            )

    def _apply(self, plan: Plan, existed: bool, progress: Optional[Callable[[int, int], None]],
               raise_neigh_limit: bool, kept: Optional[Plan] = None,
               scope: Optional[Callable[["Diff"], "Diff"]] = None) -> ApplyReport:
        """Applies ``plan`` (converging a lab that ``existed``); ``kept``: the
        plan to keep as the one applied, if not ``plan`` itself; ``scope``: the
        part of the converging diff to repair (a reboot's), if not all of it."""
        ops = plan.ops
        if existed:
            # A running (or stale, after a reboot) lab: remove what the file
            # no longer has and what was added by hand, then ensure the rest.
            from vnetlab.observe.drift import converge

            self.last_diff = converge(self.name, plan)
            if scope is not None:
                self.last_diff = scope(self.last_diff)
            ops = self.last_diff.converge_ops()
        journal = Journal(self.name)
        spec_copy = os.path.join(journal.dir, SPEC_COPY)
        previous = _read_text(spec_copy) if existed else None
        try:
            journal.open()
            if existed:
                _forget_vanished(journal, plan)
            journal.record("source", path=self.source)
            if raise_neigh_limit:
                from vnetlab.host import neigh

                self.raised_neigh_limits = neigh.raise_limits(self.spec, journal)
            write_atomic(spec_copy, json.dumps({"source": self.source, "spec": self.spec.model_dump(by_alias=True)}))
            from vnetlab.executors.apply import apply_plan
            from vnetlab.executors.kernel import KernelBackend
            from vnetlab.executors.nftables import NftBackend
            from vnetlab.executors.supervisor_backend import SupervisorBackend

            kernel = KernelBackend()
            try:
                restarts = self.last_diff.restarts() if self.last_diff is not None else []
                if restarts:  # failed services: drop them first, so the plan starts them afresh
                    apply_plan(restarts, [SupervisorBackend(self.name, journal.dir, journal)], journal)
                # The nodes the lab's DNS serves get their /etc now, before any service starts:
                # a DHCP client's hook writes its resolv.conf there from each lease.
                self._give_resolver_etc(plan, journal)
                from vnetlab.executors.run_files import RunFilesBackend  # dnsmasq's config, the DHCP hook

                supervisor = SupervisorBackend(self.name, journal.dir, journal)
                backends = [kernel, RunFilesBackend(journal.dir), supervisor, NftBackend()]
                from vnetlab.executors.linux_l2 import LinuxL2Backend  # 802.1Q, bonds, bridge VLANs

                backends.append(LinuxL2Backend(kernel))
                if any(op.name in ("set_impairment", "clear_impairment") for op in ops):
                    from vnetlab.executors.impair import ImpairBackend  # tc netem/tbf, the userspace path

                    backends.append(ImpairBackend(kernel, supervisor))
                from vnetlab.executors.ovs import OvsBackend  # per-node Open vSwitch

                backends.append(OvsBackend(journal, on_new_links=kernel.forget))
                report = apply_plan(ops, backends, journal, progress)
                _record_namespace_ids(journal, report)
                from vnetlab.agents.controller import wait_for_builtin_controllers
                from vnetlab.executors.forwarding import wait_until_forwarding

                try:  # invariant 8: `up` returns once the first packet passes
                    wait_until_forwarding(plan.ops, kernel)  # bridge ports, OVS ports, bonds, LACP
                    wait_for_builtin_controllers(plan.ops)   # OVS switches hold their controller's flows
                except RuntimeError as exc:
                    raise EnvironmentProblem(str(exc)) from exc
                self._wait_for_addresses(plan, journal.dir)  # DHCP clients hold leases, SLAAC addresses formed
                from vnetlab.observe.drift import record_baseline

                record_baseline(self.name, kept or plan)
                if existed:  # removed nodes take their /etc along
                    wanted = set(plan.namespaces())
                    node_etc.remove(self.name, [ns for ns in journal.read().etc if ns not in wanted], journal)
                if existed:  # a killed trace's tables were removed above: forget its record
                    from vnetlab.executors import trace_tables

                    trace_tables.forget_finished(self.name, set(journal.read().namespaces))
                return report
            finally:
                kernel.close()
        except BaseException:
            if not existed:
                _teardown(self.name, journal)  # a failed first up leaves nothing
            elif previous is not None:  # a failed converge: the lab runs as last brought up
                write_atomic(spec_copy, previous)
            raise
        finally:
            journal.close()

    def _wait_for_addresses(self, plan: Plan, rundir: str) -> None:
        """Waits until every DHCP client of ``plan`` holds its lease and every SLAAC
        interface has its address (executors/leases.py); raises AddressTimeout."""
        from vnetlab.plan import RunDhcpClient, RunDhcpServer

        if not any(isinstance(op, (RunDhcpClient, RunDhcpServer)) for op in plan.ops) and not any(
                iface.uses_slaac for node in self.spec.nodes.values() for iface in node.interfaces.values()):
            return
        from vnetlab.compile.dnsmasq import slaac_clients
        from vnetlab.executors.leases import wait_for_addresses

        wait_for_addresses(plan.ops, slaac_clients(self.spec), rundir)

    def _give_resolver_etc(self, plan: Plan, journal: Journal) -> None:
        """Gives the nodes whose resolver is the lab's DNS their own /etc/netns/<ns>/ at ``up``
        (every other node gets it when first entered, :func:`give_node_etc`): its
        network/interfaces, resolv.conf and hosts. A directory already there is kept (its
        files are the node's persistent state); a resolv.conf or hosts it lacks is added."""
        from vnetlab.compile.dnsmasq import etc_files

        resolvers = etc_files(self.spec)
        if not resolvers:
            return
        from vnetlab.io.persistent import interfaces_text
        from vnetlab.names import namespace as netns_name

        have, built = set(journal.read().etc), set(plan.namespaces())
        wanted = {netns_name(self.name, node): (node, files) for node, files in resolvers.items()}
        new = {ns: {node_etc.INTERFACES: interfaces_text(self.spec, node), **files}
               for ns, (node, files) in wanted.items()
               if ns in built and (ns not in have or not os.path.isdir(node_etc.directory(ns)))}
        node_etc.create(self.name, new, journal)
        node_etc.add_missing(self.name, {ns: files for ns, (_, files) in wanted.items() if ns not in new})

    def reboot(self, node: str) -> RebootReport:
        """Reboots ``node`` of the running lab: its runtime state is thrown away
        and what is persistent is applied again.

        The node's namespace is deleted and made again: every change made by
        hand with ``ip``, ``sysctl`` or ``nft`` is gone, every process inside
        the node is stopped (its services start again), and the links to other
        nodes are made again (their ends in the neighbours too; what was changed
        by hand in the neighbours stays as it is). Then the
        node's part of the lab (as ``up`` last built it, whatever its file
        says now) is applied, then what the node's own
        ``/etc/network/interfaces`` adds to it (addresses, ``netmask``,
        ``gateway``, ``mtu``, forwarding sysctls, ``up``/``post-up ip route
        add …`` hooks — recognised, never run), through the same plan and
        executors as ``up``. Later ``up`` runs keep what the file added. A
        node that was never entered has no file yet: it boots with its part
        of the lab file, and gets the file now (:func:`give_node_etc`).

        Returns:
            RebootReport: once it returns the node is up with its persistent
            configuration and its links forward, as after ``up``; a file with
            a problem (``report.problems``) was not applied at all.

        Raises:
            NoSuchNode: the running lab has no node ``node`` (exit 2).
            LookupError: the lab is not up.
            LabBusy: another vnetlab process is changing the lab.
            EnvironmentProblem, ApplyError: as ``up`` (the lab-file part could
                not be built again).
        """
        require_root("vnetlab reboot")
        started = time.monotonic()
        with state.locked(self.name):
            running = Lab.running(self.name)
            running.node(node)  # raises NoSuchNode
            report = running._reboot(node)
        report.seconds = round(time.monotonic() - started, 3)
        return report

    def _reboot(self, node: str) -> RebootReport:
        from vnetlab.compile.persistent import NodeExtras, extra_ops, with_extras
        from vnetlab.host import applied
        from vnetlab.io.persistent import BootConfig, read_node_file
        from vnetlab.io.report import problem

        ns = self.namespace_of(node)
        plan = self.with_runtime(self._plan_for_this_machine())  # the wire's impairments and cuts stay
        _require_kernel_features(plan)
        booted = {name: NodeExtras.from_dict(data) for name, data in applied.read_booted(self.name).items()
                  if name in self.spec.nodes and name != node}
        path = node_etc.interfaces_path(ns)
        # A node whose /etc was never needed before has no changes of its own: it boots with its part of
        # the lab file, and has its file from now on.
        made = give_node_etc(self.name, node, self.spec, held=True)
        config = BootConfig() if made else read_node_file(path, self.spec, node)
        extras = config.applied
        from vnetlab.observe.drift import applied_plan

        last = applied_plan(self.name)
        relinked = _far_ends(last.ops if last is not None else [], ns)

        def scope(found: "Diff") -> "Diff":  # the others' runtime state stays as it is
            return found.after_reboot_of(ns, relinked)

        macs = self._shut_down(ns)
        try:
            rundir = state.lab_dir(self.name)
            wanted = with_extras(plan, self.spec, {**booted, node: extras}, rundir)
            self._apply(_same_macs(wanted, macs), True, None, False, kept=wanted, scope=scope)
        except ApplyError as exc:
            failed = [item for op, item in extra_ops(plan, self.spec, node, extras, rundir) if op == exc.op]
            if not failed:
                raise
            # The kernel refused what the file adds: the node comes up without it, as a host whose ifup failed.
            where, _, line = failed[0].where.rpartition(":")
            config.problems.append(problem(where, int(line or 0), f"{failed[0].describe()}: the kernel refused it "
                                                                  f"({exc.cause})"))
            extras = NodeExtras()
            wanted = with_extras(plan, self.spec, booted, rundir)
            self._apply(_same_macs(wanted, macs), True, None, False, kept=wanted, scope=scope)
        kept = {name: value.to_dict() for name, value in {**booted, node: extras}.items() if value}
        applied.write_booted(self.name, kept)
        return RebootReport(node=node, seconds=0.0, file=path,
                            applied=[f"{item.describe()} ({item.where})" for item in extras.items],
                            problems=config.problems, skipped=config.skipped, notes=config.notes)

    def _shut_down(self, ns: str) -> dict[tuple[str, str], str]:
        """Stops everything that runs in namespace ``ns`` (its services and TAP
        pumps, its Open vSwitch, any other process), unplugs its veths from
        the neighbours' Open vSwitch bridges, deletes them (so their peers in
        other nodes go at once, not when the kernel gets round to freeing the
        namespace), then the namespace: the node is off.

        Returns the MAC address of each interface about to go, its veths'
        peers in other nodes too, by (namespace, name): a NIC keeps its
        address across a reboot, so the others' neighbour caches stay right."""
        from vnetlab.executors.apply import apply_plan
        from vnetlab.executors.kernel import KernelBackend
        from vnetlab.executors.ovs import OvsBackend
        from vnetlab.executors.supervisor_backend import SupervisorBackend
        from vnetlab.host import processes
        from vnetlab.observe import rtnl
        from vnetlab.observe.drift import applied_plan
        from vnetlab.plan import (
            DeleteLink, DeleteNamespace, OvsAddBond, OvsAddPort, OvsDeletePort, PumpFrames, RunDhcpClient, RunService,
            StartOvs, StopOvs,
        )

        last = applied_plan(self.name)
        ops = last.ops if last is not None else []
        ends = _far_ends(ops, ns)  # namespace -> the far ends of the node's veths there
        stops: list[Op] = []
        for op in ops:
            if isinstance(op, (RunService, PumpFrames)) and ns in (op.netns, getattr(op, "peer_netns", None)):
                stops.append(op.inverse())
            elif isinstance(op, RunDhcpClient) and op.ifname in ends.get(op.netns, ()):
                # A neighbour's DHCP client whose interface goes with this node's veth: it starts
                # again on the new one (udhcpc holds the old interface's index).
                stops.append(op.inverse())
            elif isinstance(op, StartOvs) and op.netns == ns:
                stops.append(StopOvs(op.netns, node=op.node, rundir=op.rundir))
            elif isinstance(op, OvsAddPort) and op.port in ends.get(op.netns, ()):
                # A userspace datapath keeps reading the deleted device: the boot plugs the new one in again.
                stops.append(OvsDeletePort(op.netns, rundir=op.rundir, bridge=op.bridge, port=op.port))
            elif isinstance(op, OvsAddBond) and set(op.members) & ends.get(op.netns, set()):
                stops.append(OvsDeletePort(op.netns, rundir=op.rundir, bridge=op.bridge, port=op.bond))
        macs: dict[tuple[str, str], str] = {}
        journal = Journal(self.name).open()
        try:
            if stops:
                apply_plan(stops, [SupervisorBackend(self.name, journal.dir, journal), OvsBackend(journal)], journal)
            inode = netns.identity(ns)
            if inode is None:
                return macs  # already off (deleted by hand): the boot makes it
            processes.stop_all(processes.in_network_namespace(inode))
            links, _ = rtnl.read(ns)
            macs.update({(ns, link["name"]): link["mac"] for link in links if link["mac"]})
            for peer, names in sorted(ends.items()):
                if netns.exists(peer):
                    macs.update({(peer, link["name"]): link["mac"] for link in rtnl.read(peer)[0]
                                 if link["name"] in names and link["mac"]})
            off = [DeleteLink(ns, ifname=link["name"]) for link in links if link["kind"] == "veth"]
            kernel = KernelBackend()
            try:
                apply_plan([*off, DeleteNamespace(ns)], [kernel], journal)
            finally:
                kernel.close()
        finally:
            journal.close()
        return macs

    def down(self) -> bool:
        """Removes everything the lab made; False if it was not up."""
        return down(self.name)

    def check(self) -> list:
        """Runs the file's checks against the running lab and keeps them as its last
        results (``checks.json`` in its run directory: :meth:`last_checks`)."""
        from vnetlab.probe.checks import check_record, run_checks

        require_root("vnetlab check")
        results = run_checks(self.spec, self.namespace_of)
        record = check_record(self.name, self.spec, results)
        try:
            write_atomic(os.path.join(state.lab_dir(self.name), CHECKS_COPY), json.dumps(record, indent=1) + "\n")
        except FileNotFoundError:  # the lab went down while its checks ran: nothing to keep them for
            pass
        return results

    def last_checks(self) -> Optional[dict[str, Any]]:
        """The last check run's results as :meth:`check` kept them — ``{"lab", "at",
        "passed", "failed", "results": [{"index", "check", "kind", "expect", "observed",
        "ok", "target", "detail", "from", "to", "node"}]}`` — or None before any."""
        try:
            with open(os.path.join(state.lab_dir(self.name), CHECKS_COPY)) as handle:
                data = json.load(handle)
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("results"), list) else None

    def topology(self, expand: bool = False, threshold: Optional[int] = None) -> dict[str, Any]:
        """The running lab's picture data (``vnetlab.io.topology``, ``vnetlab-topology/1``)
        with its live state: cut cables, impairments in force, each link end's
        operational state, the bridges' backends as built, the last check results.

        Raises:
            LookupError: the lab is not up.
        """
        from vnetlab.io.topology import DEFAULT_THRESHOLD, topology_of

        from vnetlab.compile.runtime import RuntimeChanges
        from vnetlab.host import applied
        from vnetlab.observe.drift import applied_plan

        running = self if self._saved is not None else Lab.running(self.name)  # the spec as it was brought up
        spec = running.spec
        plan = applied_plan(self.name)
        if plan is None:
            raise LookupError(f"lab {self.name!r} is not up — start it with: vnetlab up LABFILE")
        live: dict[str, Any] = {"cut": [], "impaired": {}, "up": {}, "backends": {}, "checks": self.last_checks()}
        for end in running._link_ends(RuntimeChanges.from_dict(applied.read_runtime(self.name)), plan):
            if end.cut:
                live["cut"].append(end.end)
            if not end.impairment.empty:
                live["impaired"][end.end] = {"text": end.impairment.text(), "mechanism": end.mechanism,
                                             "origin": end.origin}
        live["up"] = _ends_up(self.name, spec)
        live["backends"] = _built_backends(plan)
        return topology_of(spec, live, expand=expand,
                           threshold=DEFAULT_THRESHOLD if threshold is None else threshold)

    def __enter__(self) -> "Lab":
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()


def down(name: str, notes: Optional[list[str]] = None) -> bool:
    """Removes lab ``name`` from its journal alone (the file is not needed).

    Only what the journal records as made by the lab is removed. Idempotent:
    an absent lab is success (returns False).

    Args:
        name: the lab's name (checked against the lab-name pattern first).
        notes: if given, gets one line per object that was left alone (a
            namespace of the lab's name that someone else made since).

    Raises:
        UnsafeName: ``name`` is not a lab name, or its run directory is not
            one vnetlab made.
    """
    state.lab_dir(name)  # the name is checked before anything else happens
    require_root("vnetlab down")
    if not os.path.isdir(state.lab_dir(name)):
        with state.locked(name):
            leftovers = node_etc.marked(name)  # nodes' /etc a host reboot left behind (the run directory is gone)
            if leftovers:
                node_etc.remove(name, leftovers)
        return bool(leftovers)
    with state.locked(name):
        left = _teardown(name, Journal(name))
    if notes is not None:
        notes.extend(f"namespace {ns} was left alone: it is not the one lab {name} made (it was deleted and "
                     "made again by someone else) — remove it yourself with ip netns del if it is stray"
                     for ns in left)
    return True


def _teardown(name: str, journal: Journal) -> list[str]:
    """Stops the lab's processes, then unpins its namespaces, then forgets it;
    returns the namespaces left alone because they are not the ones it made."""
    from vnetlab.host import processes
    from vnetlab.agents import services, supervisor

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
    if os.path.isdir(os.path.join(journal.dir, "ovs")):  # a lab without OVS skips importing its backend
        from vnetlab.executors import ovs

        ovs.stop_leftovers(journal.dir)  # OVS daemons an up killed mid-start could not journal
    left, ours = [], []
    for ns in reversed(record.namespaces):
        made = record.namespace_ids.get(ns)
        now = netns.identity(ns)
        if made is not None and now is not None and now != made:
            left.append(ns)  # deleted and made again by someone else: not ours
        else:
            ours.append(ns)
    netns.delete_all(ours)
    # Its nodes' own /etc: the journal's, and those a host reboot left marked as the lab's (the run directory is gone).
    node_etc.remove(name, list(dict.fromkeys([*record.etc, *node_etc.marked(name)])))
    from vnetlab.host import neigh

    neigh.restore_limits(name, journal)  # host limits raised by up --raise-neigh-limit
    journal.remove()
    return left


def _far_ends(ops: Sequence[Op], ns: str) -> dict[str, set[str]]:
    """Namespace -> the far ends there of the veths of the node in namespace ``ns``, by ``ops``."""
    from vnetlab.plan import CreateVeth

    ends: dict[str, set[str]] = {}
    for op in ops:
        if isinstance(op, CreateVeth) and ns in (op.netns, op.peer_netns) and op.netns != op.peer_netns:
            far, name = (op.peer_netns, op.peer_ifname) if op.netns == ns else (op.netns, op.ifname)
            ends.setdefault(far, set()).add(name)
    return ends


def _same_macs(plan: Plan, macs: dict[tuple[str, str], str]) -> Plan:
    """``plan`` with the veths, TAPs and macvlans the file gives no MAC made
    with the MAC they had (``macs``: (namespace, name) -> MAC), as NICs keep
    theirs across a reboot. Bridges are left to take theirs from their ports."""
    import dataclasses

    from vnetlab.plan import CreateMacvlan, CreateTap, CreateVeth, Plan

    def kept(op):  # noqa: ANN001, ANN202 — an op of the plan
        if isinstance(op, CreateVeth):
            return dataclasses.replace(op, mac=op.mac or macs.get((op.netns, op.ifname)),
                                       peer_mac=op.peer_mac or macs.get((op.peer_netns, op.peer_ifname)))
        if isinstance(op, (CreateTap, CreateMacvlan)) and op.mac is None and (op.netns, op.ifname) in macs:
            return dataclasses.replace(op, mac=macs[(op.netns, op.ifname)])
        return op

    return Plan(lab=plan.lab, ops=[kept(op) for op in plan.ops]) if macs else plan


def _run_root_nearly_full() -> bool:
    """Whether the run directory's file system has less than 1 MiB free."""
    try:
        stats = os.statvfs(state.RUN_ROOT)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 1 << 20


def _refuse_foreign_namespaces(lab: str, plan: Plan, record: LabRecord) -> None:
    """Raises EnvironmentProblem when a namespace the plan makes exists and is
    not the lab's own: vnetlab never adopts (and later deletes) what it did
    not make (invariant 7)."""
    owned = set(record.namespaces)
    foreign = []
    for ns in plan.namespaces():
        if ns not in owned:
            if netns.occupied(ns):
                foreign.append(ns)
        elif ns in record.namespace_ids and netns.identity(ns) not in (None, record.namespace_ids[ns]):
            foreign.append(ns)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise EnvironmentProblem(
            f"namespace{'s' if len(foreign) > 1 else ''} {shown} already exist{'' if len(foreign) > 1 else 's'} "
            f"and {'were' if len(foreign) > 1 else 'was'} not made by lab {lab} — vnetlab never adopts or deletes "
            f"what it did not make: remove {'them' if len(foreign) > 1 else 'it'} with "
            f"'ip netns del {foreign[0]}' if {'they are' if len(foreign) > 1 else 'it is'} yours to remove, "
            "or give the lab another name (lab: in its file)"
        )


def _record_namespace_ids(journal: Journal, report: ApplyReport) -> None:
    """Journals the identity of every namespace this run made, so ``down``
    can tell it from one someone else makes later under the same name."""
    for op in report.changed:
        if op.name == "create_netns":
            inode = netns.identity(op.netns)
            if inode is not None:
                journal.record("netns-id", name=op.netns, inode=inode)


def _read_text(path: str) -> Optional[str]:
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _forget_vanished(journal: Journal, plan: Plan) -> None:
    """Drops journaled namespaces that no longer exist (a reboot, or ``ip netns
    del`` by hand): ones the plan still has are journaled again as they are made."""
    for ns in journal.read().namespaces:
        if not netns.exists(ns):
            journal.record("netns-gone", name=ns)


def _ends_up(lab: str, spec: LabSpec) -> dict[str, bool]:
    """``node:if`` -> whether that link end is up with a carrier (False: its namespace is gone)."""
    from vnetlab.model.schema import link_ends
    from vnetlab.observe import rtnl
    from vnetlab.names import namespace

    wanted: dict[str, set[str]] = {}
    for link in spec.links:
        for end in link_ends(link):
            node, _, ifname = end.partition(":")
            wanted.setdefault(node, set()).add(ifname)
    found = {}
    for node, ifnames in wanted.items():
        try:
            links = {entry["name"]: entry
                     for entry in rtnl.read_with_qdiscs(namespace(lab, node), qdiscs=False, links_only=True)[0]}
        except OSError:
            links = {}
        for ifname in ifnames:
            entry = links.get(ifname)
            found[f"{node}:{ifname}"] = bool(entry and entry["up"] and entry["carrier"])
    return found


def _built_backends(plan: Plan) -> dict[str, str]:
    """``node/bridge`` -> ``ovs`` for the bridges the applied plan made with Open vSwitch."""
    from vnetlab.names import split_namespace

    return {f"{split_namespace(op.netns)[1]}/{op.bridge}": "ovs" for op in plan.ops if op.name == "ovs_add_bridge"}


def running_labs() -> list[str]:
    """Names of labs with a run directory."""
    return state.lab_names()


__all__ = ["EnvironmentProblem", "Lab", "LabBusy", "LabConflict", "NodeHandle", "NoSuchNode", "RebootReport", "down",
           "running_labs"]
