"""Pure parts of state-check evaluation (issue 12): the nft listing parser, `not`, the runner's
ordering and errors, and the table, JSON and JUnit renderings — no kernel."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
from rich.console import Console

from vnetlab.cli.checking import render_table
from vnetlab.model import load_lab_text
from vnetlab.model.schema import LabSpec, StateCheck
from vnetlab.probe import checks, state
from vnetlab.probe.checks import CheckResult, expect_of, expected_text, kind_of, run_checks, write_junit

RULESET = """\
table inet vnetlab {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tiifname "lo" accept
\t\tct state established,related accept
\t\ttcp dport 22 ip saddr { 10.0.0.0/8, 192.168.0.0/16 } accept comment "ssh" # handle 7
\t}

\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
\t}
}
table ip nat {
\tset blocked {
\t\ttype ipv4_addr
\t\telements = { 10.0.0.66, 10.0.0.67 }
\t}

\tchain helper {
\t\tcounter packets 0 bytes 0 jump other
\t}
}
"""


def test_the_ruleset_parser_finds_chains_policies_and_rules():
    chains = state.parse_ruleset(RULESET)
    assert [(c["family"], c["table"], c["name"], c["policy"]) for c in chains] == [
        ("inet", "vnetlab", "input", "drop"), ("inet", "vnetlab", "forward", "accept"), ("ip", "nat", "helper", None)]
    assert chains[0]["rules"] == ['iifname "lo" accept', "ct state established,related accept",
                                  'tcp dport 22 ip saddr { 10.0.0.0/8, 192.168.0.0/16 } accept comment "ssh"']
    assert chains[1]["rules"] == [] and chains[2]["rules"] == ["counter packets 0 bytes 0 jump other"]


def test_nft_state_says_what_policy_and_rules_are_there(monkeypatch):
    monkeypatch.setattr("vnetlab.executors.nftables.run_nft", lambda ns, cmd: RULESET)
    ok, observed, detail = state.nft_state("lab-fw", "fw", "input", None, None, "drop", "dport 22")
    assert (ok, observed) == (True, "policy drop")
    ok, observed, detail = state.nft_state("lab-fw", "fw", "forward", "vnetlab", "inet", "drop", None)
    assert (ok, detail) == (False, "nft chain forward of table inet vnetlab on fw has policy accept (expected drop)")
    ok, _, detail = state.nft_state("lab-fw", "fw", "input", None, None, None, "dport 23")
    assert not ok and detail.startswith("nft chain input of table inet vnetlab on fw has no rule containing "
                                        "'dport 23' (rules: iifname \"lo\" accept; ct state")
    ok, observed, detail = state.nft_state("lab-fw", "fw", "output", None, None, None, None)
    assert (ok, observed) == (False, "no chain")
    assert detail == ("no nft chain output on fw; chains: inet vnetlab input (policy drop), "
                      "inet vnetlab forward (policy accept), ip nat helper")
    ok, _, detail = state.nft_state("lab-fw", "fw", "helper", None, None, "drop", None)
    assert detail == "nft chain helper of table ip nat on fw has policy none (not a base chain) (expected drop)"


def check(text: str) -> StateCheck:
    spec = load_lab_text("lab: u\nnodes: {r1: {}}\nchecks:\n  - " + text + "\n")
    return spec.checks[0]


def test_not_turns_a_pass_into_a_failure_that_says_it_should_be_absent(monkeypatch):
    monkeypatch.setattr(state, "route_state", lambda *a: (True, "10.9.0.0/24 dev eth0", "r1 has route X"))
    assert state.evaluate(check("{node: r1, route: {to: 10.9.0.0/24}}"), "u-r1") == \
        (True, "10.9.0.0/24 dev eth0", "r1 has route X")
    assert state.evaluate(check("{node: r1, not: true, route: {to: 10.9.0.0/24}}"), "u-r1") == \
        (False, "10.9.0.0/24 dev eth0", "r1 has route X (expected it absent)")
    monkeypatch.setattr(state, "route_state", lambda *a: (False, "no route", "no route to 10.9.0.0/24 on r1"))
    assert state.evaluate(check("{node: r1, not: true, route: {to: 10.9.0.0/24}}"), "u-r1") == \
        (True, "no route", "no route to 10.9.0.0/24 on r1")


def test_a_missing_namespace_is_an_unreadable_state(monkeypatch):
    def gone(*args):
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(state, "route_state", gone)
    monkeypatch.setattr(state, "_namespace_exists", lambda name: False)
    with pytest.raises(state.StateUnreadable, match=r"the namespace of r1 \(u-r1\) does not exist — is the lab up"):
        state.evaluate(check("{node: r1, route: {to: default}}"), "u-r1")


@pytest.mark.parametrize("found, wanted, same", [
    ("default", "default", True), ("0.0.0.0/0", "default", True), ("10.1.0.0/24", "10.1.0.0/24", True),
    ("10.1.0.0/24", "10.1.0.0/16", False), ("default", "10.1.0.0/24", False), ("fd00::/64", "fd00:0::/64", True),
])
def test_route_destinations_compare_as_networks(found, wanted, same):
    assert state._same_destination(found, wanted) is same


def test_long_command_output_keeps_its_end():
    text = "\n".join(f"line {i}" for i in range(200)) + "\nthe answer\n"
    shown = state._excerpt(text)
    assert shown.startswith("…") and shown.endswith("line 199 | the answer") and len(shown) <= state.MAX_OUTPUT + 1
    assert state._excerpt("a\n\n  b  \n") == "a | b"


SPEC = """\
lab: u
nodes:
  r1: {interfaces: {eth0: {address: 10.0.0.1/24}}}
  h1: {interfaces: {eth0: {address: 10.0.0.2/24}}}
links: [[r1:eth0, h1:eth0]]
checks:
  - {node: r1, sysctl: {net.ipv4.ip_forward: 1}}
  - {from: h1, to: r1}
  - {node: h1, route: {to: default}, name: default route}
  - {node: h1, listening: tcp/22}
"""


def test_run_checks_keeps_file_order_and_turns_unreadable_state_into_errors(monkeypatch):
    spec = load_lab_text(SPEC)
    seen = []

    def evaluate(check, netns_name):
        seen.append((check.kind, netns_name))
        if check.kind == "listening":
            raise state.StateUnreadable("the namespace of h1 (u-h1) does not exist")
        return check.kind != "route", f"{check.kind} read", f"{check.kind} detail"

    monkeypatch.setattr(state, "evaluate", evaluate)
    monkeypatch.setattr(checks, "_run_group", lambda proto, timeout, planned: [
        CheckResult(p.check, True, "reach", "reply", p.ip) for p in planned])
    results = run_checks(spec, lambda node: f"u-{node}")
    assert [kind_of(r.check) for r in results] == ["sysctl", "probe", "route", "listening"]
    assert [(r.ok, r.observed) for r in results] == [
        (True, "sysctl read"), (True, "reach"), (False, "route read"), (False, "error")]
    assert results[3].detail == "the namespace of h1 (u-h1) does not exist"
    assert sorted(seen) == [("listening", "u-h1"), ("route", "u-h1"), ("sysctl", "u-r1")]


def test_a_state_check_of_a_node_the_lab_lacks_is_an_error():
    # the course engine may hand run_checks checks the file never had
    spec = load_lab_text(SPEC)
    stray = spec.model_copy(update={"checks": [StateCheck(node="zz", route={"to": "default"})]})
    [result] = run_checks(stray, lambda node: f"u-{node}")
    assert (result.ok, result.observed, result.detail) == (False, "error", "'node: zz' is not a node of lab 'u'")


def test_state_results_render_in_the_table_json_words_and_junit(tmp_path):
    spec = load_lab_text(SPEC)
    route = spec.checks[2]
    sysctl = spec.checks[0]
    results = [CheckResult(sysctl, True, "net.ipv4.ip_forward=1", "net.ipv4.ip_forward is 1 on r1", ""),
               CheckResult(route, False, "no route", "no route to default on h1; routes: none", "")]
    console = Console(file=io.StringIO(), width=200, record=True)
    render_table(results, console)
    text = console.export_text()
    assert "r1: sysctl net.ipv4.ip_forward" in text and "net.ipv4.ip_forward=1" in text
    assert "default route" in text and "route default" in text and "no route to default on h1" in text
    assert "1/2 checks passed" in text
    assert (expect_of(route), expected_text(route), kind_of(route)) == ("route default", "route default", "route")
    path = tmp_path / "junit.xml"
    write_junit(results, str(path), "u")
    suite = ET.parse(path).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    failure = suite.find("testcase[@name='default route']/failure")
    assert failure.get("message") == "expected route default, observed no route: no route to default on h1; routes: none"
    assert failure.text.startswith("node h1 route default\nexpected: route default")


def test_state_checks_survive_the_run_directory_copy():
    # `vnetlab check LAB` rebuilds the spec from lab.json (model_dump by alias)
    spec = load_lab_text(SPEC.replace("{node: r1, sysctl", "{node: r1, not: true, sysctl"))
    again = LabSpec.model_validate(spec.model_dump(by_alias=True))
    assert again == spec and again.checks[0].not_ is True
