"""vnetlab's udhcpc hook (agents/dhcp_hook.py), the parts that need no namespace: the node's
resolv.conf from a lease, and the refusal to run outside udhcpc."""

from __future__ import annotations

from vnetlab.agents import dhcp_hook


def test_resolv_conf_from_a_lease():
    text = dhcp_hook.resolv_conf_text({"interface": "eth0", "serverid": "10.0.3.1", "dns": "10.0.3.1 10.0.3.2",
                                       "domain": "lxc"})
    assert text.splitlines() == ["# written by vnetlab's udhcpc hook: the DHCP lease of eth0 from 10.0.3.1",
                                 "search lxc", "nameserver 10.0.3.1", "nameserver 10.0.3.2"]


def test_a_lease_without_a_domain_has_no_search_line():
    assert "search" not in dhcp_hook.resolv_conf_text({"interface": "eth0", "dns": "10.0.3.1"})


def test_the_hook_refuses_to_run_without_udhcpc(monkeypatch, capsys):
    monkeypatch.delenv("interface", raising=False)
    assert dhcp_hook.main(["udhcpc-hook", "bound"]) == 2
    assert "run by udhcpc" in capsys.readouterr().err


def test_lease_records_are_files_of_the_run_directory(tmp_path):
    assert dhcp_hook.lease_record_path(str(tmp_path), "c1", "eth0") == str(tmp_path / "lease-c1-eth0.json")
    assert dhcp_hook.read_lease(str(tmp_path), "c1", "eth0") is None
    (tmp_path / "lease-c1-eth0.json").write_text('{"address": "10.0.3.5/24"}')
    assert dhcp_hook.read_lease(str(tmp_path), "c1", "eth0") == {"address": "10.0.3.5/24"}
