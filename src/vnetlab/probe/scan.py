"""``vnetlab scan``: which TCP ports of a target answer, seen from a node.

nmap runs inside the source node when it is installed (the tool users know;
``-oX -`` output parsed with xml.etree); otherwise a built-in connect scan
probes every port in parallel (:func:`vnetlab.probe.transport.tcp_probe_many`).
Either way each port is ``open``, ``closed`` or ``filtered`` with the reason,
in the same format.
"""

from __future__ import annotations

import dataclasses
import shutil
import xml.etree.ElementTree as ET
from typing import Optional

from vnetlab.host import run
from vnetlab.probe.transport import CLOSED, FILTERED, OPEN, PortProbe, tcp_probe_many

DEFAULT_PORTS = "1-1024"
MAX_PORTS = 65535
NMAP_TIMEOUT = 300.0


@dataclasses.dataclass(frozen=True)
class PortState:
    """One scanned port: ``open``, ``closed`` or ``filtered``, and why."""

    port: int
    state: str
    reason: str


@dataclasses.dataclass
class ScanReport:
    """The result of :func:`scan`."""

    source: str  # the namespace scanned from
    target: str  # the IP address scanned
    scanner: str  # "nmap X.Y" or "built-in connect scan"
    ports: list[PortState]

    def counts(self) -> dict[str, int]:
        """How many ports are in each state."""
        result = {OPEN: 0, CLOSED: 0, FILTERED: 0}
        for port in self.ports:
            result[port.state] += 1
        return result


def parse_ports(text: str) -> list[int]:
    """Parses a port list as nmap writes it: ``22,80,1000-1010`` (sorted, unique).

    Raises:
        ValueError: an empty item, a non-number, a port outside 1–65535 or a
            range that runs backwards; the message says what to write.
    """
    ports: set[int] = set()
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise ValueError(f"{text!r}: empty item in the port list — write e.g. 22,80,1000-1010")
        low_text, dash, high_text = item.partition("-")
        if not low_text.isdigit() or (dash and not high_text.isdigit()):
            raise ValueError(f"{item!r} is not a port or a range — write e.g. 22,80,1000-1010")
        low = int(low_text)
        high = int(high_text) if dash else low
        for port in (low, high):
            if not 1 <= port <= MAX_PORTS:
                raise ValueError(f"port {port} is out of range — ports are 1 to 65535")
        if high < low:
            raise ValueError(f"{item!r}: the range runs backwards — write {high}-{low}")
        ports.update(range(low, high + 1))
    return sorted(ports)


def format_ports(ports: list[int]) -> str:
    """The shortest nmap port list for ``ports`` (``[22, 80, 81, 82]`` -> ``22,80-82``)."""
    parts: list[str] = []
    ordered = sorted(set(ports))
    index = 0
    while index < len(ordered):
        end = index
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        parts.append(str(ordered[index]) if end == index else f"{ordered[index]}-{ordered[end]}")
        index = end + 1
    return ",".join(parts)


def _nmap_state(state: str) -> str:
    if state == "open":
        return OPEN
    if state == "closed":
        return CLOSED
    return FILTERED  # filtered, open|filtered, closed|filtered, unfiltered


def parse_nmap_xml(text: str, ports: list[int]) -> tuple[str, list[PortState]]:
    """Turns ``nmap -oX -`` output into (nmap version, one state per asked port).

    Ports nmap folded into ``<extraports>`` get that group's state (from the
    ``ports`` list of its ``<extrareasons>`` when present).

    Raises:
        ValueError: the XML is unreadable or names no host.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"nmap output is not XML: {exc}") from None
    version = root.get("version", "")
    host = root.find("host")
    found: dict[int, PortState] = {}
    extra: list[tuple[str, str, Optional[list[int]]]] = []
    if host is not None:
        for element in host.iterfind("ports/port"):
            if element.get("protocol") != "tcp":
                continue
            state = element.find("state")
            if state is None:
                continue
            port = int(element.get("portid", "0"))
            found[port] = PortState(port, _nmap_state(state.get("state", "")),
                                    f"nmap: {state.get('state')} ({state.get('reason', '?')})")
        for group in host.iterfind("ports/extraports"):
            state_name = group.get("state", "filtered")
            for reasons in group.iterfind("extrareasons"):
                listed = reasons.get("ports")
                extra.append((state_name, reasons.get("reason", "?"), parse_ports(listed) if listed else None))
            if group.find("extrareasons") is None:
                extra.append((state_name, "?", None))
    result = []
    for port in ports:
        if port in found:
            result.append(found[port])
            continue
        groups = [g for g in extra if g[2] is not None and port in g[2]] or [g for g in extra if g[2] is None]
        if groups:
            state_name, reason, _ = groups[0]
            result.append(PortState(port, _nmap_state(state_name), f"nmap: {state_name} ({reason})"))
        elif host is None:
            result.append(PortState(port, FILTERED, "nmap: host did not answer"))
        else:
            result.append(PortState(port, FILTERED, "nmap: not reported"))
    return version, result


def nmap_argv(target: str, ports: list[int]) -> list[str]:
    """The nmap command: no DNS, no host discovery, TCP only, XML to stdout."""
    argv = ["nmap", "-n", "-Pn", "-T4", "--max-retries", "1", "-p", "T:" + format_ports(ports), "-oX", "-"]
    if ":" in target:
        argv.append("-6")
    return argv + [target]


def nmap_available() -> bool:
    """Whether nmap is installed."""
    return shutil.which("nmap") is not None


def scan(source_netns: str, target: str, ports: list[int], *, use_nmap: Optional[bool] = None,
         timeout: float = 1.0) -> ScanReport:
    """Scans ``ports`` of ``target`` (an IP address) from inside ``source_netns``.

    Args:
        source_netns: the namespace to scan from.
        target: the IP address to scan.
        ports: the TCP ports.
        use_nmap: True forces nmap, False the built-in scanner; None picks
            nmap when it is installed.
        timeout: seconds per port for the built-in scanner.

    Raises:
        FileNotFoundError: nmap was asked for but is not installed.
        RuntimeError: nmap failed.
    """
    if use_nmap is None:
        use_nmap = nmap_available()
    if use_nmap:
        if not nmap_available():
            raise FileNotFoundError("nmap is not installed — install it with: apt-get install nmap")
        done = run.run(source_netns, nmap_argv(target, ports), capture_output=True, text=True,
                       timeout=NMAP_TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError(f"nmap failed (exit {done.returncode}): {done.stderr.strip()}")
        version, states = parse_nmap_xml(done.stdout, ports)
        return ScanReport(source_netns, target, f"nmap {version}".strip(), states)
    results = tcp_probe_many([PortProbe(source_netns, target, port) for port in ports], timeout=timeout)
    states = [PortState(r.probe.port, r.state, r.detail) for r in results]
    return ScanReport(source_netns, target, "built-in connect scan", states)
