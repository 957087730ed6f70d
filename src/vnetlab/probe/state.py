"""State checks: what a node's kernel holds, read back and compared (issue 12).

One function per kind of state. Each takes the node's namespace, the node's
name (for the messages) and what the check asks for, reads the kernel —
netlink for links, addresses and routes, sock_diag for listeners, /proc/sys
inside the namespace for sysctls, nft for the ruleset, the node's own
ovs-vswitchd for OpenFlow flows — and returns ``(ok, observed, detail)``:
``observed`` is what was found in a few words, ``detail`` says what is there
instead when the check fails. Nothing is read from a file inside the node,
which a student could edit to fake the state.

Errors that mean the check could not run at all (no namespace, no nft or
OVS tools) raise :class:`StateUnreadable`; :func:`evaluate` turns every
outcome, ``not: true`` included, into one verdict.
"""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
from typing import Any, Optional

from vnetlab.errors import OperationFailed
from vnetlab.model.schema import StateCheck

Verdict = tuple[bool, str, str]  # (ok, observed, detail)
MAX_LISTED = 8  # items of "what is there instead" before "… and N more"
MAX_OUTPUT = 240  # characters of a command's output quoted in a detail


class StateUnreadable(OperationFailed):
    """The state could not be read (the namespace is gone, a tool is missing); the check's result
    is an ``error``."""


def evaluate(check: StateCheck, netns_name: str) -> Verdict:
    """Reads the state a check asks about and judges it; ``not: true`` inverts the verdict.

    Args:
        check: the state check.
        netns_name: the namespace of ``check.node``.

    Returns:
        (ok, observed, detail).

    Raises:
        StateUnreadable: the state could not be read.
    """
    node = check.node
    kind = check.kind
    try:
        if kind == "sysctl":
            verdict = sysctl_state(netns_name, node, dict(check.sysctl or {}))
        elif kind == "address":
            verdict = address_state(netns_name, node, check.address.dev, list(check.address.has))
        elif kind == "route":
            verdict = route_state(netns_name, node, check.route.to, check.route.via, check.route.dev)
        elif kind == "link":
            link = check.link
            verdict = link_state(netns_name, node, link.name, kind=link.kind, up=link.up, master=link.master,
                                 mtu=link.mtu, vlan=link.vlan, timeout=check.timeout)
        elif kind == "listening":
            proto, address, port = check.listening_parts
            verdict = listening_state(netns_name, node, proto, address, port)
        elif kind == "flow":
            flow = check.flow
            verdict = flow_state(netns_name, node, list(flow.contains), flow.actions, flow.bridge, check.timeout)
        elif kind == "nft":
            nft = check.nft
            verdict = nft_state(netns_name, node, nft.chain, nft.table, nft.family, nft.policy, nft.rule)
        elif kind == "resolve":
            verdict = resolve_state(netns_name, node, check.resolve.name, list(check.resolve.expect),
                                    check.resolve.nxdomain, check.timeout)
        elif kind == "leased":
            verdict = leased_state(netns_name, node, check.leased.dev, check.leased.from_, check.timeout)
        else:
            expect = check.command_expect
            verdict = command_state(netns_name, node, list(check.command or []), expect.exit, expect.output,
                                    check.timeout)
    except FileNotFoundError as exc:
        if not _namespace_exists(netns_name):
            raise StateUnreadable(f"the namespace of {node} ({netns_name}) does not exist — is the lab up? "
                                  "(vnetlab up LABFILE)") from None
        raise StateUnreadable(f"could not read {kind} state of {node}: {exc}") from None
    if not check.not_:
        return verdict
    ok, observed, detail = verdict
    if ok:
        return False, observed, f"{detail} (expected it absent)"
    return True, observed, detail


# -- sysctl --------------------------------------------------------------------
def sysctl_state(netns_name: str, node: str, wanted: dict[str, str]) -> Verdict:
    """Each sysctl has its value (both normalised as :func:`vnetlab.model.schema.sysctl_text` does)."""
    from vnetlab.host import netns
    from vnetlab.model.schema import sysctl_text

    found: dict[str, Optional[str]] = {}
    with netns.entered(netns_name):
        for key in wanted:
            try:
                found[key] = sysctl_text(netns.read_sysctl(key))
            except FileNotFoundError:
                found[key] = None
    observed = ", ".join(f"{key}={'absent' if value is None else value}" for key, value in found.items())
    problems = []
    for key, value in wanted.items():
        if found[key] is None:
            problems.append(f"{key} does not exist on {node} (no such sysctl — is the interface it names there?)")
        elif found[key] != value:
            problems.append(f"{key} is {found[key]} on {node} (expected {value})")
    if problems:
        return False, observed, "; ".join(problems)
    return True, observed, "; ".join(f"{key} is {value} on {node}" for key, value in found.items())


# -- links, addresses, routes ----------------------------------------------------
def _read_kernel(netns_name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from vnetlab.observe import rtnl

    return rtnl.read(netns_name)


def address_state(netns_name: str, node: str, dev: Optional[str], wanted: list[str]) -> Verdict:
    """Each address (with its prefix length) is on ``dev`` (on any interface without ``dev``)."""
    links, _ = _read_kernel(netns_name)
    if dev is not None:
        link = next((link for link in links if link["name"] == dev), None)
        if link is None:
            return False, "no interface", f"{node} has no interface {dev}; interfaces: {_names(links)}"
        links = [link]
    held = {ipaddress.ip_interface(text): link["name"] for link in links for text in link["addresses"]}
    missing = [text for text in wanted if ipaddress.ip_interface(text) not in held]
    where = f"{dev} on {node}" if dev else node
    if dev is not None:
        observed = ", ".join(_shown_addresses(links[0]["addresses"], wanted)) or "no address"
    else:
        observed = ", ".join(f"{held[ipaddress.ip_interface(t)]} {t}" for t in wanted if t not in missing) \
            or "not found"
    if not missing:
        found = ", ".join(f"{text} on {held[ipaddress.ip_interface(text)]}" for text in wanted)
        return True, observed, f"{node} has {found}"
    hints = []
    for text in missing:
        wanted_ip = ipaddress.ip_interface(text).ip
        other = [f"{iface} on {name}" for iface, name in held.items() if iface.ip == wanted_ip]
        hints.append(f"{text} (it has {', '.join(other)} — another prefix length)" if other else text)
    has = "; ".join(f"{link['name']}: {', '.join(_shown_addresses(link['addresses'], wanted)) or 'none'}"
                    for link in links if link["name"] != "lo" or dev == "lo")
    return False, observed, f"{where} lacks {', '.join(hints)}; addresses: {has or 'none'}"


def _shown_addresses(addresses: list[str], wanted: list[str]) -> list[str]:
    """The addresses worth showing: IPv6 link-local ones only when a wanted one is link-local."""
    if any(ipaddress.ip_interface(text).ip.is_link_local for text in wanted):
        return list(addresses)
    return [text for text in addresses if not ipaddress.ip_interface(text).ip.is_link_local]


def route_state(netns_name: str, node: str, to: str, via: Optional[str], dev: Optional[str]) -> Verdict:
    """The main table has a route to ``to`` (``default`` or a prefix), through ``via``/``dev`` if given."""
    from vnetlab.observe.rtnl import route_text

    _, routes = _read_kernel(netns_name)
    families = _route_families(to, via)
    same_to = [r for r in routes if r["family"] in families and _same_destination(r["to"], to)]
    matching = [r for r in same_to if (via is None or (r["via"] is not None and
                                                       ipaddress.ip_address(r["via"]) == ipaddress.ip_address(via)))
                and (dev is None or r["dev"] == dev)]
    listed = _listed([route_text(r) for r in routes]) or "none"
    if matching:
        return True, route_text(matching[0]), f"{node} has route {route_text(matching[0])}"
    if same_to:
        found = ", ".join(route_text(r) for r in same_to)
        wanted = " ".join(([f"via {via}"] if via else []) + ([f"dev {dev}"] if dev else []))
        return False, found, f"route {to} on {node} is {found} (expected {wanted})"
    return False, "no route", f"no route to {to} on {node}; routes: {listed}"


def _route_families(to: str, via: Optional[str]) -> set[int]:
    if via is not None:
        return {ipaddress.ip_address(via).version}
    if to != "default":
        return {ipaddress.ip_network(to).version}
    return {4, 6}


def _same_destination(found: str, wanted: str) -> bool:
    if found == "default" or wanted == "default":
        return found == wanted or (wanted == "default" and ipaddress.ip_network(found).prefixlen == 0)
    return ipaddress.ip_network(found, strict=False) == ipaddress.ip_network(wanted)


KIND_ALIASES = {"tap": "tap", "tun": "tap"}  # rtnl reports a TUN/TAP device as "tap"


def link_state(netns_name: str, node: str, name: str, *, kind: Optional[str] = None, up: Optional[bool] = None,
               master: Optional[str] = None, mtu: Optional[int] = None, vlan: Optional[int] = None,
               timeout: float = 5.0) -> Verdict:
    """The interface exists with the asked settings. Where the node's Open vSwitch holds it (an OVS
    bond, a port of an OVS bridge, an internal port with a VLAN tag), OVS says what the kernel cannot."""
    links, _ = _read_kernel(netns_name)
    link = next((item for item in links if item["name"] == name), None)
    ovs = _ovs_port(netns_name, name, timeout)
    if link is None and ovs is None:
        return False, "absent", f"{node} has no interface {name}; interfaces: {_names(links)}"
    facts = _link_facts(netns_name, link, ovs, links)
    problems = []
    if kind is not None and KIND_ALIASES.get(kind, kind) not in [k.removeprefix("OVS ") for k in facts["kinds"]]:
        problems.append(f"{name} is a {facts['kinds'][0]}, not a {kind}")
    if up is not None and facts["up"] != up:
        state = "up" if facts["up"] else "down"
        if facts["admin_up"] and not facts["up"]:
            state = "set up but has no carrier (its peer or every member is down or unplugged), so down"
        problems.append(f"{name} is {state} (expected {'up' if up else 'down'})")
    if master is not None and facts["master"] != master:
        problems.append(f"{name} is in {facts['master']} (expected {master})" if facts["master"]
                        else f"{name} is in no bridge or bond (expected {master})")
    if mtu is not None and facts["mtu"] != mtu:
        problems.append(f"{name} has mtu {facts['mtu']} (expected {mtu})")
    if vlan is not None and facts["vlan"] != vlan:
        problems.append(f"{name} is in VLAN {facts['vlan']} (expected {vlan})" if facts["vlan"] is not None
                        else f"{name} has no VLAN id (expected {vlan})")
    observed = _link_text(facts)
    if problems:
        return False, observed, f"on {node}: " + "; ".join(problems) + f" — {name}: {observed}"
    return True, observed, f"{node} has {name}: {observed}"


def _link_facts(netns_name: str, link: Optional[dict], ovs: Optional[dict], links: list[dict]) -> dict[str, Any]:
    """What the kernel and OVS say about one interface, merged: ``kinds`` (the first is the one shown)."""
    kinds: list[str] = []
    if ovs is not None:  # what the user made (a bond, a bridge) before what carries it (a tap)
        kinds += [f"OVS {kind}" for kind in ovs["kinds"]]
    if link is not None:
        kinds.append(link["kind"])
    if not kinds:
        kinds.append("device")
    if ovs is not None and ovs.get("members") and link is None:  # an OVS bond: up while a member is
        members = [item for item in links if item["name"] in ovs["members"]]
        admin_up = any(item["up"] for item in members)
        is_up = any(item["up"] and item["carrier"] for item in members)
        mtu = members[0]["mtu"] if members else None
    else:
        admin_up = bool(link and link["up"])
        is_up = admin_up and bool(link and link["carrier"])
        mtu = link["mtu"] if link else None
    vlan = _kernel_vlan_id(netns_name, link["name"]) if link is not None and link["kind"] == "vlan" else None
    if vlan is None and ovs is not None:
        vlan = ovs.get("tag")
    master = (link or {}).get("master") or (ovs or {}).get("bridge")
    return {"kinds": list(dict.fromkeys(kinds)), "up": is_up, "admin_up": admin_up, "master": master, "mtu": mtu,
            "vlan": vlan, "members": (ovs or {}).get("members") or []}


def _link_text(facts: dict[str, Any]) -> str:
    parts = [facts["kinds"][0], "up" if facts["up"] else "down"]
    if facts["admin_up"] and not facts["up"]:
        parts.append("(no carrier)")
    if facts["members"]:
        parts.append(f"members {','.join(facts['members'])}")
    if facts["master"]:
        parts.append(f"master {facts['master']}")
    if facts["mtu"]:
        parts.append(f"mtu {facts['mtu']}")
    if facts["vlan"] is not None:
        parts.append(f"vlan {facts['vlan']}")
    return " ".join(parts)


def _kernel_vlan_id(netns_name: str, name: str) -> Optional[int]:
    from vnetlab.observe.snapshot import netlink_session

    with netlink_session(netns_name) as ipr:
        for msg in ipr.link("get", ifname=name):
            info = msg.get("IFLA_LINKINFO")
            data = info.get("IFLA_INFO_DATA") if info else None
            if data is not None and data.get("IFLA_VLAN_ID") is not None:
                return int(data.get("IFLA_VLAN_ID"))
    return None


def _ovs_port(netns_name: str, name: str, timeout: float) -> Optional[dict[str, Any]]:
    """What the node's OVS knows of ``name``: a bridge; a port (its bridge, bond members, VLAN tag);
    or an interface of a bond port (the bond is its master). None if nothing, or the node has no OVS."""
    from vnetlab.host.ovs_paths import node_rundir, vsctl

    rundir = node_rundir(netns_name)
    if rundir is None:
        return None
    if name in _ovs_bridges(rundir, timeout):
        return {"kinds": ["bridge"], "bridge": None, "members": [], "tag": None}
    ifaces = {row[0][1]: (row[1], row[2]) for row in _ovs_rows(
        rundir, vsctl(rundir, "--format=json", "--columns=_uuid,name,type", "list", "Interface"), timeout)}
    ports = {row[0]: ([ifaces[u] for u in _ovs_set(row[1]) if u in ifaces], row[2] if isinstance(row[2], int)
                      else None)
             for row in _ovs_rows(rundir, vsctl(rundir, "--format=json", "--columns=name,interfaces,tag", "list",
                                                "Port"), timeout)}
    if name not in ports:
        bond = next((port for port, (members, _) in ports.items()
                     if port != name and len(members) > 1 and name in [m[0] for m in members]), None)
        return None if bond is None else {"kinds": [], "bridge": bond, "members": [], "tag": None}
    members, tag = ports[name]
    bridge = (_ovs(rundir, vsctl(rundir, "port-to-br", name), timeout) or "").strip() or None
    kinds = []
    if len(members) > 1:  # a bond: one port, several interfaces
        kinds.append("bond")
    if tag is not None and any(itype == "internal" for _, itype in members):
        kinds.append("vlan")  # an internal port in one VLAN: what vnetlab makes of type: vlan on OVS
    return {"kinds": kinds, "bridge": bridge, "members": sorted(m[0] for m in members) if len(members) > 1 else [],
            "tag": tag}


def _ovs_rows(rundir: str, argv: list[str], timeout: float) -> list[list[Any]]:
    """The rows of an ``ovs-vsctl --format=json list`` answer ([] when it fails)."""
    import json

    text = _ovs(rundir, argv, timeout)
    try:
        return list(json.loads(text).get("data", [])) if text else []
    except ValueError:
        return []


def _ovs_set(value: Any) -> list[str]:
    """The uuids of an OVSDB reference column: ``["uuid", U]`` or ``["set", [["uuid", U], ...]]``."""
    if isinstance(value, list) and len(value) == 2 and value[0] == "uuid":
        return [value[1]]
    if isinstance(value, list) and len(value) == 2 and value[0] == "set":
        return [item[1] for item in value[1] if isinstance(item, list) and len(item) == 2]
    return []


def _ovs_bridges(rundir: str, timeout: float) -> list[str]:
    from vnetlab.host.ovs_paths import vsctl

    return (_ovs(rundir, vsctl(rundir, "list-br"), timeout) or "").split()


def _ovs(rundir: str, argv: list[str], timeout: float) -> Optional[str]:
    """An ovs-* client's output, or None when it fails (no such port)."""
    from vnetlab.host.ovs_tools import run_tool

    try:
        result = run_tool(rundir, argv, check=False, timeout=timeout)
    except FileNotFoundError:
        raise StateUnreadable("Open vSwitch's tools (ovs-vsctl, ovs-ofctl) are not installed — "
                              "install the openvswitch-switch package") from None
    except subprocess.TimeoutExpired:
        raise StateUnreadable(f"{argv[0]} did not answer within {timeout:g} s") from None
    return result.stdout if result.returncode == 0 else None


def _names(links: list[dict[str, Any]]) -> str:
    return ", ".join(link["name"] for link in links) or "none"


# -- sockets ---------------------------------------------------------------------
def listening_state(netns_name: str, node: str, proto: str, address: Optional[str], port: int) -> Verdict:
    """A TCP socket listens (a UDP socket is bound, unconnected) on ``port``, on exactly ``address`` if
    given (a wildcard listener is not bound to one address)."""
    from vnetlab.observe.sockets import SocketInfo, read_sockets

    listeners = [s for s in read_sockets(netns_name) if s.listening]
    mine = [s for s in listeners if s.proto == proto and s.local_port == port]
    wanted = f"{proto}/{SocketInfo.endpoint(address, port) if address else port}"
    if address is not None:
        exact = [s for s in mine if ipaddress.ip_address(s.local) == ipaddress.ip_address(address)]
        if exact:
            return True, "listening", f"{proto} {exact[0].endpoint(exact[0].local, port)} listens on {node}"
        if mine:
            bound = ", ".join(s.endpoint(s.local, port) for s in mine)
            return False, f"listening on {bound}", \
                f"{proto}/{port} on {node} is bound to {bound}, not to {address} alone"
    elif mine:
        return True, "listening", f"{proto} {mine[0].endpoint(mine[0].local, port)} listens on {node}"
    others = _listed(sorted({f"{s.proto} {s.endpoint(s.local, s.local_port)}" for s in listeners}))
    return False, "not listening", f"nothing listens on {wanted} on {node}; listening: {others or 'nothing'}"


# -- Open vSwitch flows -------------------------------------------------------------
def flow_state(netns_name: str, node: str, contains: list[str], actions: Optional[str],
               bridge: Optional[str], timeout: float) -> Verdict:
    """Some flow of the node's OVS bridges (of ``bridge`` if given), as ``ovs-ofctl dump-flows``
    prints it, holds every ``contains`` text, and its actions hold ``actions``."""
    from vnetlab.host.ovs_paths import mgmt_target, node_rundir

    rundir = node_rundir(netns_name)
    if rundir is None:
        return False, "no OVS", f"{node} has no Open vSwitch bridge (so no OpenFlow flows)"
    bridges = _ovs_bridges(rundir, timeout)
    if bridge is not None:
        if bridge not in bridges:
            return False, "no bridge", f"{node} has no OVS bridge {bridge}; OVS bridges: {', '.join(bridges) or 'none'}"
        bridges = [bridge]
    flows: list[tuple[str, str]] = []
    for name in bridges:
        dump = _ovs(rundir, ["ovs-ofctl", "-O", "OpenFlow13", "--no-stats", "dump-flows", mgmt_target(rundir, name)],
                    timeout)
        if dump is None:
            raise StateUnreadable(f"ovs-ofctl could not dump the flows of {name} on {node}")
        flows += [(name, line.strip()) for line in dump.splitlines() if line.strip() and "reply" not in line]
    with_match = [(name, flow) for name, flow in flows if all(text in flow for text in contains)]
    matching = [(name, flow) for name, flow in with_match
                if actions is None or actions in flow.partition("actions=")[2]]
    if matching:
        name, flow = matching[0]
        return True, "flow found", f"{name} on {node} has {flow}"
    where = bridge or "the OVS bridges"
    if with_match:
        found = "; ".join(f"{name}: {flow}" for name, flow in with_match[:MAX_LISTED])
        return False, "other actions", f"the flows of {where} on {node} with {' and '.join(map(repr, contains))} " \
                                       f"have other actions than {actions!r}: {found}"
    listed = _listed([f"{name}: {flow}" for name, flow in flows], sep="; ") or "none"
    return False, "no such flow", f"no flow of {where} on {node} contains {' and '.join(map(repr, contains))}; " \
                                  f"flows: {listed}"


# -- nftables ----------------------------------------------------------------------
def nft_state(netns_name: str, node: str, chain: str, table: Optional[str], family: Optional[str],
              policy: Optional[str], rule: Optional[str]) -> Verdict:
    """A chain of the node's ruleset (in ``table``/``family`` if given) exists, has ``policy``, and one
    of its rules, as ``nft list ruleset`` prints it, contains ``rule``."""
    from vnetlab.errors import EnvironmentProblem
    from vnetlab.executors.nftables import NftError, run_nft

    try:
        text = run_nft(netns_name, "list ruleset\n")
    except EnvironmentProblem as exc:
        raise StateUnreadable(str(exc)) from None
    except NftError as exc:
        raise StateUnreadable(f"nft could not list the ruleset of {node}: {exc}") from None
    chains = parse_ruleset(text)
    named = [c for c in chains if c["name"] == chain and (table is None or c["table"] == table)
             and (family is None or c["family"] == family)]
    where = " ".join(part for part in (family, table) if part)
    wanted = f"nft chain {chain}" + (f" of table {where}" if where else "")
    if not named:
        listed = _listed([f"{c['family']} {c['table']} {c['name']}" + (f" (policy {c['policy']})" if c["policy"]
                                                                      else "") for c in chains]) or "none"
        return False, "no chain", f"no {wanted} on {node}; chains: {listed}"
    problems = []
    for found in named:
        label = f"nft chain {found['name']} of table {found['family']} {found['table']}"
        wrong = []
        if policy is not None and found["policy"] != policy:
            wrong.append(f"has policy {found['policy'] or 'none (not a base chain)'} (expected {policy})")
        if rule is not None and not any(rule in line for line in found["rules"]):
            rules = _listed(found["rules"], sep="; ") or "none"
            wrong.append(f"has no rule containing {rule!r} (rules: {rules})")
        if not wrong:
            observed = f"policy {found['policy']}" if found["policy"] else "present"
            return True, observed, f"{label} on {node}" + (f" has policy {found['policy']}" if found["policy"] else "") \
                + (f", a rule with {rule!r}" if rule else "")
        problems.append((found, f"{label} on {node} " + " and ".join(wrong)))
    first = problems[0][0]
    observed = f"policy {first['policy']}" if first["policy"] else "no policy"
    return False, observed, "; ".join(text for _, text in problems)


_TABLE = re.compile(r"table (\S+) (\S+) \{$")
_CHAIN = re.compile(r"chain (\S+) \{$")
_POLICY = re.compile(r"\bpolicy (\w+);")


def parse_ruleset(text: str) -> list[dict[str, Any]]:
    """The chains of ``nft list ruleset`` text: family, table, name, policy (None for a regular
    chain) and rules (each as one line of text, without its ``# handle`` comment)."""
    chains: list[dict[str, Any]] = []
    family = table = None
    current: Optional[dict[str, Any]] = None
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == "}":
            depth -= 1
            if depth == 1:
                current = None
            continue
        opens = line.endswith("{")
        if depth == 0 and opens and (match := _TABLE.fullmatch(line)):
            family, table = match.group(1), match.group(2)
        elif depth == 1 and opens and (match := _CHAIN.fullmatch(line)):
            current = {"family": family, "table": table, "name": match.group(1).strip('"'), "policy": None,
                       "rules": []}
            chains.append(current)
        elif depth == 2 and current is not None and not opens:
            if line.startswith("type ") and (policy := _POLICY.search(line)):
                current["policy"] = policy.group(1)
            elif not line.startswith(("type ", "comment ")):
                current["rules"].append(line.split(" # handle ")[0])
        if opens:
            depth += 1
    return chains


# -- commands ----------------------------------------------------------------------
def command_state(netns_name: str, node: str, argv: list[str], exit_code: int, output: Optional[str],
                  timeout: float) -> Verdict:
    """``argv`` run inside the node exits with ``exit_code`` and prints something ``output`` matches
    (searched in stdout and stderr together)."""
    from vnetlab.host.run import run

    shown = " ".join(argv)
    try:
        done = run(netns_name, argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False, "timeout", f"{shown} on {node} did not finish within {timeout:g} s"
    except FileNotFoundError:
        if not _namespace_exists(netns_name):
            raise
        raise StateUnreadable(f"{argv[0]} is not installed (running {shown} on {node})") from None
    except PermissionError as exc:
        raise StateUnreadable(f"could not run {shown} on {node}: {exc}") from None
    text = ((done.stdout or b"") + (done.stderr or b"")).decode(errors="replace")
    observed = f"exit {done.returncode}"
    problems = []
    if done.returncode != exit_code:
        problems.append(f"exited {done.returncode} (expected {exit_code})")
    if output is not None and not re.search(output, text):
        problems.append(f"printed nothing that matches {output!r}")
    said = _excerpt(text)
    if problems:
        return False, observed, f"{shown} on {node} " + " and ".join(problems) + (f"; output: {said}" if said
                                                                                   else "; no output")
    return True, observed, f"{shown} on {node} exited {done.returncode}" + (f"; output: {said}" if said else "")


def _excerpt(text: str) -> str:
    """A command's output on one line, its end kept when it is long (that is where the answer usually is)."""
    flat = " | ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return flat if len(flat) <= MAX_OUTPUT else "…" + flat[-MAX_OUTPUT:]


# -- shared ------------------------------------------------------------------------
def _listed(items: list[str], sep: str = ", ") -> str:
    if len(items) <= MAX_LISTED:
        return sep.join(items)
    return sep.join(items[:MAX_LISTED]) + f"{sep}… and {len(items) - MAX_LISTED} more"


def _namespace_exists(netns_name: str) -> bool:
    from vnetlab.host import netns

    return netns.exists(netns_name)


# -- resolve ------------------------------------------------------------------
def resolve_state(netns_name: str, node: str, name: str, expected: list[str], nxdomain: bool,
                  timeout: float) -> Verdict:
    """Looks ``name`` up inside the node as its programs would (``getent ahosts``: the node's own
    hosts file, then its resolv.conf's servers) and compares the addresses it gives."""
    from vnetlab.host import node_etc
    from vnetlab.host.run import run

    own = node_etc.directory(netns_name)
    if not any(os.path.exists(os.path.join(own, entry)) for entry in ("resolv.conf", "hosts")):
        # Without its own files the lookup would read the host's /etc/hosts and ask the host's servers.
        return False, "no resolver", (f"{node} has no resolv.conf or hosts of its own: the lab's DNS does "
                                      "not serve it (give a segment dns: and dhcp:, or a static address)")
    try:
        result = run(netns_name, ["getent", "ahosts", name], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, "timeout", f"looking up {name} on {node} took more than {timeout:g} s"
    found = sorted({line.split()[0] for line in result.stdout.splitlines() if line.strip()})
    if nxdomain:
        if result.returncode == 2 and not found:
            return True, "nxdomain", f"{name} does not resolve on {node}"
        return False, ", ".join(found), f"{name} resolves on {node} to {', '.join(found)} (expected no answer)"
    if result.returncode != 0 or not found:
        return False, "nxdomain", f"{name} does not resolve on {node} (getent exit {result.returncode})"
    wanted = [ipaddress.ip_address(a) for a in expected]
    have = {ipaddress.ip_address(a) for a in found}
    missing = [str(a) for a in wanted if a not in have]
    if missing:
        return False, ", ".join(found), f"{name} resolves on {node} to {', '.join(found)}, not {', '.join(missing)}"
    return True, ", ".join(found), f"{name} -> {', '.join(found)} on {node}"


# -- leased -------------------------------------------------------------------
def leased_state(netns_name: str, node: str, dev: str, subnet_text: Optional[str], timeout: float) -> Verdict:
    """Whether ``dev`` holds a leased IPv4 address: one with a finite valid lifetime, as a DHCP
    client installs it (``ip addr`` shows it ``dynamic``), inside ``subnet`` if given."""
    import json

    from vnetlab.host.run import run

    subnet = ipaddress.IPv4Network(subnet_text) if subnet_text else None
    try:
        result = run(netns_name, ["ip", "-j", "-4", "addr", "show", "dev", dev], capture_output=True, text=True,
                     timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, "timeout", f"reading {dev}'s addresses on {node} took more than {timeout:g} s"
    if result.returncode != 0:
        return False, "no interface", f"{node} has no interface {dev}"
    addresses = [info for link in json.loads(result.stdout or "[]") for info in link.get("addr_info", [])]
    shown = ", ".join(f"{a['local']}/{a['prefixlen']}" + (" (dynamic)" if a.get("dynamic") else " (static)")
                      for a in addresses) or "none"
    for info in addresses:
        if not info.get("dynamic"):
            continue
        address = ipaddress.ip_address(info["local"])
        if subnet is None or address in subnet:
            left = info.get("valid_life_time")
            return True, f"{info['local']}/{info['prefixlen']}", (
                f"{dev} on {node} holds the lease {info['local']}/{info['prefixlen']}"
                + (f", valid {left} s more" if isinstance(left, int) else ""))
    within = f" from {subnet}" if subnet else ""
    return False, "no lease", f"{dev} on {node} holds no leased address{within}; addresses: {shown}"
