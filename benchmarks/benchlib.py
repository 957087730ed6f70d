"""What the benchmarks share: finding the CLI, timing a process (with its
peak RSS), the machine's description, and waiting for the kernel to free
deleted namespaces.

Namespace teardown is asynchronous in the kernel: ``ip netns del`` and
``vnetlab down`` return while the kernel's cleanup work still destroys the
namespaces (and every veth in them) in the background. A build timed while
that backlog drains pays for the previous run's teardown, so the benchmarks
wait for it first (:func:`wait_kernel_quiet`).
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
NETNS_DIR = "/run/netns"
VNETLAB_RUN_DIR = os.environ.get("VNETLAB_RUN_DIR", "/run/vnetlab")


def vnetlab_cli(tool: str) -> str:
    """The vnetlab executable next to this interpreter, else the repo venv's, else PATH."""
    for candidate in (Path(sys.executable).parent / "vnetlab", REPO / ".venv" / "bin" / "vnetlab"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("vnetlab")
    if not found:
        sys.exit(f"{tool}: vnetlab CLI not found — run `make install` first")
    return found


def allow_bytecode() -> None:
    """Lets the timed commands write and use bytecode caches, as users' installs do
    (an environment with PYTHONDONTWRITEBYTECODE recompiles vnetlab at every start)."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def run(argv: list[str], check: bool = True, **kw) -> subprocess.CompletedProcess:
    """subprocess.run with text output captured; raises with the output on failure."""
    result = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"command failed ({result.returncode}): {shlex.join(argv)}\n{result.stdout}{result.stderr}"
        )
    return result


@dataclass
class Timed:
    """One timed process: wall time, CPU time (user + system), peak RSS, exit code and its stderr."""

    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    returncode: int
    stderr: str


def timed_process(argv: list[str]) -> Timed:
    """Runs ``argv`` (stdout discarded) and measures it; never raises on failure.

    The peak RSS is the child's ``ru_maxrss`` from ``wait4``."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return Timed(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode,
                     err.read().decode(errors="replace"))


def existing_namespaces() -> set[str]:
    """Every namespace pinned under /run/netns."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return set()
    return {n for n in names if os.path.ismount(os.path.join(NETNS_DIR, n))}


SLAB_SHRINK = "/sys/kernel/slab/net_namespace/shrink"


def netns_slab_objects() -> Optional[int]:
    """Active struct net objects (kernel-wide), or None if slabinfo is unreadable.

    SLUB counts the objects of the slabs each CPU holds as active, used or
    not, so after a big teardown the count stays tens above the truth. Writing
    1 to the cache's ``shrink`` file (root; it only returns cached memory)
    flushes those slabs first, which makes the count exact."""
    try:
        with open(SLAB_SHRINK, "w") as handle:
            handle.write("1")
    except OSError:
        pass  # no SLUB sysfs: the count is an upper bound
    try:
        with open("/proc/slabinfo") as handle:
            for line in handle:
                if line.startswith("net_namespace "):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def live_namespaces() -> int:
    """Network namespaces something still holds: pinned under /run/netns, or
    a process's own. Every other struct net is one the kernel is freeing."""
    inodes = set()
    paths = [f"/proc/{pid}/ns/net" for pid in os.listdir("/proc") if pid.isdigit()]
    paths += [os.path.join(NETNS_DIR, name) for name in existing_namespaces()]
    for path in paths:
        try:
            inodes.add(os.stat(path).st_ino)
        except OSError:
            pass  # the process exited meanwhile
    return len(inodes)


SLACK = 5  # struct net objects held otherwise (an fd, a socket) that the wait tolerates


KICK_AFTER = 2.0  # seconds without progress before the kernel's cleanup is nudged


def kick_kernel_cleanup() -> None:
    """Makes and deletes one namespace of our own. On this machine's kernel
    (6.18) a batch of deleted namespaces can stay unfreed — with their
    devices, addresses and neighbour entries — until another namespace is
    released; this is that release."""
    name = f"bkick{os.getpid()}"
    run(["ip", "netns", "add", name], check=False)
    run(["ip", "netns", "del", name], check=False)


def wait_kernel_quiet(timeout: float) -> Optional[float]:
    """Waits until the kernel has freed every namespace nothing holds any
    more (deleted ones are destroyed asynchronously, after ``ip netns del`` or
    ``vnetlab down`` returned), nudging it when it stalls; returns the wait,
    or None if that did not happen within ``timeout`` seconds (or slabinfo
    is unreadable)."""
    start = last_change = time.perf_counter()
    previous = None
    while True:
        current = netns_slab_objects()
        if current is None:
            return None
        now = time.perf_counter()
        if current <= live_namespaces() + SLACK:
            return now - start
        if now - start >= timeout:
            return None
        if current != previous:
            previous, last_change = current, now
        elif now - last_change >= KICK_AFTER:
            kick_kernel_cleanup()
            last_change = now
        time.sleep(0.25)


def environment(vnetlab: str) -> dict:
    """The machine and versions, for result files."""
    ipv = run(["ip", "-V"], check=False).stdout.strip()
    version = run([vnetlab, "--version"], check=False).stdout.strip()
    return {
        "kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version(),
        "iproute2": ipv, "vnetlab": version, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "commit": run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
        + ("+uncommitted" if run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                                 check=False).stdout.strip() else ""),
    }


def write_markdown(path: str, text: str) -> None:
    """Writes a result table (creating its directory); '' skips it."""
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
