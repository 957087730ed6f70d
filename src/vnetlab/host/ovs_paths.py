"""Where a node's own Open vSwitch keeps its files, and how ovs-* tools find them.

One place for the run-directory conventions every caller shares (the OVS
backend, the runner, status, drift and trace): each node with OVS bridges
has ``<lab run dir>/ovs/<node>/`` holding its database, sockets, pidfiles
and logs, and every ovs-* call names that directory, so the host's own OVS,
if any, is never used.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional

from vnetlab.names import split_namespace

if TYPE_CHECKING:
    from vnetlab.plan.ovs import db_option, db_socket, mgmt_target, ovs_env, vsctl  # noqa: F401

# Spelled once, in plan/, and re-exported here for the run-time layers — on
# first use: importing vnetlab.plan.ovs imports every op type, which
# `vnetlab exec` (host/run.py's env_for) would otherwise pay for on every node.
_FROM_PLAN = ("db_option", "db_socket", "mgmt_target", "ovs_env", "vsctl")


def __getattr__(name: str) -> Any:
    if name not in _FROM_PLAN:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from vnetlab.plan import ovs

    value = getattr(ovs, name)
    globals()[name] = value  # later lookups skip this function
    return value


def node_rundir(netns_name: str) -> Optional[str]:
    """The OVS directory of the node behind ``netns_name``, if it has one."""
    from vnetlab.host.state import lab_dir

    lab, node = split_namespace(netns_name)
    if not node:
        return None
    path = os.path.join(lab_dir(lab), "ovs", node)
    return path if os.path.isdir(path) else None


def env_for(netns_name: str) -> dict[str, str]:
    """OVS_RUNDIR and friends for commands run inside a node with OVS
    (so plain ``ovs-vsctl show`` talks to that node's switch); {} otherwise."""
    rundir = node_rundir(netns_name)
    if not rundir:
        return {}
    from vnetlab.plan.ovs import ovs_env

    return ovs_env(rundir)
