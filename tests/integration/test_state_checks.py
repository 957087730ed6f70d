"""State checks against one real lab, through `vnetlab check --json` (issue 12): for every kind a
passing case and a failing case whose detail says what is there instead."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from conftest import cli, lab_namespaces

pytestmark = pytest.mark.integration

LAB = "stchk"
LAB_FILE = f"""
lab: {LAB}
nodes:
  r1:
    kind: router
    interfaces:
      eth0: {{address: 10.61.0.254/24}}
      eth1: {{address: 10.62.0.254/24}}
  h1:
    interfaces: {{eth0: {{address: 10.61.0.1/24}}}}
    routes: [{{to: default, via: 10.61.0.254}}]
    services:  # an address with a lifetime, as a DHCP client installs its lease
      - {{command: [ip, addr, add, 10.61.0.50/24, dev, eth0, valid_lft, "300", preferred_lft, "300"], oneshot: true}}
  srv:
    interfaces: {{eth0: {{address: 10.62.0.10/24}}}}
    routes: [{{to: default, via: 10.62.0.254}}]
    services: [{{listen: tcp/22}}]
    firewall:
      input:
        policy: drop
        rules: [{{action: accept, proto: tcp, port: 22}}, {{action: accept, proto: icmp}}]
  sw:
    kind: switch
    backend: ovs
    flows:
      - priority=100,ip,nw_src=10.62.0.66,actions=drop
      - priority=0,actions=NORMAL
links:
  - [h1:eth0, r1:eth0]
  - [r1:eth1, sw:p1]
  - [srv:eth0, sw:p2]
checks:
  - {{from: h1, to: srv}}
  - {{name: sysctl pass, node: r1, sysctl: {{net.ipv4.ip_forward: 1}}}}
  - {{name: sysctl fail, node: h1, sysctl: {{net.ipv4.ip_forward: 1}}}}
  - {{name: address pass, node: h1, address: {{dev: eth0, has: 10.61.0.1/24}}}}
  - {{name: address fail, node: h1, address: {{dev: eth0, has: 10.61.0.1/16}}}}
  - {{name: route pass, node: h1, route: {{to: default, via: 10.61.0.254}}}}
  - {{name: route fail, node: r1, route: {{to: 10.9.0.0/24}}}}
  - {{name: route wrong gateway, node: h1, route: {{to: default, via: 10.61.0.253}}}}
  - {{name: not route pass, node: r1, not: true, route: {{to: 10.9.0.0/24}}}}
  - {{name: not route fail, node: r1, not: true, route: {{to: 10.61.0.0/24, dev: eth0}}}}
  - {{name: link pass, node: h1, link: {{name: eth0, kind: veth, up: true, mtu: 1500}}}}
  - {{name: link ovs port pass, node: sw, link: {{name: p1, up: true, master: br0}}}}
  - {{name: link fail, node: h1, link: {{name: eth0, kind: bond, master: vmbr0}}}}
  - {{name: link absent, node: h1, link: {{name: bond0}}}}
  - {{name: listening pass, node: srv, listening: tcp/22}}
  - {{name: listening fail, node: srv, listening: udp/53}}
  - {{name: flow pass, node: sw, flow: {{contains: nw_src=10.62.0.66, actions: drop}}}}
  - {{name: flow fail, node: sw, flow: {{contains: nw_src=10.62.0.77}}}}
  - {{name: nft pass, node: srv, nft: {{chain: input, policy: drop, rule: "dport 22"}}}}
  - {{name: nft fail, node: srv, nft: {{chain: input, policy: accept}}}}
  - {{name: command pass, node: h1, command: [ping, -c1, -W2, 10.62.0.10], expect: {{output: "1 received"}}}}
  - {{name: command fail, node: h1, command: [ping, -c1, -W1, 10.9.9.9], expect: {{exit: 0}}}}
  - {{name: command timeout, node: h1, command: [sleep, "5"], timeout: 0.5}}
  - {{name: leased pass, node: h1, leased: {{dev: eth0, from: 10.61.0.0/24}}}}
  - {{name: leased fail, node: srv, leased: {{dev: eth0}}}}
  - {{name: resolve without resolver fail, from: h1, resolve: srv, expect: 10.62.0.10}}
"""


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """The lab up once; `vnetlab check --json --junit` once; the results by name, and the JUnit tree."""
    folder = tmp_path_factory.mktemp("state")
    path = folder / "state.yaml"
    path.write_text(LAB_FILE)
    junit = folder / "junit.xml"
    try:
        cli("up", str(path), check=True)
        done = cli("check", str(path), "--json", "--junit", str(junit))
        assert done.returncode == 1, done.stderr  # some checks fail on purpose
        report = json.loads(done.stdout)
        yield {r["check"]: r for r in report["results"]}, report, ET.parse(junit)
    finally:
        cli("down", LAB, check=True)
        assert lab_namespaces(LAB) == []


def result(checked, name: str, ok: bool) -> dict:
    found = checked[0][name]
    assert found["ok"] is ok, found
    return found


def test_results_come_in_file_order_beside_the_probe(checked):
    by_name, report, _ = checked
    assert list(by_name)[0] == "h1 -> srv icmp reach" and by_name["h1 -> srv icmp reach"]["ok"] is True
    assert list(by_name)[1:4] == ["sysctl pass", "sysctl fail", "address pass"]
    assert report["passed"] == 1 + sum(name.endswith("pass") for name in by_name)
    assert all(r["observed"] != "error" for r in by_name.values())


def test_sysctl(checked):
    assert result(checked, "sysctl pass", True)["detail"] == "net.ipv4.ip_forward is 1 on r1"
    failed = result(checked, "sysctl fail", False)
    assert failed["detail"] == "net.ipv4.ip_forward is 0 on h1 (expected 1)"
    assert failed["observed"] == "net.ipv4.ip_forward=0" and failed["kind"] == "sysctl"


def test_address(checked):
    assert result(checked, "address pass", True)["detail"] == "h1 has 10.61.0.1/24 on eth0"
    failed = result(checked, "address fail", False)
    assert failed["detail"] == ("eth0 on h1 lacks 10.61.0.1/16 (it has 10.61.0.1/24 on eth0 — another prefix "
                                "length); addresses: eth0: 10.61.0.1/24, 10.61.0.50/24")
    assert failed["expect"] == "address 10.61.0.1/16 on eth0"


def test_route(checked):
    assert result(checked, "route pass", True)["observed"] == "default via 10.61.0.254 dev eth0"
    assert result(checked, "route fail", False)["detail"] == \
        "no route to 10.9.0.0/24 on r1; routes: 10.61.0.0/24 dev eth0, 10.62.0.0/24 dev eth1"
    assert result(checked, "route wrong gateway", False)["detail"] == \
        "route default on h1 is default via 10.61.0.254 dev eth0 (expected via 10.61.0.253)"


def test_not_inverts(checked):
    assert result(checked, "not route pass", True)["expect"] == "not route 10.9.0.0/24"
    assert result(checked, "not route fail", False)["detail"] == \
        "r1 has route 10.61.0.0/24 dev eth0 (expected it absent)"


def test_link(checked):
    assert result(checked, "link pass", True)["observed"] == "veth up mtu 1500"
    assert result(checked, "link ovs port pass", True)["detail"] == "sw has p1: veth up master br0 mtu 1500"
    assert result(checked, "link fail", False)["detail"] == (
        "on h1: eth0 is a veth, not a bond; eth0 is in no bridge or bond (expected vmbr0) — eth0: veth up mtu 1500")
    assert result(checked, "link absent", False)["detail"] == "h1 has no interface bond0; interfaces: lo, eth0"


def test_listening(checked):
    assert result(checked, "listening pass", True)["detail"] == "tcp *:22 listens on srv"
    assert result(checked, "listening fail", False)["detail"] == \
        "nothing listens on udp/53 on srv; listening: tcp *:22"


def test_flow(checked):
    assert result(checked, "flow pass", True)["detail"] == "br0 on sw has priority=100,ip,nw_src=10.62.0.66 actions=drop"
    failed = result(checked, "flow fail", False)
    assert failed["detail"] == ("no flow of the OVS bridges on sw contains 'nw_src=10.62.0.77'; flows: "
                                "br0: priority=100,ip,nw_src=10.62.0.66 actions=drop; br0: priority=0 actions=NORMAL")


def test_nft(checked):
    assert result(checked, "nft pass", True)["observed"] == "policy drop"
    assert result(checked, "nft fail", False)["detail"] == \
        "nft chain input of table inet vnetlab on srv has policy drop (expected accept)"


def test_command(checked):
    passed = result(checked, "command pass", True)
    assert passed["observed"] == "exit 0" and "1 packets transmitted, 1 received" in passed["detail"]
    failed = result(checked, "command fail", False)
    assert failed["observed"] == "exit 1"
    assert failed["detail"].startswith("ping -c1 -W1 10.9.9.9 on h1 exited 1 (expected 0); output: PING 10.9.9.9")
    assert "Destination Net Unreachable" in failed["detail"]  # what r1 said
    assert result(checked, "command timeout", False)["detail"] == "sleep 5 on h1 did not finish within 0.5 s"


def test_junit_names_state_checks_and_their_expectation(checked):
    cases = {case.get("name"): case for case in checked[2].getroot().iter("testcase")}
    failure = cases["route fail"].find("failure")
    assert failure is not None
    assert failure.get("message").startswith("expected route 10.9.0.0/24, observed no route: no route to")
    assert "node r1 route 10.9.0.0/24" in failure.text
    assert cases["route pass"].find("failure") is None


def test_leased(checked):
    passed = result(checked, "leased pass", True)
    assert passed["observed"] == "10.61.0.50/24" and "holds the lease 10.61.0.50/24, valid" in passed["detail"]
    failed = result(checked, "leased fail", False)
    assert failed["detail"] == "eth0 on srv holds no leased address; addresses: 10.62.0.10/24 (static)"


def test_resolve_needs_the_node_s_own_resolver(checked):
    failed = result(checked, "resolve without resolver fail", False)
    assert failed["observed"] == "no resolver" and failed["kind"] == "resolve"
    assert "has no resolv.conf or hosts of its own" in failed["detail"]
