"""Names in checks (issue 13): a check's ``to`` and ``seen_as`` may name what the lab's DNS
serves (records, DHCP reservations, NODE.DOMAIN), resolved from the lab file; a DHCP or SLAAC
client's own name resolves from the address it holds, read from the running lab."""

from __future__ import annotations

import textwrap

import pytest

from vnetlab.model import check_lab_file, load_lab_text
from vnetlab.model.errors import LabFileError
from vnetlab.model.targets import resolve_target, served_names
from vnetlab.probe import checks as checks_module
from vnetlab.probe.checks import ERROR, run_checks
from vnetlab.probe.held import held_addresses

LAB = """
lab: names
nodes:
  host:
    kind: router
    interfaces:
      lxcbr0:
        type: bridge
        ports: [veth1, veth2]
        addresses: [10.0.3.1/24, fd00:3::1/64]
        dhcp: {range: 10.0.3.100-10.0.3.200,
               hosts: [{name: web, mac: "02:00:00:00:00:10", address: 10.0.3.10}]}
        ra: {prefix: "fd00:3::/64"}
        dns: {records: {db: 10.0.3.20, Api.Example: "fd00:3::30"}}
      veth1: {}
      veth2: {}
      eth9: {addresses: ["fd00:9::1/64"]}
  c1:
    interfaces:
      eth0: {addresses: [dhcp, slaac]}
  c2:
    interfaces:
      eth0: {addresses: ["fd00:3::2/64", dhcp]}
  far:
    interfaces:
      eth0: {address: "fd00:9::2/64"}
links:
  - [host:veth1, c1:eth0]
  - [host:veth2, c2:eth0]
  - [host:eth9, far:eth0]
"""


@pytest.fixture
def spec():
    return load_lab_text(LAB)


def held_from(table: dict[str, list[str]]):
    return lambda node: table[node]


@pytest.mark.parametrize("to, expected", [
    ("db", ("10.0.3.20", None)),                       # a record, bare ...
    ("db.names.lab", ("10.0.3.20", None)),             # ... and in the server's domain
    ("DB.", ("10.0.3.20", None)),                      # case and a trailing dot do not matter
    ("api.example:443", ("fd00:3::30", 443)),          # a record with a port
    ("web", ("10.0.3.10", None)),                      # a reservation, bare ...
    ("web.names.lab", ("10.0.3.10", None)),            # ... and in the default domain LAB.lab
    ("host.names.lab", ("10.0.3.1", None)),            # NODE.LAB.lab of a node with a static address
    ("far.names.lab:22", ("fd00:9::2", 22)),
    ("host", ("10.0.3.1", None)),                      # node names work as before
    ("10.0.3.99", ("10.0.3.99", None)),
])
def test_names_the_lab_serves_resolve_from_the_file(spec, to, expected):
    assert resolve_target(spec, to) == expected


def test_a_served_name_of_one_family(spec):
    assert resolve_target(spec, "host.names.lab", 6) == ("fd00:3::1", None)
    with pytest.raises(ValueError, match=r"'db' is served as 10.0.3.20 \(by host\), no IPv6 address"):
        resolve_target(spec, "db", 6)


def test_dhcp_clients_are_not_served_by_domain_and_nodes_false_hides_the_nodes():
    spec = load_lab_text(LAB)
    names = served_names(spec)
    assert "c1.names.lab" not in names        # no static address: only its own name, from its lease
    assert {"host.names.lab", "c2.names.lab", "far.names.lab", "web", "db"} <= set(names)
    hidden = load_lab_text(LAB.replace("dns: {records:", "dns: {nodes: false, domain: Corp.Example, records:"))
    names = served_names(hidden)
    assert not any(name.endswith(".names.lab") for name in names)
    assert "web.corp.example" in names and "host.corp.example" not in names


def test_a_dhcp_clients_own_name_resolves_from_what_it_holds(spec):
    held = held_from({"c1": ["10.0.3.150", "fd00:3::aa"], "c2": ["10.0.3.151"]})
    assert resolve_target(spec, "c1", held=held) == ("10.0.3.150", None)
    assert resolve_target(spec, "c1:80", 6, held) == ("fd00:3::aa", 80)
    # c2 has a static IPv6 address and takes IPv4 by DHCP: IPv4 is still preferred
    assert resolve_target(spec, "c2", held=held) == ("10.0.3.151", None)
    assert resolve_target(spec, "c2", 6, held) == ("fd00:3::2", None)


@pytest.mark.parametrize("to, family, table, message", [
    ("c1", None, None, "node 'c1' takes its IPv4 address by DHCP (eth0): it is known only in the running lab"),
    ("c1", None, {"c1": []}, "node 'c1' has no IPv4 address now: eth0 takes it by DHCP and holds no lease"),
    ("c1", 6, {"c1": ["10.0.3.150"]}, "eth0 takes it by SLAAC and has formed no address"),
    ("far", 4, {}, "node 'far' has no IPv4 address (it has fd00:9::2)"),
])
def test_a_client_without_an_address_says_so(spec, to, family, table, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_target(spec, to, family, None if table is None else held_from(table))


def test_a_name_two_servers_answer_differently_is_refused():
    spec = load_lab_text("""
lab: two
nodes:
  a: {interfaces: {br0: {type: bridge, address: 10.1.0.1/24, dns: {records: {db: 10.1.0.5}}}}}
  b: {interfaces: {br0: {type: bridge, address: 10.2.0.1/24, dns: {records: {db: 10.2.0.5, same: 10.9.9.9}}}}}
  c: {interfaces: {br0: {type: bridge, address: 10.3.0.1/24, dns: {records: {same: 10.9.9.9}}}}}
""")
    with pytest.raises(ValueError, match="'db' is served with different answers "
                                         r"\(a's dnsmasq answers 10.1.0.5; b's dnsmasq answers 10.2.0.5\)"):
        resolve_target(spec, "db")
    assert resolve_target(spec, "same") == ("10.9.9.9", None)   # the same answer twice is one answer
    assert resolve_target(spec, "a.two.lab") == ("10.1.0.1", None)


def test_an_unknown_name_lists_the_served_ones(spec):
    with pytest.raises(ValueError, match=r"'nope' is neither a node of lab 'names', a name its DNS serves nor an "
                                         r"IP address \(nodes: host, c1, c2, far; names: api.example, c2.names.lab, db, db.names.lab, "
                                         r"far.names.lab, host.names.lab, web, web.names.lab\); write one"):
        resolve_target(spec, "nope")


def test_without_dns_no_name_is_served():
    spec = load_lab_text("""
lab: plain
nodes:
  a: {interfaces: {br0: {type: bridge, address: 10.1.0.1/24, dhcp: {range: 10.1.0.100-10.1.0.110,
                                                        hosts: [{name: w, mac: "02:00:00:00:00:01", address: 10.1.0.9}]}}}}
""")
    assert served_names(spec) == {}   # dnsmasq serves DHCP there, and answers no names
    with pytest.raises(ValueError, match=r"'a.plain.lab' is neither a node of lab 'plain' nor an IP address"):
        resolve_target(spec, "a.plain.lab")


def _problems(tmp_path, text: str) -> list[str]:
    path = tmp_path / "lab.yaml"
    path.write_text(textwrap.dedent(text))
    try:
        check_lab_file(path)
    except LabFileError as exc:
        return [str(problem) for problem in exc.problems]
    return []


def test_validation_accepts_served_names_and_client_nodes(tmp_path):
    checks = """
checks:
  - {from: c1, to: web.names.lab, expect: reach}
  - {from: c1, to: "db:5432", proto: tcp, expect: open, seen_as: c1}
  - {from: host, to: c1, expect: reach}
  - {from: c1, to: host.names.lab, expect: reach}
"""
    assert _problems(tmp_path, LAB + checks) == []


def test_validation_names_what_the_lab_serves(tmp_path):
    problems = _problems(tmp_path, LAB + "checks:\n  - {from: c1, to: webb, expect: reach}\n")
    assert len(problems) == 1
    assert "lab.yaml:32: checks[0].to: " in problems[0]
    assert ("unknown node 'webb' — use a node (host, c1, c2, far), a name the lab's DNS serves "
            "(api.example, c2.names.lab, db, db.names.lab, far.names.lab, host.names.lab, web, web.names.lab), "
            "an IP, host:port or ip:port") in problems[0]


# -- the lookup that reads the kernel, and the check runner's use of it ----------------
def _links(addresses: dict[str, list[str]]):
    return [{"name": name, "addresses": list(held)} for name, held in addresses.items()], []


def test_held_addresses_reads_only_what_dhcp_and_slaac_gave(spec, monkeypatch):
    reads = []
    kernel = {
        "names-c1": {"lo": ["127.0.0.1/8"], "eth0": ["10.0.3.150/24", "fe80::1/64", "fd00:3::aa/64"]},
        "names-c2": {"eth0": ["fd00:3::2/64", "fd00:3::bb/64", "10.0.3.151/24"]},
    }

    def read(namespace):
        reads.append(namespace)
        if namespace not in kernel:
            raise FileNotFoundError(namespace)
        return _links(kernel[namespace])

    monkeypatch.setattr("vnetlab.observe.rtnl.read", read)
    held = held_addresses(spec, lambda node: f"names-{node}")
    assert held("c1") == ["10.0.3.150", "fd00:3::aa"]     # not lo, not the link-local address
    assert held("c2") == ["10.0.3.151"]                   # c2:eth0 has no slaac: IPv6 there is static
    assert held("c1") == ["10.0.3.150", "fd00:3::aa"]
    assert reads == ["names-c1", "names-c2"]              # each node read once
    with pytest.raises(ValueError, match="namespace names-far of node far does not exist — is the lab up"):
        held("far")


def test_a_check_at_a_client_without_a_lease_is_an_error_that_says_so(spec, monkeypatch):
    monkeypatch.setattr("vnetlab.observe.rtnl.read", lambda namespace: _links({"eth0": ["fe80::2/64"]}))
    lab = spec.model_copy(update={"checks": [
        checks_module.Check.model_validate({"from": "host", "to": "c1", "expect": "reach"}),
        checks_module.Check.model_validate({"from": "host", "to": "nope.names.lab", "expect": "reach"}),
    ]})
    first, second = run_checks(lab, lambda node: f"names-{node}")
    assert (first.ok, first.observed) == (False, ERROR)
    assert "node 'c1' has no IPv4 address now: eth0 takes it by DHCP and holds no lease" in first.detail
    assert (second.ok, second.observed) == (False, ERROR)
    assert "'nope.names.lab' is neither a node" in second.detail


def test_checks_and_dnsmasq_read_one_table(spec):
    """Every host-record the compiler writes into a dnsmasq config is a served name with that address."""
    from vnetlab.compile.dnsmasq import dnsmasq_config

    names = served_names(spec)
    config = dnsmasq_config(spec, "host", spec.nodes["host"])
    records = [line.partition("=")[2].split(",") for line in config.splitlines() if line.startswith("host-record=")]
    assert records
    for *hostnames, address in records:
        for name in hostnames:
            assert address in names[name.lower()][0].addresses, (name, address)


def test_a_record_takes_the_name_from_a_reservation():
    spec = load_lab_text(LAB.replace("Api.Example:", "web: 10.0.3.77, Api.Example:"))
    assert resolve_target(spec, "web") == ("10.0.3.77", None)           # dnsmasq gives the lease no name
    assert resolve_target(spec, "web.names.lab") == ("10.0.3.77", None)


def test_a_dhcp_client_named_in_a_domain_is_told_its_node_name(spec):
    with pytest.raises(ValueError, match="c1 takes its address by DHCP or SLAAC: aim at it by its node name, c1"):
        resolve_target(spec, "c1.names.lab:80")


def test_a_long_list_of_names_is_cut():
    records = ", ".join(f"n{i}: 10.0.0.{i}" for i in range(1, 20))
    spec = load_lab_text(f"""
lab: many
nodes:
  a: {{interfaces: {{br0: {{type: bridge, address: 10.0.0.254/24, dns: {{nodes: false, records: {{{records}}}}}}}}}}}
""")
    with pytest.raises(ValueError, match=r"names: n1, n1.many.lab, n10, n10.many.lab, n11, n11.many.lab, n12, "
                                         r"n12.many.lab, … \(38 in all\)\)"):
        resolve_target(spec, "nope")
