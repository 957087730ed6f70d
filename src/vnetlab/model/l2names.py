"""L2 facts the validator and the compiler both need: which bond modes Linux
bonding has, and how a ``type: vlan`` interface names its parent and VLAN.

They live in the model (pure, no plan types) so that validating a file never
imports the compiler.
"""

from __future__ import annotations

from typing import Optional

from vnetlab.model.schema import Interface

LINUX_BOND_MODES = ("active-backup", "balance-rr", "802.3ad")
OVS_ONLY_BOND_MODES = ("balance-slb", "balance-tcp")


def linux_bond_mode_problem(mode: Optional[str]) -> Optional[str]:
    """Why a Linux bond cannot have ``mode`` (None if it can).

    The validator uses the same text for a bond that is not on an OVS bridge."""
    if mode is None or mode in LINUX_BOND_MODES:
        return None
    if mode in OVS_ONLY_BOND_MODES:
        return (f"bond mode {mode} exists only in Open vSwitch — a Linux bond takes "
                f"{', '.join(LINUX_BOND_MODES)}; put the bond on a bridge with backend: ovs "
                "(or auto), or pick a Linux mode (802.3ad is LACP)")
    return f"unknown bond mode {mode!r} — a Linux bond takes {', '.join(LINUX_BOND_MODES)}"


def vlan_device_parts(ifname: str, iface: Interface) -> Optional[tuple[str, int]]:
    """(parent, VLAN id) of a ``type: vlan`` interface: from ``parent``/``id``,
    else from a Proxmox-style name PARENT.VID (``vmbr0.20``); None if neither."""
    parent, vid = iface.parent, iface.id
    base, dot, suffix = ifname.rpartition(".")
    if dot and base and suffix.isdigit() and 1 <= int(suffix) <= 4094:
        parent = parent or base
        vid = vid if vid is not None else int(suffix)
    if parent is None or vid is None:
        return None
    return parent, vid
