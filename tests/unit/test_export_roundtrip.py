"""import(export(node)) describes the same host: every example's hypervisor-like node."""

from __future__ import annotations

import glob
import os

import pytest

from vnetlab.io.export import GUEST_DEVICE, export_node
from vnetlab.io.importer import import_interfaces
from vnetlab.model import load_lab
from vnetlab.model.l2names import vlan_device_parts
from vnetlab.model.resolve import resolve_forward_target
from vnetlab.model.schema import Interface, Node

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def _hypervisor_nodes():
    for path in sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml"))):
        spec = load_lab(path)
        for name, node in spec.nodes.items():
            if node.kind != "switch" and any(i.type in ("bridge", "bond", "vlan") for i in node.interfaces.values()):
                yield pytest.param(path, name, id=f"{os.path.basename(path)}:{name}")


def _guest(name: str, entry: Interface) -> bool:
    return entry.type == "tap" or bool(GUEST_DEVICE.match(name))


def describe(spec, node: Node) -> dict:
    """What the round trip must keep, in a form both sides share."""
    interfaces = {}
    for name, entry in node.interfaces.items():
        if _guest(name, entry):
            continue
        kind = entry.type if entry.type in ("bridge", "bond", "vlan") else "nic"
        item = {"kind": kind, "addresses": sorted(entry.all_addresses()), "vlan": entry.vlan,
                "trunk": sorted(entry.trunk or []), "mtu": entry.mtu}
        if kind == "bridge":
            item["ports"] = sorted(p for p in entry.ports if not _guest(p, node.interfaces.get(p, Interface())))
            item["vlan_aware"] = entry.vlan_aware
        if kind == "bond":
            item["members"], item["mode"] = sorted(entry.members), entry.mode or "active-backup"
        if kind == "vlan":
            item["parent_id"] = vlan_device_parts(name, entry)
        interfaces[name] = item
    forwards = []
    for forward in (node.nat.forward if node.nat else []):
        address, port = resolve_forward_target(spec, node, forward.to)
        forwards.append((forward.in_, forward.proto, forward.port, str(address), port))
    return {
        "interfaces": interfaces,
        "routes": sorted((r.to, r.via or "", r.dev or "") for r in node.routes),
        "forwarding": node.forwards,
        "masquerade": sorted((m.source or "", m.out) for m in (node.nat.masquerade if node.nat else [])),
        "forward": sorted(forwards),
    }


def _routes_without_dev(description: dict) -> dict:
    # export names the device of a route whose gateway it can place; the file's route may not
    description["routes"] = sorted((to, via, "") for to, via, _ in description["routes"])
    return description


@pytest.mark.parametrize("path, node_name", list(_hypervisor_nodes()))
def test_import_of_export_describes_the_same_host(tmp_path, path, node_name):
    spec = load_lab(path)
    text = export_node(spec, node_name, "interfaces")
    file = tmp_path / "interfaces"
    file.write_text(text)
    imported = import_interfaces(str(file))
    assert not imported.not_imported, [str(r) for r in imported.not_imported]
    assert not imported.problems, [str(r) for r in imported.problems]
    from vnetlab.model import load_lab_text

    again = load_lab_text(imported.text, "<imported>")
    host = next(iter(again.nodes))
    assert _routes_without_dev(describe(again, again.nodes[host])) == \
        _routes_without_dev(describe(spec, spec.nodes[node_name]))


def test_there_are_hypervisor_nodes_to_round_trip():
    names = {p.id for p in _hypervisor_nodes()}
    assert {"proxmox-nat.yaml:pve", "proxmox-vlan.yaml:pve", "proxmox-bridged.yaml:pve"} <= names


SAMPLES = os.path.join(os.path.dirname(__file__), "fixtures", "interfaces")


def _sample_hosts():
    """Every real interfaces file of the import fixtures that imports (the broken ones are meant to fail)."""
    from vnetlab.io.report import SourceFileError

    for name in sorted(os.listdir(SAMPLES)):
        path = os.path.join(SAMPLES, name)
        if os.path.isdir(path):
            path = os.path.join(path, "etc", "network", "interfaces")
        try:
            imported = import_interfaces(path)
        except SourceFileError:
            continue
        yield pytest.param(imported.text, id=name)


@pytest.mark.parametrize("lab_text", list(_sample_hosts()))
def test_every_sample_file_round_trips(tmp_path, lab_text):
    from vnetlab.model import load_lab_text

    spec = load_lab_text(lab_text)
    host = next(iter(spec.nodes))
    file = tmp_path / "interfaces"
    file.write_text(export_node(spec, host, "interfaces"))
    imported = import_interfaces(str(file))
    assert not imported.not_imported, [str(r) for r in imported.not_imported]
    again = load_lab_text(imported.text)
    assert _routes_without_dev(describe(again, again.nodes[next(iter(again.nodes))])) == \
        _routes_without_dev(describe(spec, spec.nodes[host]))


def test_most_samples_take_part():
    assert len(list(_sample_hosts())) >= 25
