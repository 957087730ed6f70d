"""Starting tcpdump inside a lab node: the one launcher capture and trace share."""

from __future__ import annotations

import subprocess
from typing import Any, Optional

from vnetlab.host import run


def tcpdump_argv(ifname: str, bpf: Optional[str], snaplen: int, nanoseconds: bool = True) -> list[str]:
    """The tcpdump command for ``ifname`` (``any`` for every interface of the
    node): pcap to stdout, each packet flushed at once, nanosecond timestamps
    unless ``nanoseconds`` is False; the filter goes last, after ``--``."""
    argv = ["tcpdump", "-i", ifname, "-n", "-U", "--immediate-mode"]
    if nanoseconds:
        argv.append("--time-stamp-precision=nano")
    argv += ["-s", str(snaplen), "-w", "-"]
    if bpf:
        argv += ["--", bpf]
    return argv


def start(netns_name: str, argv: list[str], **kwargs: Any) -> subprocess.Popen:
    """Starts ``argv`` (a :func:`tcpdump_argv`) inside ``netns_name``; it dies with us.

    tcpdump drops its capabilities, which clears PR_SET_PDEATHSIG; so
    coreutils' ``timeout 0`` (no time limit) holds it for tcpdump: it
    forwards the SIGTERM it gets when vnetlab dies, and our SIGINT (on
    which tcpdump prints its statistics, flushes and exits). A capture or
    trace killed half-way so never leaves tcpdump running in the lab.
    """
    return run.popen(netns_name, ["timeout", "0", *argv], die_with_parent=True, **kwargs)
