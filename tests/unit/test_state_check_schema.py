"""State checks in the lab file (issue 12): each kind loads, its mistakes exit 2 with file:line and
the field, ``not`` inverts, and the union keeps probe checks exactly as they were."""

import json
import textwrap

import pytest
from pydantic import TypeAdapter, ValidationError

from vnetlab.errors import BadInput
from vnetlab.model import LabFileError, load_lab_text
from vnetlab.model.loader import _translate
from vnetlab.model.schema import (
    Check, LabSpec, RebootStep, StateCheck, TaskCheck, node_of, sysctl_text,
)

HEAD = textwrap.dedent("""\
    lab: state
    nodes:
      r1: {kind: router, interfaces: {eth0: {address: 10.0.0.254/24}}}
      h1: {interfaces: {eth0: {address: 10.0.0.1/24}}}
    links: [[h1:eth0, r1:eth0]]
    checks:
    """)
LINE = 7  # the first check's line


def load(*checks: str) -> LabSpec:
    return load_lab_text(HEAD + "".join(f"  - {c}\n" for c in checks), "lab.yaml")


def problems(*checks: str) -> list[str]:
    with pytest.raises(LabFileError) as caught:
        load(*checks)
    assert isinstance(caught.value, BadInput) and caught.value.exit_code == 2
    return [str(p) for p in caught.value.problems]


VALID = [
    ("{node: r1, sysctl: {net.ipv4.ip_forward: 1}}", "sysctl", "net.ipv4.ip_forward=1"),
    ("{node: h1, address: {dev: eth0, has: 10.0.0.1/24}}", "address", "address 10.0.0.1/24 on eth0"),
    ("{node: h1, address: {has: [10.0.0.1/24, 'fd00::1/64']}}", "address", "address 10.0.0.1/24, fd00::1/64"),
    ("{node: h1, route: {to: default, via: 10.0.0.254}}", "route", "route default via 10.0.0.254"),
    ("{node: h1, route: {to: 10.0.0.0/24, dev: eth0}}", "route", "route 10.0.0.0/24 dev eth0"),
    ("{node: r1, link: {name: bond0, kind: bond, up: true, master: vmbr0}}", "link",
     "link bond0 kind bond up master vmbr0"),
    ("{node: r1, link: {name: eth0.10, vlan: 10, mtu: 1400, up: false}}", "link", "link eth0.10 down mtu 1400 vlan 10"),
    ("{node: r1, listening: tcp/22}", "listening", "listening tcp/22"),
    ("{node: r1, listening: 'udp/[fd00::1]:53'}", "listening", "listening udp/[fd00::1]:53"),
    ("{node: r1, flow: {contains: nw_src=10.0.0.66, actions: drop}}", "flow",
     "flow with 'nw_src=10.0.0.66', actions 'drop'"),
    ("{node: r1, flow: {bridge: br0, contains: [ip, nw_src=10.0.0.66]}}", "flow",
     "flow with 'ip' and 'nw_src=10.0.0.66' on br0"),
    ("{node: r1, nft: {chain: input, policy: drop}}", "nft", "nft chain input, policy drop"),
    ("{node: r1, nft: {chain: forward, table: filter, family: inet, rule: 'dport 22'}}", "nft",
     "nft chain forward of table inet filter, a rule with 'dport 22'"),
    ("{node: h1, command: [ping, -c1, 10.0.0.254], expect: {exit: 0, output: '1 received'}}", "command",
     "exit 0, output matching '1 received'"),
    ("{node: h1, command: ['true']}", "command", "exit 0"),
    ("{from: h1, resolve: web, expect: 10.0.3.10}", "resolve", "web -> 10.0.3.10"),
    ("{node: h1, resolve: {name: db.lab, expect: [10.0.3.20, 'fd00::20']}}", "resolve", "db.lab -> 10.0.3.20, fd00::20"),
    ("{from: h1, resolve: ghost, expect: nxdomain}", "resolve", "ghost does not resolve"),
    ("{node: h1, leased: {dev: eth0, from: 10.0.3.0/24}}", "leased", "a lease on eth0 from 10.0.3.0/24"),
    ("{node: h1, leased: {dev: eth0}}", "leased", "a lease on eth0"),
]


@pytest.mark.parametrize("text, kind, expectation", VALID, ids=[v[1] + str(i) for i, v in enumerate(VALID)])
def test_each_state_kind_loads_and_says_what_it_expects(text, kind, expectation):
    [check] = load(text).checks
    assert isinstance(check, StateCheck)
    assert check.kind == kind
    assert check.expectation() == expectation
    assert check.label().startswith(f"{check.node}: {kind}")


INVALID = [
    ("{node: r1, sysctl: {kernel.hostname: 1}}", "checks[0].sysctl.kernel.hostname: 'kernel.hostname' is not "
                                                 "a sysctl of a node"),
    ("{node: r1, sysctl: {net.ipv4.ip_forward: [1]}}", "checks[0].sysctl.net.ipv4.ip_forward: expected a number or text"),
    ("{node: r1, sysctl: {}}", "checks[0].sysctl: 'sysctl' needs at least one key"),
    ("{node: h1, address: {dev: eth0, has: 10.0.0.1}}", "checks[0].address.has: '10.0.0.1' has no prefix length"),
    ("{node: h1, address: {has: [10.0.0.1/24, 10.0.0.300/24]}}", "checks[0].address.has[1]: '10.0.0.300/24' is not"),
    ("{node: h1, address: {has: []}}", "checks[0].address.has: the list is empty"),
    ("{node: h1, address: {dev: 'a b', has: 10.0.0.1/24}}", "checks[0].address.dev: interface name 'a b'"),
    ("{node: h1, route: {to: 10.0.0.1/24}}", "checks[0].route.to: '10.0.0.1/24' has host bits set — write 10.0.0.0/24"),
    ("{node: h1, route: {to: default, via: gateway}}", "checks[0].route.via: 'gateway' is not an IP address"),
    ("{node: h1, route: {to: 'fd00::/64', via: 10.0.0.1}}", "checks[0].route: 'to' and 'via' must both be IPv4"),
    ("{node: h1, route: {via: 10.0.0.1}}", "checks[0].route.to: missing required key 'to'"),
    ("{node: r1, link: {kind: bond}}", "checks[0].link.name: missing required key 'name'"),
    ("{node: r1, link: {name: bond0, kind: Bond}}", "checks[0].link.kind: 'Bond' is not an interface kind"),
    ("{node: r1, link: {name: bond0, up: maybe}}", "checks[0].link.up: expected true or false"),
    ("{node: r1, link: {name: bond0, mtu: 10}}", "checks[0].link.mtu: 10 is too small — use 68 or more"),
    ("{node: r1, listening: ssh}", "checks[0].listening: 'ssh' is not a listener"),
    ("{node: r1, listening: tcp/0}", "checks[0].listening: 0 is not a port"),
    ("{node: r1, listening: 'tcp/fd00::1:22'}", "checks[0].listening: 'tcp/fd00::1:22' is not a listener"),
    ("{node: r1, listening: 'tcp/10.0.0.300:22'}", "checks[0].listening: '10.0.0.300' in 'tcp/10.0.0.300:22' is not"),
    ("{node: r1, flow: {contains: []}}", "checks[0].flow.contains: the list is empty"),
    ("{node: r1, flow: {actions: drop}}", "checks[0].flow.contains: missing required key 'contains'"),
    ("{node: r1, nft: {chain: input, policy: maybe}}", "checks[0].nft.policy: input should be 'accept' or 'drop'"),
    ("{node: r1, nft: {chain: 'in put'}}", "checks[0].nft.chain: 'in put' is not an nftables name"),
    ("{node: r1, nft: {chain: input, family: ipx}}", "checks[0].nft.family: input should be 'ip', 'ip6'"),
    ("{node: h1, command: []}", "checks[0].command: 'command' is a non-empty list of arguments"),
    ("{node: h1, command: ping}", "checks[0].command: expected a list"),
    ("{node: h1, command: [ping], expect: {output: '('}}", "checks[0].expect.output: '(' is not a regular expression"),
    ("{node: h1, command: [ping], expect: {exit: 256}}", "checks[0].expect.exit: 256 is too large"),
    ("{node: h1, command: [ping], expect: {code: 0}}", "checks[0].expect.code: unknown key 'code'"),
    ("{node: h1, route: {to: default}, timeout: 0}", "checks[0].timeout: 0 is too small"),
    ("{from: h1, resolve: web}", "checks[0]: a resolve check needs expect:"),
    ("{from: h1, resolve: 'we b', expect: 10.0.3.10}", "checks[0].resolve.name: 'we b' is not a host name"),
    ("{from: h1, resolve: web, expect: web2}", "checks[0].resolve.expect: 'web2' is not an IP address"),
    ("{node: h1, leased: {dev: eth0, from: 10.0.3.0/33}}", "checks[0].leased.from: '10.0.3.0/33' is not an IPv4 subnet"),
    ("{node: h1, leased: {from: 10.0.3.0/24}}", "checks[0].leased.dev: missing required key 'dev'"),
]


@pytest.mark.parametrize("text, message", INVALID, ids=[str(i) for i in range(len(INVALID))])
def test_each_state_kind_refuses_a_bad_value_at_its_line_and_field(text, message):
    assert problems(text) == [problems(text)[0]]  # one mistake, one message
    [problem] = problems(text)
    assert problem.startswith(f"lab.yaml:{LINE}: {message}"), problem


def test_exactly_one_kind_per_state_check():
    [two] = problems("{node: h1, route: {to: default}, link: {name: eth0}}")
    assert two == (f"lab.yaml:{LINE}: checks[0]: a state check has exactly one of sysctl, address, route, link, "
                   "listening, flow, nft, command, resolve, leased, this one has route and link — write one check for each")
    [none] = problems("{node: h1, name: empty}")
    assert none.startswith(f"lab.yaml:{LINE}: checks[0]: a state check needs one of: sysctl, address, route")


def test_errors_name_the_file_line_of_a_nested_field():
    text = HEAD + "  - {from: h1, to: r1}\n  - {node: h1, route: {to: default}}\n  - node: h1\n    route:\n" \
                  "      to: 10.1.0.1/24\n"
    with pytest.raises(LabFileError) as caught:
        load_lab_text(text, "lab.yaml")
    [problem] = caught.value.problems
    assert (problem.line, problem.path) == (LINE + 4, "checks[2].route.to")


def test_the_union_tag_never_reaches_a_path():
    # pydantic puts the union member's tag ('state', 'probe') in its locations; the file has no such key.
    with pytest.raises(ValidationError) as caught:
        LabSpec.model_validate({"lab": "x", "checks": [{"node": "a", "route": {"to": "x"}},
                                                       {"from": "a", "to": "b", "expect": "no"}]})
    raw = [tuple(e["loc"]) for e in caught.value.errors()]
    assert ("checks", 0, "state", "route", "to") in raw and ("checks", 1, "probe", "expect") in raw
    assert {_translate(e)[0] for e in caught.value.errors()} == {("checks", 0, "route", "to"), ("checks", 1, "expect")}


def test_unknown_and_missing_keys_walk_into_the_union_member():
    [unknown] = problems("{node: h1, route: {to: default, gw: 10.0.0.1}}")
    assert unknown == f"lab.yaml:{LINE}: checks[0].route.gw: unknown key 'gw' — allowed keys here: to, via, dev"
    [typo] = problems("{node: h1, nott: true, route: {to: default}}")
    assert typo.endswith("checks[0].nott: unknown key 'nott' — did you mean 'not'?")
    [missing] = problems("{sysctl: {net.ipv4.ip_forward: 1}}")
    assert missing.endswith("checks[0].node: a state check needs 'node' — the node whose state it reads, e.g. node: r1")


def test_not_inverts_and_shows_in_label_and_expectation():
    [check] = load("{node: h1, not: true, route: {to: 10.9.0.0/24}}").checks
    assert check.not_ is True
    assert check.label() == "h1: not route 10.9.0.0/24"
    assert check.expectation() == "not route 10.9.0.0/24"
    [plain] = load("{node: h1, route: {to: 10.9.0.0/24}, name: my route}").checks
    assert plain.not_ is False and plain.label() == "my route"
    [bad] = problems("{node: h1, not: sometimes, route: {to: default}}")
    assert "checks[0].not: expected true or false" in bad


def test_probe_checks_keep_their_messages():
    # a mapping without 'from' (or any state key) is still read as a probe check
    assert problems("{to: r1}") == [f"lab.yaml:{LINE}: checks[0].from: missing required key 'from' — add from: ..."]
    assert problems("{from: h1, to: r1, expect: works}") == [
        f"lab.yaml:{LINE}: checks[0].expect: unknown expectation 'works' — use one of: reach, no-reach, open, "
        "closed, filtered"]
    assert problems("hello") == [f"lab.yaml:{LINE}: checks[0]: expected a mapping (key: value), got 'hello' — "
                                 "write it as key: value lines"]
    [check] = load("{from: h1, to: r1}").checks
    assert isinstance(check, Check) and check.label() == "h1 -> r1 icmp reach"


def test_a_lab_file_cannot_reboot():
    [problem] = problems("{reboot: r1}")
    assert problem.startswith(f"lab.yaml:{LINE}: checks[0]: 'reboot' is a step of a course task's checks")


def test_task_checks_take_probes_state_checks_and_reboot_steps():
    adapter = TypeAdapter(list[TaskCheck])
    probe, state, reboot = adapter.validate_python([
        {"from": "h1", "to": "r1"}, {"node": "h1", "route": {"to": "default"}}, {"reboot": "h1"}])
    assert (type(probe), type(state), type(reboot)) == (Check, StateCheck, RebootStep)
    assert reboot.label() == "reboot h1" and [node_of(c) for c in (probe, state, reboot)] == ["h1"] * 3
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python([{"reboot": "h1", "node": "h1"}])
    assert [tuple(e["loc"]) for e in caught.value.errors()] == [(0, "reboot", "node")]


def test_models_built_in_python_pass_through_the_union():
    state = StateCheck(node="h1", route={"to": "default"})
    spec = LabSpec(lab="x", checks=[Check(**{"from": "h1", "to": "10.0.0.1"}), state])
    assert spec.checks[1] is state
    copied = spec.model_copy(update={"checks": [state]})
    assert copied.checks == [state]


@pytest.mark.parametrize("value, text", [(1, "1"), (True, "1"), (False, "0"), ("01", "1"), (" 1\n", "1"),
                                         ("4096\t87380  6291456", "4096 87380 6291456"), ("+5", "5"),
                                         ("cubic", "cubic"), (-1, "-1")])
def test_sysctl_values_are_compared_as_normalised_text(value, text):
    assert sysctl_text(value) == text
    [check] = load(f"{{node: r1, sysctl: {{net.ipv4.x: {json.dumps(value)}}}}}").checks
    assert check.sysctl == {"net.ipv4.x": text}


def test_every_state_kind_survives_the_round_trip_through_lab_json():
    # lab.json keeps the spec as model_dump(by_alias=True); `vnetlab check LAB` reads it back
    spec = load(*(text for text, _, _ in VALID))
    again = LabSpec.model_validate(spec.model_dump(by_alias=True))
    assert [c.expectation() for c in again.checks] == [e for _, _, e in VALID]
