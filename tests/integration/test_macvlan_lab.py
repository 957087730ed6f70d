"""type: macvlan on the kernel: ``up`` makes macvlan devices of the mode the
file says (as ``ip -d link`` reads them back), a macvlan deleted by hand is
drift that ``status`` reports and ``up`` repairs, and ``down`` removes it."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import cli, copy_example, lab_namespaces

pytestmark = pytest.mark.integration

LAB = "itmacvlan"


def macvlans(netns: str) -> dict[str, tuple[str, str]]:
    """ifname -> (mode, parent name) of every macvlan in ``netns``, from iproute2."""
    out = subprocess.run(["ip", "-n", netns, "-d", "-j", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    found = {}
    for link in json.loads(out):
        info = link.get("linkinfo", {})
        if info.get("info_kind") == "macvlan":
            found[link["ifname"]] = (info["info_data"]["mode"], link.get("link"))
    return found


def test_macvlan_up_drift_repair_and_down(tmp_path):
    path = copy_example(tmp_path, "docker-macvlan.yaml", LAB)
    host = f"{LAB}-dockerhost"
    try:
        cli("up", path, check=True)
        assert macvlans(host) == {"web": ("bridge", "eth0"), "db": ("bridge", "eth0")}
        assert cli("status", LAB, "--check-drift").returncode == 0

        subprocess.run(["ip", "-n", host, "link", "del", "web"], check=True)
        found = json.loads(cli("status", LAB, "--json", check=True).stdout)["drift"]
        messages = {change["message"] for change in found}
        assert "dockerhost web: interface missing" in messages, messages
        assert cli("status", LAB, "--check-drift").returncode == 1

        cli("up", path, check=True)
        assert macvlans(host) == {"web": ("bridge", "eth0"), "db": ("bridge", "eth0")}
        assert cli("status", LAB, "--check-drift").returncode == 0
        assert cli("check", path).returncode == 0
    finally:
        cli("down", LAB)
    assert lab_namespaces(LAB) == []
