"""Applies link impairments: SetImpairment and ClearImpairment.

netem and tbf are one root qdisc each, replaced in place over the kernel
backend's netlink session of the namespace (``host/tc.py``): the interface,
its index and its connections stay. The userspace path (no netem in the
kernel) is three pieces: a persistent TAP next to the interface (IPv6 and
ARP off, up: it sends nothing of its own), clsact on the interface with one
egress filter that redirects everything into the TAP, and an impaired end
in the lab supervisor, which reads the TAP and sends what survives on the
interface past its qdiscs (``agents/impair_engine.py``) — handed to the
supervisor backend, which writes the supervisor's config and reloads it
once every op is applied.

Setting an end to another mechanism takes the old one's pieces away first.
Each op is an "ensure": what is there already is left alone (None); the
inverse of a change is the impairment that was in force (read back from the
kernel, or from the supervisor's config), or its clearing.
"""

from __future__ import annotations

from typing import Optional

from vnetlab.agents.supervisor import ImpairSpec
from vnetlab.executors.kernel import KernelBackend
from vnetlab.executors.supervisor_backend import SupervisorBackend
from vnetlab.host import netns, tc, tuntap
from vnetlab.host.rtnetlink import IFF_UP, LinkInfo, Namespace, _IFI, _next_seq
from vnetlab.model.impairment import NETEM, TBF, USERSPACE
from vnetlab.plan import ClearImpairment, Op, SetImpairment

IFF_NOARP = 0x80
RTM_NEWLINK = 16


class ImpairBackend:
    """Applies SetImpairment and ClearImpairment through the kernel backend's
    sessions (and, for the userspace path, the supervisor backend)."""

    def __init__(self, kernel: KernelBackend, supervisor: Optional[SupervisorBackend] = None):
        self.kernel = kernel
        self.supervisor = supervisor

    def handles(self, op: Op) -> bool:
        """SetImpairment and ClearImpairment."""
        return isinstance(op, (SetImpairment, ClearImpairment))

    def apply(self, op: Op) -> Optional[Op]:
        """Applies one op; returns its inverse, or None if nothing changed."""
        space = self.kernel.space(op.netns)
        if isinstance(op, SetImpairment):
            return self._set(space, op)
        return self._clear(space, op)

    # -- what is there ----------------------------------------------------
    def in_force(self, space: Namespace, netns_name: str, ifname: str,
                 hint: Optional[SetImpairment] = None) -> Optional[SetImpairment]:
        """The impairment ``ifname`` has now, as the op that would set it (None: none of ours)."""
        index = space.index(ifname)
        here = tc.read(space).get(index, tc.Qdiscs())
        return self._found(space, netns_name, ifname, here, hint)

    def _found(self, space: Namespace, netns_name: str, ifname: str, here: tc.Qdiscs,
               hint: Optional[SetImpairment]) -> Optional[SetImpairment]:
        hinted = hint.value if hint is not None else None
        if here.redirects:
            carried = self.supervisor.impaired_end(netns_name, ifname) if self.supervisor else None
            if carried is not None and here.root is None and here.ours \
                    and here.redirects == (self._index(space, carried.tap),) \
                    and carried.instance == self._instance(space, netns_name, ifname, carried.tap):
                return SetImpairment(netns_name, ifname=ifname, impairment=carried.impairment, mechanism=USERSPACE,
                                     tap=carried.tap)
            return None
        value = None
        if here.root == TBF:
            value = tc.tbf_impairment(here.params, hinted if hint is not None and hint.mechanism == TBF else None)
        elif here.root == NETEM:
            value = tc.netem_impairment(here.params, hinted if hint is not None and hint.mechanism == NETEM else None)
        if value is None or value.empty:
            return None
        return SetImpairment(netns_name, ifname=ifname, impairment=tuple(sorted(value.to_dict().items())),
                             mechanism=here.root)

    def _instance(self, space: Namespace, netns_name: str, ifname: str, tap: str) -> str:
        """Which interface and TAP these are: the namespace's inode and their indexes."""
        return tc.instance_of(netns.identity(netns_name), self._index(space, ifname), self._index(space, tap))

    @staticmethod
    def _index(space: Namespace, ifname: str) -> Optional[int]:
        try:
            return space.index(ifname)
        except LookupError:
            return None

    # -- ops --------------------------------------------------------------
    def _set(self, space: Namespace, op: SetImpairment) -> Optional[Op]:
        index = space.index(op.ifname)  # LookupError: no such interface
        here = tc.read(space).get(index, tc.Qdiscs())
        previous = self._found(space, op.netns, op.ifname, here, op)
        if previous == op:
            return None
        if op.mechanism == USERSPACE:
            if self.supervisor is None:
                raise RuntimeError("the userspace impairment path needs the lab supervisor")
            if here.root is not None:
                tc.delete_root(space, index)
            tap = self._ensure_tap(space, op.netns, str(op.tap))
            tc.add_clsact(space, index)
            if here.redirects != (tap,) or not here.ours:
                tc.redirect_egress(space, index, tap)
            self.supervisor.carry(ImpairSpec(op.netns, op.ifname, str(op.tap), op.impairment,
                                             self._instance(space, op.netns, op.ifname, str(op.tap))))
        else:
            if here.clsact:
                self._remove_userspace(space, op.netns, op.ifname, index)
            options = tc.netem_options(op.value) if op.mechanism == NETEM else tc.tbf_options(op.value)
            tc.replace_root(space, index, op.mechanism, options)
        return op.inverse(previous)

    def _clear(self, space: Namespace, op: ClearImpairment) -> Optional[Op]:
        index = self._index(space, op.ifname)
        if index is None:
            return None  # the interface is gone, and its qdiscs with it
        here = tc.read(space).get(index, tc.Qdiscs())
        previous = self._found(space, op.netns, op.ifname, here, None)
        changed = False
        if here.root is not None:
            changed = tc.delete_root(space, index)
        if here.clsact or (self.supervisor is not None and self.supervisor.impaired_end(op.netns, op.ifname)):
            changed = self._remove_userspace(space, op.netns, op.ifname, index, op.tap) or changed
        return op.inverse(previous) if changed and previous is not None else (op.inverse() if changed else None)

    def _remove_userspace(self, space: Namespace, netns_name: str, ifname: str, index: int,
                          tap: Optional[str] = None) -> bool:
        """Takes the userspace path's pieces away: the redirect (clsact), the
        supervisor's end, the TAP. Whether anything was there."""
        changed = tc.delete_clsact(space, index)
        carried = self.supervisor.let_go(netns_name, ifname) if self.supervisor is not None else None
        changed = changed or carried is not None
        for name in {tap, carried.tap if carried is not None else None} - {None}:
            if self._index(space, str(name)) is not None:
                from vnetlab.plan import DeleteLink

                self.kernel.apply(DeleteLink(netns_name, ifname=str(name)))
                changed = True
        return changed

    def _ensure_tap(self, space: Namespace, netns_name: str, tap: str) -> int:
        """The userspace path's TAP, made if missing (IPv6 off, ARP off, up); its index."""
        index = self._index(space, tap)
        if index is None:
            with netns.entered(netns_name):
                tuntap.create_persistent_tap(tap)
                netns.write_sysctl(f"net.ipv6.conf.{tap}.disable_ipv6", "1")  # no RS, no DAD, no MLD out of IF
            space.links[tap] = LinkInfo(None)
            space._next_index = 0  # the kernel picked the TAP's index: let it pick from here on
            index = space.index(tap)
        body = _IFI.pack(0, 0, index, IFF_UP | IFF_NOARP, IFF_UP | IFF_NOARP)
        space.request(RTM_NEWLINK, 0, body, _next_seq())
        space.links[tap].up = True
        return index
