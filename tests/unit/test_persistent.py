"""A node's own /etc/network/interfaces → what ``vnetlab reboot`` applies (no root, no kernel).

io/persistent.py reads the file against the node's part of the lab; compile/persistent.py
turns what it adds into ops appended to the lab's plan. The file ``up`` writes for a node
adds nothing and says nothing; a student's additions become exactly their ops; a broken
file is a problem with its line, and then nothing of it applies.
"""

from __future__ import annotations

import os

import pytest

from vnetlab.compile import compile_lab
from vnetlab.compile.persistent import Extra, NodeExtras, extra_ops, with_extras
from vnetlab.io.persistent import interfaces_text, read_node_file
from vnetlab.model import load_lab, load_lab_text
from vnetlab.observe.diff import diff
from vnetlab.plan import AddAddress, AddRoute, SetMtu, SetSysctl

from test_diff import as_applied

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")

LAB = """
lab: pf
nodes:
  h1:
    interfaces: {eth0: {address: 10.0.0.1/24}}
    routes: [{to: default, via: 10.0.0.254}]
  r1:
    kind: router
    interfaces: {eth0: {address: 10.0.0.254/24}, eth1: {address: 10.1.0.254/24}}
  h2:
    interfaces: {eth0: {address: 10.1.0.1/24}}
links:
  - [h1:eth0, r1:eth0]
  - [r1:eth1, h2:eth0]
"""
SPEC = load_lab_text(LAB, "pf.yaml")
H1 = ["lo", "eth0"]


def node_file(tmp_path, text: str) -> str:
    """``text`` as a node's /etc/network/interfaces, inside a node's own /etc."""
    folder = tmp_path / "etc" / "network"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "interfaces").write_text(text)
    return str(folder / "interfaces")


def boot(tmp_path, text: str, node: str = "h1", interfaces=H1, spec=SPEC):
    return read_node_file(node_file(tmp_path, text), spec, node, interfaces)


@pytest.mark.parametrize("example", sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".yaml")))
def test_the_file_up_writes_for_each_node_adds_nothing_and_says_nothing(tmp_path, example):
    spec = load_lab(os.path.join(EXAMPLES, example))
    for node in spec.nodes:
        config = read_node_file(node_file(tmp_path, interfaces_text(spec, node)), spec, node)
        assert (config.extras.items, config.problems, config.skipped) == ([], [], []), (node, config)


STUDENT = interfaces_text(SPEC, "h1") + """\
    address 10.0.0.5
    netmask 255.255.255.0
    address 10.0.0.6/24
    mtu 1400
    post-up ip route add 10.9.0.0/24 via 10.0.0.254 dev eth0
    up route add -net 10.8.0.0 netmask 255.255.0.0 gw 10.0.0.254
"""


def test_addresses_mtu_and_route_hooks_added_to_the_file_become_their_ops(tmp_path):
    config = boot(tmp_path, STUDENT)
    assert config.problems == [] and config.skipped == []
    line = STUDENT.splitlines().index("    address 10.0.0.5") + 1
    assert [(i.describe(), i.where) for i in config.extras.items][0] == \
        ("eth0: address 10.0.0.5/24", f"/etc/network/interfaces:{line}")
    plan = compile_lab(SPEC)
    booted = with_extras(plan, SPEC, {"h1": config.applied})
    assert booted.ops[:len(plan.ops)] == plan.ops  # the lab file's part first, unchanged
    assert booted.ops[len(plan.ops):] == [
        SetMtu("pf-h1", ifname="eth0", mtu=1400),
        AddAddress("pf-h1", ifname="eth0", address="10.0.0.5/24"),
        AddAddress("pf-h1", ifname="eth0", address="10.0.0.6/24"),
        AddRoute("pf-h1", to="10.9.0.0/24", via="10.0.0.254", dev="eth0", family=4),
        AddRoute("pf-h1", to="10.8.0.0/16", via="10.0.0.254", dev=None, family=4),
    ]
    # A diff of the booted lab against its plan says nothing: up keeps what the file added.
    assert diff(booted, as_applied(booted), booted).changes == []


def test_a_gateway_and_a_forwarding_sysctl_in_the_file(tmp_path):
    text = "auto eth0\niface eth0 inet static\n  address 10.1.0.1/24\n  gateway 10.1.0.254\n" \
           "  post-up sysctl -w net.ipv4.ip_forward=1\n"
    spec = load_lab_text(LAB.replace("  h1:\n    interfaces: {eth0: {address: 10.0.0.1/24}}\n"
                                     "    routes: [{to: default, via: 10.0.0.254}]",
                                     "  h1:\n    interfaces: {eth0: {address: 10.0.0.1/24}}"), "pf.yaml")
    config = boot(tmp_path, text, spec=spec)
    assert config.problems == []
    assert [i.describe() for i in config.extras.items] == [
        "sysctl net.ipv4.ip_forward=1", "eth0: address 10.1.0.1/24", "route default via 10.1.0.254"]
    ops = [op for op, _ in extra_ops(compile_lab(spec), spec, "h1", config.applied)]
    assert ops[0] == SetSysctl("pf-h1", key="net.ipv4.ip_forward", value="1")
    assert ops[-1] == AddRoute("pf-h1", to="default", via="10.1.0.254", family=4)


def test_a_forwarding_line_a_router_already_has_adds_nothing(tmp_path):
    text = interfaces_text(SPEC, "r1") + "  post-up sysctl -w net.ipv4.ip_forward=1\n"
    assert boot(tmp_path, text, node="r1", interfaces=["lo", "eth0", "eth1"]).extras.items == []


def test_ipv6_in_the_file_of_a_node_without_ipv6_switches_it_on_first(tmp_path):
    text = interfaces_text(SPEC, "h1") + "iface eth0 inet6 static\n  address fd00::1/64\n"
    config = boot(tmp_path, text)
    assert config.problems == []
    ops = [op for op, _ in extra_ops(compile_lab(SPEC), SPEC, "h1", config.applied)]
    assert ops == [SetSysctl("pf-h1", key="net.ipv6.conf.all.disable_ipv6", value="0"),
                   SetSysctl("pf-h1", key="net.ipv6.conf.default.disable_ipv6", value="0"),
                   AddAddress("pf-h1", ifname="eth0", address="fd00::1/64")]


@pytest.mark.parametrize("text, line, says", [
    ("address 10.0.0.7/24\nauto eth0\niface eth0 inet static\n", 1, "outside any `iface` stanza"),
    ("auto eth0\niface eth0 inet statik\n  address 10.0.0.7/24\n", 2, "not an address family"),
    ("auto eth1\niface eth1 inet static\n  address 10.5.0.1/24\n", 2, "has no interface eth1"),
    ("auto eth0\niface eth0 inet static\n  address 10.0.0.300/24\n", 3, "not an address"),
    ("auto eth0\niface eth0 inet static\n  address 10.0.0.0/24\n", 3, "network address"),
    ("auto eth0\niface eth0 inet static\n  mtu 20\n", 3, "not 68–65535"),
    ("auto eth0\niface eth0 inet static\n  address 10.0.0.1/24\n  gateway 10.0.0.9\n", 4, "already has a route to default"),
    ("auto eth0\niface eth0 inet static\n  address 10.0.0.1/24\n  post-up ip route add 10.9.0.0/24 via 192.0.2.1\n",
     4, "in none of the subnets"),
    ("auto eth0\niface eth0 inet static\n  post-up ip route add 10.9.0.0/24 via\n", 3, "cut off"),
])
def test_a_broken_file_is_a_problem_with_its_line_and_nothing_of_it_applies(tmp_path, text, line, says):
    config = boot(tmp_path, text)
    assert config.problems, config
    assert any(p.line == line and says in p.text and p.file == "/etc/network/interfaces" for p in config.problems), \
        [str(p) for p in config.problems]
    assert config.applied.items == []


@pytest.mark.parametrize("text, says", [
    ("auto eth0\niface eth0 inet static\n  address 10.0.0.1/24\n  post-up iptables -A INPUT -j DROP\n",
     "never runs hook commands"),
    ("auto eth0\niface eth0 inet dhcp\n", "no DHCP server serves eth0's segment"),
    ("auto eth0\niface eth0 inet6 auto\n", "static addresses and DHCP clients (inet dhcp) only"),
    ("auto eth0\niface eth0 inet static\n  address 10.0.0.1/24\n  dns-nameservers 192.0.2.53\n", "rest of the node"),
    ("iface eth0 inet static\n  address 10.0.0.7/24\n", "does not bring it up at boot"),
    ("auto eth0\niface eth0 inet static\n  adress 10.0.0.7/24\n", "`adress` is not `address` (a typo?)"),
])
def test_lines_that_are_understood_but_not_applied_say_why(tmp_path, text, says):
    config = boot(tmp_path, text)
    assert config.problems == []
    assert any(says in r.text and r.text.startswith("not applied:") for r in config.skipped), config.skipped
    assert "10.0.0.7/24" not in [i.value for i in config.extras.items]  # an interface not brought up adds nothing


def test_source_reads_inside_the_nodes_own_etc(tmp_path):
    path = node_file(tmp_path, "source /etc/network/interfaces.d/*\n")
    (tmp_path / "etc" / "network" / "interfaces.d").mkdir()
    (tmp_path / "etc" / "network" / "interfaces.d" / "eth0").write_text(
        "auto eth0\niface eth0 inet static\n  address 10.0.0.9/24\n")
    config = read_node_file(path, SPEC, "h1", H1)
    assert [(i.value, i.where) for i in config.extras.items] == \
        [("10.0.0.9/24", "/etc/network/interfaces.d/eth0:3")]


def test_no_file_is_a_note_and_the_node_keeps_its_lab_file_part(tmp_path):
    config = read_node_file(str(tmp_path / "absent"), SPEC, "h1", H1)
    assert config.problems == [] and config.extras.items == [] and "no /etc/network/interfaces" in config.notes[0].text


def test_extras_of_interfaces_the_lab_no_longer_has_or_already_declared_are_left_out():
    extras = NodeExtras([Extra("address", ifname="eth7", value="10.7.0.1/24"),
                         Extra("address", ifname="eth0", value="10.0.0.1/24"),  # the lab file has it
                         Extra("route", ifname="eth7", value="10.9.0.0/24", via="10.7.0.254"),
                         Extra("address", ifname="eth0", value="10.0.0.5/24")])
    assert [op for op, _ in extra_ops(compile_lab(SPEC), SPEC, "h1", extras)] == \
        [AddAddress("pf-h1", ifname="eth0", address="10.0.0.5/24")]
    assert extra_ops(compile_lab(SPEC), SPEC, "gone", extras) == []
    assert NodeExtras.from_dict(extras.to_dict()) == extras
    assert NodeExtras.from_dict({"items": [{"what": "nonsense"}, {"bogus": 1}]}) == NodeExtras()


def test_an_mtu_changed_by_hand_is_drift_that_up_sets_again():
    booted = with_extras(compile_lab(SPEC), SPEC, {"h1": NodeExtras([Extra("mtu", ifname="eth0", value="1400")])})
    seen = as_applied(booted)
    seen.links["pf-h1"]["eth0"].mtu = 1500
    result = diff(booted, seen, booted)
    assert [c.describe("pf") for c in result.changes] == ["h1 eth0: mtu 1500 (expected 1400)"]
    assert result.converge_ops() == [SetMtu("pf-h1", ifname="eth0", mtu=1400)]


SERVED = """
lab: pd
nodes:
  srv:
    interfaces: {br0: {type: bridge, ports: [v1, v2], address: 10.0.3.1/24, dhcp: {range: 10.0.3.100-10.0.3.199}},
                 v1: {}, v2: {}}
  c1:
    interfaces: {eth0: {address: dhcp}}
  c3:
    interfaces: {eth0: {}}
links: [[c1:eth0, srv:v1], [c3:eth0, srv:v2]]
"""


def test_inet_dhcp_on_a_served_segment_starts_a_dhcp_client_at_boot(tmp_path):
    from vnetlab.compile.dnsmasq import hook_path, udhcpc_argv
    from vnetlab.plan import RunDhcpClient, WriteRunFile

    spec = load_lab_text(SERVED, "pd.yaml")
    config = boot(tmp_path, "auto eth0\niface eth0 inet dhcp\n", node="c3", spec=spec)
    assert config.problems == [] and config.skipped == []
    assert config.applied.items == [Extra("dhcp", ifname="eth0", where="/etc/network/interfaces:2")]
    assert NodeExtras.from_dict(config.applied.to_dict()) == config.applied
    rundir = "/run/vnetlab/pd"
    plan = compile_lab(spec, run_dir=rundir)
    ops = [op for op, _ in extra_ops(plan, spec, "c3", config.applied, rundir)]
    assert ops == [RunDhcpClient("pd-c3", node="c3", command=udhcpc_argv(rundir, "c3", "eth0"), ifname="eth0",
                                 server="srv:br0")]  # the plan writes the hook already (c1's)
    assert any(isinstance(op, WriteRunFile) and op.path == hook_path(rundir) for op in plan.ops)
    with pytest.raises(ValueError, match="a DHCP client needs the lab's run directory"):
        extra_ops(plan, spec, "c3", config.applied)


def test_a_dhcp_client_of_a_file_brings_its_hook_when_the_lab_file_has_none(tmp_path):
    from vnetlab.compile.dnsmasq import hook_path
    from vnetlab.plan import RunDhcpClient

    spec = load_lab_text(SERVED.replace("eth0: {address: dhcp}", "eth0: {address: 10.0.3.5/24}"), "pd.yaml")
    rundir = "/run/vnetlab/pd"
    plan = compile_lab(spec, run_dir=rundir)
    assert not any(isinstance(op, RunDhcpClient) or getattr(op, "path", None) == hook_path(rundir)
                   for op in plan.ops)   # no client, no hook
    extras = {"c3": NodeExtras([Extra("dhcp", ifname="eth0")]), "c1": NodeExtras([Extra("dhcp", ifname="eth0")])}
    added = with_extras(plan, spec, extras, rundir).ops[len(plan.ops):]
    assert [type(op).__name__ for op in added] == ["WriteRunFile", "RunDhcpClient", "RunDhcpClient"]
    assert added[0].path == hook_path(rundir) and added[0].mode == 0o755   # written once, before the clients
