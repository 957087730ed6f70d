"""Reads a running lab into :class:`vnetlab.observe.diff.Observed`; drift and convergence.

What is read: the lab's namespaces (from its journal) that exist; in each,
through one netlink socket opened inside it, the interfaces (kind, up,
master, MAC, MTU, addresses) and main-table routes
(:mod:`vnetlab.observe.rtnl`, the shape of :mod:`vnetlab.observe.snapshot`); the sysctls the plan sets; the
``inet vnetlab`` table (its digest comment, and whether its rules still
match what vnetlab applied — a hash of the listing is kept in the run
directory after every ``up``); the trace tables a killed ``vnetlab trace``
left (:mod:`vnetlab.executors.trace_tables`); the supervisor's configured
services, pumps and impaired ends, with whether each service runs; each
interface's root qdisc and egress redirect (:mod:`vnetlab.host.tc`: what an
impairment is made of); and each node's Open vSwitch: whether both its
daemons run, its bridges, ports and flows.

Other backends can contribute observed objects by appending a function to
:data:`OBSERVERS`: it gets ``(lab, observed)`` and fills in what it knows.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Callable, Optional

from vnetlab.observe.diff import (
    Diff, FORCED_RULESET, Observed, ObservedImpairment, ObservedLink, ObservedService, diff, impairment_text,
    ovs_vlans,
)
from vnetlab.host import applied, netns, state
from vnetlab.plan import ApplyRuleset, Plan, SetImpairment, SetSysctl

BASELINE_FILE = "baseline.json"
RULESET_TABLE = "inet vnetlab"

OBSERVERS: list[Callable[[str, Observed], None]] = []


def _observe_ovs(lab: str, observed: Observed) -> None:
    """Bridges and ports (with VLAN settings) of every node's own Open vSwitch."""
    from vnetlab.executors import ovs
    from vnetlab.host.ovs_paths import vsctl as vsctl_argv

    for ns in sorted(observed.namespaces):
        rundir = ovs.node_rundir(ns)
        if rundir is None or not ovs.installed():
            continue
        stopped = tuple(program for program in ovs.DAEMONS if ovs.daemon_record(rundir, program, ns) is None)
        if stopped:
            observed.ovs_stopped[ns] = stopped
        if "ovsdb-server" in stopped:
            continue  # no database to read the bridges from

        def vsctl(*args: str) -> str:
            return ovs.run_tool(rundir, vsctl_argv(rundir, *args)).stdout

        try:
            vlans = {}
            for line in vsctl("--format=csv", "--data=bare", "--no-headings", "--columns=name,tag,trunks",
                              "list", "port").splitlines():
                name, tag, trunks = (line.split(",") + ["", ""])[:3]
                vlans[name.strip('"')] = ovs_vlans(tag.strip('"'), trunks.strip('"').split())
            bridges = {}
            for bridge in vsctl("list-br").split():
                bridges[bridge] = {port: vlans.get(port, ovs_vlans(None, ())) for port in vsctl("list-ports", bridge).split()}
                if vlans.get(bridge, ovs_vlans(None, ())) != ovs_vlans(None, ()):
                    bridges[bridge][bridge] = vlans[bridge]  # the local port, where up gave it a VLAN
        except (ovs.OvsError, OSError):
            continue
        observed.ovs[ns] = bridges
        observed.ovs_rundirs[ns] = rundir


OBSERVERS.append(_observe_ovs)


def applied_plan(lab: str) -> Optional[Plan]:
    """The plan of the lab file as last brought up (None if the lab is not up):
    the copy the last successful ``up`` kept, else the spec copy compiled again."""
    kept = applied.read_plan(lab)
    if kept is not None:
        return kept
    copy = applied.spec_copy(lab)
    if copy is None:
        return None
    from vnetlab.compile import compile_lab
    from vnetlab.executors.capabilities import plan_for_this_machine
    from vnetlab.model import LabSpec

    try:
        spec = LabSpec.model_validate(copy["spec"])
    except (KeyError, ValueError):
        return None
    run_dir = state.lab_dir(lab)
    try:
        return plan_for_this_machine(spec, run_dir)  # as ``up`` compiled it (OVS/Linux choices resolved)
    except Exception:  # noqa: BLE001 — the machine changed since: the plain plan is the best guess
        return compile_lab(spec, None, run_dir=run_dir)


def observe(lab: str, *plans: Optional[Plan]) -> Observed:
    """The running lab, as far as ``plans`` (desired and/or applied) care.

    Sysctls are read for the keys the plans set; nft tables in the
    namespaces where a plan has a ruleset."""
    from vnetlab.observe import rtnl

    observed = Observed()
    record = state.Journal(lab).read()
    sysctl_keys: dict[str, set[str]] = {}
    ruleset_ns: set[str] = set()
    for plan in plans:
        for op in plan.ops if plan is not None else ():
            if isinstance(op, SetSysctl):
                sysctl_keys.setdefault(op.netns, set()).add(op.key)
            elif isinstance(op, ApplyRuleset):
                ruleset_ns.add(op.netns)
    baseline = _read_baseline(lab)
    impairments: dict[tuple[str, str], list[SetImpairment]] = {}
    for plan in plans:
        for op in plan.ops if plan is not None else ():
            if isinstance(op, SetImpairment):
                impairments.setdefault((op.netns, op.ifname), []).append(op)
    qdiscs: dict[str, tuple[dict, dict[int, str]]] = {}
    for ns in record.namespaces:
        if not netns.exists(ns):
            continue
        observed.namespaces.add(ns)
        links, routes, found = rtnl.read_with_qdiscs(ns)
        if found:
            qdiscs[ns] = (found, {link["index"]: link["name"] for link in links})
        with netns.entered(ns):
            values = {}
            for key in sorted(sysctl_keys.get(ns, ())):
                try:
                    values[key] = netns.read_sysctl(key)
                except OSError:
                    pass
        observed.sysctls[ns] = values
        observed.links[ns] = {
            link["name"]: ObservedLink(kind=link["kind"], up=link["up"], master=link["master"], mac=link["mac"],
                                       mtu=link["mtu"],
                                       addresses=tuple(_norm(a) for a in link["addresses"]
                                                       if a not in link.get("dynamic", ())),
                                       dynamic=tuple(_norm(a) for a in link.get("dynamic", ())))
            for link in links
        }
        observed.routes[ns] = [(r["family"], r["to"], r["via"], r["dev"], r["proto"]) for r in routes]
        if ns in ruleset_ns:
            value = _ruleset_value(ns, baseline.get("rulesets", {}).get(ns))
            if value is not None:
                observed.rulesets[ns] = value
    from vnetlab.executors import trace_tables

    observed.trace_tables = trace_tables.leftovers(lab, observed.namespaces)
    _observe_supervisor(lab, observed)
    _observe_impairments(observed, qdiscs, impairments)
    for observer in OBSERVERS:
        observer(lab, observed)
    if plans and plans[0] is not None:
        _compare_flows(plans[0], observed)
    return observed


def _compare_flows(plan: Plan, observed: Observed) -> None:
    """``ovs-ofctl diff-flows`` of each bridge whose flows the plan sets."""
    from vnetlab.executors import ovs
    from vnetlab.host.ovs_paths import mgmt_target, vsctl

    for op in plan.ops:
        if op.name != "ovs_replace_flows" or op.netns not in observed.ovs:
            continue
        target = mgmt_target(op.rundir, op.bridge)
        path = os.path.join(op.rundir, f"flows-{op.bridge}.wanted.txt")
        with open(path, "w") as handle:
            handle.write("".join(f"{flow}\n" for flow in op.flows))
        try:
            found = ovs.run_tool(op.rundir, ["ovs-ofctl", "-O", "OpenFlow13", "diff-flows", target, path],
                                 check=False)
            controlled = ovs.run_tool(op.rundir, vsctl(op.rundir, "get-controller", op.bridge)).stdout.strip()
        except (ovs.OvsError, OSError):
            continue
        finally:
            os.unlink(path)
        if found.returncode not in (0, 2):
            continue
        lines = [line for line in found.stdout.splitlines() if line[:1] in "+-"]
        if controlled:
            lines = [line for line in lines if not line.startswith("-")]  # the controller's own flows
        observed.ovs_flows[(op.netns, op.bridge)] = tuple(lines)


def _norm(address: str) -> str:
    import ipaddress

    return str(ipaddress.ip_interface(address))


def _table_listing(ns: str) -> Optional[str]:
    from vnetlab.executors.nftables import NftError, available, run_nft

    if not available():
        return None
    try:
        return run_nft(ns, f"list table {RULESET_TABLE}")
    except NftError:
        return None  # no such table


def _ruleset_value(ns: str, recorded_hash: Optional[str]) -> Optional[str]:
    """The table's digest comment, FORCED_RULESET if its rules changed since
    vnetlab applied them, or None without a table."""
    from vnetlab.plan.firewall import digest_of

    listing = _table_listing(ns)
    if listing is None:
        return None
    if recorded_hash is not None and _hash(listing) != recorded_hash:
        return FORCED_RULESET
    return digest_of(listing) or FORCED_RULESET


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _observe_supervisor(lab: str, observed: Observed) -> None:
    from vnetlab.agents import supervisor
    from vnetlab.observe.status import node_services

    rundir = state.lab_dir(lab)
    try:
        config = supervisor.SupervisorConfig.load(rundir)
    except (OSError, ValueError):
        return
    for pump in config.pumps:
        observed.pumps.add((pump.a.netns, pump.a.ifname, pump.b.netns, pump.b.ifname))
    for end in config.impaired:
        observed.impaired_ends[end.key] = end.tap
        observed.impaired_values[end.key] = end.impairment
        observed.impaired_instances[end.key] = end.instance
    owner = supervisor.read_pidfile(rundir)
    observed.pumps_running = owner is not None and supervisor.is_running(owner)
    status = node_services(rundir)
    for spec in config.services:
        items = status.get(spec.node, [])
        item = next((i for i in items if i.get("listen") == spec.listen and i.get("oneshot", False) == spec.oneshot
                     and (spec.command is None or tuple(i.get("command", ())) == spec.command)), {})
        observed.services.setdefault(spec.netns, []).append(ObservedService(
            node=spec.node, listen=spec.listen, command=spec.command, oneshot=spec.oneshot,
            running=bool(item.get("running")), state=item.get("state", "not started")))


def _observe_impairments(observed: Observed, qdiscs: dict[str, tuple[dict, dict[int, str]]],
                         wanted: dict[tuple[str, str], list[SetImpairment]]) -> None:
    """What each interface with a qdisc of its own does to what it sends, as the
    value of the wanted SetImpairment it matches (the desired plan's first,
    then the applied one's), or as text."""
    from vnetlab.host import tc
    from vnetlab.model.impairment import NETEM, TBF, USERSPACE

    for ns, (found, names) in qdiscs.items():
        index_of = {name: index for index, name in names.items()}
        for index, here in found.items():
            ifname = names.get(index)
            if ifname is None:
                continue
            text = here.text(names)
            value: object = text
            mechanism, tap = (USERSPACE if here.clsact else here.root if here.root in (NETEM, TBF) else TBF), None
            if here.redirects:
                tap = names.get(here.redirects[0])
                carried = observed.impaired_ends.get((ns, ifname))
                made_again = observed.impaired_instances.get((ns, ifname)) not in (
                    "", tc.instance_of(netns.identity(ns), index, index_of.get(carried or "")))
                if carried is not None and here.root is None and here.ours and not made_again \
                        and here.redirects == (index_of.get(carried),):
                    tap = carried
                    told = observed.impaired_values.get((ns, ifname), ())
                    value = text = impairment_text({"mechanism": USERSPACE, **dict(told)})
                    for op in wanted.get((ns, ifname), ()):
                        if op.mechanism == USERSPACE and op.tap == carried and told == op.impairment:
                            value = op.objects()[0][1]
                            break
                    if not observed.pumps_running:
                        value = text = f"{text}, but the supervisor that carries it is not running"
                elif carried is not None and made_again:
                    text = value = f"{text} (the supervisor still carries the interface it replaced)"
            elif here.root in (NETEM, TBF):
                read_back = tc.tbf_impairment if here.root == TBF else tc.netem_impairment
                hints = [op.value for op in wanted.get((ns, ifname), ()) if op.mechanism == here.root]
                for hint in [*hints, None]:
                    read = read_back(here.params, hint)
                    if read is not None and (hint is None or read == hint):
                        text = impairment_text({"mechanism": here.root, **read.to_dict()})
                        if hint is not None:
                            value = {"mechanism": here.root, **read.to_dict()}
                        break
            observed.impairments.setdefault(ns, {})[ifname] = ObservedImpairment(value, text, mechanism, tap)


def _read_baseline(lab: str) -> dict:
    try:
        with open(os.path.join(state.lab_dir(lab), BASELINE_FILE)) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_baseline(lab: str, plan: Plan) -> None:
    """Remembers the plan and the nft tables as just applied: drift is
    measured against them (hand edits of a table show as drift)."""
    applied.write_plan(lab, plan)
    rulesets = {}
    for op in plan.ops:
        if isinstance(op, ApplyRuleset) and netns.exists(op.netns):
            listing = _table_listing(op.netns)
            if listing is not None:
                rulesets[op.netns] = _hash(listing)
    state.write_atomic(os.path.join(state.lab_dir(lab), BASELINE_FILE), json.dumps({"rulesets": rulesets}))


def converge(lab: str, desired: Plan) -> Diff:
    """The difference between the file's plan and the running lab ``lab``."""
    applied = applied_plan(lab)
    return diff(desired, observe(lab, desired, applied), applied)


def drift(lab: str) -> Diff:
    """Hand-made changes: the running lab against the plan it was last brought up with."""
    applied = applied_plan(lab)
    if applied is None:
        return Diff(lab=lab)
    return diff(applied, observe(lab, applied), None)
