"""Walking the netlink messages packed in one received buffer.

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
