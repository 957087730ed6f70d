"""``vnetlab reboot LAB NODE`` on the real kernel: runtime state goes, what is persistent comes back.

One lab for the module (h1 — r1 — h2, a service on h2); each test leaves it
running as its file says. The node's own /etc/network/interfaces is written
from inside the node, as a student would (``vnetlab exec … tee``); it is made
the first time the node is entered, which a lab of its own tests from ``up``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest
import yaml

from conftest import VNETLAB, cli, lab_namespaces
from vnetlab.host import netns, node_etc, state
from vnetlab.lab import Lab
from vnetlab.observe.status import node_services

LAB = "rebootme"
SPEC = {
    "lab": LAB,
    "nodes": {
        "h1": {"interfaces": {"eth0": {"address": "10.71.0.1/24"}},
               "routes": [{"to": "default", "via": "10.71.0.254"}]},
        "r1": {"kind": "router",
               "interfaces": {"eth0": {"address": "10.71.0.254/24"}, "eth1": {"address": "10.72.0.254/24"}}},
        "h2": {"interfaces": {"eth0": {"address": "10.72.0.1/24"}},
               "routes": [{"to": "default", "via": "10.72.0.254"}],
               "services": [{"command": ["sleep", "600"]}]},
    },
    "links": [["h1:eth0", "r1:eth0"], ["r1:eth1", "h2:eth0"]],
    "checks": [{"from": "h1", "to": "h2", "expect": "reach"}],
}
# h1's file with an extra address and a static route, as a student would write it.
PERSISTENT = """\
auto lo
iface lo inet loopback

auto eth0
iface eth0 inet static
    address 10.71.0.1/24
    gateway 10.71.0.254
    address 10.71.0.5
    netmask 255.255.255.0
    mtu 1400
    post-up ip route add 10.79.0.0/24 via 10.71.0.254 dev eth0
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    path = tmp_path_factory.mktemp("reboot") / f"{LAB}.yaml"
    path.write_text(yaml.safe_dump(SPEC, sort_keys=False))
    running = Lab.load(str(path))
    running.up()
    try:
        yield running
    finally:
        running.down()


def write_file(node: str, text: str) -> None:
    """Writes the node's /etc/network/interfaces from inside the node."""
    done = cli("exec", LAB, node, "--", "tee", "/etc/network/interfaces", input=text)
    assert done.returncode == 0, done.stderr


def addresses(lab: Lab, node: str, ifname: str = "eth0") -> list[str]:
    out = lab.node(node).run(["ip", "-j", "addr", "show", "dev", ifname], capture_output=True, text=True, check=True)
    return [f"{a['local']}/{a['prefixlen']}" for a in json.loads(out.stdout)[0]["addr_info"] if a["family"] == "inet"]


def routes(lab: Lab, node: str) -> list[str]:
    out = lab.node(node).run(["ip", "-j", "route"], capture_output=True, text=True, check=True)
    return [f"{r['dst']} via {r.get('gateway')}" for r in json.loads(out.stdout)]


def test_what_was_changed_by_hand_is_gone_after_a_reboot_and_the_service_restarts(lab):
    h2 = lab.node("h2")
    h2.run(["ip", "addr", "add", "192.0.2.7/24", "dev", "eth0"], check=True)
    h2.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
    h2.run(["nft", "add", "table", "inet", "handmade"], check=True)
    before = [s["pid"] for s in node_services(state.lab_dir(LAB))["h2"]]
    done = cli("reboot", LAB, "h2")
    assert done.returncode == 0, done.stderr
    assert "rebooted" in done.stdout
    assert addresses(lab, "h2") == ["10.72.0.1/24"]
    assert h2.run(["sysctl", "-n", "net.ipv4.ip_forward"], capture_output=True, text=True).stdout.strip() == "0"
    assert "handmade" not in h2.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    after = node_services(state.lab_dir(LAB))["h2"]
    assert after[0]["running"] and after[0]["pid"] != before[0], "the node's service did not start again"
    assert routes(lab, "h2") == ["default via 10.72.0.254", "10.72.0.0/24 via None"]


def test_an_address_and_a_route_written_in_the_nodes_file_survive_a_reboot(lab):
    assert not os.path.exists("/etc/network/interfaces") or \
        open("/etc/network/interfaces").read() != PERSISTENT  # the host's own file is another one
    write_file("h1", PERSISTENT)
    with open(node_etc.interfaces_path(f"{LAB}-h1")) as handle:  # the file lives in the node's own /etc
        assert handle.read() == PERSISTENT
    lab.node("h1").run(["ip", "addr", "add", "10.71.0.99/24", "dev", "eth0"], check=True)  # runtime only
    done = cli("reboot", LAB, "h1")
    assert done.returncode == 0, done.stderr
    assert "eth0: address 10.71.0.5/24 (/etc/network/interfaces:8)" in done.stdout
    assert addresses(lab, "h1") == ["10.71.0.1/24", "10.71.0.5/24"]
    assert "10.79.0.0/24 via 10.71.0.254" in routes(lab, "h1")
    mtu = lab.node("h1").run(["cat", "/sys/class/net/eth0/mtu"], capture_output=True, text=True).stdout.strip()
    assert mtu == "1400"
    # What the file added is the node's persistent state now: up and status see no drift.
    up = cli("up", lab.source, "--json")
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["changed"] == 0 and not json.loads(up.stdout).get("converged")
    status = json.loads(cli("status", LAB, "--json", check=True).stdout)
    assert status["drift"] == [] and not status["nodes"]["h1"].get("missing")
    assert addresses(lab, "h1") == ["10.71.0.1/24", "10.71.0.5/24"]


def test_rebooting_the_router_brings_back_its_neighbours_veths_and_traffic_passes(lab):
    for node in ("h1", "h2"):  # a mark on the old devices (the kernel may give the new ones the old index)
        lab.node(node).run(["ip", "link", "set", "eth0", "alias", "before-the-reboot"], check=True)
    done = cli("reboot", LAB, "r1")
    assert done.returncode == 0, done.stderr
    for node in ("h1", "h2"):
        alias = lab.node(node).run(["cat", "/sys/class/net/eth0/ifalias"], capture_output=True, text=True)
        assert alias.returncode == 0 and alias.stdout.strip() == "", f"{node}'s end of its link to r1 was not made again"
    assert "10.71.0.5/24" in addresses(lab, "h1"), "h1's persistent address went with its re-made veth"
    ping = lab.node("h1").run(["ping", "-c1", "-W1", "10.72.0.1"], capture_output=True)
    assert ping.returncode == 0, ping.stdout
    assert cli("check", LAB).returncode == 0


def test_a_reboot_leaves_the_neighbours_runtime_state_alone(lab):
    r1 = lab.node("r1")
    r1.run(["ip", "addr", "add", "10.71.0.77/24", "dev", "eth0"], check=True)   # changed by hand in r1
    r1.run(["sysctl", "-qw", "net.ipv4.conf.all.log_martians=1"], check=True)
    r1.run(["sysctl", "-qw", "net.ipv4.ip_forward=0"], check=True)              # the lab file says 1
    try:
        done = cli("reboot", LAB, "h2")
        assert done.returncode == 0, done.stderr
        assert "10.71.0.77/24" in addresses(lab, "r1", "eth0"), "rebooting h2 undid r1's hand-made address"
        forward = r1.run(["sysctl", "-n", "net.ipv4.ip_forward"], capture_output=True, text=True).stdout.strip()
        assert forward == "0", "rebooting h2 reset r1's ip_forward"
        assert addresses(lab, "r1", "eth1") == ["10.72.0.254/24"], "r1's end of the link to h2 came back"
    finally:
        r1.run(["ip", "addr", "del", "10.71.0.77/24", "dev", "eth0"], check=True)
        r1.run(["sysctl", "-qw", "net.ipv4.conf.all.log_martians=0", "net.ipv4.ip_forward=1"], check=True)
    assert lab.node("h1").run(["ping", "-c1", "-W1", "10.72.0.1"], capture_output=True).returncode == 0


def test_a_broken_file_boots_the_node_with_its_lab_file_part_and_exits_1(lab):
    write_file("h2", "address 10.72.0.9/24\nauto eth0\niface eth0 inet static\n    address 10.72.0.8/24\n")
    done = cli("reboot", LAB, "h2")
    assert done.returncode == 1
    assert "/etc/network/interfaces:1:" in done.stderr and "outside any `iface` stanza" in done.stderr
    assert addresses(lab, "h2") == ["10.72.0.1/24"], "nothing of a broken file is applied"
    assert lab.node("h1").run(["ping", "-c1", "-W1", "10.72.0.1"], capture_output=True).returncode == 0
    write_file("h2", "")  # leaves no trace for the next test


def test_rebooting_a_node_the_lab_does_not_have_is_exit_2(lab):
    done = cli("reboot", LAB, "h9")
    assert done.returncode == 2
    assert "no node 'h9'" in done.stderr


def test_a_reboot_killed_half_way_leaves_nothing_after_down(tmp_path):
    path = tmp_path / "killboot.yaml"
    path.write_text(yaml.safe_dump({"lab": "killboot", "nodes": {"a": {"interfaces": {"eth0": {"address": "10.73.0.1/24"}}},
                                                                "b": {"interfaces": {"eth0": {"address": "10.73.0.2/24"}}}},
                                    "links": [["a:eth0", "b:eth0"]]}))
    try:
        cli("up", str(path), "-q", check=True)
        # Step 2 of the shut-down: a's veth is deleted, its namespace not yet (nor made again).
        env = dict(os.environ, VNETLAB_TEST_SIGKILL_AT_STEP="2")
        killed = subprocess.run([*VNETLAB, "reboot", "killboot", "a"], env=env, capture_output=True)
        assert killed.returncode == -signal.SIGKILL
        assert netns.exists("killboot-a"), "killed before the namespace went"
        assert os.path.isdir(node_etc.directory("killboot-a")), "the reboot gave a, never entered, its /etc first"
    finally:
        assert cli("down", "killboot").returncode == 0
    assert lab_namespaces("killboot") == []
    assert not os.path.exists(state.lab_dir("killboot"))
    assert not os.path.lexists(node_etc.directory("killboot-a"))


def _etc_entries(lab: str) -> list[str]:
    try:
        return sorted(entry for entry in os.listdir(node_etc.ETC_NETNS) if entry.startswith(f"{lab}-"))
    except FileNotFoundError:
        return []


def test_a_nodes_own_etc_is_made_when_it_is_first_entered_and_kept_from_then_on(tmp_path):
    from vnetlab.io.persistent import interfaces_text

    path = tmp_path / "lazyetc.yaml"
    spec = {"lab": "lazyetc", "nodes": {"a": {"interfaces": {"eth0": {"address": "10.74.0.1/24"}}},
                                        "b": {"interfaces": {"eth0": {"address": "10.74.0.2/24"}}}},
            "links": [["a:eth0", "b:eth0"]]}
    path.write_text(yaml.safe_dump(spec))
    etc_netns_before = os.path.isdir(node_etc.ETC_NETNS)
    try:
        cli("up", str(path), "-q", check=True)
        assert _etc_entries("lazyetc") == [], "up made a node's /etc nobody entered"
        assert state.Journal("lazyetc").read().etc == []
        status = json.loads(cli("status", "lazyetc", "--json", check=True).stdout)
        assert status["drift"] == [], "a node without its own /etc is no drift"
        shown = cli("exec", "lazyetc", "a", "--", "cat", "/etc/network/interfaces", check=True).stdout
        assert shown == interfaces_text(Lab.running("lazyetc").spec, "a"), "the first exec sees its node's file"
        assert _etc_entries("lazyetc") == ["lazyetc-a"]
        assert node_etc.ownership("lazyetc-a", "lazyetc") == node_etc.OURS
        assert state.Journal("lazyetc").read().etc == ["lazyetc-a"]
        edited = shown + "    mtu 1400\n"
        cli("exec", "lazyetc", "a", "--", "tee", "/etc/network/interfaces", input=edited, check=True)
        up = json.loads(cli("up", str(path), "--json", check=True).stdout)
        assert up["changed"] == 0
        with open(node_etc.interfaces_path("lazyetc-a")) as handle:
            assert handle.read() == edited, "a converge up rewrote the student's file"
        assert _etc_entries("lazyetc") == ["lazyetc-a"], "a converge up made the others' /etc"
        rebooted = json.loads(cli("reboot", "lazyetc", "b", "--json", check=True).stdout)
        assert rebooted["ok"] and rebooted["applied"] == [] and rebooted["notes"] == []
        assert _etc_entries("lazyetc") == ["lazyetc-a", "lazyetc-b"], "the reboot gave b its file"
        assert Lab.running("lazyetc").node("b").run(["ping", "-c1", "-W1", "10.74.0.1"]).returncode == 0
    finally:
        assert cli("down", "lazyetc").returncode == 0
    assert _etc_entries("lazyetc") == []
    assert os.path.isdir(node_etc.ETC_NETNS) == etc_netns_before
