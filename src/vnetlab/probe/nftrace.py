"""nftables verdicts for one probe, from the kernel's own trace events.

For the time of a trace, every node with a ruleset gets a separate table,
``inet vnetlab_trace_XXXX``, whose chains hook prerouting and output at
priority -350 (before conntrack and every filter) and set ``meta nftrace``
only for packets that carry the probe's marker (its source port, or its ICMP
or ICMPv6 echo id), IPv4 and IPv6 alike. The kernel then reports every rule and policy such a packet meets
in every table of that namespace; ``nft monitor`` running inside the
namespace prints those events, and :func:`parse_trace_line` reads them. The
table is deleted afterwards, so the lab's ruleset is byte-identical before
and after; a trace killed before it could delete its tables recorded them
first (:mod:`vnetlab.executors.trace_tables`), so ``up`` removes them.

Parsing is pure (:func:`parse_trace_line`, :func:`verdicts`), so it is
tested without root.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import select
import subprocess
import time
from typing import Iterator, Optional

from vnetlab.executors import nftables
from vnetlab.host import run as runner
TRACE_PRIORITY = -350  # before conntrack (-200), NAT and every filter chain
READY_TIMEOUT = 3.0

_LINE = re.compile(r"^trace id (?P<id>[0-9a-f]+) (?P<family>\S+) (?P<table>\S+) (?P<chain>\S+) (?P<rest>.*)$")
_RULE = re.compile(r"^rule (?P<rule>.*) \(verdict (?P<verdict>\w+)(?: (?P<target>\S+))?\)$")
_UNKNOWN_RULE = re.compile(r"^unknown rule handle \d+ \(verdict (?P<verdict>\w+)(?: (?P<target>\S+))?\)$")
_POLICY = re.compile(r"^policy (?P<verdict>\w+)$")
_VERDICT = re.compile(r"^verdict (?P<verdict>\w+)(?: (?P<target>\S+))?$")
_FIELD = re.compile(r'(?P<key>ip saddr|ip daddr|ip6 saddr|ip6 daddr|tcp sport|tcp dport|udp sport|udp dport|'
                    r'icmp type|icmp id|icmpv6 type|icmpv6 id|icmpv6 parameter-problem|'
                    r'ip protocol|ip6 nexthdr|iif|oif|th sport|th dport) "?(?P<value>[^" ]+)"?')


@dataclasses.dataclass(frozen=True)
class TraceEvent:
    """One line of ``nft monitor`` trace output.

    ``kind`` is ``packet`` (the packet as the chain saw it, in ``fields``),
    ``rule`` (a rule matched; ``rule`` is its text), ``policy`` (the chain's
    policy applied) or ``return``. ``verdict`` is the kernel's verdict:
    accept, drop, continue, jump, goto, return.
    """

    trace_id: str
    family: str
    table: str
    chain: str
    kind: str
    verdict: str = ""
    rule: str = ""  # a rule event's rule text; a packet event's whole packet text
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def where(self) -> str:
        """``table inet vnetlab chain input``."""
        return f"table {self.family} {self.table} chain {self.chain}"

    def field(self, key: str) -> Optional[str]:
        """A field of a ``packet`` event (``ip saddr``, ``tcp dport`` ...)."""
        return dict(self.fields).get(key)

    def echo_id(self) -> Optional[int]:
        """The identifier of the ICMP or ICMPv6 echo a ``packet`` event shows, if it is one.

        nft 1.0.6 prints an ICMPv6 echo's identifier and sequence number as
        one ``icmpv6 parameter-problem`` word (it decodes the four bytes after
        the checksum as if the type were parameter problem); newer versions
        print ``icmpv6 id``.
        """
        for key in ("icmp id", "icmpv6 id"):
            value = self.field(key)
            if value is not None and value.isdigit():
                return int(value)
        word = self.field("icmpv6 parameter-problem")
        if word is not None and word.isdigit() and "echo-" in self.rule:
            return int(word) >> 16
        return None


def parse_trace_line(line: str) -> Optional[TraceEvent]:
    """Parses one line that ``nft monitor`` printed; None if it is no trace event."""
    match = _LINE.match(line.strip())
    if not match:
        return None
    head = {k: match.group(k) for k in ("id", "family", "table", "chain")}
    rest = match.group("rest").strip()
    base = dict(trace_id=head["id"], family=head["family"], table=head["table"], chain=head["chain"])
    if rest.startswith("packet:"):
        fields = tuple((m.group("key"), m.group("value")) for m in _FIELD.finditer(rest[len("packet:"):]))
        return TraceEvent(kind="packet", fields=fields, rule=rest[len("packet:"):].strip(), **base)
    for pattern, kind in ((_RULE, "rule"), (_UNKNOWN_RULE, "rule"), (_POLICY, "policy"), (_VERDICT, "return")):
        found = pattern.match(rest)
        if found:
            groups = found.groupdict()
            verdict = groups["verdict"] + (f" {groups['target']}" if groups.get("target") else "")
            return TraceEvent(kind=kind, verdict=verdict, rule=groups.get("rule") or "", **base)
    return None


def _trace_table(table: str) -> bool:
    """Whether ``table`` is a trace's own (``vnetlab_trace_`` and the marker in hex)."""
    from vnetlab.executors.trace_tables import TABLE_PREFIX

    return table.startswith(TABLE_PREFIX) and all(c in "0123456789abcdef" for c in table[len(TABLE_PREFIX):])


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What one chain decided about one packet."""

    where: str  # "table inet vnetlab chain input"
    verdict: str  # accept | drop
    rule: str  # the rule's text, or "" for the policy

    @property
    def dropped(self) -> bool:
        """Whether this verdict ended the packet."""
        return self.verdict == "drop"

    @property
    def rejected(self) -> bool:
        """A drop by a rule that also answers (reject)."""
        return self.dropped and " reject" in f" {self.rule}"

    def describe(self) -> str:
        """``dropped by table inet vnetlab chain input policy drop`` or
        ``accepted by rule 'tcp dport 22 accept' (table inet vnetlab chain input)``."""
        if not self.rule:
            return f"{'dropped' if self.dropped else 'accepted'} by {self.where} policy {self.verdict}"
        word = "refused" if self.rejected else "dropped" if self.dropped else "accepted"
        return f"{word} by rule '{self.rule}' ({self.where})"


def verdicts(events: list[TraceEvent], own_table: str) -> list[Verdict]:
    """The final verdicts of one traced packet (one trace id), in order.

    Rules that only continue, jump or return decide nothing; the rule or
    policy with accept or drop does. Events of our own trace table are
    left out: they are how the packet was marked, not what the lab did; so
    are those of another trace's table (traces run at the same time: its
    chains see our marked packet, and accept it).
    """
    found = []
    for event in events:
        if event.table == own_table or event.kind not in ("rule", "policy") or _trace_table(event.table):
            continue
        if event.verdict in ("accept", "drop"):
            rule = event.rule if event.kind == "rule" else ""
            found.append(Verdict(event.where, event.verdict, rule))
    return found


def trace_table_script(table: str, proto: str, marker: int) -> str:
    """The nft text that creates the trace table's chains and marking rules.

    Args:
        table: our table's name (``vnetlab_trace_XXXX``).
        proto: icmp, tcp or udp (over IPv4 or IPv6: the table is inet).
        marker: the probe's source port (tcp/udp) or ICMP/ICMPv6 echo id.
    """
    if proto == "icmp":
        matches = [f"icmp type {{ echo-request, echo-reply }} icmp id {marker}",
                   f"icmpv6 type {{ echo-request, echo-reply }} icmpv6 id {marker}"]
    else:
        matches = [f"meta l4proto {proto} th sport {marker}", f"meta l4proto {proto} th dport {marker}"]
    lines = []
    for chain, hook in (("pre", "prerouting"), ("out", "output")):
        lines.append(f"add chain inet {table} {chain} {{ type filter hook {hook} priority {TRACE_PRIORITY}; "
                     "policy accept; }")
        lines.extend(f"add rule inet {table} {chain} {match} meta nftrace set 1" for match in matches)
    return "\n".join(lines) + "\n"


class NftTracer:
    """Trace events of one namespace while a probe runs (a context manager).

    On entry: starts ``nft monitor`` inside the namespace, adds our table and
    waits until the monitor reports it (so no event can be missed), then adds
    the marking chains. On exit: deletes the table and stops the monitor.
    """

    def __init__(self, netns_name: str, table: str, proto: str, marker: int):
        self.netns = netns_name
        self.table = table
        self.script = trace_table_script(table, proto, marker)
        self.events: list[TraceEvent] = []
        self._proc: Optional[subprocess.Popen] = None
        self._added = False

    def start(self) -> None:
        """Starts the monitor and installs the trace table."""
        self._proc = runner.popen(self.netns, ["nft", "monitor"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, die_with_parent=True)
        nftables.run_nft(self.netns, f"add table inet {self.table}\n")
        self._added = True
        deadline = time.monotonic() + READY_TIMEOUT
        attempt = 0
        # The monitor may subscribe after our first change; re-announce until it reports one.
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._proc.stdout], [], [], 0.2)
            if ready:
                line = self._proc.stdout.readline().decode(errors="replace")
                if self.table in line:
                    break
                continue
            attempt += 1
            nftables.run_nft(self.netns, f"add chain inet {self.table} sync{attempt}\n")
        else:
            raise RuntimeError(f"nft monitor in {self.netns} did not start within {READY_TIMEOUT:g} s")
        nftables.run_nft(self.netns, self.script)

    def stop(self) -> None:
        """Removes the trace table and collects the events (idempotent)."""
        try:
            if self._added:
                with contextlib.suppress(nftables.NftError):
                    nftables.run_nft(self.netns, f"delete table inet {self.table}\n")
                self._added = False
        finally:
            if self._proc is not None:
                self._proc.terminate()
                try:
                    out, _ = self._proc.communicate(timeout=2)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    out, _ = self._proc.communicate()
                self._proc = None
                for line in out.decode(errors="replace").splitlines():
                    event = parse_trace_line(line)
                    if event is not None:
                        self.events.append(event)

    def __enter__(self) -> "NftTracer":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def by_trace_id(events: list[TraceEvent]) -> dict[str, list[TraceEvent]]:
    """Events grouped per traced packet, in the order they came."""
    groups: dict[str, list[TraceEvent]] = {}
    for event in events:
        groups.setdefault(event.trace_id, []).append(event)
    return groups


@contextlib.contextmanager
def tracing(tracers: list[NftTracer]) -> Iterator[list[NftTracer]]:
    """Starts every tracer, and stops every started one however the block ends."""
    started: list[NftTracer] = []
    try:
        for tracer in tracers:
            try:
                tracer.start()
            except BaseException:
                tracer.stop()  # a half-started tracer may have added its table
                raise
            started.append(tracer)
        yield started
    finally:
        for tracer in started:
            tracer.stop()
