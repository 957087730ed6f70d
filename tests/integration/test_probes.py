"""The in-process probes and the check runner against real namespaces.

Topologies are built here directly (netns + pyroute2 opened inside each
namespace), not through the lab compiler, so these tests cover only the
probes. Every namespace is named with this process's pid and removed in a
``finally``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

import pytest
from pyroute2 import IPRoute

from vnetlab.probe.checks import run_checks
from vnetlab.host import netns
from vnetlab.observe.snapshot import netlink_session
from vnetlab.model.schema import LabSpec
from vnetlab.probe.icmp import PingProbe, ping_many
from vnetlab.probe.transport import PortProbe, tcp_probe_many, udp_probe_many

pytestmark = pytest.mark.integration

if os.geteuid() != 0:
    pytest.skip("needs root (network namespaces, raw sockets)", allow_module_level=True)

PID = os.getpid()
NUD_PERMANENT = 0x80


inside = netlink_session  # an IPRoute socket opened inside a namespace


def link_index(ipr: IPRoute, ifname: str) -> int:
    return ipr.link_lookup(ifname=ifname)[0]


def prepare_namespace(name: str) -> None:
    """lo up, and IPv6 addresses usable at once (no duplicate detection)."""
    with netns.entered(name):
        netns.write_sysctl("net.ipv6.conf.default.accept_dad", "0")
        netns.write_sysctl("net.ipv6.conf.all.accept_dad", "0")
    with inside(name) as ipr:
        ipr.link("set", index=link_index(ipr, "lo"), state="up")


def add_veth(ns: str, ifname: str, peer_ns: str, peer_ifname: str, peer_mac: str | None = None) -> None:
    """A veth created inside ``ns`` whose peer is moved into ``peer_ns`` at creation."""
    fd = netns.open_fd(peer_ns)
    try:
        peer = {"ifname": peer_ifname, "net_ns_fd": fd}
        if peer_mac:
            peer["address"] = peer_mac
        with inside(ns) as ipr:
            ipr.link("add", ifname=ifname, kind="veth", peer=peer)
    finally:
        os.close(fd)


@contextlib.contextmanager
def namespaces(*names: str):
    made = []
    try:
        for name in names:
            assert netns.create(name), f"namespace {name} already exists"
            made.append(name)
            prepare_namespace(name)
        yield names
    finally:
        for name in made:
            netns.delete(name)


def wait_for_ipv6(ns: str) -> None:
    """Waits until IPv6 has finished bringing the namespace's links up.

    The kernel adds the link-local and multicast (ff00::/8) routes from a
    workqueue a few ms after a link comes up; until then a node drops
    multicast — neighbour solicitations included — as "no route", and the
    first ping waits a full NDP retransmission (1 s).
    """
    deadline = time.monotonic() + 3.0
    with inside(ns) as ipr:
        while not ipr.route("dump", family=socket.AF_INET6, table=255, dst="ff00::", dst_len=8):
            assert time.monotonic() < deadline, f"IPv6 did not come up in {ns}"
            time.sleep(0.01)


@pytest.fixture(scope="module")
def pair():
    """Namespaces A (10.66.0.1, fd66::1) and B (10.66.0.2, fd66::2) on one veth."""
    a, b = f"vpa{PID}", f"vpb{PID}"
    with namespaces(a, b):
        add_veth(a, "a0", b, "b0")
        for ns, ifname, v4, v6 in ((a, "a0", "10.66.0.1", "fd66::1"), (b, "b0", "10.66.0.2", "fd66::2")):
            with inside(ns) as ipr:
                index = link_index(ipr, ifname)
                ipr.addr("add", index=index, address=v4, prefixlen=24)
                ipr.addr("add", index=index, address=v6, prefixlen=64)
                ipr.link("set", index=index, state="up")
        for ns in (a, b):
            wait_for_ipv6(ns)
        yield a, b


@contextlib.contextmanager
def tcp_listener(ns: str, address: str, port: int):
    with netns.entered(ns):
        sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((address, port))
        sock.listen(16)
        yield sock
    finally:
        sock.close()


@contextlib.contextmanager
def udp_echo(ns: str, address: str, port: int):
    """A UDP echo responder on a socket created in ``ns``, served by a thread."""
    with netns.entered(ns):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    sock.settimeout(0.05)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(2048)
            except TimeoutError:
                continue
            sock.sendto(data, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock
    finally:
        stop.set()
        thread.join()
        sock.close()


def test_ping_v4_and_v6_reach(pair):
    a, _ = pair
    results = ping_many([PingProbe(a, "10.66.0.2"), PingProbe(a, "fd66::2"), PingProbe(a, "10.66.0.1")])
    assert [r.ok for r in results] == [True, True, True], results
    assert results[0].detail.startswith("reply from 10.66.0.2 in ")
    assert results[1].detail.startswith("reply from fd66::2 in ")
    assert all(r.rtt_ms is not None and r.rtt_ms >= 0 for r in results)


def test_ping_silent_host_has_no_reply(pair):
    a, _ = pair
    (result,) = ping_many([PingProbe(a, "10.66.0.99")], timeout=0.6)
    assert not result.ok
    assert result.detail == "no reply within 0.6 s"


def test_ping_unrouted_is_network_unreachable_at_once(pair):
    a, _ = pair
    started = time.monotonic()
    (result,) = ping_many([PingProbe(a, "10.99.0.1")], timeout=2.0)
    assert not result.ok
    assert result.detail == "network unreachable (no route)"
    assert time.monotonic() - started < 0.5


def test_ping_router_error_is_reported(pair):
    """An ICMP error quoting our request ends the probe with who sent it."""
    a, b = pair
    with inside(a) as ipr:
        ipr.route("add", dst="10.77.0.0/24", gateway="10.66.0.2")
    with inside(b) as ipr:
        ipr.route("add", dst="10.77.0.0/24", type="unreachable")
    with netns.entered(b):
        netns.write_sysctl("net.ipv4.ip_forward", "1")
    (result,) = ping_many([PingProbe(a, "10.77.0.5")], timeout=2.0)
    assert not result.ok
    assert result.detail == "destination unreachable (host unreachable) from 10.66.0.2"


def test_tcp_open_closed_filtered(pair):
    a, b = pair
    with tcp_listener(b, "10.66.0.2", 8080), tcp_listener(b, "fd66::2", 8081):
        results = tcp_probe_many([
            PortProbe(a, "10.66.0.2", 8080),
            PortProbe(a, "fd66::2", 8081),
            PortProbe(a, "10.66.0.2", 8082),
            PortProbe(a, "10.66.0.99", 80),
            PortProbe(a, "10.99.0.1", 80),
        ], timeout=0.6)
    states = [(r.state, r.detail) for r in results]
    assert states[0][0] == "open" and states[0][1].startswith("connected in"), states
    assert states[1][0] == "open", states
    assert states[2] == ("closed", "refused (TCP RST)")
    assert states[3] == ("filtered", "no answer within 0.6 s")
    assert states[4] == ("filtered", "network unreachable (no route)")


def test_udp_open_closed_filtered(pair):
    a, b = pair
    with udp_echo(b, "10.66.0.2", 5353):
        results = udp_probe_many([
            PortProbe(a, "10.66.0.2", 5353),
            PortProbe(a, "10.66.0.2", 5354),
            PortProbe(a, "10.66.0.99", 53),
        ], timeout=0.6)
    assert results[0].state == "open" and results[0].detail.startswith("reply of 14 bytes"), results
    assert (results[1].state, results[1].detail) == ("closed", "port unreachable (ICMP)")
    assert (results[2].state, results[2].detail) == ("filtered", "no reply: open|filtered")


def test_run_checks_end_to_end(pair):
    a, b = pair
    spec = LabSpec.model_validate({
        "lab": "probes",
        "nodes": {
            "a": {"interfaces": {"a0": {"addresses": ["fd66::1/64", "10.66.0.1/24"]}}},
            "b": {"interfaces": {"b0": {"addresses": ["fd66::2/64", "10.66.0.2/24"]}}},
        },
        "checks": [
            {"from": "a", "to": "b", "expect": "reach"},
            {"from": "a", "to": "fd66::2"},
            {"from": "a", "to": "10.66.0.99", "expect": "no-reach", "timeout": 0.5},
            {"from": "a", "to": "b:8080", "proto": "tcp", "expect": "open"},
            {"from": "a", "to": "[fd66::2]:8080", "proto": "tcp", "expect": "closed"},
            {"from": "a", "to": "b:9", "proto": "udp", "expect": "closed"},
            {"from": "a", "to": "b:9", "proto": "udp", "expect": "open"},
            {"from": "a", "to": "nowhere"},
        ],
    })
    ns = {"a": a, "b": b}
    with tcp_listener(b, "10.66.0.2", 8080):
        started = time.monotonic()
        results = run_checks(spec, ns.__getitem__)
        elapsed = time.monotonic() - started
    assert [r.ok for r in results] == [True, True, True, True, True, True, False, False], results
    assert results[0].target == "10.66.0.2"
    assert results[4].target == "[fd66::2]:8080"
    assert results[6].observed == "closed"
    assert results[7].observed == "error" and "nowhere" in results[7].detail
    assert elapsed < 1.5  # groups run concurrently: about the largest timeout


@contextlib.contextmanager
def star(count: int, static_neighbours: bool):
    """``count`` namespaces on one bridge in a 'sw' namespace, 10.67.0.1..count/24.

    The kernel's ARP table is shared by every namespace and holds at most
    gc_thresh3 (1024 by default) dynamic entries, and entries younger than
    5 s cannot be evicted; a full mesh of 50 hosts needs 2,450. With
    ``static_neighbours`` each host gets permanent entries (exempt from
    that limit) for every other host, as a static lab could.
    """
    sw = f"vps{PID}"
    hosts = [f"vph{PID}-{n}" for n in range(1, count + 1)]
    with namespaces(sw, *hosts):
        with inside(sw) as ipr:
            ipr.link("add", ifname="br0", kind="bridge")
            bridge = link_index(ipr, "br0")
            ipr.link("set", index=bridge, state="up")
            for n, host in enumerate(hosts, start=1):
                fd = netns.open_fd(host)
                try:
                    ipr.link("add", ifname=f"p{n}", kind="veth",
                             peer={"ifname": "eth0", "net_ns_fd": fd, "address": f"02:67:00:00:00:{n:02x}"})
                finally:
                    os.close(fd)
                port = link_index(ipr, f"p{n}")
                ipr.link("set", index=port, master=bridge, state="up")
        for n, host in enumerate(hosts, start=1):
            with inside(host) as ipr:
                index = link_index(ipr, "eth0")
                ipr.addr("add", index=index, address=f"10.67.0.{n}", prefixlen=24)
                ipr.link("set", index=index, state="up")
                for m in range(1, count + 1):
                    if static_neighbours and m != n:
                        ipr.neigh("add", dst=f"10.67.0.{m}", lladdr=f"02:67:00:00:00:{m:02x}",
                                  ifindex=index, state=NUD_PERMANENT)
        yield hosts


def full_mesh(hosts: list[str]) -> list[PingProbe]:
    return [
        PingProbe(host, f"10.67.0.{m}")
        for n, host in enumerate(hosts, start=1)
        for m in range(1, len(hosts) + 1) if m != n
    ]


def test_ping_full_mesh_of_50():
    with star(50, static_neighbours=True) as hosts:
        probes = full_mesh(hosts)
        assert len(probes) == 2450
        for round_ in ("first", "second"):
            started = time.monotonic()
            results = ping_many(probes)
            elapsed = time.monotonic() - started
            failed = [r for r in results if not r.ok]
            print(f"\n{len(probes)} pings from 50 namespaces ({round_} run, static ARP): "
                  f"{elapsed * 1000:.0f} ms, {len(failed)} failed")
            assert not failed, failed[:5]


def test_ping_full_mesh_resolving_arp():
    """20 hosts: 380 dynamic ARP entries, below the kernel's gc_thresh2 (512)."""
    with star(20, static_neighbours=False) as hosts:
        probes = full_mesh(hosts)
        started = time.monotonic()
        results = ping_many(probes)
        elapsed = time.monotonic() - started
        failed = [r for r in results if not r.ok]
        print(f"\n{len(probes)} pings from 20 namespaces (ARP resolving): {elapsed * 1000:.0f} ms, "
              f"{len(failed)} failed")
        assert not failed, failed[:5]
