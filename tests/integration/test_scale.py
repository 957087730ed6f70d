"""Scale: a 1,000-host star comes up, its checks pass, and it goes down
cleanly; the host-wide neighbour-table limits are warned about, raised only
on request, and restored at down (also after a SIGKILLed up).

Functional only: no timing is asserted here (the numbers live in benchmarks/).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess

import pytest

from conftest import VNETLAB, cli, lab_namespaces

from vnetlab.host import netns, state

N = 1000
THRESH = [f"/proc/sys/net/ipv4/neigh/default/gc_thresh{k}" for k in (1, 2, 3)]


def host_address(i: int) -> str:
    return f"10.0.{i // 200}.{i % 200 + 1}"


def star(lab: str, n: int, checks: list[str]) -> str:
    lines = [f"lab: {lab}", "nodes:"]
    lines += [f"  h{i}: {{interfaces: {{eth0: {{address: {host_address(i)}/16}}}}}}" for i in range(1, n + 1)]
    lines += ["  sw: {kind: switch}", "links:"]
    lines += [f"  - [h{i}:eth0, sw:p{i}]" for i in range(1, n + 1)]
    if checks:
        lines += ["checks:"] + [f"  - {c}" for c in checks]
    return "\n".join(lines) + "\n"


def limits() -> list[int]:
    values = []
    for path in THRESH:
        with open(path) as handle:
            values.append(int(handle.read()))
    return values


def test_thousand_host_star_up_checks_down(tmp_path):
    lab = "sclstar"
    # a ring of reach checks: every host pings the next, so 2,000 ARP entries
    # are needed — more than the default gc_thresh3 (1,024)
    checks = [f"{{from: h{i}, to: h{i % N + 1}}}" for i in range(1, N + 1)]
    checks.append("{from: h1, to: 10.0.250.250, expect: no-reach}")  # nobody has it
    path = tmp_path / "star.yaml"
    path.write_text(star(lab, N, checks))
    before = limits()
    try:
        up = cli("up", str(path), "--raise-neigh-limit", "--json", check=True)
        raised = limits()
        assert raised[2] >= 2 * 2 * N  # room for 2,000 entries, twice
        if before[2] < 2 * 2 * N:
            assert raised[2] > before[2]
            assert "raised host neighbour limits" in up.stderr and "gc_thresh3" in up.stderr
        else:  # the host already had room: nothing to change
            assert raised == before
        assert json.loads(up.stdout)["nodes"] == N + 1
        assert sorted(lab_namespaces(lab)) == sorted([f"{lab}-h{i}" for i in range(1, N + 1)] + [f"{lab}-sw"])

        # every port is on br0 and up; the hosts have no IPv6 at all (no
        # link-local address, so no autoconfiguration or DAD traffic)
        ports = json.loads(subprocess.run(["ip", "-n", f"{lab}-sw", "-j", "link", "show", "master", "br0"],
                                          capture_output=True, text=True, check=True).stdout)
        assert len(ports) == N and all("UP" in p["flags"] for p in ports)
        for host in ("h1", "h500", f"h{N}"):
            v6 = subprocess.run(["ip", "-n", f"{lab}-{host}", "-6", "addr"], capture_output=True, text=True)
            assert v6.stdout.strip() == ""
            eth0 = json.loads(subprocess.run(["ip", "-n", f"{lab}-{host}", "-j", "addr", "show", "eth0"],
                                             capture_output=True, text=True, check=True).stdout)[0]
            assert [a["local"] for a in eth0["addr_info"]] == [host_address(int(host[1:]))]

        result = cli("check", lab, "--json")
        report = json.loads(result.stdout)
        failed = [r for r in report["results"] if not r["ok"]]
        assert result.returncode == 0 and report["passed"] == N + 1, failed[:5]
        assert "warning" not in result.stderr  # the raised limits are enough
    finally:
        down = cli("down", lab)
    assert down.returncode == 0, down.stderr
    assert lab_namespaces(lab) == []
    assert not os.path.exists(state.lab_dir(lab))
    assert limits() == before  # restored


def test_neigh_limit_warned_not_changed_without_the_flag(tmp_path):
    """More checks to distinct on-link addresses than the host's gc_thresh3
    (1,024 by default). Without --raise-neigh-limit the host is not
    changed, but warned about."""
    lab = "sclwarn"
    count = limits()[2] + 100
    checks = [f"{{from: a, to: 10.{9 + k // 62500}.{k // 250 % 250}.{k % 250 + 2}}}" for k in range(count)]
    text = (f"lab: {lab}\nnodes:\n  a: {{interfaces: {{eth0: {{address: 10.9.0.1/16}}}}}}\n"
            f"  b: {{interfaces: {{eth0: {{address: 10.9.255.1/16}}}}}}\nlinks:\n  - [a:eth0, b:eth0]\n"
            "checks:\n" + "".join(f"  - {c}\n" for c in checks))
    path = tmp_path / "warn.yaml"
    path.write_text(text)
    before = limits()
    try:
        up = cli("up", str(path), "-q", check=True)
        assert limits() == before
        assert "warning" in up.stderr and f"about {count} ARP" in up.stderr
        assert f"net.ipv4.neigh.default.gc_thresh3={before[2]}" in up.stderr
        assert "--raise-neigh-limit" in up.stderr
    finally:
        cli("down", lab, check=True)
    assert limits() == before


def test_neigh_limits_restored_after_sigkilled_up(tmp_path):
    """The old values are journaled before they are changed, so a down after
    an up killed with SIGKILL restores them."""
    lab = "sclkill"
    count = limits()[2] // 2 + 100  # enough that the limits must grow
    checks = [f"{{from: a, to: 10.{8 + k // 62500}.{k // 250 % 250}.{k % 250 + 2}}}" for k in range(count)]
    text = (f"lab: {lab}\nnodes:\n  a: {{interfaces: {{eth0: {{address: 10.8.0.1/16}}}}}}\n"
            f"  b: {{interfaces: {{eth0: {{address: 10.8.255.1/16}}}}}}\nlinks:\n  - [a:eth0, b:eth0]\n"
            "checks:\n" + "".join(f"  - {c}\n" for c in checks))
    path = tmp_path / "kill.yaml"
    path.write_text(text)
    before = limits()
    env = dict(os.environ, VNETLAB_TEST_SIGKILL_AT_STEP="3")
    try:
        killed = subprocess.run([*VNETLAB, "up", str(path), "--raise-neigh-limit", "-q"], env=env,
                                capture_output=True, text=True)
        assert killed.returncode == -9
        assert limits()[2] > before[2]  # raised, and the up died
        with open(os.path.join(state.lab_dir(lab), "journal.jsonl")) as handle:
            entries = [json.loads(line) for line in handle]
        recorded = [e for e in entries if e["kind"] == "neigh-limits"]
        assert recorded and recorded[0]["old"] == dict(zip(("gc_thresh1", "gc_thresh2", "gc_thresh3"), before))
    finally:
        down = cli("down", lab)
    assert down.returncode == 0, down.stderr
    assert limits() == before
    assert not any(n.startswith(f"{lab}-") for n in netns.list_names())


def test_reach_makes_room_for_its_matrix_and_down_restores_the_limits(tmp_path):
    """A flat segment of 50 hosts: all-pairs reach needs about 2,450 ARP
    entries. up --raise-neigh-limit sizes the table for the lab's checks (none
    here: nothing raised); reach refuses, unless given --raise-neigh-limit,
    which raises the limits, journaled in the lab's journal, until down."""
    lab, n = "sclreach", 50
    path = tmp_path / "reach.yaml"
    path.write_text(star(lab, n, []))
    before = limits()
    try:
        cli("up", str(path), "--raise-neigh-limit", "-q", check=True)
        assert limits() == before  # a lab without checks needs no room at up
        needs_room = before[2] * 0.9 < n * (n - 1)
        refused = cli("reach", lab, "--json")
        if needs_room:
            assert refused.returncode == 3 and "--raise-neigh-limit" in refused.stderr
            assert limits() == before
        made = cli("reach", lab, "--raise-neigh-limit", "--json")
        assert made.returncode == 0, made.stderr
        matrix = json.loads(made.stdout)
        assert matrix["pairs"] == n * (n - 1) and matrix["reachable"] == n * (n - 1)
        assert matrix["neighbour_entries"] == n * (n - 1)
        raised = limits()
        with open(os.path.join(state.lab_dir(lab), "journal.jsonl")) as handle:
            recorded = [e for e in map(json.loads, handle) if e["kind"] == "neigh-limits"]
        if needs_room:
            assert raised[2] >= 2 * n * (n - 1) and "raised host neighbour limits" in made.stderr
            # the old values are in the lab's journal: down restores them even if reach was killed
            assert recorded[0]["old"] == dict(zip(("gc_thresh1", "gc_thresh2", "gc_thresh3"), before))
        else:
            assert raised == before and recorded == []
        scan = cli("scan", lab, "h1", "h2", "-p", "22", "--no-nmap", "--raise-neigh-limit", "--json")
        assert scan.returncode == 0, scan.stderr
        assert limits() == raised  # two more neighbours fit: nothing raised again
    finally:
        down = cli("down", lab)
    assert down.returncode == 0, down.stderr
    assert limits() == before


def test_a_lab_bigger_than_the_open_sessions_is_built_and_reads_back_unchanged(tmp_path, monkeypatch):
    """With room for 32 session descriptors, 120 hosts make the backend
    release and reopen sockets and namespace fds all the time (also while a
    queued veth message names the switch's fd). The lab must come out whole:
    a re-up finds nothing to change, and the far ends of the star talk."""
    from vnetlab.executors import kernel
    from vnetlab.lab import Lab, down
    from vnetlab.model import load_lab_text

    monkeypatch.setattr(kernel, "MAX_SESSION_FDS", 32)
    lab, n = "sclses", 120
    spec = load_lab_text(star(lab, n, []), str(tmp_path / "s.yaml"))
    try:
        first = Lab(spec).up()
        assert len(first.changed) > 8 * n
        rerun = Lab(spec)
        assert rerun.up().changed == [] and rerun.last_diff.changes == []  # read back: all there
        ports = json.loads(subprocess.run(["ip", "-n", f"{lab}-sw", "-j", "link", "show", "master", "br0"],
                                          capture_output=True, text=True, check=True).stdout)
        assert len(ports) == n and all("UP" in p["flags"] for p in ports)
        ping = subprocess.run(["ip", "netns", "exec", f"{lab}-h1", "ping", "-c1", "-W2", host_address(n)],
                              capture_output=True, text=True)
        assert ping.returncode == 0, ping.stdout
    finally:
        down(lab)
    assert lab_namespaces(lab) == []
    assert not [f for f in os.listdir(netns.NETNS_RUN_DIR) if f.startswith(f"{lab}-")]  # no file left either


def test_a_failed_first_up_removes_the_mountpoints_it_prepared(tmp_path, monkeypatch):
    """The mountpoint files of a batch are made up front (hard links of one
    file); when making a namespace fails half-way, the files of those not
    made yet go too, and what was made is rolled back."""
    from vnetlab.errors import ApplyError
    from vnetlab.lab import Lab
    from vnetlab.model import load_lab_text

    lab = "sclmnt"
    real = netns.create

    def fails_at_h5(name, inside=None):
        if name == f"{lab}-h5":
            raise OSError(errno.EPERM, "injected failure")
        return real(name, inside)

    monkeypatch.setattr(netns, "create", fails_at_h5)
    spec = load_lab_text(star(lab, 10, []), str(tmp_path / "m.yaml"))
    with pytest.raises(ApplyError, match="injected failure"):
        Lab(spec).up()
    assert not [f for f in os.listdir(netns.NETNS_RUN_DIR) if f.startswith(f"{lab}-")]
    assert lab_namespaces(lab) == [] and not os.path.exists(state.lab_dir(lab))
