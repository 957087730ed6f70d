"""Integration tests: real kernel, root. Every test runs under the host guard.

The guard snapshots the root namespace (links, addresses, routes, forwarding
sysctls, nft ruleset), the set of named namespaces and lab run directories,
the host's /etc/resolv.conf and /etc/hosts (their bytes) and what
/etc/netns holds (the nodes' own /etc, but those journaled by a running lab)
before each test, and fails the test if any of them differ afterwards
(DESIGN.md invariants 1 and 2).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import pytest

from vnetlab.cli.demo import machine_lock
from vnetlab.host import netns, state
from vnetlab.observe.snapshot import read_namespace

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(REPO, "examples")
VNETLAB = [sys.executable, "-m", "vnetlab.cli"]

if os.geteuid() != 0:  # pragma: no cover - CI and `make test` run as root
    pytest.exit("integration tests need root (network namespaces): run `make test` as root", returncode=3)


HOST_FILES = ("/etc/resolv.conf", "/etc/hosts")  # a lab must never change them (nodes get their own)
ETC_NETNS = "/etc/netns"


def _digest(path: str):
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except FileNotFoundError:
        return None


def _tree(root: str, skip: frozenset = frozenset()):
    """Every path under ``root`` but those under its entries in ``skip`` (None
    if ``root`` is absent)."""
    if not os.path.lexists(root):
        return None
    found = []
    for folder, dirs, files in os.walk(root):
        if folder == root:
            dirs[:] = [name for name in dirs if name not in skip]
        found += [os.path.relpath(os.path.join(folder, name), root) for name in dirs + files]
    return sorted(found)


def _etc_netns():
    """What /etc/netns holds that is not a running lab's: a node gets its own
    /etc the first time it is entered, so a test of a shared (module) lab may
    make one — journaled as the lab's, and so removed by its down. /etc/netns
    itself counts only when vnetlab did not make it (then it must stay)."""
    from vnetlab.host import node_etc

    ours = frozenset(ns for name in state.lab_names() for ns in state.Journal(name).read().etc)
    tree = _tree(ETC_NETNS, ours)
    if tree == [] and os.path.exists(os.path.join(state.RUN_ROOT, node_etc.ROOT_NOTE)):
        return None  # made by vnetlab for a running lab's nodes: it goes with the last of them
    return tree


HOST_SYSCTLS = (
    "net.ipv4.neigh.default.gc_thresh1", "net.ipv4.neigh.default.gc_thresh2",
    "net.ipv4.neigh.default.gc_thresh3", "net.core.netdev_max_backlog",
    "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding",
)


def root_snapshot() -> dict:
    """Everything about the host that a lab must never change."""
    snap = read_namespace(None)
    for link in snap["links"]:
        link.pop("state", None)  # operstate of host NICs may flap on its own
        link.pop("carrier", None)
    snap["netns"] = netns.list_names()
    snap["labs"] = state.lab_names()
    # Host-wide knobs a lab must not leave changed (only `--raise-neigh-limit`
    # may touch the gc_thresh ones, and `down` restores them).
    snap["host_sysctls"] = {key: netns.read_sysctl(key) for key in HOST_SYSCTLS}
    snap["host_files"] = {path: _digest(path) for path in HOST_FILES}
    snap["etc_netns"] = _etc_netns()
    if shutil.which("nft"):
        snap["nft"] = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    return snap


@pytest.fixture(scope="session", autouse=True)
def one_run_at_a_time():
    """Holds the machine's kernel lock for the whole integration run.

    Two runs on one machine (a CI job and a developer's ``make test``, or
    ``make demo``) build labs with the same names and see each other's
    namespaces appear in the host guard; the second one waits here instead.
    """
    with machine_lock("integration tests"):
        yield


def _test_lab_source(source: str, pytest_root: str, this_run: str) -> bool:
    """Whether a running lab was built by an earlier test or demo run: from a
    file under pytest's temporary root (not this run's), or from one of the
    examples of a vnetlab checkout (this one or another clone's)."""
    if source.startswith(pytest_root + os.sep):
        return not source.startswith(this_run + os.sep)
    folder, name = os.path.split(source)
    return (os.path.basename(folder) == "examples" and name.endswith(".yaml")
            and os.path.isfile(os.path.join(os.path.dirname(folder), "src", "vnetlab", "lab.py")))


@pytest.fixture(scope="session", autouse=True)
def leftovers_of_killed_runs(one_run_at_a_time, tmp_path_factory):
    """Brings down labs that an earlier, killed test run left behind.

    A run killed mid-test (a CI time-out, a Ctrl-C twice) cannot run its
    ``finally`` blocks, so its labs stay up and the next run's ``up`` of the
    same name is refused as another file's lab. Since this run holds the
    kernel lock, no other test or demo run is alive: labs built from a test
    file or an example of a checkout are leftovers and are taken down. Leaks
    within this run are still caught by ``host_guard``.
    """
    this_run = str(tmp_path_factory.getbasetemp())
    pytest_root = os.path.dirname(this_run)
    for name in state.lab_names():
        source = state.Journal(name).read().source or ""
        if _test_lab_source(source, pytest_root, this_run):
            print(f"\nbringing down lab {name}, left up by an earlier test run ({source})", file=sys.stderr)
            subprocess.run([*VNETLAB, "down", name], capture_output=True)
    yield


@pytest.fixture(autouse=True)
def host_guard():
    """Fails the test if the root namespace or the namespace list changed."""
    before = root_snapshot()
    yield
    after = root_snapshot()
    for key in before:
        assert after[key] == before[key], f"host {key} changed by the test"


# Commands run here as a real new process at least once per session (see cli).
_REAL_RUNS: set[str] = set()
_FORKS: dict[str, object] = {}  # "server": the cli_fork.Server, once started (None: it could not start)


def _fork_server():
    """The session's fork server (started on first use), or None if it cannot run."""
    if "server" not in _FORKS:
        import atexit

        import cli_fork

        try:
            _FORKS["server"] = cli_fork.Server()
            atexit.register(_FORKS["server"].close)
        except (OSError, RuntimeError) as exc:
            print(f"\nvnetlab fork server unavailable, every command is a new process: {exc}", file=sys.stderr)
            _FORKS["server"] = None
    return _FORKS["server"]


def cli(*args: str, check: bool = False, env: dict | None = None, input: str | None = None,
        timeout: float | None = None) -> subprocess.CompletedProcess:
    """Runs the vnetlab CLI as a user would: a separate process, its exit code,
    stdout and stderr.

    The first run of each command in a session (and every run when
    VNETLAB_TEST_REAL_CLI=1, or with an environment other than the session's)
    is a new ``python -m vnetlab.cli`` process; the others are forked from one
    that imported vnetlab already (tests/integration/cli_fork.py), which is
    the same process but for the 0.3-0.5 s of imports.
    """
    command = " ".join(args[:2] if args and args[0] in ("course", "import") else args[:1])
    wanted = dict(os.environ) if env is None else env
    server = None
    if os.environ.get("VNETLAB_TEST_REAL_CLI") != "1" and command in _REAL_RUNS:
        server = _fork_server()
    if server is not None and server.serves(wanted):
        result = server.run(args, wanted, None, input, timeout)
    else:
        result = subprocess.run([*VNETLAB, *args], capture_output=True, text=True, env=env, input=input,
                                timeout=timeout)
        _REAL_RUNS.add(command)
    if check and result.returncode != 0:
        raise AssertionError(f"vnetlab {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def exited(pid: int) -> bool:
    """Whether process ``pid`` is gone or a zombie: it has exited (this
    container's init reaps orphaned zombies only every second or two)."""
    from vnetlab.host.processes import read_stat

    stat = read_stat(pid)
    return stat is None or stat.state == "Z"


def lab_namespaces(lab: str) -> list[str]:
    """Pinned namespaces whose name belongs to ``lab``."""
    return [n for n in netns.list_names() if n.startswith(f"{lab}-")]


def copy_example(tmp_path, name: str, lab: str | None = None) -> str:
    """An example file copied to tmp_path, optionally renamed to lab ``lab``."""
    with open(os.path.join(EXAMPLES, name)) as handle:
        text = handle.read()
    if lab is not None:
        import re

        text = re.sub(r"(?m)^lab: \S+", f"lab: {lab}", text)
    path = tmp_path / name
    path.write_text(text)
    return str(path)
