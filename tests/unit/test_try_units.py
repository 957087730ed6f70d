"""The pure parts of vnetlab try: which lines of NEW changed, which concern a failure, names."""

from __future__ import annotations

import os

from vnetlab.cli import main
from vnetlab.labs.try_change import Change, _relevant, changed_lines, lab_names, lost_management
from vnetlab.model import load_lab_text
from vnetlab.model.schema import Check
from vnetlab.names import LAB_NAME

PAIRS = os.path.join(os.path.dirname(__file__), "..", "integration", "fixtures", "try")


def test_changed_lines_of_two_files_ignore_spacing_and_spelling(tmp_path):
    old = os.path.join(PAIRS, "mgmt/old.interfaces")
    assert changed_lines(old, os.path.join(PAIRS, "mgmt/new.interfaces")) == [
        Change("new.interfaces", 11, "bridge-ports none")]
    same = changed_lines(old, os.path.join(PAIRS, "mgmt/same.interfaces"))
    assert [c.text for c in same] == []  # comments, indentation and bridge_ports = bridge-ports


def test_changed_lines_of_two_roots_name_removed_lines():
    changes = changed_lines(os.path.join(PAIRS, "nat/old"), os.path.join(PAIRS, "nat/new"))
    assert [(c.file, c.removed) for c in changes] == [("etc/network/interfaces", True)] * 2
    assert "MASQUERADE" in changes[0].text
    assert str(changes[0]).startswith("NEW/etc/network/interfaces:22 (removed `post-up")


def test_a_new_file_in_new_counts_as_changed(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    (old / "etc").mkdir(parents=True)
    (new / "etc").mkdir(parents=True)
    (new / "etc" / "extra").write_text("# comment\nauto eno9\n")
    assert changed_lines(str(old), str(new)) == [Change("etc/extra", 2, "auto eno9")]


def test_relevant_lines_are_those_naming_what_failed():
    changes = [Change("i", 3, "address 10.0.0.5/24"), Change("i", 9, "bridge-ports none"),
               Change("i", 12, "mtu 9000")]
    check = Check.model_validate({"from": "admin", "to": "10.0.0.5:22", "proto": "tcp", "expect": "open"})
    assert _relevant(changes, check, "filtered") == [changes[0]]
    other = Check.model_validate({"from": "a", "to": "b"})
    assert _relevant(changes, other, "dropped at vmbr7") == changes  # nothing named: all of them


def test_lost_management_compares_the_hosts_addresses():
    old = load_lab_text("""
lab: o
nodes:
  pve: {interfaces: {eth0: {address: 192.168.1.10/24}}}
  admin: {interfaces: {eth0: {address: 192.168.1.254/24}}}
links: [[pve:eth0, admin:eth0]]
checks: [{from: admin, to: 192.168.1.10}]
""")
    moved = load_lab_text(old.model_dump_json().replace("192.168.1.10/24", "192.168.1.11/24").replace(
        '"checks":[{"from":"admin","to":"192.168.1.10"', '"checks":[{"from":"admin","to":"192.168.1.11"'))
    assert lost_management(old, old) == []
    assert lost_management(old, moved) == ["192.168.1.10"]


def test_lab_names_are_valid_and_distinct():
    old, new = lab_names()
    assert LAB_NAME.fullmatch(old) and LAB_NAME.fullmatch(new) and old != new


def test_export_command(tmp_path, capsys):
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "proxmox-nat.yaml")
    assert main(["export", example, "pve", "--format", "interfaces"]) == 0
    assert "iface vmbr1 inet static" in capsys.readouterr().out
    out = tmp_path / "interfaces"
    assert main(["export", example, "pve", "--format", "nmcli", "-o", str(out)]) == 0
    assert out.read_text().count("nmcli connection add") == 3
    assert main(["export", example, "nosuch"]) == 2
    assert "no node 'nosuch'" in capsys.readouterr().err


def test_try_command_refuses_missing_paths(capsys):
    import pytest

    with pytest.raises(SystemExit) as exit_:
        main(["try", "/nonexistent/old", "/nonexistent/new"])
    assert exit_.value.code == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_rule_lines_named_by_a_trace(tmp_path):
    from vnetlab.labs.try_change import rule_lines

    node = tmp_path / "etc/pve/nodes/pve1"
    node.mkdir(parents=True)
    (node / "host.fw").write_text("[OPTIONS]\nenable: 1\n[RULES]\nIN SSH(DROP)\n")
    reason = ("trace: dropped — dropped by rule 'tcp dport 22 drop comment \"host.fw:4 SSH(DROP)\"' "
              "(table inet vnetlab chain input) at pve")
    assert rule_lines(reason, str(tmp_path)) == [Change("etc/pve/nodes/pve1/host.fw", 4, "IN SSH(DROP)")]
    assert rule_lines("trace: dropped by policy drop", str(tmp_path)) == []
    assert rule_lines(reason, str(tmp_path / "interfaces")) == []  # a lone interfaces file has no .fw
