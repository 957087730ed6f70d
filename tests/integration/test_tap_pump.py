"""TAP devices and the per-lab supervisor on the real kernel (root)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest
from pyroute2 import IPRoute

from vnetlab.host import netns, tuntap
from vnetlab.agents import supervisor
from vnetlab.host.processes import ProcessRecord, is_running, read_stat

pytestmark = pytest.mark.integration

ADDR_A = "10.77.0.1"
ADDR_B = "10.77.0.2"
TAP_A = "tap100i0"
TAP_B = "eth0"


def wait_for(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@dataclasses.dataclass
class Pair:
    ns_a: str
    ns_b: str
    rundir: str
    records: list[ProcessRecord]

    @property
    def pump(self) -> supervisor.PumpSpec:
        return supervisor.PumpSpec(supervisor.Endpoint(self.ns_a, TAP_A), supervisor.Endpoint(self.ns_b, TAP_B))

    def configure(self, *pumps: supervisor.PumpSpec) -> None:
        supervisor.write_config(self.rundir, supervisor.SupervisorConfig(lab="vt", pumps=pumps))

    def start(self) -> ProcessRecord:
        record = supervisor.start(self.rundir)
        self.records.append(record)
        return record


def _setup_tap(ns: str, ifname: str, address: str) -> None:
    with netns.entered(ns):
        assert tuntap.create_persistent_tap(ifname, mtu=1500)
        with IPRoute(groups=0) as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            index = ipr.link_lookup(ifname=ifname)[0]
            ipr.addr("add", index=index, address=address, prefixlen=24)
            ipr.link("set", index=index, state="up")


def carrier(ns: str, ifname: str) -> int:
    with netns.entered(ns), IPRoute(groups=0) as ipr:
        (link,) = ipr.get_links(ifname=ifname)
        return link.get("IFLA_CARRIER")


def ping(ns: str, address: str) -> bool:
    result = subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", address],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return result.returncode == 0


def socket_in(ns: str, kind: int) -> socket.socket:
    with netns.entered(ns):
        return socket.socket(socket.AF_INET, kind)


def host_links() -> set[str]:
    return {name for _, name in socket.if_nameindex()}


@pytest.fixture
def pair(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    before = host_links()
    ns_a, ns_b = f"vt{os.getpid()}a", f"vt{os.getpid()}b"
    rundir = tmp_path / "run"
    rundir.mkdir()
    created = []
    records: list[ProcessRecord] = []
    try:
        for ns in (ns_a, ns_b):
            assert netns.create(ns)
            created.append(ns)
        _setup_tap(ns_a, TAP_A, ADDR_A)
        _setup_tap(ns_b, TAP_B, ADDR_B)
        yield Pair(ns_a, ns_b, str(rundir), records)
    finally:
        for record in records:
            supervisor.stop(record)
        for ns in created:
            netns.delete(ns)
    assert host_links() == before, "the host's links changed"


# ------------------------------------------------------------------ tuntap


def test_create_is_idempotent_and_refuses_non_tap(pair):
    with netns.entered(pair.ns_a):
        assert tuntap.is_tap(TAP_A)
        assert tuntap.create_persistent_tap(TAP_A) is False
        assert not tuntap.is_tap("lo")
        with pytest.raises(tuntap.TapError, match="not a TAP"):
            tuntap.create_persistent_tap("lo")
    assert not tuntap.link_exists(TAP_A), "the tap leaked into the host namespace"


def test_attach_missing_tap_fails_and_creates_nothing(pair):
    with netns.entered(pair.ns_a):
        with pytest.raises(tuntap.TapError, match="does not exist"):
            tuntap.attach_tap("nosuchtap")
        assert not tuntap.link_exists("nosuchtap")


def test_attach_gives_carrier_and_is_exclusive(pair):
    assert carrier(pair.ns_a, TAP_A) == 0
    with netns.entered(pair.ns_a):
        fd = tuntap.attach_tap(TAP_A)
    try:
        assert carrier(pair.ns_a, TAP_A) == 1
        with netns.entered(pair.ns_a), pytest.raises(tuntap.TapError, match="busy"):
            tuntap.attach_tap(TAP_A)
    finally:
        os.close(fd)
    assert carrier(pair.ns_a, TAP_A) == 0
    with netns.entered(pair.ns_a):
        assert tuntap.is_tap(TAP_A), "a persistent tap must survive its last close"


# ------------------------------------------------------------------ supervisor


def _tcp_exchange(pair: Pair, payload_size: int) -> tuple[bytes, bytes]:
    """Client in B sends ``payload_size`` bytes to a server in A, which answers with them reversed."""
    server = socket_in(pair.ns_a, socket.SOCK_STREAM)
    client = socket_in(pair.ns_b, socket.SOCK_STREAM)
    payload = os.urandom(payload_size)
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            chunks = []
            while data := conn.recv(1 << 16):
                chunks.append(data)
            received.append(b"".join(chunks))
            conn.sendall(received[0][::-1])

    with server, client:
        server.bind((ADDR_A, 0))
        server.listen(1)
        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        client.settimeout(10)
        client.connect((ADDR_A, server.getsockname()[1]))
        client.sendall(payload)
        client.shutdown(socket.SHUT_WR)
        chunks = []
        while data := client.recv(1 << 16):
            chunks.append(data)
        thread.join(10)
    assert received and received[0] == payload
    return payload, b"".join(chunks)


def test_pump_carries_icmp_tcp_udp_and_carrier_follows_supervisor(pair):
    pair.configure(pair.pump)
    assert carrier(pair.ns_a, TAP_A) == 0 and carrier(pair.ns_b, TAP_B) == 0
    assert not ping(pair.ns_b, ADDR_A)

    record = pair.start()
    assert is_running(record)
    assert supervisor.read_pidfile(pair.rundir) == record
    assert carrier(pair.ns_a, TAP_A) == 1 and carrier(pair.ns_b, TAP_B) == 1

    assert ping(pair.ns_a, ADDR_B)
    assert ping(pair.ns_b, ADDR_A)

    payload, answer = _tcp_exchange(pair, 256 * 1024)
    assert answer == payload[::-1]

    server = socket_in(pair.ns_b, socket.SOCK_DGRAM)
    client = socket_in(pair.ns_a, socket.SOCK_DGRAM)
    with server, client:
        server.bind((ADDR_B, 0))
        server.settimeout(3)
        client.settimeout(3)
        client.sendto(b"ping-udp", (ADDR_B, server.getsockname()[1]))
        data, peer = server.recvfrom(100)
        assert data == b"ping-udp" and peer[0] == ADDR_A
        server.sendto(b"pong-udp", peer)
        assert client.recvfrom(100)[0] == b"pong-udp"

    assert supervisor.stop(record) is True
    assert not is_running(record)
    assert read_stat(record.pid) is None, "the supervisor must be gone, not a zombie"
    assert carrier(pair.ns_a, TAP_A) == 0 and carrier(pair.ns_b, TAP_B) == 0
    assert supervisor.read_pidfile(pair.rundir) is None
    assert supervisor.stop(record) is False
    assert not ping(pair.ns_b, ADDR_A)


def test_ignores_sigint_and_stop_refuses_a_mismatched_record(pair):
    pair.configure(pair.pump)
    record = pair.start()
    os.kill(record.pid, signal.SIGINT)
    time.sleep(0.2)
    assert is_running(record)

    impostor = ProcessRecord(pid=record.pid, starttime=record.starttime + 1)
    assert not is_running(impostor)
    assert supervisor.stop(impostor) is False
    assert supervisor.reload(impostor) is False
    assert is_running(record)
    assert ping(pair.ns_b, ADDR_A)


def test_exits_by_itself_when_rundir_is_removed(pair):
    pair.configure(pair.pump)
    record = pair.start()
    shutil.rmtree(pair.rundir)
    assert wait_for(lambda: not is_running(record), timeout=2.5)
    assert wait_for(lambda: carrier(pair.ns_a, TAP_A) == 0)


def test_reload_attaches_and_detaches_pumps(pair):
    pair.configure()
    record = pair.start()
    assert carrier(pair.ns_a, TAP_A) == 0

    pair.configure(pair.pump)
    assert supervisor.reload(record)
    assert wait_for(lambda: carrier(pair.ns_a, TAP_A) == 1 and carrier(pair.ns_b, TAP_B) == 1)
    assert ping(pair.ns_b, ADDR_A)

    pair.configure()
    assert supervisor.reload(record)
    assert wait_for(lambda: carrier(pair.ns_a, TAP_A) == 0 and carrier(pair.ns_b, TAP_B) == 0)
    assert is_running(record)


def test_bad_reload_keeps_running_pumps(pair):
    pair.configure(pair.pump)
    record = pair.start()
    with open(os.path.join(pair.rundir, supervisor.CONFIG_FILE), "w") as handle:
        handle.write("{not json")
    assert supervisor.reload(record)
    assert wait_for(lambda: "config not reloaded" in _log(pair))
    assert is_running(record) and ping(pair.ns_b, ADDR_A)


def test_deleted_tap_drops_its_pump_only(pair):
    pair.configure(pair.pump)
    record = pair.start()
    with netns.entered(pair.ns_b), IPRoute(groups=0) as ipr:
        ipr.link("del", index=ipr.link_lookup(ifname=TAP_B)[0])
    # Traffic towards the vanished peer makes the supervisor notice it.
    ping(pair.ns_a, ADDR_B)
    assert wait_for(lambda: "detached" in _log(pair))
    assert is_running(record)
    assert wait_for(lambda: carrier(pair.ns_a, TAP_A) == 0)


def test_start_failure_raises_with_log_and_leaves_nothing(pair):
    bad = supervisor.PumpSpec(supervisor.Endpoint(pair.ns_a, TAP_A), supervisor.Endpoint(pair.ns_b, "nosuchtap"))
    pair.configure(bad)
    with pytest.raises(RuntimeError, match="nosuchtap"):
        pair.start()
    record = supervisor.read_pidfile(pair.rundir)
    assert record is None or not is_running(record)
    assert carrier(pair.ns_a, TAP_A) == 0
    with netns.entered(pair.ns_b):
        assert not tuntap.link_exists("nosuchtap")


def test_start_refuses_a_missing_namespace(pair):
    pair.configure(supervisor.PumpSpec(supervisor.Endpoint(pair.ns_a, TAP_A),
                                       supervisor.Endpoint(f"{pair.ns_b}x", TAP_B)))
    with pytest.raises(RuntimeError, match="does not exist"):
        pair.start()


def _log(pair: Pair) -> str:
    with contextlib.suppress(FileNotFoundError), open(os.path.join(pair.rundir, supervisor.LOG_FILE)) as handle:
        return handle.read()
    return ""
