"""The naming conventions every layer shares: namespace names and a node's OVS run directory."""

from __future__ import annotations

import os

from vnetlab import names
from vnetlab.host import ovs_paths, state


def test_namespace_names_split_back_into_lab_and_node():
    assert names.namespace("lab1", "web-1") == "lab1-web-1"
    assert names.split_namespace("lab1-web-1") == ("lab1", "web-1")  # node names may hold '-'
    assert names.split_namespace("nodash") == ("nodash", "")


def test_every_ovs_client_names_the_nodes_own_database():
    rundir = "/run/vnetlab/x/ovs/sw"
    assert ovs_paths.vsctl(rundir, "list-br") == ["ovs-vsctl", f"--db=unix:{rundir}/db.sock", "list-br"]
    assert ovs_paths.mgmt_target(rundir, "br0") == f"unix:{rundir}/br0.mgmt"
    assert set(ovs_paths.ovs_env(rundir).values()) == {rundir}


def test_a_node_has_an_ovs_run_directory_only_once_it_exists(monkeypatch, tmp_path):
    monkeypatch.setattr(state, "RUN_ROOT", str(tmp_path))
    assert ovs_paths.node_rundir("lab1-sw") is None
    assert ovs_paths.env_for("lab1-sw") == {}
    os.makedirs(tmp_path / "lab1" / "ovs" / "sw")
    assert ovs_paths.node_rundir("lab1-sw") == str(tmp_path / "lab1" / "ovs" / "sw")
    assert ovs_paths.env_for("lab1-sw")["OVS_RUNDIR"] == str(tmp_path / "lab1" / "ovs" / "sw")
    assert ovs_paths.node_rundir("nodash") is None


def test_compile_puts_a_nodes_ovs_in_the_run_directory_it_is_given():
    from vnetlab.compile import compile_lab
    from vnetlab.model import load_lab
    from vnetlab.model.bridges import KernelFeatures
    from vnetlab.plan import StartOvs

    spec = load_lab(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "proxmox-vlan.yaml"))
    no_kernel_l2 = KernelFeatures(vlan_devices=False, bonding=False, vlan_filtering=False, ovs_kernel=False,
                                  ovs_userspace=True, detected=True)
    plan = compile_lab(spec, no_kernel_l2, run_dir="/elsewhere/pvevlan")
    assert {op.rundir for op in plan.ops if isinstance(op, StartOvs)} == {
        "/elsewhere/pvevlan/ovs/pve", "/elsewhere/pvevlan/ovs/upstream"}
