"""The Plan: an ordered list of small, typed operations (pure data).

The op types live in one module per domain (``namespaces``, ``links``,
``addresses``, ``l2``, ``ovs``, ``firewall``, ``services``, ``dhcp``) on the common
base in ``base``; importing this package registers every one of them in
``OP_TYPES`` (what ``Op.from_dict`` reads a saved plan with) and re-exports
them, so ``from vnetlab.plan import CreateVeth`` keeps working.
"""

from __future__ import annotations

from vnetlab.plan.base import OP_TYPES, Key, Op, Plan, format_command
from vnetlab.plan.namespaces import CreateNamespace, DeleteNamespace, SetSysctl
from vnetlab.plan.links import (
    CreateBridge, CreateMacvlan, CreateTap, CreateVeth, DeleteLink, SetLinkState, SetMaster, SetMtu,
)
from vnetlab.plan.addresses import AddAddress, AddRoute, DeleteAddress, DeleteRoute
from vnetlab.plan.l2 import (
    BridgeVlan, CreateBond, CreateVlan, DeleteBridgeVlan, SetBondMember, SetBridgeVlanFiltering,
)
from vnetlab.plan.ovs import (
    OVS_PROTOCOLS, OVS_SCHEMA, OvsAddBond, OvsAddBridge, OvsAddPort, OvsDeleteBridge, OvsDeletePort,
    OvsReplaceFlows, SetTxChecksum, StartOvs, StopOvs, ovs_env, ovs_vlans,
)
from vnetlab.plan.firewall import ApplyRuleset, DeleteRuleset
from vnetlab.plan.services import PumpFrames, RunService, StopPump, StopService
from vnetlab.plan.dhcp import RemoveRunFile, RunDhcpClient, RunDhcpServer, WriteRunFile
from vnetlab.plan.impair import ClearImpairment, SetImpairment

__all__ = [
    "OP_TYPES", "Key", "Op", "Plan", "format_command",
    "CreateNamespace", "DeleteNamespace", "SetSysctl",
    "CreateBridge", "CreateMacvlan", "CreateTap", "CreateVeth", "DeleteLink", "SetLinkState", "SetMaster",
    "SetMtu",
    "AddAddress", "AddRoute", "DeleteAddress", "DeleteRoute",
    "BridgeVlan", "CreateBond", "CreateVlan", "DeleteBridgeVlan", "SetBondMember", "SetBridgeVlanFiltering",
    "OVS_PROTOCOLS", "OVS_SCHEMA", "OvsAddBond", "OvsAddBridge", "OvsAddPort", "OvsDeleteBridge", "OvsDeletePort",
    "OvsReplaceFlows", "SetTxChecksum", "StartOvs", "StopOvs", "ovs_env", "ovs_vlans",
    "ApplyRuleset", "DeleteRuleset",
    "PumpFrames", "RunService", "StopPump", "StopService",
    "RemoveRunFile", "RunDhcpClient", "RunDhcpServer", "WriteRunFile",
    "ClearImpairment", "SetImpairment",
]
