"""Where a probe was seen: a short tcpdump in every node, parsed in-process.

One ``tcpdump -i any`` per node (libpcap, not scapy: scapy's sniffer loses
packets here) writes pcap to a pipe; the ``any`` device's LINUX_SLL2 header
names the interface (by index) and the direction of every packet, so one
process per node sees every interface of that node. :func:`parse_pcap` turns
the bytes into :class:`Sighting` records (pure, tested without root): IPv4
and ARP, IPv6 and its neighbour discovery (NDP).
"""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import os
import select
import signal
import struct
import subprocess
import time
from typing import Callable, Optional

from vnetlab.model.targets import format_target
from vnetlab.probe import tcpdump
from vnetlab.probe.pcap import PcapStream

LINKTYPE_LINUX_SLL2 = 276
SNAPLEN = 256
READY_TIMEOUT = 3.0
PACKET_OUTGOING = 4
PKTTYPES = {0: "host", 1: "broadcast", 2: "multicast", 3: "otherhost", 4: "outgoing"}
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
TCP_FLAGS = "FSRPAUEC"
# ICMP types per IP version: the echo pair, and the errors that quote the packet they are about.
ECHO_REQUEST = {4: 8, 6: 128}
ECHO_REPLY = {4: 0, 6: 129}
# The errors, which quote the packet they are about: unreachable, time exceeded, parameter
# problem (and for IPv6 packet too big, type 2).
ICMP_ERRORS = {4: (3, 11, 12), 6: (1, 2, 3, 4)}
ND_SOLICIT, ND_ADVERT = 135, 136
# IPv6 extension headers skipped on the way to the transport header (hop-by-hop, routing,
# fragment, destination options); the fragment header is always 8 bytes long.
_EXTENSION_HEADERS = (0, 43, 44, 60)
_FRAGMENT = 44


@dataclasses.dataclass(frozen=True)
class Sighting:
    """One packet as seen on one interface of one node.

    ``direction`` is ``in`` (received) or ``out`` (sent). ``family`` is the
    IP version; ``proto`` is ``icmp`` for ICMPv6 too (``icmp_type`` tells
    them apart: 8/0 or 128/129 for an echo). For ICMP errors, ``inner`` is
    the quoted packet's (proto, src, dst, sport-or-id, dport).
    For ARP, ``proto`` is ``arp``, ``src``/``dst`` the sender and target IP and
    ``icmp_type`` the ARP opcode (1 request, 2 reply). NDP reads the same
    way: ``proto`` ``ndp``, ``icmp_type`` 135 (a solicitation for the
    address ``dst``) or 136 (an advertisement of the address ``src``).

    ``copy_id`` tells a retransmission from the first copy (NAT and routers
    keep it): the IPv4 id, or for IPv6, which has none, the flow label
    (Linux draws a new one when TCP retransmits).
    """

    ts: float
    node: str
    ifname: str
    direction: str
    pkttype: int
    mac: str  # link-layer source address
    proto: str
    src: str
    dst: str
    sport: Optional[int] = None
    dport: Optional[int] = None
    flags: str = ""  # TCP flags, e.g. "S", "SA", "RA"
    icmp_type: Optional[int] = None
    icmp_code: Optional[int] = None
    icmp_id: Optional[int] = None
    inner: Optional[tuple] = None
    copy_id: Optional[int] = None
    ttl: Optional[int] = None  # the hop limit for IPv6
    family: int = 4

    @property
    def point(self) -> str:
        """``[node ifname]``."""
        return f"[{self.node} {self.ifname}]"

    def addresses(self) -> str:
        """``10.0.0.1:40000 > 10.0.1.2:22`` or ``[fd00::1]:40000 > [fd00:1::2]:22``
        (ports when there are ports)."""
        return f"{format_target(self.src, self.sport)} > {format_target(self.dst, self.dport)}"


def _tcp_flags(byte: int) -> str:
    return "".join(letter for bit, letter in enumerate(TCP_FLAGS) if byte & (1 << bit))


def parse_ipv4(data: bytes) -> Optional[dict]:
    """The fields of an IPv4 packet that a trace needs; None if it is not one.

    Truncated transport headers (a snap length or an ICMP quote) give the
    fields that fit.
    """
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    fields: dict = {
        "copy_id": struct.unpack("!H", data[4:6])[0], "ttl": data[8],
        "src": str(ipaddress.IPv4Address(data[12:16])), "dst": str(ipaddress.IPv4Address(data[16:20])),
    }
    return _transport(fields, data[9], data[ihl:], 1, 4, parse_ipv4)


def parse_ipv6(data: bytes) -> Optional[dict]:
    """The fields of an IPv6 packet that a trace needs; None if it is not one.

    Extension headers are skipped; a neighbour solicitation or advertisement
    becomes an ``ndp`` record (see :class:`Sighting`).
    """
    if len(data) < 40 or data[0] >> 4 != 6:
        return None
    fields: dict = {
        "family": 6, "copy_id": int.from_bytes(data[1:4], "big") & 0xFFFFF, "ttl": data[7],
        "src": str(ipaddress.IPv6Address(data[8:24])), "dst": str(ipaddress.IPv6Address(data[24:40])),
    }
    next_header, body = data[6], data[40:]
    while next_header in _EXTENSION_HEADERS and len(body) >= 8:
        length = 8 if next_header == _FRAGMENT else (body[1] + 1) * 8
        next_header, body = body[0], body[length:]
    if next_header == 58 and len(body) >= 24 and body[0] in (ND_SOLICIT, ND_ADVERT):
        target = str(ipaddress.IPv6Address(body[8:24]))
        if body[0] == ND_SOLICIT:
            return fields | {"proto": "ndp", "icmp_type": ND_SOLICIT, "dst": target}
        return fields | {"proto": "ndp", "icmp_type": ND_ADVERT, "src": target}
    return _transport(fields, next_header, body, 58, 6, parse_ipv6)


def _transport(fields: dict, proto_number: int, body: bytes, icmp_number: int, family: int,
               parse_quoted: Callable[[bytes], Optional[dict]]) -> dict:
    """Adds the transport header's fields (ports, TCP flags, ICMP type, id and quote) to ``fields``."""
    if proto_number in (6, 17):
        fields["proto"] = "tcp" if proto_number == 6 else "udp"
        if len(body) >= 4:
            fields["sport"], fields["dport"] = struct.unpack("!HH", body[:4])
        if proto_number == 6 and len(body) >= 14:
            fields["flags"] = _tcp_flags(body[13])
    elif proto_number == icmp_number:
        fields["proto"] = "icmp"
        if len(body) >= 2:
            fields["icmp_type"], fields["icmp_code"] = body[0], body[1]
        if fields.get("icmp_type") in (ECHO_REQUEST[family], ECHO_REPLY[family]) and len(body) >= 6:
            fields["icmp_id"] = struct.unpack("!H", body[4:6])[0]
        elif fields.get("icmp_type") in ICMP_ERRORS[family] and len(body) > 8:
            quoted = parse_quoted(body[8:])
            if quoted is not None:
                fields["inner"] = (quoted["proto"], quoted["src"], quoted["dst"],
                                   quoted.get("sport", quoted.get("icmp_id")), quoted.get("dport"))
    else:
        fields["proto"] = str(proto_number)
    return fields


def parse_arp(data: bytes) -> Optional[dict]:
    """Opcode, sender and target IP of an Ethernet/IPv4 ARP packet."""
    if len(data) < 28 or data[4] != 6 or data[5] != 4:
        return None
    return {"proto": "arp", "icmp_type": struct.unpack("!H", data[6:8])[0],
            "src": str(ipaddress.IPv4Address(data[14:18])), "dst": str(ipaddress.IPv4Address(data[24:28]))}


def parse_pcap(data: bytes, node: str, ifnames: dict[int, str]) -> list[Sighting]:
    """Sightings from a pcap (LINUX_SLL2) that ``tcpdump -i any -w -`` wrote.

    Args:
        data: the pcap bytes (a truncated last record is ignored).
        node: the node the capture ran in.
        ifnames: interface index -> name in that node.
    """
    try:
        stream = PcapStream(io.BytesIO(data))
    except EOFError:
        return []
    except ValueError:
        raise ValueError("not a pcap file") from None
    if stream.linktype != LINKTYPE_LINUX_SLL2:
        raise ValueError(f"pcap link type {stream.linktype}, expected LINUX_SLL2 ({LINKTYPE_LINUX_SLL2})")
    sightings = []
    for ts_ns, record, _ in stream.records():
        if len(record) < 20:
            break
        seconds, nanos = divmod(ts_ns, 1_000_000_000)
        protocol, _, ifindex, _, pkttype, halen = struct.unpack("!HHIHBB", record[:12])
        mac = ":".join(f"{b:02x}" for b in record[12:12 + min(halen, 8)])
        parse = {ETH_P_IP: parse_ipv4, ETH_P_IPV6: parse_ipv6, ETH_P_ARP: parse_arp}.get(protocol)
        fields = parse(record[20:]) if parse is not None else None
        if fields is None:
            continue
        sightings.append(Sighting(
            ts=seconds + nanos * 1e-9, node=node, ifname=ifnames.get(ifindex, f"if{ifindex}"),
            direction="out" if pkttype == PACKET_OUTGOING else "in", pkttype=pkttype, mac=mac, **fields,
        ))
    return sightings


def capture_filter(proto: str, marker: int, family: int = 4) -> str:
    """The BPF filter: the probe and its reply in any NATed form, ICMP errors,
    and how neighbours were resolved (ARP, or for IPv6 NDP's solicitations
    and advertisements).

    The marker (source port, or ICMP echo id) survives NAT here: masquerade
    and port forwards keep the client's source port when it is free.
    """
    if family == 6:
        if proto == "icmp":
            own = f"icmp6 and (icmp6[0] = 128 or icmp6[0] = 129) and icmp6[4:2] = {marker}"
        else:
            own = f"ip6 and {proto} port {marker}"
        errors = " or ".join(f"icmp6[0] = {kind}" for kind in ICMP_ERRORS[6] + (ND_SOLICIT, ND_ADVERT))
        return f"({own}) or (icmp6 and ({errors}))"
    if proto == "icmp":
        own = f"(icmp[0] = 8 or icmp[0] = 0) and icmp[4:2] = {marker}"
    else:
        own = f"{proto} port {marker}"
    return f"({own}) or icmp[0] = 3 or icmp[0] = 11 or arp"


class Capture:
    """A tcpdump inside one node, for the length of a trace."""

    def __init__(self, node: str, netns_name: str, bpf: str):
        self.node = node
        self.netns = netns_name
        self.bpf = bpf
        self._proc: Optional[subprocess.Popen] = None
        self.raw = b""

    def start(self) -> None:
        """Starts tcpdump (returns at once; :func:`wait_ready` waits)."""
        argv = tcpdump.tcpdump_argv("any", self.bpf, SNAPLEN, nanoseconds=False)
        self._proc = tcpdump.start(self.netns, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def interrupt(self) -> None:
        """Asks tcpdump to finish (it flushes and exits); :meth:`stop` collects."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)

    def stop(self) -> None:
        """Stops tcpdump and keeps what it wrote (idempotent)."""
        if self._proc is None:
            return
        self.interrupt()
        proc, self._proc = self._proc, None
        try:
            out, _ = proc.communicate(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        self.raw = out or b""


def wait_ready(captures: list[Capture], timeout: float = READY_TIMEOUT) -> None:
    """Waits until every tcpdump says it is listening.

    Raises:
        RuntimeError: one exited or stayed silent (its message is included).
    """
    waiting = {c._proc.stderr.fileno(): c for c in captures if c._proc is not None}
    seen = {fd: b"" for fd in waiting}
    deadline = time.monotonic() + timeout
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            names = ", ".join(c.node for c in waiting.values())
            raise RuntimeError(f"tcpdump did not start in {names} within {timeout:g} s")
        ready, _, _ = select.select(list(waiting), [], [], left)
        for fd in ready:
            chunk = os.read(fd, 4096)
            seen[fd] += chunk
            if tcpdump.ready(seen[fd]):
                del waiting[fd]
            elif not chunk:
                capture = waiting.pop(fd)
                raise RuntimeError(f"tcpdump failed in {capture.node}: {seen[fd].decode(errors='replace').strip()}")
    time.sleep(tcpdump.start_delay())
