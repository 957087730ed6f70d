"""The Linux L2 backend on a kernel without 802.1Q devices, bonding or bridge
VLAN filtering (this machine): asking for it fails with exit 3, naming the
missing feature, and leaves nothing behind.

``vnetlab up`` refuses such a lab before the first kernel call; the executor
is the second line of defence (a kernel that lost a module since the probe,
or a plan compiled for another machine), so it is also run on its own here:
its first Linux L2 op must fail as an EnvironmentProblem and the apply loop
must roll every namespace back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys

import pytest
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from conftest import cli, lab_namespaces
from vnetlab.compile import compile_lab
from vnetlab.host import netns, state
from vnetlab.executors.apply import ApplyError
from vnetlab.executors.linux_l2 import MISSING_8021Q, MISSING_BONDING, MISSING_VLAN_FILTERING
from vnetlab.lab import EnvironmentProblem, Lab
from vnetlab.plan import BridgeVlan, CreateBond, CreateVlan, SetBondMember, SetBridgeVlanFiltering

pytestmark = pytest.mark.integration

VLAN_AWARE = """
lab: {lab}
nodes:
  pve:
    interfaces:
      vmbr0: {{type: bridge, vlan_aware: true, backend: linux, ports: [eno1, veth100]}}
      eno1: {{trunk: [10, 20]}}
      veth100: {{vlan: 10}}
  ct100: {{interfaces: {{eth0: {{address: 10.10.0.100/24}}}}}}
  tor: {{interfaces: {{eth0: {{}}}}}}
links:
  - [pve:eno1, tor:eth0]
  - [pve:veth100, ct100:eth0]
"""

BONDED = """
lab: {lab}
nodes:
  pve:
    interfaces:
      eno1: {{}}
      eno2: {{}}
      bond0: {{type: bond, members: [eno1, eno2], mode: active-backup}}
      vmbr0: {{type: bridge, backend: linux, ports: [bond0], address: 192.168.1.10/24}}
  tor: {{interfaces: {{eth0: {{}}, eth1: {{}}}}}}
links:
  - [pve:eno1, tor:eth0]
  - [pve:eno2, tor:eth1]
"""

VLAN_DEVICE = """
lab: {lab}
nodes:
  pve:
    interfaces:
      eno1: {{}}
      eno1.20: {{type: vlan, parent: eno1, id: 20, address: 10.20.0.2/24}}
  tor: {{interfaces: {{eth0: {{}}}}}}
links:
  - [pve:eno1, tor:eth0]
"""


def write(tmp_path, template: str, lab: str) -> str:
    path = tmp_path / f"{lab}.yaml"
    path.write_text(template.format(lab=lab))
    return str(path)


def test_up_of_an_explicit_linux_vlan_aware_bridge_exits_3_and_creates_nothing(tmp_path):
    path = write(tmp_path, VLAN_AWARE, "lnxup")
    result = cli("up", path)
    assert result.returncode == 3, result.stderr
    assert "VLAN filtering" in result.stderr and "backend: ovs" in result.stderr
    assert lab_namespaces("lnxup") == []
    assert not os.path.isdir(state.lab_dir("lnxup"))


@pytest.mark.parametrize("template, lab, failing, missing", [
    (VLAN_AWARE, "lnxap1", SetBridgeVlanFiltering, MISSING_VLAN_FILTERING),
    (BONDED, "lnxap2", CreateBond, MISSING_BONDING),
    (VLAN_DEVICE, "lnxap3", CreateVlan, MISSING_8021Q),
], ids=["vlan-filtering", "bonding", "8021q"])
def test_the_executor_refuses_a_missing_feature_and_the_apply_loop_rolls_back(
        tmp_path, monkeypatch, template, lab, failing, missing):
    running = Lab.load(write(tmp_path, template, lab))
    # As if the probe had found every feature: the plan reaches the kernel.
    monkeypatch.setattr(Lab, "_plan_for_this_machine", lambda self: compile_lab(self.spec))
    plan = compile_lab(running.spec)
    first_l2 = next(op for op in plan.ops if isinstance(op, (SetBridgeVlanFiltering, CreateBond, CreateVlan,
                                                            BridgeVlan)))
    assert isinstance(first_l2, failing)
    with pytest.raises(ApplyError) as error:
        running.up()
    assert isinstance(error.value.cause, EnvironmentProblem)
    assert str(error.value.cause).startswith(missing)
    assert error.value.op == first_l2 and not error.value.rollback_errors
    assert lab_namespaces(lab) == []
    assert not os.path.isdir(state.lab_dir(lab))


# -- the requests on the wire ------------------------------------------------
# This kernel answers EOPNOTSUPP before reading them, so what proves the
# executor right is that it sends the very requests iproute2 sends for the
# commands ``vnetlab plan`` prints (decoded and compared attribute by
# attribute; only their order may differ).
WIRE_NS = "lnxwire-pve"
WIRE_SETUP = [
    ["ip", "-n", WIRE_NS, "link", "add", "br9", "type", "bridge"],
    ["ip", "-n", WIRE_NS, "link", "add", "v1", "type", "veth", "peer", "name", "v2"],
    ["ip", "-n", WIRE_NS, "link", "set", "v1", "master", "br9"],
    ["ip", "-n", WIRE_NS, "link", "add", "br8", "type", "bridge"],  # v2's "bond": any master will do
]
WIRE_OPS = [
    CreateBond(WIRE_NS, ifname="bond0", mode="802.3ad", miimon=100, lacp_rate="fast"),
    CreateVlan(WIRE_NS, ifname="br9.20", parent="br9", vlan_id=20),
    SetBridgeVlanFiltering(WIRE_NS, bridge="br9"),
    BridgeVlan(WIRE_NS, ifname="v1", vid=10, pvid=True, untagged=True),
    BridgeVlan(WIRE_NS, ifname="br9", vid=20, self=True),
    SetBondMember(WIRE_NS, ifname="v2", bond="br8"),
]
STRACE = ["strace", "-f", "-e", "trace=sendmsg,sendto", "-xx", "-s", "65535", "-o"]
APPLY_EACH = """
import json
import sys
from vnetlab.executors.kernel import KernelBackend
from vnetlab.executors.linux_l2 import LinuxL2Backend
from vnetlab.plan import Op
kernel = KernelBackend()
backend = LinuxL2Backend(kernel)
for line in sys.stdin:
    try:
        backend.apply(Op.from_dict(json.loads(line)))
    except Exception as exc:
        print(type(exc).__name__, exc)
kernel.close()
"""


def _link_requests(trace: str) -> list[dict]:
    """The RTM_NEWLINK/RTM_SETLINK/RTM_DELLINK requests in an strace log,
    decoded, attributes sorted; dumps and iproute2's empty probes left out."""

    def normal(value):
        if isinstance(value, dict) and "attrs" in value:
            return sorted((name, normal(inner)) for name, inner in value["attrs"])
        return value

    found = []
    pattern = re.compile(r'nlmsg_type=(0x[0-9a-f]+|RTM_\w+)[^}]*nlmsg_flags=([^,]*),[^}]*\}, '
                         r'"((?:\\x[0-9a-f]{2})*)"')
    names = {"RTM_NEWLINK": 16, "RTM_DELLINK": 17, "RTM_SETLINK": 19}
    with open(trace) as handle:
        for match in pattern.finditer(handle.read()):
            kind = match.group(1)
            kind = int(kind, 16) if kind.startswith("0x") else names.get(kind, 0)
            body = bytes.fromhex(match.group(3).replace("\\x", ""))
            if kind not in (16, 17, 19) or "DUMP" in match.group(2):
                continue
            msg = ifinfmsg(struct.pack("=IHHII", 16 + len(body), kind, 5, 1, 0) + body)
            msg.decode()
            attrs = normal(msg.dump())
            if attrs:
                found.append({"type": kind, "family": msg["family"], "index": msg["index"], "attrs": attrs})
    return found


def test_the_executor_sends_what_ip_and_bridge_send(tmp_path):
    assert shutil.which("strace"), "this test needs strace: apt-get install strace"
    assert netns.create(WIRE_NS)
    try:
        for argv in WIRE_SETUP:
            subprocess.run(argv, check=True)
        trace = tmp_path / "vnetlab"
        lines = "".join(json.dumps(op.to_dict()) + "\n" for op in WIRE_OPS)
        subprocess.run([*STRACE, str(trace), sys.executable, "-c", APPLY_EACH],
                       input=lines, text=True, capture_output=True, check=True)
        ours = _link_requests(str(trace))
        subprocess.run(["ip", "-n", WIRE_NS, "link", "set", "v2", "nomaster"], check=True)
        theirs = []
        for number, op in enumerate(WIRE_OPS):
            trace = tmp_path / f"ip-{number}"
            # The last command is the request itself (a bond member's "down" before it
            # is skipped by the executor when the member is already down, as here).
            subprocess.run([*STRACE, str(trace), *op.commands()[-1]], capture_output=True)
            theirs += _link_requests(str(trace))
    finally:
        netns.delete(WIRE_NS)
    assert len(theirs) == len(WIRE_OPS)
    assert ours == theirs
