"""The pure DHCP/DNS/RA generator (compile/dnsmasq.py): dnsmasq's config and command line, the
clients' udhcpc, the nodes' own resolv.conf and hosts, and where they sit in the plan."""

from __future__ import annotations

from pathlib import Path

from vnetlab.compile import compile_lab
from vnetlab.compile.dnsmasq import (
    HOOK_TEXT, dnsmasq_config, dnsmasq_files, etc_files, slaac_clients, udhcpc_argv,
)
from vnetlab.model import load_lab, load_lab_text
from vnetlab.plan import RunDhcpClient, RunDhcpServer, SetSysctl, WriteRunFile

GOOD = Path(__file__).parent / "fixtures" / "good" / "dhcp.yaml"
RUNDIR = "/run/vnetlab/dhcpgood"


def test_the_config_serves_dhcp_dns_and_ra_on_the_bridge_only():
    spec = load_lab(GOOD)
    lines = dnsmasq_config(spec, "host", spec.nodes["host"]).splitlines()
    assert "bind-interfaces" in lines and "interface=lxcbr0" in lines
    assert "dhcp-range=10.0.3.100,10.0.3.200,255.255.255.0,3600" in lines
    assert "dhcp-option=tag:lxcbr0,option:router,10.0.3.1" in lines
    assert "dhcp-option=tag:lxcbr0,option:dns-server,10.0.3.1" in lines
    assert "dhcp-host=02:00:00:00:00:10,10.0.3.10,web" in lines
    assert {"no-ping", "dhcp-rapid-commit", "dhcp-authoritative"} <= set(lines)
    assert "domain=lab" in lines and "local=/lab/" in lines  # nothing of the domain is asked upstream
    assert "host-record=db.lab,db,10.0.3.20" in lines
    assert "host-record=host.lab,host,10.0.3.1" in lines  # a node with a static address is known by name
    assert "enable-ra" in lines and "dhcp-range=fd00:3::,ra-only,64" in lines
    assert "ra-param=lxcbr0,60,1800" in lines  # host is a router: the clients' default router
    assert not [line for line in lines if line.startswith(("server=", "resolv-file", "addn-hosts", "conf-dir"))]


def test_the_command_line_names_every_file_in_the_run_directory():
    spec = load_lab(GOOD)
    plan = compile_lab(spec, run_dir=RUNDIR)
    server = next(op for op in plan.ops if isinstance(op, RunDhcpServer))
    config = next(op for op in plan.ops if isinstance(op, WriteRunFile) and op.path == server.config)
    assert server.command[0] == "dnsmasq"
    assert {"--keep-in-foreground", "--no-hosts", "--no-resolv", "--log-facility=-"} <= set(server.command)
    files = dnsmasq_files(RUNDIR, "host", config.text)
    assert f"--conf-file={files.config}" in server.command and f"--dhcp-leasefile={files.leases}" in server.command
    assert f"--pid-file={files.pid}" in server.command  # never dnsmasq's default /run/dnsmasq/dnsmasq.pid
    assert all(path.startswith(RUNDIR + "/") for path in (files.config, files.leases, files.pid))
    assert "ip netns exec dhcpgood-host dnsmasq --conf-file=" in "\n".join(server.command_lines())
    assert config.command_lines()[0] == f"cat > {files.config} <<'EOF'"  # plan shows the text


def test_a_changed_config_is_a_changed_command_line():
    one = load_lab(GOOD)
    two = load_lab_text(GOOD.read_text().replace("lease: 1h", "lease: 2h"))
    first, second = (next(op for op in compile_lab(s, run_dir=RUNDIR).ops if isinstance(op, RunDhcpServer))
                     for s in (one, two))
    assert first.command != second.command  # so up restarts dnsmasq on the new file


def test_servers_start_before_their_clients_and_each_client_has_the_hook():
    plan = compile_lab(load_lab(GOOD), run_dir=RUNDIR)
    names = [op.name for op in plan.ops if op.name in ("run_dhcp_server", "run_dhcp_client", "write_run_file")]
    assert names == ["write_run_file", "run_dhcp_server", "write_run_file", "run_dhcp_client", "run_dhcp_client"]
    hook = next(op for op in plan.ops if isinstance(op, WriteRunFile) and op.mode == 0o755)
    assert hook.text == HOOK_TEXT and hook.path == f"{RUNDIR}/udhcpc-hook"
    client = next(op for op in plan.ops if isinstance(op, RunDhcpClient) and op.node == "c1")
    assert client.command == udhcpc_argv(RUNDIR, "c1", "eth0")
    assert client.server == "host:lxcbr0" and ("lease", "dhcpgood-c1", "eth0") in [k for k, _ in client.objects()]
    assert "-a" not in client.command and "-x" in client.command  # no ARP probe; the hostname is sent


def test_slaac_clients_accept_router_advertisements_and_keep_ipv6():
    spec = load_lab(GOOD)
    plan = compile_lab(spec, run_dir=RUNDIR)
    sysctls = {(op.netns, op.key): op.value for op in plan.ops if isinstance(op, SetSysctl)}
    assert sysctls[("dhcpgood-c1", "net.ipv6.conf.eth0.accept_ra")] == "1"
    assert sysctls[("dhcpgood-c1", "net.ipv6.conf.all.accept_dad")] == "0"  # no DAD wait for the SLAAC address
    assert ("dhcpgood-c1", "net.ipv6.conf.all.disable_ipv6") not in sysctls
    assert [(c.node, c.ifname, c.prefix, c.server) for c in slaac_clients(spec)] == \
        [("c1", "eth0", "fd00:3::/64", "host:lxcbr0")]


def test_each_dns_node_gets_its_own_resolv_conf_and_hosts():
    spec = load_lab_text(GOOD.read_text().replace(
        "  web:\n", "  files:\n    interfaces:\n      eth0: {address: 10.0.3.5/24}\n  web:\n").replace(
        "ports: [veth1, veth2]", "ports: [veth1, veth2, veth3]").replace(
        "      veth2: {}\n", "      veth2: {}\n      veth3: {}\n").replace(
        "  - [host:veth2, web:eth0]\n", "  - [host:veth2, web:eth0]\n  - [host:veth3, files:eth0]\n"))
    files = etc_files(spec)
    assert "nameserver 127.0.0.1" in files["host"]["resolv.conf"]  # the server asks itself
    assert "nameserver" not in files["c1"]["resolv.conf"].replace("# ", "")  # the hook fills it from the lease
    assert "nameserver 10.0.3.1\n" in files["files"]["resolv.conf"] and "search lab" in files["files"]["resolv.conf"]
    assert "127.0.1.1\tfiles" in files["files"]["hosts"]


def test_a_lab_without_servers_or_clients_gets_no_dhcp_ops_or_files():
    spec = load_lab(Path(__file__).parent / "fixtures" / "good" / "redblue.yaml")
    assert etc_files(spec) == {}
    assert not [op for op in compile_lab(spec).ops if op.name in ("run_dhcp_server", "run_dhcp_client",
                                                                  "write_run_file")]
