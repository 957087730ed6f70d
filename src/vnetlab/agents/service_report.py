"""The report line a built-in service answers with, and reading it back (pure).

``vnetlab-service node=web listen=tcp/80 client=203.0.113.10:40312``: who
answered and which source address it saw — the proof that NAT,
masquerading or a port forward did its job. Checks and probes parse it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Optional

_REPORT_RE = re.compile(rb"vnetlab-service node=(\S+) listen=(\S+) client=(\S+)")


def format_client(address: tuple) -> tuple[str, int]:
    """(ip, port) of a socket address; an IPv4-mapped IPv6 address becomes plain IPv4."""
    host, port = address[0], address[1]
    try:
        mapped = ipaddress.IPv6Address(host.split("%", 1)[0]).ipv4_mapped
    except ValueError:
        mapped = None
    return (str(mapped) if mapped is not None else host), port


def report_line(node: str, listen: str, client: tuple[str, int]) -> bytes:
    """The line a built-in service answers with: who it is and whom it saw."""
    ip, port = client
    shown = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    return f"vnetlab-service node={node} listen={listen} client={shown}\n".encode()


@dataclasses.dataclass(frozen=True)
class ServiceReport:
    """What a built-in service said about a connection."""

    node: str
    listen: str
    client_ip: str
    client_port: int


def parse_report(data: bytes) -> Optional[ServiceReport]:
    """The report line in a service's reply (an HTTP response or a UDP echo).

    Returns:
        The last report in ``data`` (an echo may quote the client's own
        bytes first), or None when no vnetlab service answered.
    """
    matches = list(_REPORT_RE.finditer(data))
    if not matches:
        return None
    node, listen, client = (part.decode("ascii", "replace") for part in matches[-1].groups())
    host, colon, port = client.rpartition(":")
    if not colon or not port.isdigit():
        return None
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ip = str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return None
    return ServiceReport(node=node, listen=listen, client_ip=ip, client_port=int(port))
