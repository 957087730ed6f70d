"""vnetlab try OLD NEW on pairs that break management, a VLAN, NAT, and nothing."""

from __future__ import annotations

import json
import os

import pytest

from conftest import cli, lab_namespaces
from vnetlab.host import state

pytestmark = pytest.mark.integration

PAIRS = os.path.join(os.path.dirname(__file__), "fixtures", "try")


def _try(old: str, new: str, *extra: str):
    result = cli("try", os.path.join(PAIRS, old), os.path.join(PAIRS, new), "--json", *extra)
    data = json.loads(result.stdout)
    return result.returncode, data


def _gone(data) -> bool:
    return not lab_namespaces(data["old_lab"]) and not lab_namespaces(data["new_lab"]) and \
        data["old_lab"] not in state.lab_names() and data["new_lab"] not in state.lab_names()


def test_nothing_changed_exits_0():
    code, data = _try("mgmt/old.interfaces", "mgmt/same.interfaces")
    assert code == 0 and data["ok"] and data["broken"] == []
    assert data["passed"] == 3  # admin reaches the host, its :22 and :8006 — with both
    assert _gone(data)


def test_lost_management_is_reported_first_with_the_line_of_new():
    code, data = _try("mgmt/old.interfaces", "mgmt/new.interfaces")
    assert code == 1 and not data["ok"]
    labels = [b["check"] for b in data["broken"]]
    assert labels[0] == "admin reaches the management address 192.168.1.10"
    assert {"admin reaches 192.168.1.10:22", "admin reaches 192.168.1.10:8006"} <= set(labels)
    assert all(b["management"] for b in data["broken"])
    assert all(b["lines"] == ["NEW/new.interfaces:11 `bridge-ports none`"] for b in data["broken"])
    assert _gone(data)


def test_broken_vlan():
    code, data = _try("vlan/old", "vlan/new")
    assert code == 1
    [broken] = [b for b in data["broken"] if "VLAN" in b["check"]]
    # the guests web10 (VLAN 10) and db20 (VLAN 20) share 172.16.0.0/24: only the tags kept them apart
    assert "(VLAN 10)" in broken["check"] and "(VLAN 20)" in broken["check"] and "does not reach" in broken["check"]
    assert "reply from 172.16.0.10" in broken["new"]
    assert "answered" in broken["reason"]  # the trace: the packet now gets through
    assert broken["lines"] == ["NEW/etc/network/interfaces:14 (removed `bridge-vlan-aware yes`)"]
    assert _gone(data)


def test_broken_nat_and_timing():
    code, data = _try("nat/old", "nat/new")
    assert code == 1
    [broken] = data["broken"]
    assert broken["check"] == "private reaches gw as the host's 192.168.1.10"  # VM 102, name: private
    assert "seen as 10.10.10.102" in broken["new"]  # no longer masqueraded
    assert any("MASQUERADE" in line and "removed" in line for line in broken["lines"])
    assert not broken["management"]
    print(f"\ntry on a host with a NAT guest took {data['seconds']['total']} s: {data['seconds']}")
    assert _gone(data)


def test_keep_leaves_both_labs_up_until_down():
    code, data = _try("mgmt/old.interfaces", "mgmt/same.interfaces", "--keep")
    try:
        assert code == 0 and data["kept"]
        assert lab_namespaces(data["old_lab"]) and lab_namespaces(data["new_lab"])
        assert cli("check", data["new_lab"]).returncode == 0
    finally:
        cli("down", data["old_lab"])
        cli("down", data["new_lab"])
    assert _gone(data)


def test_interrupted_try_removes_both_labs():
    from vnetlab.labs import try_change

    names = []

    def interrupt(text: str) -> None:
        if text.startswith("building"):
            names.append(text.rsplit(" ", 1)[1])
        if text.startswith("running the checks"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        try_change.try_change(os.path.join(PAIRS, "mgmt/old.interfaces"), os.path.join(PAIRS, "mgmt/new.interfaces"),
                              progress=interrupt)
    assert len(names) == 2
    assert _gone({"old_lab": names[0], "new_lab": names[1]})


def test_firewall_lock_out_names_the_firewall_line():
    # NEW points Proxmox's local_network alias elsewhere: the built-in management rule no longer covers the admin
    code, data = _try("firewall/old", "firewall/new")
    assert code == 1
    labels = {b["check"] for b in data["broken"]}
    assert labels == {"admin reaches 192.168.1.10:22", "admin reaches 192.168.1.10:8006"}  # ping is still allowed
    for broken in data["broken"]:
        assert broken["management"] and broken["new"].startswith("filtered")
        assert "policy drop" in broken["reason"]  # the trace: dropped by the host's input policy
        assert "NEW/etc/pve/firewall/cluster.fw:8 `local_network 10.99.0.0/24`" in broken["lines"]
    assert _gone(data)


def test_a_dropping_rule_is_named_by_its_line():
    # NEW adds host.fw with a rule dropping ICMP, ahead of the datacenter's Ping(ACCEPT)
    code, data = _try("firewall/old", "firewall/new-icmp")
    assert code == 1
    [broken] = data["broken"]
    assert broken["check"] == "admin reaches the management address 192.168.1.10" and broken["management"]
    assert "host.fw:5" in broken["reason"]  # the trace names the nft rule made from that line
    assert broken["lines"][0] == "NEW/etc/pve/nodes/pve1/host.fw:5 `IN DROP -p icmp # no pings at this host`"
    assert _gone(data)
