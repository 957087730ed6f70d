"""The world around an imported host, made up so the lab can be checked (pure).

A real host's files describe only the host. To build and check it, vnetlab
generates: an upstream switch every NIC is cabled to (trunk ports where
tagged VLANs leave; both members of a bond on it, with an LACP bond of its
own where the host's bond speaks LACP), a router at each ``gateway``
address, an ``admin`` host in the management subnet, stand-in listeners for
sshd (tcp/22) and the web UI (tcp/8006) on the host, the guests' nodes, and
the checks: admin reaches the management address and its ports; each guest
reaches its gateway; guests in different VLANs of one bridge do not reach
each other; NAT guests reach the upstream router as the host's address.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Optional

from vnetlab.io.report import note
from vnetlab.names import NODE_NAME

UPSTREAM = "upstream"
UPLINK_BRIDGE = "br0"
ADMIN = "admin"
MANAGEMENT_PORTS = (22, 8006)
ROUTER_SERVICE = 80  # a stand-in web server on each router, for the NAT checks
DEFAULT_VLAN = 1
LACP_MODES = ("802.3ad", "balance-tcp")


def is_generated_name(name: str) -> bool:
    """Whether ``name`` is one the generated world uses (a guest or host must not take it)."""
    return name in (UPSTREAM, ADMIN) or re.fullmatch(r"gw\d*", name) is not None


def generated(build, path: tuple, text: str) -> None:
    """Marks the object at ``path`` as made up."""
    build.notes[path] = f"generated: {text}"


# ----------------------------------------------------------------- guests
def place_guests(build) -> None:
    """Each guest NIC becomes a node's eth<N> linked to tap<vmid>i<N> (VM) or veth<vmid>i<N> (CT) on the host."""
    build.guest_nodes = {}
    for guest in build.guests:
        kind = getattr(guest, "kind", "vm")
        vmid = getattr(guest, "vmid")
        node = getattr(guest, "name", None) or f"{'vm' if kind == 'vm' else 'ct'}{vmid}"
        if not NODE_NAME.fullmatch(node) or node in build.lab["nodes"] or is_generated_name(node):
            node = f"{'vm' if kind == 'vm' else 'ct'}{vmid}"
        spec: dict[str, Any] = {"kind": "vm"} if kind == "vm" else {}
        label = getattr(guest, "given_name", None)
        if label:
            spec["description"] = f"guest {vmid}: {label}"
        spec["interfaces"] = {}
        build.lab["nodes"][node] = spec
        build.guest_nodes[node] = vmid
        first = None
        for nic in getattr(guest, "nics", []):
            first = first or (nic.file, nic.line)
            _guest_nic(build, node, spec, kind, vmid, nic)
        build.notes[("nodes", node)] = f"{first[0]}:{first[1]}" if first else f"guest {vmid}"


def _guest_nic(build, node: str, spec: dict, kind: str, vmid, nic) -> None:
    index = getattr(nic, "index", 0)
    bridge = getattr(nic, "bridge", None)
    where = (nic.file, nic.line)
    host_if = getattr(nic, "host_ifname", None) or f"{'tap' if kind == 'vm' else 'veth'}{vmid}i{index}"
    bridge_entry = build.interfaces.get(bridge) if bridge else None
    if bridge_entry is None or bridge_entry.get("type") != "bridge":
        build.skip(where, f"net{index}: bridge={bridge}", f"the host has no bridge {bridge}")
        return
    port: dict[str, Any] = {"type": "tap"} if kind == "vm" else {}
    tag, trunks = getattr(nic, "tag", None), getattr(nic, "trunks", None)
    if tag or trunks:
        if bridge_entry.get("vlan_aware"):
            if tag:
                port["vlan"] = int(tag)
            if trunks:
                port["trunk"] = [int(t) for t in trunks]
        else:
            build.skip(where, f"net{index}: tag={tag}", f"{bridge} is not VLAN-aware (Proxmox would make "
                                                        f"{bridge}v{tag}); the guest is imported untagged")
            tag = None
    build.interfaces[host_if] = port
    build.notes[("nodes", build.host, "interfaces", host_if)] = f"{where[0]}:{where[1]}"
    bridge_entry.setdefault("ports", []).append(host_if)
    guest_if = getattr(nic, "guest_ifname", None) or f"eth{index}"
    entry: dict[str, Any] = {}
    address = getattr(nic, "address", None) or _allocate(build, bridge, tag)
    if address:
        entry["address"] = address
    if getattr(nic, "mac", None):
        entry["mac"] = nic.mac.lower()
    spec["interfaces"][guest_if] = entry
    made_up = "" if getattr(nic, "address", None) else " (address made up: none in the config)"
    build.notes[("nodes", node, "interfaces", guest_if)] = f"{where[0]}:{where[1]}{made_up}"
    gateway = getattr(nic, "gateway", None)
    if gateway and address and ipaddress.ip_address(gateway) in ipaddress.ip_interface(address).network:
        spec.setdefault("routes", []).append({"to": "default", "via": gateway})
    elif address and not gateway:
        host_ip = _host_address_on(build, bridge, tag, address)
        if host_ip and not spec.get("routes"):
            spec["routes"] = [{"to": "default", "via": host_ip}]
    build.lab.setdefault("links", []).append([f"{build.host}:{host_if}", f"{node}:{guest_if}"])
    build.notes[("links", len(build.lab["links"]) - 1)] = f"{where[0]}:{where[1]}"
    build.guest_ports.append({"node": node, "bridge": bridge, "vlan": tag, "address": address,
                              "gateway": (spec.get("routes") or [{}])[0].get("via")})


def _segment_addresses(build, bridge: str, tag) -> list:
    """The host's addresses in the L2 segment (bridge, VLAN)."""
    found = []
    for name, entry in build.interfaces.items():
        on = (name == bridge and not tag) or (entry.get("type") == "vlan" and tag and
                                              (entry.get("parent") == bridge and entry.get("id") == tag
                                               or name == f"{bridge}.{tag}"))
        if on:
            found += [ipaddress.ip_interface(a) for a in _addresses(entry)]
    return found


def _host_address_on(build, bridge: str, tag, address: str) -> Optional[str]:
    for addr in _segment_addresses(build, bridge, tag):
        if ipaddress.ip_interface(address).ip in addr.network:
            return str(addr.ip)
    return None


def _allocate(build, bridge: str, tag) -> Optional[str]:
    """A free address in the host's subnet on (bridge, VLAN), or None."""
    subnets = [a for a in _segment_addresses(build, bridge, tag) if a.version == 4]
    if not subnets:
        return None
    return free_address(build, subnets[0].network, from_top=False)


def _addresses(entry: dict) -> list[str]:
    return [entry["address"]] if "address" in entry else list(entry.get("addresses", []))


def used_addresses(build) -> set:
    """Every IP the lab uses so far (host, guests, generated nodes, gateways)."""
    used = set()
    for node in build.lab["nodes"].values():
        for entry in node.get("interfaces", {}).values():
            used |= {ipaddress.ip_interface(a).ip for a in _addresses(entry)}
        used |= {ipaddress.ip_address(r["via"]) for r in node.get("routes", []) if r.get("via")}
    return used


def free_address(build, network, from_top: bool = True) -> Optional[str]:
    """A host address of ``network`` no node uses (highest first by default)."""
    used = used_addresses(build)
    hosts = network.hosts()
    candidates = reversed(list(hosts)) if from_top and network.num_addresses <= 65536 else hosts
    for count, ip in enumerate(candidates):
        if count > 4096:
            return None
        if ip not in used:
            return f"{ip}/{network.prefixlen}"
    return None


# ----------------------------------------------------------------- the world
class _Upstream:
    """The generated switch: its ports, VLAN needs and links."""

    def __init__(self, build):
        self.build = build
        self.ports: dict[str, dict] = {}
        self.bridge_ports: list[str] = []
        self.vlan_aware = False
        self.count = 0

    def port(self, settings: dict, peer: str, why: str) -> str:
        self.count += 1
        name = f"p{self.count}"
        self.ports[name] = settings
        self.bridge_ports.append(name)
        links = self.build.lab.setdefault("links", [])
        links.append([peer, f"{UPSTREAM}:{name}"])
        generated(self.build, ("links", len(links) - 1), why)
        return name


def surround(build) -> None:
    """Adds the upstream switch, routers, admin, the host's listeners and the checks."""
    upstream = _Upstream(build)
    carriers = _carriers(build)
    tagged = {c: sorted(v) for c, (v, _) in carriers.items()}
    upstream.vlan_aware = any(tagged.values())
    for carrier, (vlans, untagged) in carriers.items():
        _cable(build, upstream, carrier, sorted(vlans), untagged)
    routers = _routers(build, upstream)
    _guest_gateways(build, upstream, routers)
    management = _admin(build, upstream)
    if upstream.ports:
        interfaces = dict(upstream.ports)
        bridge: dict[str, Any] = {"type": "bridge", "ports": upstream.bridge_ports}
        if upstream.vlan_aware:
            bridge["vlan_aware"] = True
        interfaces[UPLINK_BRIDGE] = bridge
        build.lab["nodes"][UPSTREAM] = {"description": "generated: the switch the host's NICs are cabled to",
                                        "interfaces": interfaces}
        generated(build, ("nodes", UPSTREAM), "the upstream switch")
    _checks(build, routers, management)


def _carriers(build) -> dict[str, tuple[set[int], bool]]:
    """NIC or bond → (tagged VLANs it carries, whether it carries untagged frames)."""
    net, interfaces = build.net, build.interfaces
    found: dict[str, tuple[set[int], bool]] = {}
    for name, entry in interfaces.items():
        if entry.get("type") is not None or name.startswith(("tap", "veth")) and name not in net.interfaces:
            continue
        if net.bond_of(name) is not None and net.bond_of(name) in interfaces:
            continue  # the bond carries it
        found[name] = (set(), False)
    for name, entry in interfaces.items():
        if entry.get("type") == "bond" and name not in found:
            found[name] = (set(), False)
    for carrier in list(found):
        vlans, untagged = set(), bool(_addresses(interfaces[carrier]))
        for name, entry in interfaces.items():
            if entry.get("type") == "vlan" and _vlan_parent(name, entry) == carrier:
                vlans.add(_vlan_id(name, entry))
        bridge = net.bridge_of(carrier)
        if bridge in interfaces:
            b = interfaces[bridge]
            if b.get("vlan_aware"):
                vlans |= _bridge_vlans(build, bridge)
                untagged = untagged or bool(_addresses(b)) or any(
                    g["bridge"] == bridge and not g["vlan"] for g in build.guest_ports) or not vlans
            else:
                untagged = True
        found[carrier] = (vlans, untagged)
    return found


def _vlan_parent(name: str, entry: dict) -> Optional[str]:
    if entry.get("parent"):
        return entry["parent"]
    return name.rpartition(".")[0] or None


def _vlan_id(name: str, entry: dict) -> int:
    return entry["id"] if entry.get("id") else int(name.rpartition(".")[2])


def _bridge_vlans(build, bridge: str) -> set[int]:
    vlans = {_vlan_id(n, e) for n, e in build.interfaces.items()
             if e.get("type") == "vlan" and _vlan_parent(n, e) == bridge}
    vlans |= {g["vlan"] for g in build.guest_ports if g["bridge"] == bridge and g["vlan"]}
    for port in build.interfaces[bridge].get("ports", []):
        entry = build.interfaces.get(port, {})
        vlans |= {entry["vlan"]} if entry.get("vlan") else set()
        vlans |= set(entry.get("trunk", []))
    iface = build.net.interfaces.get(bridge)
    vlans |= set(iface.vids) if iface is not None else set()
    vlans.discard(DEFAULT_VLAN)
    return vlans


def _cable(build, upstream: _Upstream, carrier: str, vlans: list[int], untagged: bool) -> None:
    """Links the carrier's NICs to the upstream switch, with matching VLAN settings."""
    entry = build.interfaces[carrier]
    bridge = build.net.bridge_of(carrier)
    on_aware = bridge in build.interfaces and build.interfaces[bridge].get("vlan_aware")
    source = build.net.interfaces.get(carrier)
    carries_all = source is not None and source.ovs_vlan_mode in ("trunk", "native-untagged", "native-tagged")
    if vlans and on_aware and "trunk" not in entry and ("vlan" not in entry or carries_all):
        entry["trunk"] = vlans  # OVS: no trunks= means every VLAN; the lab builds those in use
        if untagged and "vlan" not in entry:
            entry["vlan"] = DEFAULT_VLAN
    settings: dict[str, Any] = {}
    if upstream.vlan_aware:
        if vlans:
            settings["trunk"] = vlans
        if untagged or not vlans:
            settings["vlan"] = DEFAULT_VLAN
    nics = entry.get("members", [carrier]) if entry.get("type") == "bond" else [carrier]
    if entry.get("type") == "bond" and entry.get("mode") in LACP_MODES and len(nics) >= 2:
        members = []
        for nic in nics:
            members.append(upstream.port({}, f"{build.host}:{nic}", f"cables {nic} (bond {carrier}, LACP)"))
        for member in members:
            upstream.bridge_ports.remove(member)
        bond = f"bond{len([p for p in upstream.ports if p.startswith('bond')]) + 1}"
        upstream.ports[bond] = {"type": "bond", "members": members, "mode": "802.3ad", **settings}
        upstream.bridge_ports.append(bond)
        return
    for nic in nics:
        upstream.port(dict(settings), f"{build.host}:{nic}", f"cables {nic}"
                      + (f" (bond {carrier})" if nic != carrier else ""))


def _segment_of(build, ifname: str) -> Optional[tuple[Optional[int], str]]:
    """(VLAN or None for untagged, carrier) where the L3 interface ``ifname`` meets the upstream switch."""
    interfaces = build.interfaces
    entry = interfaces.get(ifname)
    if entry is None:
        return None
    if entry.get("type") == "vlan":
        parent, vid = _vlan_parent(ifname, entry), _vlan_id(ifname, entry)
        inner = _segment_of(build, parent)
        return (vid, inner[1]) if inner is not None and inner[0] is None else None
    if entry.get("type") == "bridge":
        for port in entry.get("ports", []):
            inner = _segment_of(build, port)
            if inner is not None:
                return inner
        return None
    if build.net.bond_of(ifname) in interfaces:
        return None
    if entry.get("type") in (None, "bond") and not ifname.startswith(("tap", "veth")):
        return None, ifname
    return None


def _access(upstream: _Upstream, vlan: Optional[int]) -> dict:
    if not upstream.vlan_aware:
        return {}
    return {"vlan": vlan or DEFAULT_VLAN}


def _routers(build, upstream: _Upstream) -> list[dict]:
    """A router node at each default gateway of the host, on its segment."""
    routers = []
    for index, route in enumerate(build.node.get("routes", [])):
        if route["to"] != "default":
            continue
        gateway = ipaddress.ip_address(route["via"])
        ifname, network = _interface_with(build, gateway)
        segment = _segment_of(build, ifname) if ifname else None
        if segment is None:
            build.reports.append(note(*_where(build, ("nodes", build.host, "routes", index)),
                                      f"gateway {gateway} is on {ifname}, which leaves the host on no NIC: "
                                      "no router is generated for it"))
            continue
        name = _router_name(build)
        spec: dict[str, Any] = {"kind": "router", "description": f"generated: the gateway {gateway}",
                                "interfaces": {"eth0": {"address": f"{gateway}/{network.prefixlen}"}},
                                "services": [{"listen": f"tcp/{ROUTER_SERVICE}"}]}
        host_ip = _host_ip_in(build, network)
        back = [{"to": str(n), "via": host_ip} for n in _host_subnets(build)
                if n.version == gateway.version and n != network and host_ip and not n.overlaps(network)]
        if back and build.node.get("forwarding"):
            spec["routes"] = back
        build.lab["nodes"][name] = spec
        generated(build, ("nodes", name), f"router at the host's gateway ({_where_text(build, index)})")
        upstream.port(_access(upstream, segment[0]), f"{name}:eth0", f"{name} on the segment of {ifname}")
        routers.append({"node": name, "ip": str(gateway), "network": network, "ifname": ifname,
                        "host_ip": host_ip})
    return routers


def _guest_gateways(build, upstream: _Upstream, routers: list[dict]) -> None:
    """A router at each gateway the guests name that is neither the host nor
    one of the host's gateways: on the upstream switch, in the guest's VLAN
    (Proxmox guests on a VLAN-aware bridge usually route through a router
    beyond the host's trunk, not through the host)."""
    own = {str(a.ip) for entry in build.interfaces.values() for a in map(ipaddress.ip_interface, _addresses(entry))}
    made = {r["ip"] for r in routers}
    for guest in build.guest_ports:
        gateway, address = guest["gateway"], guest["address"]
        if not gateway or not address or gateway in own or gateway in made:
            continue
        segment = _segment_of(build, guest["bridge"])
        if segment is None:
            build.reports.append(note(*_where(build, ("nodes", guest["node"])),
                                      f"gateway {gateway} of {guest['node']} is beyond {guest['bridge']}, which "
                                      "leaves the host on no NIC: no router is generated for it"))
            continue
        made.add(gateway)
        network = ipaddress.ip_interface(address).network
        name = _router_name(build)
        build.lab["nodes"][name] = {"kind": "router", "description": f"generated: the guests' gateway {gateway}",
                       "interfaces": {"eth0": {"address": f"{gateway}/{network.prefixlen}"}}}
        generated(build, ("nodes", name), f"router at {guest['node']}'s gateway")
        vlan = guest["vlan"] if build.interfaces.get(guest["bridge"], {}).get("vlan_aware") else None
        upstream.port(_access(upstream, vlan), f"{name}:eth0",
                      f"{name} in VLAN {vlan}" if vlan else f"{name} on the segment of {guest['bridge']}")


def _router_name(build) -> str:
    """The next free name of a generated router: gw, gw2, gw3, … (guests never take these)."""
    return next(name for name in ("gw", *(f"gw{i}" for i in range(2, 1000))) if name not in build.lab["nodes"])


def _where(build, path: tuple) -> tuple[str, int]:
    text = build.notes.get(path, "?:0")
    file, _, line = text.split(" ")[0].rpartition(":")
    return file, int(line) if line.isdigit() else 0


def _where_text(build, index: int) -> str:
    return build.notes.get(("nodes", build.host, "routes", index), "").split(" ")[0]


def _interface_with(build, ip) -> tuple[Optional[str], Any]:
    for name, entry in build.interfaces.items():
        for address in _addresses(entry):
            iface = ipaddress.ip_interface(address)
            if ip in iface.network:
                return name, iface.network
    return None, None


def _host_ip_in(build, network) -> Optional[str]:
    for entry in build.interfaces.values():
        for address in _addresses(entry):
            if ipaddress.ip_interface(address).ip in network:
                return str(ipaddress.ip_interface(address).ip)
    return None


def _host_subnets(build) -> list:
    return list(dict.fromkeys(ipaddress.ip_interface(a).network for e in build.interfaces.values()
                              for a in _addresses(e)))


def _admin(build, upstream: _Upstream) -> Optional[dict]:
    """The admin host in the management subnet: the one of the IPv4 default
    gateway, else the first IPv4 address that leaves the host on a NIC."""
    candidates = []
    for route in build.node.get("routes", []):
        if route["to"] == "default" and ipaddress.ip_address(route["via"]).version == 4:
            candidates.append(_interface_with(build, ipaddress.ip_address(route["via"]))[0])
    candidates += list(build.interfaces)
    for ifname in candidates:
        entry = build.interfaces.get(ifname) or {}
        v4 = [ipaddress.ip_interface(a) for a in _addresses(entry) if ipaddress.ip_interface(a).version == 4]
        segment = _segment_of(build, ifname)
        if not v4 or segment is None or v4[0].network.num_addresses < 4:
            continue
        address = free_address(build, v4[0].network)
        if address is None:
            continue
        build.lab["nodes"][ADMIN] = {"description": "generated: the administrator's workstation",
                                     "interfaces": {"eth0": {"address": address}}}
        generated(build, ("nodes", ADMIN), f"in the management subnet {v4[0].network} of {ifname}")
        upstream.port(_access(upstream, segment[0]), f"{ADMIN}:eth0", f"admin on the segment of {ifname}")
        build.node["services"] = [{"listen": f"tcp/{port}"} for port in MANAGEMENT_PORTS]
        for index, port in enumerate(MANAGEMENT_PORTS):
            generated(build, ("nodes", build.host, "services", index),
                      f"stands in for {'sshd' if port == 22 else 'the Proxmox web UI'}")
        return {"ip": str(v4[0].ip), "ifname": ifname}
    return None


def _checks(build, routers: list[dict], management: Optional[dict]) -> None:
    checks: list[dict] = []

    def add(check: dict, why: str) -> None:
        generated(build, ("checks", len(checks)), why)
        checks.append(check)

    if management:
        ip = management["ip"]
        add({"name": f"admin reaches the management address {ip}", "from": ADMIN, "to": ip, "expect": "reach"},
            f"management on {management['ifname']}")
        for port in MANAGEMENT_PORTS:
            add({"name": f"admin reaches {ip}:{port}", "from": ADMIN, "to": f"{ip}:{port}", "proto": "tcp",
                 "expect": "open"}, "sshd" if port == 22 else "the web UI")
    for guest in build.guest_ports:
        if guest["gateway"] and guest["address"]:
            add({"name": f"{guest['node']} reaches its gateway {guest['gateway']}", "from": guest["node"],
                 "to": guest["gateway"], "expect": "reach"}, f"{guest['node']} on {guest['bridge']}")
    if not build.node.get("forwarding"):
        for a in build.guest_ports:
            for b in build.guest_ports:
                if a["node"] < b["node"] and a["bridge"] == b["bridge"] and (a["vlan"] or 0) != (b["vlan"] or 0) \
                        and a["address"] and b["address"]:
                    add({"name": f"{a['node']} (VLAN {a['vlan'] or 'untagged'}) does not reach {b['node']} "
                                 f"(VLAN {b['vlan'] or 'untagged'})", "from": a["node"],
                         "to": b["address"].split("/")[0], "expect": "no-reach"}, "VLAN isolation")
    for rule in build.node.get("nat", {}).get("masquerade", []):
        router = next((r for r in routers if r["ifname"] == rule["out"] and r["host_ip"]), None)
        if router is None:
            continue
        for guest in build.guest_ports:
            inside = guest["address"] and (rule.get("source") is None or ipaddress.ip_interface(
                guest["address"]).ip in ipaddress.ip_network(rule["source"]))
            if inside and guest["gateway"]:
                add({"name": f"{guest['node']} reaches {router['node']} as the host's {router['host_ip']}",
                     "from": guest["node"], "to": f"{router['ip']}:{ROUTER_SERVICE}", "proto": "tcp",
                     "expect": "open", "seen_as": router["host_ip"]}, "masquerade")
    if checks:
        build.lab["checks"] = checks
