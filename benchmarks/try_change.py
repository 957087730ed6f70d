"""How long `vnetlab try OLD NEW` takes for a typical host: one interfaces
file with a management bridge and a NAT bridge, three VMs (one with its own
firewall) and two containers, a datacenter firewall — once unchanged, once
with a change that breaks NAT (so a trace runs) and once with one that locks
the admin out.

Run as root from the repository:

    sudo .venv/bin/python benchmarks/try_change.py [--repeat 3]

Prints a markdown table of median seconds per step (in-process, no CLI
start-up). Nothing here is asserted; the tests are in tests/.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from vnetlab.labs.try_change import try_change

INTERFACES = """auto lo
iface lo inet loopback

iface eno1 inet manual

auto vmbr0
iface vmbr0 inet static
	address 192.168.1.10/24
	gateway 192.168.1.1
	bridge-ports eno1
	bridge-stp off
	bridge-fd 0

auto vmbr1
iface vmbr1 inet static
	address 10.10.10.1/24
	bridge-ports none
	bridge-stp off
	bridge-fd 0
	post-up   echo 1 > /proc/sys/net/ipv4/ip_forward
	post-up   iptables -t nat -A POSTROUTING -s '10.10.10.0/24' -o vmbr0 -j MASQUERADE
	post-down iptables -t nat -D POSTROUTING -s '10.10.10.0/24' -o vmbr0 -j MASQUERADE
"""


def write_host(root: Path, interfaces: str) -> None:
    """A typical small Proxmox host under ``root``."""
    (root / "etc/network").mkdir(parents=True)
    (root / "etc/network/interfaces").write_text(interfaces)
    qemu, lxc, fw = root / "etc/pve/qemu-server", root / "etc/pve/lxc", root / "etc/pve/firewall"
    for directory in (qemu, lxc, fw):
        directory.mkdir(parents=True)
    for index in (1, 2, 3):
        (qemu / f"10{index}.conf").write_text(
            f"name: web{index}\nnet0: virtio=BC:24:11:00:02:0{index},bridge=vmbr0,firewall=1\n"
            f"ipconfig0: ip=192.168.1.2{index}/24,gw=192.168.1.1\n")
    for index in (4, 5):
        (lxc / f"20{index}.conf").write_text(
            f"hostname: ct{index}\nnet0: name=eth0,bridge=vmbr1,ip=10.10.10.{index}/24,gw=10.10.10.1,type=veth\n")
    (fw / "cluster.fw").write_text("[OPTIONS]\nenable: 1\n[RULES]\nIN Ping(ACCEPT)\n")
    (fw / "101.fw").write_text("[OPTIONS]\nenable: 1\n[RULES]\nIN HTTP(ACCEPT)\nIN Ping(ACCEPT)\n")


CHANGES = {
    "nothing": INTERFACES,
    "NAT removed": INTERFACES.replace("\tpost-up   iptables -t nat -A POSTROUTING -s '10.10.10.0/24' -o vmbr0 "
                                      "-j MASQUERADE\n", ""),
    "uplink removed": INTERFACES.replace("bridge-ports eno1", "bridge-ports none"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="vnetlab-try-bench-"))
    try:
        old = base / "old"
        write_host(old, INTERFACES)
        rows = []
        for what, text in CHANGES.items():
            new = base / what.replace(" ", "-")
            write_host(new, text)
            runs = [try_change(str(old), str(new)) for _ in range(args.repeat)]
            steps = ("import", "up", "check", "trace", "down", "total")
            medians = {step: statistics.median(r.seconds.get(step, 0.0) for r in runs) for step in steps}
            rows.append((what, len(runs[0].broken), medians))
        print("| change | broken checks | " + " | ".join(steps) + " |")
        print("|---|---|" + "---|" * len(steps))
        for what, broken, medians in rows:
            print(f"| {what} | {broken} | " + " | ".join(f"{medians[s]:.2f}" for s in steps) + " |")
    finally:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
