"""Drift of a lab with DHCP and SLAAC (observe/diff.py on data, no root): leased and SLAAC
addresses and DHCP routes are not hand-made extras; a client whose lease is gone is drift,
and converging restarts its udhcpc."""

from __future__ import annotations

from pathlib import Path

from test_diff import as_applied
from vnetlab.compile import compile_lab
from vnetlab.model import load_lab
from vnetlab.observe.diff import diff
from vnetlab.plan import RunDhcpClient, StopService

GOOD = Path(__file__).parent / "fixtures" / "good" / "dhcp.yaml"


def leased():
    plan = compile_lab(load_lab(GOOD))
    seen = as_applied(plan)
    for ns, address in (("dhcpgood-c1", "10.0.3.150/24"), ("dhcpgood-web", "10.0.3.10/24")):
        seen.links[ns]["eth0"].dynamic = (address,)
        seen.routes[ns].append((4, "default", "10.0.3.1", "eth0", 16))  # the hook's, proto dhcp
    seen.links["dhcpgood-c1"]["eth0"].dynamic += ("fd00:3::1234/64",)  # formed by SLAAC
    seen.routes["dhcpgood-c1"].append((6, "default", "fe80::1", "eth0", 9))  # from the RA
    return plan, seen


def test_leases_slaac_addresses_and_their_routes_are_not_drift():
    plan, seen = leased()
    assert diff(plan, seen, plan).changes == []


def test_a_lost_lease_is_drift_and_restarts_the_client():
    plan, seen = leased()
    seen.links["dhcpgood-c1"]["eth0"].dynamic = ("fd00:3::1234/64",)  # only the SLAAC address is left
    result = diff(plan, seen, plan)
    assert [(c.sign, c.kind, c.netns, c.obj, c.drift) for c in result.changes] == \
        [("~", "lease", "dhcpgood-c1", "eth0", True)]
    assert result.changes[0].describe("dhcpgood") == \
        "c1 eth0: no DHCP lease (its leased address is gone); its udhcpc is restarted"
    client = next(op for op in plan.ops if isinstance(op, RunDhcpClient) and op.node == "c1")
    assert result.restarts() == [client.inverse()] and isinstance(client.inverse(), StopService)
    assert client in result.converge_ops()


def test_a_client_that_is_not_running_is_a_service_change_only():
    plan, seen = leased()
    seen.links["dhcpgood-c1"]["eth0"].dynamic = ()
    for service in seen.services["dhcpgood-c1"]:
        service.running, service.state = False, "failed"
    kinds = [(c.kind, c.found) for c in diff(plan, seen, plan).changes]
    assert kinds == [("service", "failed")]
