"""The firewall/NAT compiler: one ``inet vnetlab`` table per node, as nft
JSON commands, nft text and iptables commands (pure, no root)."""

import json
import os

import pytest

from vnetlab.compile import compile_lab
from vnetlab.compile.builder import Phase
from vnetlab.compile.firewall import compile_ruleset, digest_of
from vnetlab.executors.nftables import NftBackend
from vnetlab.model import load_lab, load_lab_text
from vnetlab.plan import AddRoute, ApplyRuleset, DeleteRuleset, Op, RunService

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "examples")

SERVER = """
lab: fw
nodes:
  admin:
    interfaces: {eth0: {addresses: [192.168.50.10/24, fd00:50::10/64]}}
  server:
    interfaces: {eth0: {address: 192.168.50.1/24}}
    services: [{listen: tcp/22}]
    firewall:
      input:
        policy: drop
        rules:
          - {action: accept, proto: tcp, port: 22, from: 192.168.50.0/24}
          - {action: accept, proto: icmp}
links:
  - [admin:eth0, server:eth0]
"""

PVE = """
lab: pvenat
nodes:
  pve:
    forwarding: true
    interfaces:
      vmbr0: {type: bridge, address: 203.0.113.10/24}
      vmbr1: {type: bridge, ports: [tap100i0], address: 10.10.10.1/24}
      tap100i0: {type: tap}
    nat:
      masquerade: [{source: 10.10.10.0/24, out: vmbr0}]
      forward:    [{in: vmbr0, proto: tcp, port: 8080, to: "vm100:80"}]
  vm100:
    kind: vm
    interfaces: {eth0: {addresses: [192.0.2.1/24, 10.10.10.100/24]}}
links:
  - [pve:tap100i0, vm100:eth0]
"""


def ruleset_of(text, node):
    spec = load_lab_text(text, "lab.yaml")
    return compile_ruleset(spec, spec.nodes[node], ipv6=False)


def rules(commands, chain=None):
    return [c["add"]["rule"] for c in commands
            if "rule" in c.get("add", {}) and (chain is None or c["add"]["rule"]["chain"] == chain)]


def test_json_replaces_the_table_atomically_and_carries_the_digest():
    ruleset = ruleset_of(SERVER, "server")
    commands = json.loads(ruleset.json())["nftables"]
    table = {"family": "inet", "name": "vnetlab"}
    assert commands[:3] == [
        {"add": {"table": table}},
        {"delete": {"table": table}},
        {"add": {"table": {**table, "comment": f"vnetlab sha256:{ruleset.digest}"}}},
    ]
    assert commands[3] == {"add": {"chain": {
        "family": "inet", "table": "vnetlab", "name": "input", "type": "filter", "hook": "input",
        "prio": 0, "policy": "drop"}}}
    # Only what the file declares: no forward/output chain, no NAT chains.
    assert [c["add"]["chain"]["name"] for c in commands if "chain" in c.get("add", {})] == ["input"]


def test_policy_drop_preamble_then_rules_in_order_as_data():
    exprs = [r["expr"] for r in rules(ruleset_of(SERVER, "server").commands)]
    assert exprs[0] == [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lo"}},
                        {"accept": None}]
    assert exprs[1] == [{"match": {"op": "in", "left": {"ct": {"key": "state"}},
                                   "right": ["established", "related"]}}, {"accept": None}]
    assert exprs[2] == [
        {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                   "right": {"prefix": {"addr": "192.168.50.0", "len": 24}}}},
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}},
        {"accept": None},
    ]
    assert exprs[3] == [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}},
                                   "right": {"set": ["icmp", "ipv6-icmp"]}}}, {"accept": None}]
    assert len(exprs) == 4  # no ICMPv6 neighbour discovery: the node has no IPv6


def test_text_is_what_nft_list_shows():
    text = ruleset_of(SERVER, "server").text
    assert "add table inet vnetlab\ndelete table inet vnetlab\ntable inet vnetlab {\n" in text
    assert "\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n" \
           '\t\tiifname "lo" accept\n' \
           "\t\tct state established,related accept\n" \
           "\t\tip saddr 192.168.50.0/24 tcp dport 22 accept\n" \
           "\t\tmeta l4proto { icmp, ipv6-icmp } accept\n\t}\n}\n" in text


def test_iptables_rendering():
    assert ruleset_of(SERVER, "server").iptables == (
        ("iptables", "-P", "INPUT", "DROP"),
        ("iptables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"),
        ("iptables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"),
        ("iptables", "-A", "INPUT", "-p", "tcp", "-s", "192.168.50.0/24", "--dport", "22", "-j", "ACCEPT"),
        ("iptables", "-A", "INPUT", "-p", "icmp", "-j", "ACCEPT"),
    )


def test_nat_as_nft_and_iptables_with_dnat_to_a_node_on_a_connected_subnet():
    ruleset = ruleset_of(PVE, "pve")
    # vm100's first address (192.0.2.1) is not on a subnet of pve; 10.10.10.100 is.
    assert 'iifname "vmbr0" tcp dport 8080 dnat ip to 10.10.10.100:80' in ruleset.text
    assert 'oifname "vmbr0" ip saddr 10.10.10.0/24 masquerade' in ruleset.text
    assert "type nat hook prerouting priority dstnat; policy accept;" in ruleset.text
    assert "type nat hook postrouting priority srcnat; policy accept;" in ruleset.text
    assert ruleset.iptables == (
        ("iptables", "-t", "nat", "-A", "PREROUTING", "-i", "vmbr0", "-p", "tcp", "--dport", "8080",
         "-j", "DNAT", "--to-destination", "10.10.10.100:80"),
        ("iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "10.10.10.0/24", "-o", "vmbr0", "-j", "MASQUERADE"),
    )
    (dnat,) = rules(ruleset.commands, "prerouting")
    assert dnat["expr"][-1] == {"dnat": {"family": "ip", "addr": "10.10.10.100", "port": 80}}
    (masq,) = rules(ruleset.commands, "postrouting")
    assert masq["expr"][-1] == {"masquerade": None}
    chains = [c["add"]["chain"] for c in ruleset.commands if "chain" in c.get("add", {})]
    assert [(c["name"], c["type"], c["prio"]) for c in chains] == [("prerouting", "nat", -100),
                                                                    ("postrouting", "nat", 100)]


def test_node_names_expand_to_all_their_addresses_one_rule_per_ip_version():
    text = SERVER.replace("from: 192.168.50.0/24", "from: admin")
    ruleset = ruleset_of(text, "server")
    assert "ip saddr 192.168.50.10 tcp dport 22 accept" in ruleset.text
    assert "ip6 saddr fd00:50::10 tcp dport 22 accept" in ruleset.text
    assert ("iptables", "-A", "INPUT", "-p", "tcp", "-s", "192.168.50.10", "--dport", "22", "-j", "ACCEPT") \
        in ruleset.iptables
    assert ("ip6tables", "-A", "INPUT", "-p", "tcp", "-s", "fd00:50::10", "--dport", "22", "-j", "ACCEPT") \
        in ruleset.iptables


def test_several_addresses_become_an_nft_set_and_an_iptables_list():
    text = SERVER.replace("{eth0: {addresses: [192.168.50.10/24, fd00:50::10/64]}}",
                          "{eth0: {addresses: [192.168.50.10/24, 192.168.50.11/24]}}")
    ruleset = ruleset_of(text.replace("from: 192.168.50.0/24", "from: admin"), "server")
    assert "ip saddr { 192.168.50.10, 192.168.50.11 } tcp dport 22 accept" in ruleset.text
    assert "192.168.50.10,192.168.50.11" in [arg for argv in ruleset.iptables for arg in argv]


def test_port_ranges_reject_and_comments():
    text = SERVER.replace("- {action: accept, proto: icmp}",
                          "- {action: reject, proto: tcp, port: 8000-8080, comment: no web}")
    ruleset = ruleset_of(text, "server")
    assert 'tcp dport 8000-8080 reject comment "no web"' in ruleset.text
    assert ("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "8000:8080", "-m", "comment",
            "--comment", "no web", "-j", "REJECT") in ruleset.iptables
    last = rules(ruleset.commands)[-1]
    assert last["comment"] == "no web"
    assert last["expr"][0]["match"]["right"] == {"range": [8000, 8080]}
    assert last["expr"][-1] == {"reject": None}


def test_ipv6_nodes_let_neighbour_discovery_through_policy_drop():
    spec = load_lab_text(SERVER, "lab.yaml")
    ruleset = compile_ruleset(spec, spec.nodes["server"], ipv6=True)
    assert "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept" \
        in ruleset.text
    assert ("ip6tables", "-P", "INPUT", "DROP") in ruleset.iptables
    assert ("ip6tables", "-A", "INPUT", "-p", "ipv6-icmp", "--icmpv6-type", "neighbour-solicitation",
            "-j", "ACCEPT") in ruleset.iptables


def test_digest_is_stable_and_follows_the_rules():
    first, again = ruleset_of(SERVER, "server"), ruleset_of(SERVER, "server")
    changed = ruleset_of(SERVER.replace("port: 22", "port: 2222"), "server")
    assert first.digest == again.digest and first.json() == again.json() and first.text == again.text
    assert changed.digest != first.digest
    assert digest_of(first.text.split("\n", 3)[3]) == first.digest  # as `nft list table` shows it


def test_plan_puts_the_ruleset_after_routes_and_before_services():
    plan = compile_lab(load_lab_text(SERVER.replace("interfaces: {eth0: {address: 192.168.50.1/24}}",
                                                    "interfaces: {eth0: {address: 192.168.50.1/24}}\n"
                                                    "    routes: [{to: default, via: 192.168.50.10}]"),
                                     "lab.yaml"))
    kinds = [type(op) for op in plan.ops]
    assert kinds.index(AddRoute) < kinds.index(ApplyRuleset) < kinds.index(RunService)
    assert Phase.ROUTES < Phase.FIREWALL < Phase.PROCESSES
    (op,) = [op for op in plan.ops if isinstance(op, ApplyRuleset)]
    assert op.netns == "fw-server" and op.table == "vnetlab" and op.family == "inet"
    assert op.commands() == [["nft", "-f", "-"]] and op.script() == op.text
    assert not any(isinstance(o, ApplyRuleset) and o.netns == "fw-admin" for o in plan.ops)


@pytest.mark.parametrize("path", [os.path.join(FIXTURES, "good", "firewall.yaml"),
                                  os.path.join(EXAMPLES, "secure-host.yaml"),
                                  os.path.join(EXAMPLES, "proxmox-nat.yaml")])
def test_ruleset_ops_round_trip_through_json(path):
    if not os.path.exists(path):
        pytest.skip(f"{path} is not there")
    plan = compile_lab(load_lab(path))
    ops = [op for op in plan.ops if isinstance(op, ApplyRuleset)]
    assert ops
    data = json.loads(plan.to_json())
    assert [Op.from_dict(op) for op in data["ops"]] == plan.ops
    for op in ops:
        assert json.loads(op.ruleset)["nftables"][2]["add"]["table"]["comment"].endswith(op.digest)
    delete = DeleteRuleset("lab-node")
    assert Op.from_dict(json.loads(json.dumps(delete.to_dict()))) == delete
    assert delete.commands() == [["nft", "delete", "table", "inet", "vnetlab"]]


class FakeNft:
    """Stands in for run_nft: one namespace, tables as listed text."""

    def __init__(self):
        self.tables = {}  # (family, name) -> listed text
        self.applied = []

    def __call__(self, netns, commands):
        if '"list": {"tables"' in commands:
            return json.dumps({"nftables": [{"table": {"family": f, "name": n}} for f, n in self.tables]})
        if '"list": {"table"' in commands:
            return json.dumps({"nftables": [{"table": {"family": "inet", "name": "vnetlab", "handle": 3}}]})
        if commands.startswith("list table"):
            return self.tables[("inet", "vnetlab")]
        if commands.startswith("delete table"):
            del self.tables[("inet", "vnetlab")]
            return ""
        self.applied.append(commands)
        self.tables[("inet", "vnetlab")] = commands.split("delete table inet vnetlab\n", 1)[1]
        return ""


def test_backend_contract_with_a_fake_nft(monkeypatch):
    monkeypatch.setattr("vnetlab.executors.nftables.available", lambda: True)
    fake = FakeNft()
    backend = NftBackend(runner=fake)
    ruleset = ruleset_of(SERVER, "server")
    op = ApplyRuleset("fw-server", ruleset=ruleset.json(), text=ruleset.text, digest=ruleset.digest)
    assert backend.handles(op) and backend.handles(DeleteRuleset("fw-server"))
    assert backend.apply(op) == DeleteRuleset("fw-server", table="vnetlab", family="inet")
    assert backend.apply(op) is None  # same digest: nothing to do
    changed = ruleset_of(SERVER.replace("port: 22", "port: 2222"), "server")
    inverse = backend.apply(ApplyRuleset("fw-server", ruleset=changed.json(), text=changed.text,
                                         digest=changed.digest))
    assert isinstance(inverse, ApplyRuleset) and inverse.digest == ruleset.digest
    assert "tcp dport 22 accept" in inverse.text
    assert isinstance(backend.apply(DeleteRuleset("fw-server")), ApplyRuleset)
    assert backend.apply(DeleteRuleset("fw-server")) is None  # already gone
    with pytest.raises(ValueError):
        backend.apply(DeleteRuleset("fw-server", table="filter", family="ip"))
