"""pcap and pcapng, read and written in-process (pure, tested without root).

The classic pcap stream is what ``tcpdump -w -`` writes; pcapng is what
``vnetlab capture`` writes (one interface block per ``node:ifname``, with
per-interface statistics). Capture and trace both read tcpdump's output here.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import BinaryIO, Iterator, Optional

DEFAULT_SNAPLEN = 262144
LINKTYPE_ETHERNET = 1
PCAP_MAGIC_USEC = 0xA1B2C3D4
PCAP_MAGIC_NSEC = 0xA1B23C4D

# pcapng block types and option codes (draft-ietf-opsawg-pcapng).
SHB_TYPE = 0x0A0D0D0A
IDB_TYPE = 0x00000001
ISB_TYPE = 0x00000005
EPB_TYPE = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_END = 0
SHB_USERAPPL = 4
IF_NAME = 2
IF_TSRESOL = 9
ISB_STARTTIME = 2
ISB_ENDTIME = 3
ISB_IFRECV = 4
ISB_IFDROP = 5
ISB_USRDELIV = 8


@dataclasses.dataclass(frozen=True)
class Packet:
    """One captured frame; ``ts_ns`` is nanoseconds since the epoch."""

    ts_ns: int
    interface: int
    data: bytes
    orig_len: int


# -- pcap stream (what tcpdump -w - writes) ---------------------------------
class PcapStream:
    """Reads a classic pcap stream record by record from a binary file object."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        header = self._read(24)
        if header is None:
            raise EOFError("no pcap header")
        magic = struct.unpack("<I", header[:4])[0]
        if magic in (PCAP_MAGIC_USEC, PCAP_MAGIC_NSEC):
            self.endian = "<"
        else:
            magic = struct.unpack(">I", header[:4])[0]
            if magic not in (PCAP_MAGIC_USEC, PCAP_MAGIC_NSEC):
                raise ValueError(f"not a pcap stream (magic {header[:4].hex()})")
            self.endian = ">"
        self.nanoseconds = magic == PCAP_MAGIC_NSEC
        self.snaplen, linktype = struct.unpack(self.endian + "II", header[16:24])
        self.linktype = linktype & 0x0FFFFFFF

    def _read(self, size: int) -> Optional[bytes]:
        chunks, missing = [], size
        while missing:
            chunk = self.stream.read(missing)
            if not chunk:
                return None  # a record cut short by the writer's exit is dropped
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)

    def records(self) -> Iterator[tuple[int, bytes, int]]:
        """Yields (timestamp in ns, captured bytes, original length) until EOF."""
        scale = 1 if self.nanoseconds else 1000
        while True:
            head = self._read(16)
            if head is None:
                return
            seconds, fraction, caplen, orig_len = struct.unpack(self.endian + "IIII", head)
            data = self._read(caplen)
            if data is None:
                return
            yield seconds * 1_000_000_000 + fraction * scale, data, orig_len


def pcap_header(linktype: int = LINKTYPE_ETHERNET, snaplen: int = DEFAULT_SNAPLEN, nanoseconds: bool = True) -> bytes:
    """A classic pcap file header (little-endian)."""
    magic = PCAP_MAGIC_NSEC if nanoseconds else PCAP_MAGIC_USEC
    return struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(ts_ns: int, data: bytes, orig_len: Optional[int] = None) -> bytes:
    """One classic pcap record with a nanosecond timestamp (little-endian)."""
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    return struct.pack("<IIII", seconds, nanos, len(data), len(data) if orig_len is None else orig_len) + data


# -- pcapng ---------------------------------------------------------------
def _pad(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def _options(options: list[tuple[int, bytes]]) -> bytes:
    if not options:
        return b""
    out = b"".join(struct.pack("<HH", code, len(value)) + _pad(value) for code, value in options)
    return out + struct.pack("<HH", OPT_END, 0)


def _block(block_type: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", block_type, length) + body + struct.pack("<I", length)


def _split_ts(ts_ns: int) -> tuple[int, int]:
    return (ts_ns >> 32) & 0xFFFFFFFF, ts_ns & 0xFFFFFFFF


class PcapngWriter:
    """Writes a pcapng file: one section, nanosecond timestamps on every interface.

    Call :meth:`add_interface` for each interface before any packet, then
    :meth:`write_packet` and, at the end, :meth:`write_stats`.
    """

    def __init__(self, stream: BinaryIO, application: str = "vnetlab") -> None:
        self.stream = stream
        self.interfaces = 0
        body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options([(SHB_USERAPPL, application.encode())])
        stream.write(_block(SHB_TYPE, body))

    def add_interface(self, name: str, linktype: int = LINKTYPE_ETHERNET, snaplen: int = DEFAULT_SNAPLEN) -> int:
        """Writes an Interface Description Block; returns the interface id."""
        body = struct.pack("<HHI", linktype, 0, snaplen)
        body += _options([(IF_NAME, name.encode()), (IF_TSRESOL, bytes([9]))])
        self.stream.write(_block(IDB_TYPE, body))
        self.interfaces += 1
        return self.interfaces - 1

    def write_packet(self, packet: Packet) -> None:
        """Writes an Enhanced Packet Block."""
        if not 0 <= packet.interface < self.interfaces:
            raise ValueError(f"interface {packet.interface} was not added")
        high, low = _split_ts(packet.ts_ns)
        body = struct.pack("<IIIII", packet.interface, high, low, len(packet.data), packet.orig_len)
        self.stream.write(_block(EPB_TYPE, body + _pad(packet.data)))

    def write_stats(self, interface: int, ts_ns: int, *, start_ns: Optional[int] = None,
                    received: Optional[int] = None, dropped: Optional[int] = None,
                    delivered: Optional[int] = None) -> None:
        """Writes an Interface Statistics Block (counters that are None are left out)."""
        high, low = _split_ts(ts_ns)
        options = []
        if start_ns is not None:
            options.append((ISB_STARTTIME, struct.pack("<II", *_split_ts(start_ns))))
        options.append((ISB_ENDTIME, struct.pack("<II", high, low)))
        for code, value in ((ISB_IFRECV, received), (ISB_IFDROP, dropped), (ISB_USRDELIV, delivered)):
            if value is not None:
                options.append((code, struct.pack("<Q", value)))
        self.stream.write(_block(ISB_TYPE, struct.pack("<III", interface, high, low) + _options(options)))


@dataclasses.dataclass
class PcapngContents:
    """What :func:`read_pcapng` found: interfaces (name, linktype, snaplen),
    packets, and per-interface statistics options ``{code: value}``."""

    application: str
    interfaces: list[tuple[str, int, int]]
    packets: list[Packet]
    stats: dict[int, dict[int, int]]


def _parse_options(data: bytes) -> list[tuple[int, bytes]]:
    options, offset = [], 0
    while offset + 4 <= len(data):
        code, length = struct.unpack_from("<HH", data, offset)
        offset += 4
        if code == OPT_END:
            break
        options.append((code, data[offset:offset + length]))
        offset += length + (-length % 4)
    return options


def read_pcapng(data: bytes) -> PcapngContents:
    """Parses a little-endian pcapng written by :class:`PcapngWriter` (or dumpcap).

    Only the blocks vnetlab writes are decoded; others are skipped.
    Timestamps are converted to nanoseconds from each interface's resolution.
    """
    contents = PcapngContents("", [], [], {})
    resolutions: list[int] = []
    offset = 0
    while offset + 12 <= len(data):
        block_type, length = struct.unpack_from("<II", data, offset)
        if length < 12 or offset + length > len(data):
            raise ValueError(f"truncated block at offset {offset}")
        trailer = struct.unpack_from("<I", data, offset + length - 4)[0]
        if trailer != length:
            raise ValueError(f"block at offset {offset}: length {length} != trailing length {trailer}")
        body = data[offset + 8:offset + length - 4]
        if block_type == SHB_TYPE:
            magic, major, _minor, _section = struct.unpack_from("<IHHq", body)
            if magic != BYTE_ORDER_MAGIC or major != 1:
                raise ValueError("not a little-endian pcapng version 1 section")
            for code, value in _parse_options(body[16:]):
                if code == SHB_USERAPPL:
                    contents.application = value.decode()
        elif block_type == IDB_TYPE:
            linktype, _, snaplen = struct.unpack_from("<HHI", body)
            name, resolution = "", 6
            for code, value in _parse_options(body[8:]):
                if code == IF_NAME:
                    name = value.decode()
                elif code == IF_TSRESOL:
                    resolution = value[0]
            contents.interfaces.append((name, linktype, snaplen))
            resolutions.append(resolution)
        elif block_type == EPB_TYPE:
            interface, high, low, caplen, orig_len = struct.unpack_from("<IIIII", body)
            units = (high << 32) | low
            resolution = resolutions[interface]
            if resolution & 0x80:
                raise ValueError("binary timestamp resolutions are not supported")
            ts_ns = units * 10 ** (9 - resolution) if resolution <= 9 else units // 10 ** (resolution - 9)
            contents.packets.append(Packet(ts_ns, interface, body[20:20 + caplen], orig_len))
        elif block_type == ISB_TYPE:
            interface = struct.unpack_from("<I", body)[0]
            values = {}
            for code, value in _parse_options(body[12:]):
                if code in (ISB_IFRECV, ISB_IFDROP, ISB_USRDELIV) and len(value) == 8:
                    values[code] = struct.unpack("<Q", value)[0]
            contents.stats[interface] = values
        offset += length
    return contents


# -- one-line summaries ---------------------------------------------------
