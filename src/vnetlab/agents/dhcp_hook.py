"""vnetlab's udhcpc hook: what busybox udhcpc runs at each DHCP event, inside the node.

udhcpc (``-s RUNDIR/udhcpc-hook``, a three-line script that calls
:func:`main`) runs the hook with the event as its argument and the lease in
its environment (``interface``, ``ip``, ``mask``, ``router``, ``dns``,
``domain``, ``lease``, ``serverid``). The hook runs inside the node's network
namespace (udhcpc's), so ``ip`` changes the node, never the host:

``deconfig`` (udhcpc starts, or lost its lease)
    the interface's leased IPv4 addresses go (its static ones stay), the
    interface is up; the lease record goes.
``bound``, ``renew``
    ``ip address replace IP/MASK dev IF valid_lft LEASE preferred_lft LEASE``
    (the kernel drops the address when the lease runs out unrenewed), an
    older leased address goes, ``ip route replace default via ROUTER dev IF
    proto dhcp metric 100`` (a static default route, metric 0, wins),
    the node's own ``resolv.conf`` gets the lease's DNS servers, and
    ``RUNDIR/lease-NODE-IF.json`` records the lease and the udhcpc that
    holds it (what ``up`` waits for and ``status`` shows).
``leasefail``, ``nak``
    nothing changes (udhcpc tries again).

The node's ``resolv.conf`` is its file in ``/etc/netns/<lab>-<node>/`` (the
one ``ip netns exec`` shows as ``/etc/resolv.conf``), written in place so
processes that have it mounted see the new text. The hook writes it only
when that directory is the lab's (its mark): never ``/etc/resolv.conf``.
Which node it runs in, it finds as ``ip netns identify`` does: the
namespace pin under ``/run/netns`` that is its own namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Mapping, Optional, Sequence

from vnetlab import names

# Each DHCP event starts this program, and udhcpc waits for it (at its start,
# before its first DISCOVER, too): it imports only what every event needs
# (about 15 ms); the node's /etc (vnetlab.host.node_etc, 20 ms more) is
# loaded when a lease is applied. For the same reason this is iproute2's
# directory of namespace pins spelled out, not vnetlab.host.netns's constant.
NETNS_RUN_DIR = os.environ.get("VNETLAB_NETNS_DIR", "/run/netns")  # a rootless lab root pins in its own
DHCP_ROUTE_METRIC = "100"  # as NetworkManager's for ethernet: a static default route (metric 0) wins
RESOLV_CONF = "resolv.conf"
FOREVER = 0xFFFFFFFF  # an address's lifetime without end (a static one)


def lease_record_path(rundir: str, node: str, ifname: str) -> str:
    """Where the hook records the lease of ``node``'s ``ifname``."""
    return os.path.join(rundir, f"lease-{node}-{ifname}.json")


def read_lease(rundir: str, node: str, ifname: str) -> Optional[dict]:
    """The lease the hook recorded for ``node``'s ``ifname``, or None."""
    try:
        with open(lease_record_path(rundir, node, ifname)) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def own_namespace(lab: str) -> Optional[str]:
    """The name of the lab namespace this process runs in (``ip netns identify``), or None."""
    mine = os.stat("/proc/self/ns/net")
    try:
        entries = os.listdir(NETNS_RUN_DIR)
    except OSError:
        return None
    for entry in sorted(entries):
        if not entry.startswith(f"{lab}-"):
            continue
        try:
            pin = os.stat(os.path.join(NETNS_RUN_DIR, entry))
        except OSError:
            continue
        if (pin.st_dev, pin.st_ino) == (mine.st_dev, mine.st_ino):
            return entry
    return None


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=False, capture_output=True, text=True)


def leased_addresses(ifname: str) -> list[str]:
    """The interface's IPv4 addresses with a lifetime (DHCP's; static ones have none), as ADDRESS/PREFIX."""
    shown = _ip("-j", "-4", "address", "show", "dev", ifname)
    try:
        links = json.loads(shown.stdout or "[]")
    except ValueError:
        return []
    return [f"{a['local']}/{a['prefixlen']}" for link in links for a in link.get("addr_info", [])
            if a.get("family") == "inet" and a.get("valid_life_time", FOREVER) != FOREVER]


def resolv_conf_text(env: Mapping[str, str]) -> str:
    """The node's resolv.conf for a lease: its DNS servers and its domain."""
    lines = [f"# written by vnetlab's udhcpc hook: the DHCP lease of {env.get('interface', '?')} "
             f"from {env.get('serverid', '?')}"]
    if env.get("domain"):
        lines.append(f"search {env['domain'].split()[0]}")
    lines += [f"nameserver {server}" for server in env.get("dns", "").split()]
    return "\n".join(lines) + "\n"


def write_resolv_conf(ns: str, text: str) -> bool:
    """Writes the node's own resolv.conf in place; False when its /etc/netns directory is not the lab's."""
    from vnetlab.host import node_etc

    lab, _ = names.split_namespace(ns)
    if node_etc.ownership(ns, lab) != node_etc.OURS:
        return False
    path = os.path.join(node_etc.directory(ns), RESOLV_CONF)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return True


def bound(env: Mapping[str, str], rundir: str, ns: Optional[str]) -> None:
    """Applies a lease (``bound`` or ``renew``) inside the node and records it."""
    import ipaddress

    from vnetlab.host.state import write_atomic

    ifname, ip, mask = env["interface"], env["ip"], env.get("mask", "32")
    lease = env.get("lease", "")
    lifetime = ["valid_lft", lease, "preferred_lft", lease] if lease.isdigit() else []
    address = f"{ip}/{mask}"
    broadcast = ["broadcast", env["broadcast"]] if env.get("broadcast") else []
    applied = _ip("address", "replace", address, *broadcast, "dev", ifname, *lifetime)
    if applied.returncode != 0:
        print(f"vnetlab udhcpc hook: ip address replace {address} dev {ifname}: {applied.stderr.strip()}",
              file=sys.stderr)
        return
    for old in leased_addresses(ifname):
        if ipaddress.ip_interface(old).ip != ipaddress.ip_address(ip):
            _ip("address", "del", old, "dev", ifname)
    routers = env.get("router", "").split()
    if routers:
        _ip("route", "replace", "default", "via", routers[0], "dev", ifname, "proto", "dhcp",
            "metric", DHCP_ROUTE_METRIC)
    if ns is None:
        return
    if env.get("dns"):
        write_resolv_conf(ns, resolv_conf_text(env))
    node = names.split_namespace(ns)[1]
    record = {"node": node, "ifname": ifname, "address": address, "router": routers[0] if routers else None,
              "dns": env.get("dns", "").split(), "domain": env.get("domain") or None,
              "lease": int(lease) if lease.isdigit() else None, "server": env.get("serverid") or None,
              "hostname": env.get("hostname") or None, "event": env.get("_event", "bound"), "time": time.time(),
              "client_pid": os.getppid()}  # the udhcpc that holds it (up waits for this run's)
    write_atomic(lease_record_path(rundir, node, ifname), json.dumps(record, indent=1))


def deconfig(env: Mapping[str, str], rundir: str, ns: Optional[str]) -> None:
    """Drops the interface's leased addresses (not its static ones) and the lease record."""
    ifname = env["interface"]
    _ip("link", "set", ifname, "up")
    for old in leased_addresses(ifname):
        _ip("address", "del", old, "dev", ifname)
    if ns is not None:
        try:
            os.unlink(lease_record_path(rundir, names.split_namespace(ns)[1], ifname))
        except FileNotFoundError:
            pass


def main(argv: Sequence[str]) -> int:
    """Entry point: ``HOOK EVENT`` with the lease in the environment; always 0 (udhcpc ignores it)."""
    if len(argv) < 2 or "interface" not in os.environ:
        print("vnetlab udhcpc hook: run by udhcpc with an event and $interface", file=sys.stderr)
        return 2
    event = argv[1]
    rundir = os.path.dirname(os.path.abspath(argv[0]))
    ns = own_namespace(os.path.basename(rundir))
    env = {**os.environ, "_event": event}
    if event == "deconfig":
        deconfig(env, rundir, ns)
    elif event in ("bound", "renew"):
        bound(env, rundir, ns)
    stamp = time.strftime("%H:%M:%S", time.localtime()) + f".{int(time.time() * 1000) % 1000:03d}"
    print(f"{stamp} vnetlab udhcpc hook: {event} on {env['interface']}"
          + (f": {env.get('ip')}/{env.get('mask')} for {env.get('lease')} s" if event in ("bound", "renew") else ""),
          file=sys.stderr)
    return 0
