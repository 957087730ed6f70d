#!/usr/bin/env python3
"""vnetlab web's API on the three-tier lab (1,000 hosts by default): how long the
answers the page polls take — the lab list, the live topology (every second while
a lab is shown), a node's panel — plus up and down as jobs.

The app runs in-process (Starlette's TestClient), so the times are the server's
work plus a negligible in-memory transport, not a browser's. This is a
benchmark, never a test: nothing here asserts a time.

    sudo .venv/bin/python benchmarks/web_api.py                # 1,000 hosts
    sudo .venv/bin/python benchmarks/web_api.py --hosts 200

Needs root. The lab is named ``bweb<N>``; a leftover of an earlier run is removed first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from three_tier import three_tier_yaml  # noqa: E402

TOKEN = "benchmark"
PORT = 8080


def timed(call, repeat: int) -> tuple[float, float, object]:
    """(first, median of the others) seconds of ``call()``, and its last answer."""
    times, answer = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        answer = call()
        times.append(time.perf_counter() - started)
    return times[0], statistics.median(times[1:] or times), answer


def wait(c, job: str) -> dict:
    while True:
        state = c.get(f"/api/jobs/{job}").json()
        if state["state"] != "running":
            return state
        time.sleep(0.05)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=1000)
    p.add_argument("--dists", type=int, default=10)
    p.add_argument("--repeat", type=int, default=10, help="calls per endpoint (default 10)")
    p.add_argument("--markdown", default=str(REPO / "benchmarks" / "results" / "web_api.md"),
                   help="write the table here ('' to skip)")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("web_api.py: needs root", file=sys.stderr)
        return 3
    from starlette.testclient import TestClient

    from vnetlab.lab import down
    from vnetlab.web.app import create_app
    from vnetlab.web.security import Served

    lab = f"bweb{args.hosts}"[:10]
    down(lab)
    scratch = tempfile.TemporaryDirectory(prefix="vnetlab-web-bench-")
    folder = scratch.name
    Path(folder, f"{lab}.yaml").write_text(three_tier_yaml(lab, args.hosts, args.dists, 20))
    rows = []
    app = create_app(folder, TOKEN, Served("127.0.0.1", PORT))
    with scratch, TestClient(app, base_url=f"http://127.0.0.1:{PORT}",
                             headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        first, warm, _ = timed(lambda: c.get("/api/labs").json(), args.repeat)
        rows.append(("GET /api/labs (lab file not running)", first, warm))
        first, warm, topo = timed(lambda: c.get(f"/api/files/{lab}.yaml/topology").json(), args.repeat)
        rows.append((f"GET /api/files/{lab}.yaml/topology ({len(topo['nodes'])} nodes)", first, warm))
        started = time.perf_counter()
        job = c.post("/api/labs", json={"file": f"{lab}.yaml"}).json()["job"]
        state = wait(c, job)
        rows.append((f"POST /api/labs → job done ({state['total']} ops, {state['state']})",
                     time.perf_counter() - started, None))
        try:
            first, warm, topo = timed(lambda: c.get(f"/api/labs/{lab}/topology").json(), args.repeat)
            rows.append((f"GET /api/labs/{lab}/topology (live, {len(topo['nodes'])} nodes, "
                         f"{len(topo['edges'])} edges: hosts folded)", first, warm))
            first, warm, topo = timed(lambda: c.get(f"/api/labs/{lab}/topology?positions=1").json(), 2)
            rows.append((f"GET /api/labs/{lab}/topology?positions=1 (Graphviz's layout, a map's first request)",
                         first, warm))
            first, warm, topo = timed(lambda: c.get(f"/api/labs/{lab}/topology?expand=1").json(), 3)
            rows.append((f"GET /api/labs/{lab}/topology?expand=1 ({len(topo['nodes'])} nodes)", first, warm))
            first, warm, _ = timed(lambda: c.get("/api/labs").json(), args.repeat)
            rows.append(("GET /api/labs (lab running)", first, warm))
            for node in ("c1", "h1"):
                first, warm, panel = timed(lambda: c.get(f"/api/labs/{lab}/nodes/{node}").json(), args.repeat)
                rows.append((f"GET /api/labs/{lab}/nodes/{node} ({len(panel['interfaces'])} interfaces)",
                             first, warm))
        finally:
            started = time.perf_counter()
            state = wait(c, c.delete(f"/api/labs/{lab}").json()["job"])
            rows.append((f"DELETE /api/labs/{lab} → job done ({state['state']})", time.perf_counter() - started,
                         None))
    import platform

    lines = [f"# vnetlab web API, three-tier lab, {args.hosts} hosts", "",
             f"`benchmarks/web_api.py --hosts {args.hosts}`: the app in-process (TestClient), {args.repeat} calls "
             "of each polled answer (2-3 of the slow ones). Machine: "
             f"Linux {platform.release()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
             f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}.", "",
             "| request | first (ms) | median of the rest (ms) |", "|---|---:|---:|"]
    lines += [f"| {what} | {first * 1000:.1f} | {'' if warm is None else f'{warm * 1000:.1f}'} |"
              for what, first, warm in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
