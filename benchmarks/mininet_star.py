#!/usr/bin/python3
"""Mininet's side of the star benchmark (run by star.py with the system
python3, where the Debian package `mininet` installs its library).

    /usr/bin/python3 benchmarks/mininet_star.py N

Builds `--topo single,N --switch lxbr --controller none` through Mininet's
Python API — N hosts, one Linux bridge, no controller, Mininet's defaults
otherwise (IPv6 left on, as Mininet users get it) — and prints one JSON line:
{"up": s, "down": s, "ping": bool, "left": [...]}. ``up`` is Mininet(...)
(which builds hosts, links and the switch) plus ``start()``; ``down`` is
``stop()``. h1 pings hN once between the two, outside the timed region.
Never runs ``mn -c`` (it removes every OVS bridge of the host).
"""

import json
import os
import sys
import time


# Mininet's fixLimits() raises these host-wide sysctls on start and never
# puts them back; the benchmark restores them so the host stays as it was.
HOST_SYSCTLS = (
    "net.ipv4.neigh.default.gc_thresh1", "net.ipv4.neigh.default.gc_thresh2",
    "net.ipv4.neigh.default.gc_thresh3", "net.core.netdev_max_backlog",
    "net.core.wmem_max", "net.core.rmem_max", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
    "kernel.pty.max", "fs.file-max", "net.ipv4.route.max_size",
)


def _sysctl_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


def read_host_sysctls() -> dict:
    values = {}
    for key in HOST_SYSCTLS:
        try:
            with open(_sysctl_path(key)) as handle:
                values[key] = handle.read().strip()
        except OSError:
            pass
    return values


def restore_host_sysctls(values: dict) -> None:
    for key, value in values.items():
        with open(_sysctl_path(key), "w") as handle:
            handle.write(value)


def main() -> int:
    saved = read_host_sysctls()
    try:
        return run(int(sys.argv[1]))
    finally:
        restore_host_sysctls(saved)


def run(n: int) -> int:
    from mininet.log import setLogLevel
    from mininet.net import Mininet
    from mininet.nodelib import LinuxBridge
    from mininet.topo import SingleSwitchTopo

    setLogLevel("error")
    before = set(os.listdir("/sys/class/net"))
    start = time.perf_counter()
    net = Mininet(topo=SingleSwitchTopo(n), switch=LinuxBridge, controller=None)
    net.start()
    up = time.perf_counter() - start
    hosts = net.hosts
    ping = net.ping([hosts[0], hosts[-1]], timeout="3") == 0
    start = time.perf_counter()
    net.stop()
    down = time.perf_counter() - start
    left = sorted(set(os.listdir("/sys/class/net")) - before)
    print(json.dumps({"up": up, "down": down, "ping": ping, "left": left}))
    return 0 if ping and not left else 1


if __name__ == "__main__":
    sys.exit(main())
