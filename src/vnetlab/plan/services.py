"""Ops the lab supervisor carries out: services and TAP frame pumps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from vnetlab.plan.base import Key, Op


def service_ident(listen: Optional[str], command: Optional[tuple[str, ...]], oneshot: bool = False) -> str:
    """A service's identity within its namespace: its listener, or its command line."""
    return listen if listen is not None else " ".join(command or ()) + (" (oneshot)" if oneshot else "")


@dataclass(frozen=True)
class RunService(Op):
    """A node's service, run by the lab supervisor.

    Either a built-in listener (``listen``: ``tcp/80`` answers HTTP,
    ``udp/53`` echoes; both report the client's address as they saw it) or
    any program (``command``) started inside the node's namespace: one that
    keeps running, or with ``oneshot`` one that ``up`` waits for and that
    must exit 0.
    """

    name: ClassVar[str] = "run_service"
    observed: ClassVar[bool] = True
    node: str = ""
    listen: Optional[str] = None
    command: Optional[tuple[str, ...]] = None
    oneshot: bool = False

    def commands(self) -> list[list[str]]:
        if self.listen is not None:
            return [["#", f"the lab supervisor listens on {self.listen} in {self.netns} "
                          "and answers with the client's address"]]
        return [["ip", "netns", "exec", self.netns, *(self.command or ()), *([] if self.oneshot else ["&"])]]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("service", self.netns, service_ident(self.listen, self.command, self.oneshot)),
                 "done" if self.oneshot else "running"),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return StopService(self.netns, node=self.node, listen=self.listen, command=self.command,
                           oneshot=self.oneshot)


@dataclass(frozen=True)
class StopService(RunService):
    """Stops a service (the inverse of :class:`RunService`)."""

    name: ClassVar[str] = "stop_service"
    observed: ClassVar[bool] = False
    removes: ClassVar[bool] = True

    def commands(self) -> list[list[str]]:
        if self.listen is not None:
            return [["#", f"the lab supervisor stops listening on {self.listen} in {self.netns}"]]
        return [["#", "the lab supervisor stops", *(self.command or ()), "in", self.netns,
                 "(SIGTERM to its recorded pid)"]]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ()

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return RunService(self.netns, node=self.node, listen=self.listen, command=self.command,
                          oneshot=self.oneshot)


@dataclass(frozen=True)
class PumpFrames(Op):
    """Connects a TAP to a VM's NIC: the lab's supervisor copies frames both
    ways, the way QEMU does between a tap and a guest's virtio NIC."""

    name: ClassVar[str] = "pump_frames"
    observed: ClassVar[bool] = True
    ifname: str = ""
    peer_netns: str = ""
    peer_ifname: str = ""

    def commands(self) -> list[list[str]]:
        return [["#", "the", "lab", "supervisor", "pumps", "frames", "between",
                 f"{self.netns}:{self.ifname}", "and", f"{self.peer_netns}:{self.peer_ifname}",
                 "(as", "QEMU", "would)"]]

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("pump", self.netns, f"{self.ifname} <-> {self.peer_netns}:{self.peer_ifname}"), "present"),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return StopPump(self.netns, ifname=self.ifname, peer_netns=self.peer_netns, peer_ifname=self.peer_ifname)


@dataclass(frozen=True)
class StopPump(PumpFrames):
    """Disconnects a TAP pump."""

    name: ClassVar[str] = "stop_pump"
    observed: ClassVar[bool] = False
    removes: ClassVar[bool] = True

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ()

    def inverse(self, previous: Any = None) -> Optional[Op]:
        return PumpFrames(self.netns, ifname=self.ifname, peer_netns=self.peer_netns, peer_ifname=self.peer_ifname)
