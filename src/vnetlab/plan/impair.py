"""Ops on what an interface sends: impairments (delay, loss, rate …).

One op per impaired end. Its ``mechanism`` says what carries it: the
kernel's ``netem`` qdisc (with its own rate), ``tbf`` (a rate and queue
length alone, where netem is missing), or ``userspace``: the interface's
egress is redirected (tc clsact + mirred, all in the kernel) into a TAP
``tap`` of the same namespace, whose frames the lab supervisor delays,
drops, duplicates, corrupts, reorders and paces, then sends on the
interface itself (marked, so the redirect lets them pass and a capture on
the interface sees them leave) — the interface, its ifindex and its
connections stay as they are, so an impairment changes while a lab runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

from vnetlab.model.impairment import NETEM, TBF, USERSPACE, Impairment, netem_args, redirect_bytecode, tbf_args
from vnetlab.plan.base import Key, Op


def _tc(netns: str) -> list[str]:
    return ["ip", "netns", "exec", netns, "tc"]


@dataclass(frozen=True)
class SetImpairment(Op):
    """What an interface sends is delayed, dropped or paced (tc netem/tbf, or vnetlab's userspace path)."""

    name: ClassVar[str] = "set_impairment"
    observed: ClassVar[bool] = True
    ifname: str = ""
    # Impairment.to_dict() as sorted (key, value) pairs: hashable, and plain in plan.json
    impairment: tuple = ()
    mechanism: str = NETEM
    tap: Optional[str] = None  # the userspace path's TAP (mechanism userspace only)

    def __post_init__(self) -> None:
        # plan.json gives the pairs back as lists: the same op, hashable again
        object.__setattr__(self, "impairment", tuple(tuple(pair) for pair in self.impairment))

    @property
    def value(self) -> Impairment:
        return Impairment.from_dict(dict(self.impairment))

    def commands(self) -> list[list[str]]:
        tc, dev = _tc(self.netns), ["dev", self.ifname]
        if self.mechanism == NETEM:
            return [tc + ["qdisc", "replace", *dev, "root", "netem", *netem_args(self.value)]]
        if self.mechanism == TBF:
            return [tc + ["qdisc", "replace", *dev, "root", "tbf", *tbf_args(self.value)]]
        return [
            ["#", f"mechanism userspace (no netem in this kernel): the lab supervisor carries what {self.ifname} "
                  f"sends ({self.value.text()}), its egress redirected into {self.tap}"],
            ["ip", "-n", self.netns, "tuntap", "add", "dev", str(self.tap), "mode", "tap"],
            ["ip", "netns", "exec", self.netns, "sysctl", "-qw", f"net.ipv6.conf.{self.tap}.disable_ipv6=1"],
            ["ip", "-n", self.netns, "link", "set", str(self.tap), "up", "arp", "off"],
            tc + ["qdisc", "replace", *dev, "clsact"],
            # every frame but the engine's own (marked) goes to the TAP
            tc + ["filter", "replace", *dev, "egress", "protocol", "all", "prio", "1", "bpf", "bytecode",
                  redirect_bytecode(), "action", "mirred", "egress", "redirect", "dev", str(self.tap)],
        ]

    def plan_lines(self) -> list[str]:
        """The commands, after a line that says which mechanism carries the impairment and why."""
        lines = self.command_lines()
        if self.mechanism == NETEM:
            return [f"# mechanism netem: the kernel's qdisc does it ({self.value.text()})", *lines]
        if self.mechanism == TBF:
            return [f"# mechanism tbf (no netem in this kernel; a rate alone is the kernel's token bucket): "
                    f"{self.value.text()}", *lines]
        return lines

    def objects(self) -> tuple[tuple[Key, Any], ...]:
        return ((("impairment", self.netns, self.ifname), {"mechanism": self.mechanism, **dict(self.impairment)}),)

    def inverse(self, previous: Any = None) -> Optional[Op]:
        """What was there before (``previous``, a SetImpairment), or nothing."""
        if isinstance(previous, SetImpairment):
            return previous
        return ClearImpairment(self.netns, ifname=self.ifname, mechanism=self.mechanism, tap=self.tap)


@dataclass(frozen=True)
class ClearImpairment(Op):
    """An interface sends as it is (its impairment removed)."""

    name: ClassVar[str] = "clear_impairment"
    removes: ClassVar[bool] = True
    ifname: str = ""
    mechanism: str = NETEM
    tap: Optional[str] = None

    def commands(self) -> list[list[str]]:
        tc, dev = _tc(self.netns), ["dev", self.ifname]
        if self.mechanism in (NETEM, TBF):
            return [tc + ["qdisc", "del", *dev, "root"]]
        return [tc + ["qdisc", "del", *dev, "clsact"],
                *([["ip", "-n", self.netns, "link", "del", self.tap]] if self.tap else [])]

    def inverse(self, previous: Any = None) -> Optional[Op]:
        """The impairment that was there (``previous``, a SetImpairment, when the backend knows it)."""
        return previous if isinstance(previous, SetImpairment) else None
