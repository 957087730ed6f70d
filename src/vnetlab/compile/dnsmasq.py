"""DHCP, DNS and router advertisements (issue 13): dnsmasq on each serving
node, udhcpc on each ``dhcp`` interface, the kernel's SLAAC on each
``slaac`` one — pure: the config text and the command lines are computed
here, so ``vnetlab plan`` shows them as LXC's ``lxc-net`` or Docker would
run them.

dnsmasq's command line follows ``lxc-net`` (the script that serves
``lxcbr0``): ``--bind-interfaces`` on the served interfaces only, the
lease and pid files named explicitly, and everything it serves in one
config file of its own. It never reads a host file: ``--conf-file`` names
that file instead of ``/etc/dnsmasq.conf``, ``--no-hosts`` skips
``/etc/hosts`` and ``--no-resolv`` skips ``/etc/resolv.conf`` (there is no
upstream server: a lab's traffic stays inside). ``--keep-in-foreground``
keeps it the supervisor's child; it logs to stderr, which the supervisor
keeps as the service's log in the run directory.

What makes a lease fast (``up`` waits for every one): dnsmasq does not
ping an address before offering it (``no-ping``; its default probe delays
the offer), udhcpc does not ARP-probe the offer (its ``-a`` is left off)
and retries a lost DISCOVER after one second (``-T 1``, not 3), and the
servers come before the clients in the plan, so the supervisor starts
dnsmasq first.
``dhcp-rapid-commit`` answers clients that ask for a two-message exchange
(dhcpcd, systemd-networkd); busybox's udhcpc does not ask.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from dataclasses import dataclass

from vnetlab.compile.builder import Phase, PlanBuilder
from vnetlab.model.lab_dns import dns_records, served, server_domain
from vnetlab.model.schema import LabSpec, Node
from vnetlab.model.validate import servers_of
from vnetlab.names import namespace
from vnetlab.plan import RunDhcpClient, RunDhcpServer, SetSysctl, WriteRunFile

HOOK_FILE = "udhcpc-hook"
RA_INTERVAL = 60          # seconds between unsolicited router advertisements
ROUTER_LIFETIME = 1800    # seconds a forwarding server is the clients' IPv6 default router
DISCOVER_TRIES, DISCOVER_PAUSE, RETRY_PAUSE = 20, 1, 1  # udhcpc -t, -T, -A

HOOK_TEXT = """#!/usr/bin/env python3
# vnetlab's udhcpc hook: busybox udhcpc runs it inside the node at every DHCP
# event (deconfig, bound, renew, leasefail, nak) with the lease in its
# environment. It applies the lease there with ip, writes the node's own
# resolv.conf (/etc/netns/<lab>-<node>/resolv.conf, never the host's) and
# records the lease for vnetlab status. The python3 found first on PATH is
# the one vnetlab runs in (the supervisor puts it there).
import sys

from vnetlab.agents.dhcp_hook import main

sys.exit(main(sys.argv))
"""


@dataclass(frozen=True)
class SlaacClient:
    """An interface that forms an address of ``prefix`` from router advertisements."""

    netns: str
    node: str
    ifname: str
    prefix: str
    server: str  # "node:ifname" of the advertising interface, "" when its segment has none


def dnsmasq_config(spec: LabSpec, name: str, node: Node) -> str:
    """The text of node ``name``'s dnsmasq config file."""
    interfaces = served(node)
    lines = [f"# dnsmasq of node {name}, lab {spec.lab}: written by vnetlab, as LXC's lxc-net serves lxcbr0.",
             "# Nothing else is read: the command line names this file (--conf-file) and skips",
             "# /etc/hosts (--no-hosts) and /etc/resolv.conf (--no-resolv).",
             "bind-interfaces",
             *(f"interface={ifname}" for ifname, _ in interfaces)]
    domain = server_domain(spec, node)
    if domain is None:
        lines += ["# no dns: on these interfaces: DNS off", "port=0"]
    else:
        lines += ["# DNS: the lab's names, answered here; nothing is forwarded (no upstream server)",
                  "domain-needed", "bogus-priv", f"domain={domain}", f"local=/{domain}/"]
        lines += [f"host-record={','.join(record.names)},{record.address}" for record in dns_records(spec, node)]
    dhcp = [(ifname, iface) for ifname, iface in interfaces if iface.dhcp is not None]
    for ifname, iface in dhcp:
        setting = iface.dhcp
        low, high = setting.bounds
        own = next(ipaddress.ip_interface(a) for a in iface.all_addresses()
                   if ipaddress.ip_interface(a).version == 4 and low in ipaddress.ip_interface(a).network)
        router = setting.router or str(own.ip)
        dns = setting.dns or (str(own.ip) if iface.dns is not None else None)
        lines += [f"# DHCP on {ifname} (dnsmasq tags each request with the interface it came in on)",
                  f"dhcp-range={low},{high},{own.network.netmask},{setting.lease_seconds}",
                  f"dhcp-option=tag:{ifname},option:router,{router}",
                  f"dhcp-option=tag:{ifname},option:dns-server" + (f",{dns}" if dns else "")]
        lines += [f"dhcp-host={host.mac.lower()},{host.address},{host.name}" for host in setting.hosts]
    if dhcp:
        lines += ["# answer at once: no ping of an address before offering it, two-message exchanges for",
                  "# clients that ask (rapid commit); log every exchange",
                  "dhcp-authoritative", "no-ping", "dhcp-rapid-commit", "log-dhcp"]
    ra = [(ifname, iface) for ifname, iface in interfaces if iface.ra is not None]
    if ra:
        lifetime = ROUTER_LIFETIME if node.forwards else 0
        lines += ["# router advertisements: the prefix for SLAAC (router lifetime 0: not a default router)"
                  if not lifetime else "# router advertisements: the prefix for SLAAC, and this node as the "
                                       "clients' default router",
                  "enable-ra"]
        for ifname, iface in ra:
            prefix = ipaddress.IPv6Network(iface.ra.prefix)
            lines += [f"dhcp-range={prefix.network_address},ra-only,{prefix.prefixlen}",
                      f"ra-param={ifname},{RA_INTERVAL},{lifetime}"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class DnsmasqFiles:
    """Where a serving node's dnsmasq keeps its files, in the lab's run directory."""

    config: str
    leases: str
    pid: str


def dnsmasq_files(rundir: str, name: str, config: str) -> DnsmasqFiles:
    """The files of node ``name``'s dnsmasq. The config file's name carries a
    digest of its text, so a changed config is a changed command line, which
    makes ``up`` restart dnsmasq on it (dnsmasq reads its config only once)."""
    digest = hashlib.sha256(config.encode()).hexdigest()[:8]
    return DnsmasqFiles(config=os.path.join(rundir, f"dnsmasq-{name}-{digest}.conf"),
                        leases=os.path.join(rundir, f"dnsmasq-{name}.leases"),
                        pid=os.path.join(rundir, f"dnsmasq-{name}.pid"))


def dnsmasq_argv(files: DnsmasqFiles) -> tuple[str, ...]:
    """dnsmasq's command line (lxc-net's options, minus what the config file says)."""
    return ("dnsmasq", f"--conf-file={files.config}", "--keep-in-foreground", "--no-hosts", "--no-resolv",
            f"--pid-file={files.pid}", f"--dhcp-leasefile={files.leases}", "--log-facility=-")


def hook_path(rundir: str) -> str:
    """vnetlab's udhcpc hook in the lab's run directory."""
    return os.path.join(rundir, HOOK_FILE)


def udhcpc_argv(rundir: str, node: str, ifname: str) -> tuple[str, ...]:
    """busybox udhcpc in the foreground (the supervisor's child) on ``ifname``, with
    vnetlab's hook, sending the node's name as its hostname (dnsmasq registers it)."""
    return ("busybox", "udhcpc", "-f", "-i", ifname, "-s", hook_path(rundir), "-x", f"hostname:{node}",
            "-t", str(DISCOVER_TRIES), "-T", str(DISCOVER_PAUSE), "-A", str(RETRY_PAUSE))


def slaac_clients(spec: LabSpec) -> list[SlaacClient]:
    """Every ``slaac`` interface of the lab, with the prefix its segment advertises."""
    servers = servers_of(spec)
    found = []
    for name, node in spec.nodes.items():
        for ifname, iface in node.interfaces.items():
            if not iface.uses_slaac:
                continue
            server = servers.get((name, ifname), {}).get("ra")
            prefix = spec.nodes[server[0]].interfaces[server[1]].ra.prefix if server else "::/64"
            found.append(SlaacClient(namespace(spec.lab, name), name, ifname, prefix, ":".join(server) if server else ""))
    return found


RESOLV_CONF, HOSTS = "resolv.conf", "hosts"


def etc_files(spec: LabSpec) -> dict[str, dict[str, str]]:
    """Each node's own ``resolv.conf`` and ``hosts`` (node -> {relative path: text})
    where the lab's DNS is its resolver: a DNS server asks itself, a DHCP
    client's hook fills its file from the lease, a node with a static address
    on a segment a DNS server serves asks that server. Other nodes are left
    out (they keep the host's files, as before)."""
    if not any(iface.serves or iface.uses_dhcp for node in spec.nodes.values() for iface in node.interfaces.values()):
        return {}
    servers = servers_of(spec)
    found: dict[str, dict[str, str]] = {}
    for name, node in spec.nodes.items():
        hosts = (f"# {name}'s own /etc/hosts (vnetlab): its names come from the lab's DNS\n"
                 f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{name}\n")
        domain = server_domain(spec, node)
        if domain is not None:
            found[name] = {RESOLV_CONF: f"# {name} serves the lab's DNS (vnetlab): it asks its own dnsmasq\n"
                                        f"search {domain}\nnameserver 127.0.0.1\n", HOSTS: hosts}
            continue
        if any(iface.uses_dhcp for iface in node.interfaces.values()):
            found[name] = {RESOLV_CONF: f"# {name} takes its DNS servers from its DHCP lease: vnetlab's udhcpc "
                                        "hook writes them here\n", HOSTS: hosts}
            continue
        for ifname, iface in node.interfaces.items():
            server = servers.get((name, ifname), {}).get("dns")
            if server is None or not iface.all_addresses():
                continue
            serving = spec.nodes[server[0]]
            address = ipaddress.ip_interface(serving.interfaces[server[1]].all_addresses()[0]).ip
            found[name] = {RESOLV_CONF: f"# {name}'s resolver (vnetlab): the lab's DNS on {':'.join(server)}\n"
                                        f"search {server_domain(spec, serving)}\nnameserver {address}\n",
                           HOSTS: hosts}
            break
    return found


def compile_dynamic(builder: PlanBuilder) -> None:
    """Adds every serving node's dnsmasq (its config file, then the process), then
    every DHCP client (the hook, then one udhcpc per interface), so each server
    is started before its clients; and each ``slaac`` interface's sysctls."""
    spec, rundir = builder.spec, builder.lab_run_dir
    for name, node in spec.nodes.items():
        if not served(node):
            continue
        ns = builder.ns(name)
        config = dnsmasq_config(spec, name, node)
        files = dnsmasq_files(rundir, name, config)
        builder.add(Phase.PROCESSES, WriteRunFile(ns, node=name, path=files.config, text=config))
        kinds = {key for _, iface in served(node) for key in ("dhcp", "dns") if getattr(iface, key) is not None}
        ready = "udp/67" if "dhcp" in kinds else "udp/53" if "dns" in kinds else "raw6/58"
        builder.add(Phase.PROCESSES, RunDhcpServer(ns, node=name, command=dnsmasq_argv(files), config=files.config,
                                                   leases=files.leases, ready=ready))
    clients = any(iface.uses_dhcp or iface.uses_slaac for node in spec.nodes.values()
                  for iface in node.interfaces.values())
    servers = servers_of(spec) if clients else {}
    hook_written = False
    for name, node in spec.nodes.items():
        ns = builder.ns(name)
        for ifname, iface in node.interfaces.items():
            if iface.uses_dhcp:
                if not hook_written:
                    builder.add(Phase.PROCESSES, WriteRunFile(ns, node=name, path=hook_path(rundir), text=HOOK_TEXT,
                                                              mode=0o755))
                    hook_written = True
                server = servers.get((name, ifname), {}).get("dhcp")
                server = None if server == (name, ifname) else server
                builder.add(Phase.PROCESSES, RunDhcpClient(ns, node=name, command=udhcpc_argv(rundir, name, ifname),
                                                           ifname=ifname, server=":".join(server) if server else ""))
            if iface.uses_slaac:
                # The kernel's own SLAAC: accept router advertisements (2: also while forwarding).
                accept = "2" if node.forwards else "1"
                builder.add(Phase.ADDRESSES, SetSysctl(ns, key=f"net.ipv6.conf.{ifname}.accept_ra", value=accept))
                builder.add(Phase.ADDRESSES, SetSysctl(ns, key=f"net.ipv6.conf.{ifname}.autoconf", value="1"))
