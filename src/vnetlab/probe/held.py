"""What a node's DHCP and SLAAC interfaces hold now, read from the kernel.

A check or probe aimed at a node that takes its address by ``dhcp`` or
``slaac`` goes to the address the node holds, which the lab file cannot say;
:func:`vnetlab.model.targets.resolve_target` asks for it through the lookup
made here.
"""

from __future__ import annotations

import ipaddress
from typing import Callable

from vnetlab.model.schema import LabSpec
from vnetlab.model.targets import HeldAddresses


def held_addresses(spec: LabSpec, namespace_of: Callable[[str], str]) -> HeldAddresses:
    """A lookup for ``resolve_target``: node -> the addresses its ``dhcp`` interfaces (IPv4) and
    ``slaac`` interfaces (IPv6, not link-local) hold now, static ones of the file left out.

    Each node is read once (one rtnetlink dump) however often it is asked for.

    Raises (from the lookup):
        ValueError: the node's namespace does not exist (the lab is not up) or cannot be read.
    """
    from vnetlab.observe import rtnl

    read: dict[str, list[str]] = {}

    def lookup(node: str) -> list[str]:
        if node in read:
            return read[node]
        namespace = namespace_of(node)
        try:
            links, _ = rtnl.read(namespace)
        except FileNotFoundError:
            raise ValueError(f"namespace {namespace} of node {node} does not exist — is the lab up? "
                             "(vnetlab up LABFILE)") from None
        except OSError as exc:
            raise ValueError(f"could not read the addresses of {node}: {exc}") from None
        interfaces = spec.nodes[node].interfaces
        static = {ipaddress.ip_interface(text).ip for iface in interfaces.values() for text in iface.all_addresses()}
        found = []
        for link in links:
            iface = interfaces.get(link["name"])
            if iface is None:
                continue
            for text in link["addresses"]:
                ip = ipaddress.ip_interface(text).ip
                dynamic = iface.uses_dhcp if ip.version == 4 else iface.uses_slaac and not ip.is_link_local
                if dynamic and ip not in static:
                    found.append(str(ip))
        read[node] = found
        return found

    return lookup
