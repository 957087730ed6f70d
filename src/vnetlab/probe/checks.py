"""Evaluate a lab's checks against the running lab, and report them.

Checks run in parallel: probe checks are grouped by protocol and timeout,
each group is one batch of the in-process probes (:mod:`vnetlab.probe`), and
all groups run at the same time in their own threads; each state check
(:mod:`vnetlab.probe.state`) reads its node in a thread of its own beside
them. So every check keeps exactly its own timeout and a whole run takes
about as long as the slowest check.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import ipaddress
import xml.etree.ElementTree as ET
from typing import Callable, Optional

from vnetlab.agents.service_report import parse_report
from vnetlab.model.targets import HeldAddresses, format_target, resolve_target  # resolve_target: callers read it from here too
from vnetlab.model.schema import AnyCheck, Check, LabSpec, StateCheck
from vnetlab.probe.held import held_addresses
from vnetlab.probe.icmp import PingProbe, ping_many
from vnetlab.probe.transport import OPEN, PortProbe, PortResult, tcp_probe_many, udp_probe_many

ERROR = "error"
STATE_WORKERS = 16  # state checks read at the same time (each is a few netlink dumps or one program)


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    ``observed`` is ``reach``/``no-reach`` for ICMP checks, ``open``/
    ``closed``/``filtered`` for TCP and UDP, what was found for a state check
    (``no route``, ``net.ipv4.ip_forward=0``, ``exit 1``; ``detail`` says what
    is there instead), or ``error`` when the check could not run (its target
    or source did not resolve, the node's namespace or a tool is missing). A ``seen_as``
    check that got through says whom the server saw: ``open, seen as IP``
    or ``open, source unknown`` (no vnetlab service answered). ``target`` is
    the resolved ``ip`` or ``ip:port`` (``[v6]:port``).
    """

    check: AnyCheck
    ok: bool
    observed: str
    detail: str
    target: str


@dataclasses.dataclass
class _Planned:
    index: int
    check: Check
    netns: str
    ip: str
    port: Optional[int]
    seen_as: Optional[str] = None  # the resolved source address the service must report


def judge_seen_as(port: PortResult, expected: str) -> tuple[bool, str, str]:
    """Whether a probe reached a built-in service that saw the client as ``expected``.

    Returns:
        (ok, observed, detail): passes only if the port is open and the
        service's report names ``expected`` as the client's address.
    """
    if port.state != OPEN:
        return False, port.state, f"{port.detail} (expected open, seen as {expected})"
    report = parse_report(port.reply)
    if report is None:
        return False, "open, source unknown", \
            f"open, but no vnetlab service answered (cannot tell the source); {port.detail}"
    seen = report.client_ip
    by = f"by the vnetlab service on {report.node} ({report.listen})"
    if ipaddress.ip_address(seen) != ipaddress.ip_address(expected):
        return False, f"open, seen as {seen}", f"open, seen as {seen} (expected {expected}) {by}"
    return True, f"open, seen as {seen}", f"open, seen as {seen} {by}"


def _plan(spec: LabSpec, namespace_of: Callable[[str], str], index: int, check: Check,
          held: HeldAddresses) -> _Planned:
    if check.from_ not in spec.nodes:
        raise ValueError(f"'from: {check.from_}' is not a node of lab {spec.lab!r}")
    ip, port = resolve_target(spec, check.to, held=held)
    if check.proto == "icmp" and port is not None:
        raise ValueError(f"'to: {check.to}' has a port, but proto icmp has none — drop ':{port}' or use tcp/udp")
    if check.proto != "icmp" and port is None:
        raise ValueError(f"proto {check.proto} needs a port — write to: \"{check.to}:PORT\"")
    seen_as = None
    if check.seen_as is not None:
        seen_as, seen_port = resolve_target(spec, check.seen_as, held=held)
        if seen_port is not None:
            raise ValueError(f"'seen_as: {check.seen_as}' is an address or a node name, without a port")
    return _Planned(index, check, namespace_of(check.from_), ip, port, seen_as)


def _run_group(proto: str, timeout: float, planned: list[_Planned]) -> list[CheckResult]:
    results = []
    if proto == "icmp":
        pings = ping_many([PingProbe(p.netns, p.ip) for p in planned], timeout=timeout)
        for item, ping in zip(planned, pings):
            observed = "reach" if ping.ok else "no-reach"
            results.append(CheckResult(item.check, observed == item.check.expect, observed, ping.detail, item.ip))
        return results
    probe_many = tcp_probe_many if proto == "tcp" else udp_probe_many
    probes = [PortProbe(p.netns, p.ip, p.port, converse=p.seen_as is not None) for p in planned]
    ports = probe_many(probes, timeout=timeout)
    for item, port in zip(planned, ports):
        target = format_target(item.ip, item.port)
        if item.seen_as is not None:
            results.append(CheckResult(item.check, *judge_seen_as(port, item.seen_as), target))
            continue
        results.append(CheckResult(item.check, port.state == item.check.expect, port.state, port.detail, target))
    return results


def run_checks(spec: LabSpec, namespace_of: Callable[[str], str]) -> list[CheckResult]:
    """Runs every check of the lab against the running lab.

    Probe checks are batched by (proto, timeout); batches run concurrently,
    and state checks beside them, so each check waits exactly its own
    timeout (a state check's bounds the programs it runs: the command,
    ovs-vsctl, ovs-ofctl) and the run takes about as long as the largest one.
    A check that cannot run (unknown node, bad target, missing port,
    namespace missing) gives an ``error`` result instead of stopping the others.

    Args:
        spec: the lab; its ``checks`` are evaluated.
        namespace_of: maps a node name to its namespace name.

    Returns:
        One result per check, in the order of ``spec.checks``.
    """
    results: list[Optional[CheckResult]] = [None] * len(spec.checks)
    groups: dict[tuple[str, float], list[_Planned]] = collections.defaultdict(list)
    states: list[tuple[int, StateCheck]] = []
    held = held_addresses(spec, namespace_of)  # a DHCP/SLAAC client's address, read when a check aims at it
    for index, check in enumerate(spec.checks):
        if isinstance(check, StateCheck):
            states.append((index, check))
            continue
        if not isinstance(check, Check):  # a course task's reboot step
            results[index] = CheckResult(check, False, ERROR, "a reboot step is run by the course grader "
                                                              "(vnetlab course grade), not by vnetlab check", "")
            continue
        try:
            planned = _plan(spec, namespace_of, index, check, held)
        except (ValueError, KeyError) as exc:
            message = exc.args[0] if exc.args else str(exc)
            results[index] = CheckResult(check, False, ERROR, str(message), "")
            continue
        groups[(check.proto, check.timeout)].append(planned)
    if groups or states:
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(groups) + min(len(states), STATE_WORKERS)) as pool:
            futures = {
                pool.submit(_run_group, proto, timeout, planned): planned
                for (proto, timeout), planned in groups.items()
            }
            read = {index: pool.submit(_run_state, spec, namespace_of, check) for index, check in states}
            for index, future in read.items():
                results[index] = future.result()
            for future, planned in futures.items():
                try:
                    group_results = future.result()
                except OSError as exc:
                    # A missing namespace (lab not up) or no CAP_NET_RAW: every
                    # check of the batch is unanswerable, not just one.
                    if isinstance(exc, FileNotFoundError):
                        why = "a source namespace does not exist — is the lab up? (vnetlab up LABFILE)"
                    else:
                        why = f"could not probe: {exc}"
                    group_results = [CheckResult(item.check, False, ERROR, why, "") for item in planned]
                for item, result in zip(planned, group_results):
                    results[item.index] = result
    done = [r for r in results if r is not None]
    # Checks with via/dropped_by also need a trace, after the parallel fast
    # path above: several at once in a small lab (each trace watches every
    # node of the lab; trace_many says how many), results in file order.
    traced = [r for r in done if _needs_trace(r)]
    if not traced:
        return done
    from vnetlab.probe.trace import TraceRequest, trace_many

    outcomes = iter(trace_many(spec, namespace_of, [
        TraceRequest(r.check.from_, r.check.to, proto=r.check.proto, timeout=r.check.timeout) for r in traced]))
    return [_traced(r, next(outcomes)) if _needs_trace(r) else r for r in done]


def _needs_trace(result: CheckResult) -> bool:
    check = result.check
    return isinstance(check, Check) and bool(check.via or check.dropped_by) and result.observed != ERROR


def _run_state(spec: LabSpec, namespace_of: Callable[[str], str], check: StateCheck) -> CheckResult:
    from vnetlab.probe.state import StateUnreadable, evaluate

    if check.node not in spec.nodes:
        return CheckResult(check, False, ERROR, f"'node: {check.node}' is not a node of lab {spec.lab!r}", "")
    try:
        ok, observed, detail = evaluate(check, namespace_of(check.node))
    except StateUnreadable as exc:
        return CheckResult(check, False, ERROR, str(exc), "")
    except (OSError, ValueError, RuntimeError) as exc:  # the kernel refused a read, a tool answered nonsense
        return CheckResult(check, False, ERROR, f"could not read the {check.kind} state of {check.node}: {exc}", "")
    return CheckResult(check, ok, observed, detail, "")


def judge_trace(check: Check, traced) -> tuple[bool, str]:
    """Whether a trace of the check's probe passed its ``via`` nodes and was
    dropped at its ``dropped_by`` node.

    Args:
        check: the check, with ``via`` and/or ``dropped_by``.
        traced: the :class:`vnetlab.probe.trace.TraceResult` of its probe.

    Returns:
        (ok, what the trace showed).
    """
    from vnetlab.probe.trace import DROPPED, REFUSED

    path = " -> ".join(traced.forward.nodes) or "nowhere"
    problems = []
    missing = [node for node in check.via if not traced.passed(node)]
    if missing:
        problems.append(f"the packet did not pass {', '.join(missing)} (path {path})")
    if check.dropped_by is not None and (traced.result not in (DROPPED, REFUSED) or traced.by != check.dropped_by):
        problems.append(f"expected it dropped by {check.dropped_by}, but trace says: {traced.reason}")
    if problems:
        return False, "trace: " + "; ".join(problems)
    return True, f"trace: {path}, {traced.result} ({traced.by})"


def _traced(result: CheckResult, traced) -> CheckResult:
    """The result with its trace judged (``traced``: the trace's result, or the exception it raised)."""
    check = result.check
    if isinstance(traced, (ValueError, OSError, RuntimeError)):
        return dataclasses.replace(result, ok=False, detail=f"{result.detail}; trace could not run: {traced}")
    if isinstance(traced, Exception):
        raise traced
    ok, detail = judge_trace(check, traced)
    return dataclasses.replace(result, ok=result.ok and ok, detail=f"{result.detail}; {detail}")


def kind_of(check: AnyCheck) -> str:
    """``probe`` for a probe check, else the state a state check reads (``route``, ``sysctl`` …)."""
    return "probe" if isinstance(check, Check) else check.kind


def expect_of(check: AnyCheck) -> str:
    """The expectation in one word or phrase: a probe's ``expect`` (``reach``), a state check's
    expected state (``route default via 10.0.0.254``)."""
    return check.expect if isinstance(check, Check) else check.expectation()


def expected_text(check: AnyCheck) -> str:
    """The expectation in full, as the check table shows it: ``open, seen as a, via r1``."""
    if not isinstance(check, Check):
        return check.expectation()
    expected = check.expect
    if check.seen_as is not None:
        expected += f", seen as {check.seen_as}"
    if check.via:
        expected += f", via {', '.join(check.via)}"
    if check.dropped_by is not None:
        expected += f", dropped by {check.dropped_by}"
    return expected


def label_of(result: CheckResult) -> str:
    """The check as its table and JUnit report name it."""
    label = result.check.label()
    if result.target and not result.check.name:
        label += f" ({result.target})"
    return label


def check_record(lab: str, spec: LabSpec, results: list[CheckResult], at: Optional[str] = None) -> dict:
    """A check run as JSON data, as ``checks.json`` keeps the last one and the web UI shows it:
    ``{"lab", "at", "passed", "failed", "results": [{"index", "check", "kind", "expect",
    "observed", "ok", "target", "detail", "from", "to", "node"}]}`` (``from``/``to``: a probe's,
    ``node``: a state check's; ``at``: when, UTC, ISO 8601)."""
    import datetime

    if at is None:
        at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    index_of = {id(check): index for index, check in enumerate(spec.checks)}
    rows = []
    for position, result in enumerate(results):
        check = result.check
        probe = isinstance(check, Check)
        rows.append({
            "index": index_of.get(id(check), position), "check": check.label(), "kind": kind_of(check),
            "expect": expect_of(check), "observed": result.observed, "ok": result.ok, "target": result.target,
            "detail": result.detail, "from": check.from_ if probe else None, "to": check.to if probe else None,
            "node": None if probe else getattr(check, "node", None)})
    failed = sum(not r.ok for r in results)
    return {"lab": lab, "at": at, "passed": len(results) - failed, "failed": failed, "results": rows}


def write_junit(results: list[CheckResult], path: str, lab_name: str) -> None:
    """Writes the results as a JUnit XML report: one testsuite, one testcase per check.

    A failed check has a ``<failure>`` (an ``<error>`` when it could not
    run) whose message gives the expected and observed outcome and detail.
    """
    failures = sum(1 for r in results if not r.ok and r.observed != ERROR)
    errors = sum(1 for r in results if r.observed == ERROR)
    suite = ET.Element("testsuite", {
        "name": lab_name, "tests": str(len(results)),
        "failures": str(failures), "errors": str(errors), "skipped": "0",
    })
    for result in results:
        case = ET.SubElement(suite, "testcase", {"classname": lab_name, "name": label_of(result)})
        if result.ok:
            ET.SubElement(case, "system-out").text = f"observed {result.observed}: {result.detail}"
            continue
        if result.observed == ERROR:
            element = ET.SubElement(case, "error", {"message": result.detail, "type": "error"})
        else:
            element = ET.SubElement(case, "failure", {
                "message": f"expected {expect_of(result.check)}, observed {result.observed}: {result.detail}",
                "type": result.observed,
            })
        element.text = f"{_junit_subject(result)}\nexpected: {expect_of(result.check)}\n" \
                       f"observed: {result.observed}\ndetail: {result.detail}"
    tree = ET.ElementTree(suite)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def _junit_subject(result: CheckResult) -> str:
    check = result.check
    if isinstance(check, Check):
        return f"from {check.from_} to {check.to} ({result.target or 'unresolved'}) proto {check.proto}"
    return f"node {check.node} {check.subject()}"
