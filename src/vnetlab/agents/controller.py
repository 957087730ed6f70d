"""The built-in OpenFlow 1.3 controller (``controller: builtin``): a learning switch.

Run by the lab supervisor as a command service inside an OVS node's
namespace::

    python3 -m vnetlab.agents.controller --listen tcp:127.0.0.1:6653

and the node's bridges point at it with ``fail_mode=secure``. What it does
to every switch that connects:

- installs one **table-miss** flow (priority 0, match all) that sends the
  packet to the controller — and nothing else: there is no ``NORMAL``
  fallback, so hosts talk only through flows this controller installed;
- **learns** source MAC -> ingress port per datapath from each packet-in;
- for a known destination installs an **exact flow** ``(in_port, eth_dst)
  -> output:PORT`` with an idle timeout, then sends the packet on;
- **floods** a packet whose destination it has not learned yet;
- forgets the MACs behind a port that goes away or down (a cut cable), and
  deletes its flows towards that port, so traffic re-learns a new path; a
  MAC seen on a new port (a migrated VM, a bond failover) loses its flows
  towards the old one.

Its flows carry the cookie :data:`COOKIE`; on (re)connect it deletes only
flows with that cookie, so a bridge's own ``flows:`` from the lab file stay.
Each learned MAC and each installed flow is logged to stderr (the service's
log file under the lab's run directory).

os-ken 4.x ships no ``osken-manager`` command; :func:`main` does its job:
configures os-ken's oslo.config ``CONF`` with the listen address, loads the
app (:mod:`vnetlab.agents.learning_switch`, which pulls in os-ken's
OpenFlow handler) into the app manager and runs it. Once the listening
socket exists, it logs ``ready``.

``vnetlab up`` calls :func:`wait_for_builtin_controllers` after applying a
plan, so it returns only once every such bridge has connected and holds the
controller's table-miss flow (OVS retries a controller that was not yet
listening after 1, 2, 4 s, so this takes up to a few seconds). This module
imports os-ken only inside :func:`main`.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import ipaddress
import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from vnetlab.agents.flow_marks import COOKIE, COOKIE_MASK, DEFAULT_IDLE_TIMEOUT  # noqa: F401 (read from here too)

# vnetlab.host.netns and the model are imported where they are used:
# `vnetlab validate` asks osken_installed() and the controller process starts
# in every SDN lab's up, and neither should pay for them.

if TYPE_CHECKING:
    from vnetlab.plan import Op

LOG = logging.getLogger("vnetlab.controller")

LISTEN_WAIT = 10.0          # seconds main() waits for os-ken's listening socket
READY_TIMEOUT = 15.0        # seconds `up` waits for switches to connect (OVS retries after 1, 2, 4, 8 s)
DEFAULT_LISTEN = "tcp:127.0.0.1:6653"
MODULE = "vnetlab.agents.controller"  # run as python3 -m MODULE
TCP_LISTEN_STATE = "0A"     # /proc/net/tcp's code for LISTEN


# --------------------------------------------------------------------------- pure helpers


def osken_installed() -> bool:
    """Whether os-ken can be imported here, without importing it (it takes
    seconds). The controller runs on this same interpreter (services put its
    directory first on PATH), so this is the answer for the lab too."""
    return importlib.util.find_spec("os_ken") is not None


def parse_listen(text: str) -> tuple[str, int]:
    """``tcp:IP:PORT`` (IPv6 as ``tcp:[::1]:6653``) -> (ip, port).

    Raises:
        ValueError: with a message that says what to write instead.
    """
    proto, _, rest = text.partition(":")
    host, colon, port = rest.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if proto != "tcp" or not colon or ip is None or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"--listen is tcp:IP:PORT (e.g. tcp:127.0.0.1:6653), got {text!r}")
    return str(ip), int(port)


def is_listening(port: int, proc_net: str = "/proc/thread-self/net") -> bool:
    """Whether a TCP socket of the calling thread's network namespace listens on ``port``.

    Reads ``tcp`` and ``tcp6`` under ``/proc/thread-self/net`` (the calling
    thread's namespace; ``/proc/net`` would show the main thread's) rather
    than connecting: a probe connection would look like a switch to the
    controller.
    """
    for name in ("tcp", "tcp6"):
        try:
            with open(os.path.join(proc_net, name)) as handle:
                lines = handle.readlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == TCP_LISTEN_STATE \
                    and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def is_configured(dump_flows: str) -> bool:
    """Whether ``ovs-ofctl dump-flows BRIDGE`` output shows this controller's
    table-miss flow, i.e. the switch connected and was set up."""
    cookie = f"cookie={COOKIE:#x}"
    return any(cookie in line and "priority=0" in line and "CONTROLLER" in line
               for line in dump_flows.splitlines())


def _poll(predicate: Callable[[], bool], timeout: float, interval: float) -> bool:
    """True as soon as ``predicate()`` is; False once ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def wait_listening(netns_name: str, port: int, timeout: float) -> bool:
    """Polls until a TCP socket listens on ``port`` inside ``netns_name`` (True), or ``timeout`` passes."""
    from vnetlab.host import netns

    with netns.entered(netns_name):
        return _poll(lambda: is_listening(port), timeout, 0.02)


def wait_configured(dump_flows: Callable[[], str], timeout: float) -> bool:
    """Polls ``dump_flows()`` (the output of ``ovs-ofctl dump-flows BRIDGE``,
    run however the caller reaches that switch) until :func:`is_configured`
    (True) or ``timeout`` passes (False)."""
    return _poll(lambda: is_configured(dump_flows()), timeout, 0.05)


# --------------------------------------------------------------------------- waiting for it in `up`


@dataclasses.dataclass(frozen=True)
class ControlledBridge:
    """An OVS bridge whose controller is a built-in one the same plan starts."""

    netns: str
    rundir: str   # the node's OVS directory (where ovs-ofctl finds the switch)
    bridge: str
    port: int     # the controller's TCP port inside ``netns``


def builtin_controlled_bridges(ops: Sequence[Op]) -> list[ControlledBridge]:
    """The bridges of a plan that a built-in controller of the same plan drives.

    A built-in controller is a :class:`~vnetlab.plan.RunService` running
    ``... -m vnetlab.agents.controller --listen tcp:IP:PORT``; a bridge it
    drives is an :class:`~vnetlab.plan.OvsAddBridge` in the same namespace
    whose controller is that address.
    """
    from vnetlab.plan import OvsAddBridge, RunService

    listening: dict[tuple[str, str], int] = {}  # (netns, "tcp:IP:PORT") -> port
    for op in ops:
        command = list(op.command or ()) if isinstance(op, RunService) else []
        if command[1:3] != ["-m", MODULE]:
            continue
        target = command[command.index("--listen") + 1] if "--listen" in command[:-1] else DEFAULT_LISTEN
        try:
            listening[(op.netns, target)] = parse_listen(target)[1]
        except ValueError:
            continue
    return [ControlledBridge(op.netns, op.rundir, op.bridge, listening[(op.netns, op.controller)])
            for op in ops if isinstance(op, OvsAddBridge) and (op.netns, op.controller) in listening]


def wait_for_builtin_controllers(ops: Sequence[Op], timeout: float = READY_TIMEOUT) -> None:
    """Returns once every bridge a built-in controller of ``ops`` drives has
    that controller's table-miss flow, i.e. the controller listens, the switch
    connected and was set up — so a lab's checks can run right after ``up``.

    Raises:
        RuntimeError: a controller did not listen, or a switch did not
            connect, within ``timeout`` seconds (the message says where to look).
    """
    from vnetlab.host.ovs_tools import run_tool
    from vnetlab.host.state import lab_dir
    from vnetlab.model.validate import OSKEN_INSTALL
    from vnetlab.names import split_namespace

    deadline = time.monotonic() + timeout
    for bridge in builtin_controlled_bridges(ops):
        lab, node = split_namespace(bridge.netns)
        where = (f"the built-in controller of node {node} (see its log, "
                 f"{os.path.join(lab_dir(lab), f'service-{node}-N.log')})")
        if not wait_listening(bridge.netns, bridge.port, max(0.0, deadline - time.monotonic())):
            raise RuntimeError(f"{where} is not listening on port {bridge.port} after {timeout:g} s — "
                               f"is os-ken installed? {OSKEN_INSTALL}")

        def dump(bridge: ControlledBridge = bridge) -> str:
            return run_tool(bridge.rundir, ["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", bridge.bridge],
                            check=False).stdout

        if not wait_configured(dump, max(0.0, deadline - time.monotonic())):
            raise RuntimeError(f"OVS bridge {bridge.bridge} in {bridge.netns} did not connect to {where} "
                               f"within {timeout:g} s")


# --------------------------------------------------------------------------- running it


def main(argv: Optional[list[str]] = None) -> int:
    """Runs the controller until SIGTERM; what ``osken-manager`` would do."""
    parser = argparse.ArgumentParser(prog="python -m vnetlab.agents.controller",
                                     description="vnetlab's built-in OpenFlow 1.3 learning-switch controller")
    parser.add_argument("--listen", default=DEFAULT_LISTEN, help="tcp:IP:PORT (default %(default)s)")
    parser.add_argument("--idle-timeout", type=int, default=DEFAULT_IDLE_TIMEOUT,
                        help="seconds a learned flow lives without traffic (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    LOG.info("starting: OpenFlow 1.3 learning switch on %s", args.listen)

    from os_ken import cfg
    from os_ken.base import app_manager
    from os_ken.lib import hub

    from vnetlab.agents.learning_switch import LearningSwitch

    # What osken-manager's command line would set; no config files are read.
    cfg.CONF(args=[], project="os_ken", default_config_files=[])
    cfg.CONF.set_override("ofp_listen_host", host)
    cfg.CONF.set_override("ofp_tcp_listen_port", port)
    LearningSwitch.idle_timeout = args.idle_timeout

    manager = app_manager.AppManager.get_instance()
    manager.load_apps([LearningSwitch.__module__])  # pulls in os_ken.controller.ofp_handler too
    threads = manager.instantiate_apps(**manager.create_contexts())
    if not _poll(lambda: is_listening(port), LISTEN_WAIT, 0.02):
        LOG.error("not listening on %s after %g s", args.listen, LISTEN_WAIT)
        return 1
    LOG.info("ready: listening on %s (OpenFlow 1.3, idle_timeout=%d)", args.listen, args.idle_timeout)
    try:
        hub.joinall(threads)
    finally:
        manager.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
