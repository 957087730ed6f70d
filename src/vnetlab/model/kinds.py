"""The node kinds and interface types a lab file may name — the one list of them.

The schema validates ``kind:`` and ``type:`` against these names (and its
error lists them); ``compile/registry.py`` accepts a compiler only for a name
declared here and refuses to start when a declared name has none, so a new
kind is one line here plus its compiler module: nothing to keep in sync.
(The names live in the model, not in compile/, because validating a file
must not load the compilers.)
"""

from __future__ import annotations

# name -> what it is, in the order error messages list them
NODE_KINDS: dict[str, str] = {
    "host": "an end host",
    "router": "a host that forwards between its interfaces",
    "switch": "a namespace holding one bridge, every linked interface a port",
    "vm": "a guest whose NIC is fed by a TAP on its hypervisor",
}
INTERFACE_TYPES: dict[str, str] = {
    "veth": "a link end (the default): one end of a veth pair",
    "bridge": "a Linux bridge (or an Open vSwitch bridge) with ports",
    "tap": "a persistent TAP device, a VM NIC's hypervisor side",
    "bond": "a Linux bond (link aggregation) of members",
    "vlan": "an 802.1Q device on a parent",
    "macvlan": "a macvlan device on a parent interface (Docker's macvlan network driver)",
}
# type -> the values its ``mode:`` takes (the schema accepts any of them; validation checks the type's own)
MODES: dict[str, tuple[str, ...]] = {
    "bond": ("active-backup", "balance-rr", "802.3ad", "balance-slb", "balance-tcp"),
    "macvlan": ("bridge", "private", "vepa", "passthru"),
}
