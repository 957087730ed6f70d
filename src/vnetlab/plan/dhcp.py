"""DHCP, DNS and router advertisements (issue 13): dnsmasq on a serving node,
udhcpc on a client, and the files they read in the lab's run directory.

Both daemons are command services of the lab supervisor (a RunService each):
started inside their node's namespace, restarted if they die, stopped by
their recorded pid at ``down``. Their own op types only say what they are
(``vnetlab plan`` heads them "dnsmasq …", "udhcpc …") and what ``up`` waits
for: every DHCP client holding its lease (the object ``lease``, which drift
compares with the kernel). Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from vnetlab.plan.base import Key, Op
from vnetlab.plan.services import RunService, service_ident


@dataclass(frozen=True)
class WriteRunFile(Op):
    """A file in the lab's run directory: a daemon's config, the DHCP client's hook

    ``path`` is absolute and inside the run directory (the backend refuses
    any other). Rewritten by every ``up`` (an unchanged file stays as it is)."""

    name: ClassVar[str] = "write_run_file"
    node: str = ""
    path: str = ""
    text: str = ""
    mode: int = 0o644

    def commands(self) -> list[list[str]]:
        command = [["tee", self.path]]
        return command + ([["chmod", f"{self.mode:o}", self.path]] if self.mode != 0o644 else [])

    def command_lines(self) -> list[str]:
        """``cat > PATH`` with the file as a here-document (and its mode)."""
        lines = [f"cat > {self.path} <<'EOF'", *self.text.rstrip("\n").split("\n"), "EOF"]
        return lines + ([f"chmod {self.mode:o} {self.path}"] if self.mode != 0o644 else [])

    def inverse(self, previous: Any = None) -> Optional[Op]:
        """``previous``: the text that was there (None: no file)."""
        if previous is not None:
            return WriteRunFile(self.netns, node=self.node, path=self.path, text=previous, mode=self.mode)
        return RemoveRunFile(self.netns, node=self.node, path=self.path)


@dataclass(frozen=True)
class RemoveRunFile(Op):
    """Removes a file of the lab's run directory (absent is fine)"""

    name: ClassVar[str] = "remove_run_file"
    removes: ClassVar[bool] = True
    node: str = ""
    path: str = ""

    def commands(self) -> list[list[str]]:
        return [["rm", "-f", self.path]]

    def inverse(self, previous: Any = None) -> Optional[Op]:
        """``previous``: the text the file had (None: there was none)."""
        return None if previous is None else WriteRunFile(self.netns, node=self.node, path=self.path, text=previous)


@dataclass(frozen=True)
class RunDhcpServer(RunService):
    """dnsmasq: DHCP, DNS and router advertisements for the node's segments, run by the lab supervisor

    One process per serving node, inside its namespace, on its own config
    file (``config``), with its leases and pid file in the run directory."""

    name: ClassVar[str] = "run_dhcp_server"
    config: str = ""    # the config file it reads (a WriteRunFile before it)
    leases: str = ""    # its lease file
    ready: str = ""     # the socket that says it serves: "udp/67" (DHCP), "udp/53" (DNS), "raw6/58" (RA only)


@dataclass(frozen=True)
class RunDhcpClient(RunService):
    """udhcpc: the interface's DHCP client, run by the lab supervisor

    busybox's udhcpc, inside the node, with vnetlab's hook: the lease's
    address, route and DNS servers are applied inside the node (its own
    resolv.conf), never on the host. ``up`` waits until it holds a lease."""

    name: ClassVar[str] = "run_dhcp_client"
    ifname: str = ""
    server: str = ""    # "node:ifname" of the segment's DHCP server, for messages

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("service", self.netns, service_ident(self.listen, self.command, self.oneshot)), "running"),
                (("lease", self.netns, self.ifname), "held"))
