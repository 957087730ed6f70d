"""Where a node's own Open vSwitch keeps its files, and how ovs-* tools find them.

One place for the run-directory conventions every caller shares (the OVS
backend, the runner, status, drift and trace): each node with OVS bridges
has ``<lab run dir>/ovs/<node>/`` holding its database, sockets, pidfiles
and logs, and every ovs-* call names that directory, so the host's own OVS,
if any, is never used.
"""

from __future__ import annotations

import os
from typing import Optional

from vnetlab.names import split_namespace


def ovs_env(rundir: str) -> dict[str, str]:
    """The environment that points every ovs-* tool at one node's switch."""
    return {"OVS_RUNDIR": rundir, "OVS_DBDIR": rundir, "OVS_LOGDIR": rundir, "OVS_SYSCONFDIR": rundir}


def db_socket(rundir: str) -> str:
    """The ovsdb-server's unix socket of the switch in ``rundir``."""
    return f"{rundir}/db.sock"


def db_option(rundir: str) -> str:
    """``--db=unix:…`` for ovs-vsctl, naming that switch's database."""
    return f"--db=unix:{db_socket(rundir)}"


def vsctl(rundir: str, *args: str) -> list[str]:
    """An ovs-vsctl command line against the switch in ``rundir``."""
    return ["ovs-vsctl", db_option(rundir), *args]


def mgmt_target(rundir: str, bridge: str) -> str:
    """The ovs-ofctl target of ``bridge``'s management socket."""
    return f"unix:{rundir}/{bridge}.mgmt"


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
    return ovs_env(rundir) if rundir else {}
