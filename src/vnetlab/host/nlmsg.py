"""Walking the netlink messages (and their attributes) in one received buffer.

The kernel backend (batched requests) and the raw dumps of observe/rtnl.py
read replies the same way; this is that one loop.
"""

from __future__ import annotations

import struct
from typing import Iterator

NLMSG_HDR = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, seq, pid


def walk(data: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(type, seq, start, end) of every whole message in ``data``, in order;
    stops at a truncated or malformed header."""
    offset = 0
    while offset + NLMSG_HDR.size <= len(data):
        length, kind, _, seq, _ = NLMSG_HDR.unpack_from(data, offset)
        if length < NLMSG_HDR.size:
            return
        yield kind, seq, offset, offset + length
        offset += (length + 3) & ~3


RTATTR_HDR = struct.Struct("=HH")  # rtattr / nlattr: length, type


def attributes(data: bytes, offset: int, end: int | None = None) -> dict[int, bytes]:
    """The top-level attributes between ``offset`` and ``end`` (default: the
    end of ``data``), by type without the NLA_F_NESTED / byte-order bits."""
    found: dict[int, bytes] = {}
    end = len(data) if end is None else end
    while offset + RTATTR_HDR.size <= end:
        length, kind = RTATTR_HDR.unpack_from(data, offset)
        if length < RTATTR_HDR.size:
            break
        found[kind & 0x3FFF] = data[offset + 4:offset + length]
        offset += (length + 3) & ~3
    return found
