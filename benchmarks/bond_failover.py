"""How long traffic stops when the active member of an OVS active-backup bond loses its cable.

    .venv/bin/python benchmarks/bond_failover.py [--repeat 5] [--interval 0.01]

Brings up examples/proxmox-bridged.yaml (renamed lab ``bfbench``): vmbr0 over
bond0 = eno1 + eno2, active-backup; on this kernel (no bonding driver) the bond
runs on Open vSwitch's userspace datapath. Per run: the LAN's ``pc`` pings
VM 100 every INTERVAL seconds; after 1 s the top-of-rack port of the bond's
*active* member is set down (the cable is cut) and the ping runs on for 2 s.
The outage is (longest run of missing replies) x INTERVAL. Between runs the
cut port comes back up. Prints one JSON line per run and a summary; the
lab is brought down at the end (also on error).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from vnetlab.lab import Lab, down

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "proxmox-bridged.yaml")
ACTIVE = re.compile(r"active member mac: \S+\((\w+)\)")


def active_member(lab: Lab) -> str:
    shown = lab.node("pve").run(["ovs-appctl", "bond/show", "bond0"], capture_output=True, text=True,
                                check=True).stdout
    return ACTIVE.search(shown).group(1)


def one_run(lab: Lab, interval: float) -> dict:
    before = active_member(lab)
    port = {"eno1": "p1", "eno2": "p2"}[before]
    count = int(3.0 / interval)
    pinger = lab.node("pc").popen(["ping", "-n", "-i", str(interval), "-c", str(count), "-W", "1",
                                   "192.168.1.100"], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    lab.node("tor").run(["ip", "link", "set", port, "down"], check=True)
    out, _ = pinger.communicate(timeout=60)
    seqs = sorted(int(s) for s in re.findall(r"icmp_seq=(\d+)", out))
    lost = max((b - a - 1 for a, b in zip(seqs, seqs[1:])), default=count)
    after = active_member(lab)
    lab.node("tor").run(["ip", "link", "set", port, "up"], check=True)
    time.sleep(0.5)
    return {"cut": before, "now_active": after, "lost": lost, "outage_s": round(lost * interval, 3),
            "last_seq": seqs[-1] if seqs else None, "sent": count}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--interval", type=float, default=0.01)
    args = parser.parse_args()
    with open(EXAMPLE) as handle:
        text = re.sub(r"(?m)^lab: \S+", "lab: bfbench", handle.read())
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(text)
    lab = Lab.load(handle.name)
    try:
        lab.up()
        time.sleep(0.5)
        runs = []
        for _ in range(args.repeat):
            runs.append(one_run(lab, args.interval))
            print(json.dumps(runs[-1]), flush=True)
        outages = [r["outage_s"] for r in runs]
        print(json.dumps({"interval_s": args.interval, "runs": len(runs), "median_outage_s": statistics.median(outages),
                          "max_outage_s": max(outages)}))
    finally:
        down(lab.name)
        os.unlink(handle.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
