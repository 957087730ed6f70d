"""What a node's own ``/etc/network/interfaces`` adds to the lab file, as plan ops (pure).

``vnetlab reboot`` reads the node's file (:mod:`vnetlab.io.persistent`) into
:class:`NodeExtras`: addresses, MTUs, routes, forwarding sysctls and DHCP
clients beyond the node's part of the lab file, each with the ``file:line``
it came from.
:func:`with_extras` appends their ops to the lab's plan, so they are applied,
diffed, rolled back and kept in ``plan.json`` like every other op. The lab's
run directory keeps the extras the node last booted with (``booted.json``),
so a later ``up`` keeps them instead of taking them for drift.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from vnetlab.compile.dnsmasq import HOOK_TEXT, hook_path, udhcpc_argv
from vnetlab.model.bridges import SWITCH_BRIDGE
from vnetlab.model.schema import LabSpec, link_ends
from vnetlab.model.validate import servers_of
from vnetlab.names import namespace, split_namespace
from vnetlab.plan import AddAddress, AddRoute, Op, Plan, RunDhcpClient, SetMtu, SetSysctl, WriteRunFile


@dataclass(frozen=True)
class Extra:
    """One setting of the file: ``what`` is ``address``, ``mtu``, ``route``, ``sysctl`` or ``dhcp``."""

    what: str
    ifname: Optional[str] = None   # address, mtu, dhcp; a route's dev
    value: str = ""                # the address (CIDR), the MTU, the route's destination, the sysctl's value
    via: Optional[str] = None      # a route's gateway
    key: Optional[str] = None      # the sysctl
    where: str = ""                # "FILE:LINE"

    def describe(self) -> str:
        """What it sets, for a person (``eth0: address 10.0.0.5/24``)."""
        if self.what == "address":
            return f"{self.ifname}: address {self.value}"
        if self.what == "mtu":
            return f"{self.ifname}: mtu {self.value}"
        if self.what == "dhcp":
            return f"{self.ifname}: DHCP client"
        if self.what == "route":
            return f"route {self.value}" + (f" via {self.via}" if self.via else "") + \
                (f" dev {self.ifname}" if self.ifname else "")
        return f"sysctl {self.key}={self.value}"

    def op(self, ns: str, rundir: Optional[str] = None, server: str = "") -> Op:
        """The op that applies it in namespace ``ns`` (a DHCP client's hook is in ``rundir``, the
        lab's run directory; ``server``: its segment's DHCP server, ``node:ifname``)."""
        if self.what == "dhcp":
            if rundir is None:
                raise ValueError(f"{self.describe()}: a DHCP client needs the lab's run directory")
            node = split_namespace(ns)[1]
            return RunDhcpClient(ns, node=node, command=udhcpc_argv(rundir, node, self.ifname or ""),
                                 ifname=self.ifname or "", server=server)
        if self.what == "address":
            return AddAddress(ns, ifname=self.ifname or "", address=self.value)
        if self.what == "mtu":
            return SetMtu(ns, ifname=self.ifname or "", mtu=int(self.value))
        if self.what == "route":
            return AddRoute(ns, to=self.value, via=self.via, dev=self.ifname, family=route_family(self.value, self.via))
        return SetSysctl(ns, key=self.key or "", value=self.value)


# The order extras are applied in: IPv6 switched on before its addresses, addresses before routes through
# them; a DHCP client last (its lease's route must not meet a file's route on the way).
ORDER = ("sysctl", "mtu", "address", "route", "dhcp")


def route_family(to: str, via: Optional[str]) -> int:
    """4 or 6, from the destination (or the gateway of a default route)."""
    if to != "default":
        return ipaddress.ip_network(to, strict=False).version
    return ipaddress.ip_address(via).version if via else 4


@dataclass
class NodeExtras:
    """Everything a node's file adds, in file order."""

    items: list[Extra] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.items)

    def ordered(self) -> list[Extra]:
        """The items in the order they are applied (see :data:`ORDER`)."""
        return sorted(self.items, key=lambda item: ORDER.index(item.what))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (``booted.json``)."""
        return {"items": [{k: v for k, v in vars(item).items() if v not in (None, "")} for item in self.items]}

    @classmethod
    def from_dict(cls, data: Any) -> "NodeExtras":
        """Reads :meth:`to_dict` output; anything malformed is dropped."""
        items = []
        for entry in (data.get("items") if isinstance(data, dict) else None) or ():
            try:
                item = Extra(**entry)
            except TypeError:
                continue
            if item.what in ORDER:
                items.append(item)
        return cls(items)


def node_interfaces(spec: LabSpec, node: str) -> set[str]:
    """The interfaces ``node`` has once built: the ones it declares, its link
    ends, a switch's bridge, and the loopback."""
    entry = spec.nodes[node]
    names = {"lo", *entry.interfaces}
    names |= {end.partition(":")[2] for link in spec.links for end in link_ends(link) if end.partition(":")[0] == node}
    if entry.kind == "switch":
        names.add(SWITCH_BRIDGE)
    return names


def extra_ops(plan: Plan, spec: LabSpec, node: str, extras: NodeExtras,
              rundir: Optional[str] = None) -> list[tuple[Op, Extra]]:
    """The ops of ``extras`` for ``node`` of ``spec`` that ``plan`` (the lab's)
    does not have yet, each with the setting it comes from. Settings of a node
    or interface the lab no longer has (its file changed since) are left out.
    A DHCP client comes with the hook it runs (in ``rundir``, the lab's run
    directory) when the plan does not write that already.

    Raises:
        ValueError: a DHCP client, and no ``rundir``.
    """
    if node not in spec.nodes:
        return []
    ns = namespace(plan.lab, node)
    made = node_interfaces(spec, node)
    present = {key for op in plan.ops if op.netns == ns for key, _ in op.objects()}
    hooks = {op.path for op in plan.ops if isinstance(op, WriteRunFile)}
    servers = servers_of(spec) if any(item.what == "dhcp" for item in extras.items) else {}
    ops: list[tuple[Op, Extra]] = []
    for item in extras.ordered():
        if item.ifname is not None and item.ifname not in made:
            continue
        server = servers.get((node, item.ifname or ""), {}).get("dhcp")
        op = item.op(ns, rundir, ":".join(server) if server else "")
        keys = {key for key, _ in op.objects()}
        if keys & present and not isinstance(op, SetSysctl):
            continue  # the lab file has it already
        if isinstance(op, RunDhcpClient) and rundir is not None and hook_path(rundir) not in hooks:
            hooks.add(hook_path(rundir))
            ops.append((WriteRunFile(ns, node=node, path=hook_path(rundir), text=HOOK_TEXT, mode=0o755), item))
        present |= keys
        ops.append((op, item))
    return ops


def with_extras(plan: Plan, spec: LabSpec, extras: Mapping[str, NodeExtras], rundir: Optional[str] = None) -> Plan:
    """``plan`` (of ``spec``) with the ops of each node's extras (node name -> extras) appended
    (``rundir``: the lab's run directory, where a DHCP client's hook is)."""
    ops = list(plan.ops)
    for node, node_extras in extras.items():  # each node's ops seen by the next (a DHCP hook is written once)
        ops += [op for op, _ in extra_ops(Plan(lab=plan.lab, ops=ops), spec, node, node_extras, rundir)]
    if len(ops) == len(plan.ops):
        return plan
    return Plan(lab=plan.lab, ops=ops)
