"""Finding and running the ovs-* client programs against one node's switch."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Optional

from vnetlab.host.ovs_paths import ovs_env
from vnetlab.errors import OperationFailed

VSCTL_TIMEOUT = 20  # seconds ovs-vsctl waits for ovs-vswitchd to apply a change
BINARIES = ("ovsdb-server", "ovs-vswitchd", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "ovs-appctl")
SBIN_PATH = os.pathsep.join(("/usr/local/sbin", "/usr/sbin", "/sbin"))


class OvsError(OperationFailed, RuntimeError):
    """An ovs-* command failed."""


def find_binary(name: str) -> Optional[str]:
    """The path of an OVS program (daemons live in sbin, often not on a user's PATH)."""
    return shutil.which(name) or shutil.which(name, path=SBIN_PATH)


def installed() -> bool:
    """Whether every OVS program vnetlab uses is installed."""
    return all(find_binary(name) for name in BINARIES)


def run_tool(rundir: str, argv: list[str], check: bool = True,
             timeout: Optional[float] = None) -> subprocess.CompletedProcess:
    """Runs an ovs-* client against one node's switch (from the root namespace:
    the clients only talk over unix sockets in RUNDIR), for at most ``timeout``
    seconds (default: ovs-vsctl's own wait and a margin)."""
    argv = list(argv)
    if argv[0] == "ovs-vsctl":
        argv.insert(1, f"--timeout={VSCTL_TIMEOUT}")
    argv[0] = find_binary(argv[0]) or argv[0]
    env = {**os.environ, **ovs_env(rundir)}
    result = subprocess.run(argv, capture_output=True, text=True, env=env,
                            timeout=VSCTL_TIMEOUT + 10 if timeout is None else timeout)
    if check and result.returncode != 0:
        raise OvsError(f"{' '.join(argv)}: {result.stderr.strip() or f'exit {result.returncode}'}")
    return result
