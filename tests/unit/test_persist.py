"""``vnetlab enable`` / ``disable``: the systemd unit, written to a temporary root (no root needed)."""

from __future__ import annotations

import json

import pytest

from vnetlab.host import systemd as persist
from vnetlab.cli import main

LAB = "lab: cvunit\nnodes:\n  a: {}\n"


@pytest.fixture
def unit_dir(tmp_path, monkeypatch):
    target = tmp_path / "systemd"
    monkeypatch.setenv("VNETLAB_SYSTEMD_DIR", str(target))
    return target


def test_unit_text_runs_up_restore_at_boot_and_down_at_stop():
    text = persist.unit_text("cvunit", "/labs/my lab.yaml", ["/opt/venv/bin/vnetlab"])
    lines = text.splitlines()
    assert "Type=oneshot" in lines and "RemainAfterExit=yes" in lines
    assert "ExecStart=/opt/venv/bin/vnetlab up --restore --quiet '/labs/my lab.yaml'" in lines
    assert "ExecStop=/opt/venv/bin/vnetlab down --quiet cvunit" in lines
    assert "WantedBy=multi-user.target" in lines


def test_enable_writes_the_unit_once_and_disable_removes_it(tmp_path, unit_dir, capsys):
    labfile = tmp_path / "cv.yaml"
    labfile.write_text(LAB)
    unit = unit_dir / "vnetlab-cvunit.service"

    assert main(["enable", str(labfile), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["changed"] is True and first["unit"] == str(unit) and first["systemd"] is False
    text = unit.read_text()
    assert f"up --restore --quiet {labfile}" in text
    assert text.splitlines()[text.splitlines().index("[Service]") + 3].startswith("ExecStart=/")
    assert unit.stat().st_mode & 0o777 == 0o644

    assert main(["enable", str(labfile), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changed"] is False
    assert unit.read_text() == text

    assert main(["disable", "cvunit", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] is True
    assert not unit.exists()
    assert main(["disable", str(labfile)]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_enable_without_systemd_says_how_to_enable(tmp_path, unit_dir, capsys):
    labfile = tmp_path / "cv.yaml"
    labfile.write_text(LAB)
    assert main(["enable", str(labfile)]) == 0
    out = capsys.readouterr().out
    assert "systemctl enable vnetlab-cvunit.service" in out


def test_enable_of_an_invalid_file_writes_nothing(tmp_path, unit_dir):
    labfile = tmp_path / "bad.yaml"
    labfile.write_text("lab: BAD\nnodes: {}\n")
    assert main(["enable", str(labfile)]) == 2
    assert not unit_dir.exists()
