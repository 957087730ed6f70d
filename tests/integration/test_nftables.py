"""NftBackend against the real kernel: a table per namespace, replaced
atomically, left alone when unchanged, and never another tool's table."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid

import pytest

from vnetlab.compile import compile_lab
from vnetlab.compile.firewall import compile_ruleset
from vnetlab.host import netns, run
from vnetlab.executors.nftables import NftBackend, run_nft
from vnetlab.model import load_lab, load_lab_text
from vnetlab.plan import ApplyRuleset, DeleteRuleset

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SERVER = """
lab: fw
nodes:
  server:
    interfaces: {lo: {address: 10.0.0.10/32}}
    firewall:
      input:
        policy: drop
        rules:
          - {action: accept, proto: tcp, port: 22, from: 192.168.50.0/24, comment: ssh from admins}
          - {action: accept, proto: icmp}
          - {action: reject, proto: tcp, port: 8000-8080}
"""


def ruleset_op(ns: str, lab_text: str = SERVER) -> ApplyRuleset:
    spec = load_lab_text(lab_text, "lab.yaml")
    ruleset = compile_ruleset(spec, spec.nodes["server"], ipv6=False)
    return ApplyRuleset(ns, ruleset=ruleset.json(), text=ruleset.text, iptables=ruleset.iptables,
                        digest=ruleset.digest)


def host_ruleset() -> str:
    return subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=True).stdout


def listed(ns: str, *table: str) -> str:
    result = run.run(ns, ["nft", "list", "table", *(table or ("inet", "vnetlab"))],
                     capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@contextlib.contextmanager
def scratch_namespace():
    name = f"vnlnft-{uuid.uuid4().hex[:8]}"
    assert netns.create(name)
    try:
        yield name
    finally:
        netns.delete(name)


@pytest.fixture(params=["libnftables", "nft program"])
def ns(request, monkeypatch):
    if request.param == "nft program":  # the fallback when the library is missing
        monkeypatch.setattr("vnetlab.executors.nftables._Library.get", staticmethod(lambda: None))
    if shutil.which("nft") is None:
        pytest.skip("nft is not installed")
    before = host_ruleset()
    with scratch_namespace() as name:
        yield name
    assert host_ruleset() == before


def test_apply_then_unchanged_then_delete(ns):
    backend = NftBackend()
    op = ruleset_op(ns)
    assert backend.apply(op) == DeleteRuleset(ns, table="vnetlab", family="inet")
    text = listed(ns)
    assert "policy drop;" in text
    assert 'iifname "lo" accept' in text
    assert "ct state established,related accept" in text
    assert 'ip saddr 192.168.50.0/24 tcp dport 22 accept comment "ssh from admins"' in text
    assert "meta l4proto { icmp, ipv6-icmp } accept" in text
    assert "tcp dport 8000-8080 reject" in text
    assert f"vnetlab sha256:{op.digest}" in text

    assert backend.apply(op) is None  # same digest: untouched
    assert listed(ns) == text

    assert isinstance(backend.apply(DeleteRuleset(ns)), ApplyRuleset)
    assert backend.apply(DeleteRuleset(ns)) is None  # absent is fine
    assert "vnetlab" not in run_nft(ns, "list tables")


def test_replace_keeps_foreign_tables_and_inverse_restores(ns):
    run_nft(ns, "add table inet other\nadd chain inet other keep { type filter hook input priority 10; }\n"
                "add rule inet other keep tcp dport 9999 counter accept")
    foreign = listed(ns, "inet", "other")
    backend = NftBackend()
    old = ruleset_op(ns)
    backend.apply(old)
    old_text = listed(ns)

    new = ruleset_op(ns, SERVER.replace("port: 22", "port: 2222"))
    inverse = backend.apply(new)
    assert isinstance(inverse, ApplyRuleset) and inverse.digest == old.digest
    assert "tcp dport 2222 accept" in listed(ns) and "dport 22 " not in listed(ns)
    assert listed(ns, "inet", "other") == foreign

    assert isinstance(backend.apply(inverse), ApplyRuleset)  # undo: the old table is back
    assert listed(ns) == old_text
    assert backend.apply(old) is None  # ...with its digest, so it counts as unchanged
    assert listed(ns, "inet", "other") == foreign


def test_inverse_as_json_restores_too(ns):
    backend = NftBackend()
    backend.apply(ruleset_op(ns))
    old_text = listed(ns)
    inverse = backend.apply(ruleset_op(ns, SERVER.replace("policy: drop", "policy: accept")))
    backend.apply(ApplyRuleset(ns, ruleset=inverse.ruleset, digest="rebuild"))  # JSON only
    # JSON input in nft 1.0.6 drops the table comment; the rules are the same.
    assert [line for line in listed(ns).splitlines() if "comment \"vnetlab" not in line] == \
           [line for line in old_text.splitlines() if "comment \"vnetlab" not in line]


def test_every_compiled_ruleset_loads_into_the_kernel(ns):
    paths = [os.path.join(REPO, "tests", "unit", "fixtures", "good", "firewall.yaml")]
    paths += [os.path.join(REPO, "examples", f) for f in ("secure-host.yaml", "proxmox-nat.yaml")]
    backend = NftBackend()
    for path in filter(os.path.exists, paths):
        for op in compile_lab(load_lab(path)).ops:
            if isinstance(op, ApplyRuleset):
                backend.apply(ApplyRuleset(ns, ruleset=op.ruleset, text=op.text, digest=op.digest))
                assert backend.apply(ApplyRuleset(ns, ruleset=op.ruleset, text=op.text,
                                                  digest=op.digest)) is None, path
                # The JSON form is accepted as well (applied with a fresh digest).
                backend.apply(ApplyRuleset(ns, ruleset=op.ruleset, digest="json-" + op.digest))


def test_iptables_commands_are_accepted(ns):
    if shutil.which("iptables") is None or shutil.which("ip6tables") is None:
        pytest.skip("iptables is not installed")
    path = os.path.join(REPO, "tests", "unit", "fixtures", "good", "firewall.yaml")
    for op in compile_lab(load_lab(path)).ops:
        if isinstance(op, ApplyRuleset):
            for argv in op.iptables:
                result = run.run(ns, list(argv), capture_output=True, text=True)
                assert result.returncode == 0, (argv, result.stderr)
