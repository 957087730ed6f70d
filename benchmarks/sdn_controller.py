"""The built-in OpenFlow 1.3 controller, side by side with OVS's own NORMAL switching.

Builds examples/sdn-controller.yaml twice — once as it is (``controller:
builtin``), once with the controller line removed (OVS switches by itself
with its NORMAL action) — and reports, as medians over ``--repeat`` runs:

- ``up``: wall time of ``vnetlab up FILE`` (a subprocess, as users run it);
  with the controller, ``up`` waits until the switch holds the controller's
  table-miss flow;
- ``ready``/``connected`` (controller only): from the controller's first
  log line (Python is up; os-ken not yet imported) to its listening socket,
  and from there to the switch connecting (OVS retries a refused
  controller after 1 s), both from its log;
- ``first RTT``: the first ping h1 -> h2 of a fresh lab, ARP included (with
  the controller: two packet-ins, a flood and two flow installs);
- ``steady RTT``: the median of the next pings (with the controller: on
  installed flows, never leaving the switch).

Run as root from the repository: ``sudo .venv/bin/python benchmarks/sdn_controller.py [--repeat 3]``.
Numbers, never assertions.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(REPO, "examples", "sdn-controller.yaml")
VNETLAB = [sys.executable, "-m", "vnetlab.cli"]
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*?(starting|ready: listening|connected: table-miss)",
                      re.M)


def lab_file(directory: str, controller: bool) -> tuple[str, str]:
    """(path, lab name) of the example, renamed, with or without its controller."""
    with open(EXAMPLE) as handle:
        text = handle.read()
    lab = "sdnbctl" if controller else "sdnbnorm"
    text = re.sub(r"(?m)^lab: \S+", f"lab: {lab}", text)
    if not controller:
        text = re.sub(r"(?m)^    controller: builtin\n", "", text)
    path = os.path.join(directory, f"{lab}.yaml")
    with open(path, "w") as handle:
        handle.write(text)
    return path, lab


def rtts(lab: str, count: int) -> list[float]:
    """Round-trip times (ms) of ``count`` pings h1 -> h2."""
    out = subprocess.run([*VNETLAB, "exec", lab, "h1", "--", "ping", "-n", "-c", str(count), "-i", "0.2",
                          "10.0.0.2"], capture_output=True, text=True).stdout
    return [float(m) for m in re.findall(r"time=([\d.]+) ms", out)]


def controller_delays(lab: str) -> tuple[float, float]:
    """(start -> listening, listening -> switch connected) in seconds, from the service log."""
    with open(f"/run/vnetlab/{lab}/service-sw-1.log") as handle:
        log = handle.read()
    stamps = {kind: datetime.datetime.strptime(when, "%Y-%m-%d %H:%M:%S,%f") for when, kind in LOG_TIME.findall(log)}
    began, ready, connected = stamps["starting"], stamps["ready: listening"], stamps["connected: table-miss"]
    return (ready - began).total_seconds(), (connected - ready).total_seconds()


def one_run(path: str, lab: str, controller: bool) -> dict[str, float]:
    begin = time.monotonic()
    subprocess.run([*VNETLAB, "up", path, "-q"], check=True, capture_output=True)
    result = {"up": time.monotonic() - begin}
    try:
        times = rtts(lab, 11)
        result["first RTT"] = times[0] / 1000
        result["steady RTT"] = statistics.median(times[1:]) / 1000
        if controller:
            result["ready"], result["connected"] = controller_delays(lab)
    finally:
        subprocess.run([*VNETLAB, "down", lab, "-q"], check=True, capture_output=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for controller in (True, False):
            path, lab = lab_file(directory, controller)
            runs = [one_run(path, lab, controller) for _ in range(args.repeat)]
            rows.append(("builtin controller" if controller else "OVS NORMAL",
                         {key: statistics.median(r[key] for r in runs) for key in runs[0]}))
    keys = ["up", "ready", "connected", "first RTT", "steady RTT"]
    print(f"{'switching':<20}" + "".join(f"{k:>12}" for k in keys))
    for name, medians in rows:
        cells = [f"{medians[k] * (1000 if 'RTT' in k else 1):>9.3f} {'ms' if 'RTT' in k else 's '}"
                 if k in medians else f"{'-':>12}" for k in keys]
        print(f"{name:<20}" + "".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
