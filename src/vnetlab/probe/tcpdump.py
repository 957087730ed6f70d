"""Starting tcpdump inside a lab node: the one launcher capture and trace share.

In a rootless lab (vnetlab.host.lab_root) the capture program is Wireshark's
``dumpcap`` instead: tcpdump run as root always switches to its own user,
which a lab root that maps only its owner cannot do ("Couldn't change to
'tcpdump'"), while dumpcap, made to capture without root, keeps its user.
Both write pcap to stdout, packet by packet; :data:`READY` holds the line
each prints once it listens.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any, Optional

from vnetlab.host import run
from vnetlab.host.lab_root import ENV_ROOTLESS as ROOTLESS


def tcpdump_argv(ifname: str, bpf: Optional[str], snaplen: int, nanoseconds: bool = True) -> list[str]:
    """The tcpdump command for ``ifname`` (``any`` for every interface of the
    node): pcap to stdout, each packet flushed at once, nanosecond timestamps
    unless ``nanoseconds`` is False; the filter goes last, after ``--``."""
    if os.environ.get(ROOTLESS):
        return dumpcap_argv(ifname, bpf, snaplen)
    argv = ["tcpdump", "-i", ifname, "-n", "-U", "--immediate-mode"]
    if nanoseconds:
        argv.append("--time-stamp-precision=nano")
    argv += ["-s", str(snaplen), "-w", "-"]
    if bpf:
        argv += ["--", bpf]
    return argv


def dumpcap_argv(ifname: str, bpf: Optional[str], snaplen: int) -> list[str]:
    """dumpcap's equivalent of :func:`tcpdump_argv`: pcap (not pcapng) to
    stdout, flushed per packet (dumpcap does on a pipe), microsecond
    timestamps, and on ``any`` the link type tcpdump picks (LINUX_SLL2)."""
    argv = ["dumpcap", "-i", ifname, "-P", "-q", "-s", str(snaplen), "-w", "-"]
    if ifname == "any":
        argv += ["-y", "LINUX_SLL2"]
    if bpf:
        argv += ["-f", bpf]
    return argv


def start_delay() -> float:
    """How long after saying it listens the capture program really does:
    none for tcpdump; dumpcap prints "Capturing on" up to half a second
    before its first packet (measured in a lab root: a ping sent at once was
    captured 2 times in 8, after 0.5 s 8 in 8)."""
    return 0.6 if os.environ.get(ROOTLESS) else 0.0


def delivery_delay() -> float:
    """How long after a packet the capture program may still hold it back:
    none for tcpdump (immediate mode); dumpcap has no immediate mode, and
    libpcap hands its packets over on a 250 ms timer, so a capture stopped
    sooner than that after the last packet would lose it."""
    return 0.5 if os.environ.get(ROOTLESS) else 0.0


# What the capture program prints on stderr once it listens.
READY = (b"listening on", b"Capturing on")


def ready(stderr: bytes) -> bool:
    """Whether the capture program's stderr so far says it listens."""
    return any(marker in stderr for marker in READY)


def start(netns_name: str, argv: list[str], **kwargs: Any) -> subprocess.Popen:
    """Starts ``argv`` (a :func:`tcpdump_argv`) inside ``netns_name``; it dies with us.

    tcpdump drops its capabilities, which clears PR_SET_PDEATHSIG; so
    coreutils' ``timeout 0`` (no time limit) holds it for tcpdump: it
    forwards the SIGTERM it gets when vnetlab dies, and our SIGINT (on
    which tcpdump prints its statistics, flushes and exits). A capture or
    trace killed half-way so never leaves tcpdump running in the lab.
    """
    return run.popen(netns_name, ["timeout", "0", *argv], die_with_parent=True, **kwargs)
