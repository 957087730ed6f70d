"""The real backend: applies kernel ops through in-process netlink.

One raw ``NETLINK_ROUTE`` socket per lab namespace, opened from inside the
namespace (``setns`` on this thread, then back) — never
``IPRoute(netns=...)``, which forks a helper per socket and silently creates
missing namespaces. Each op is an "ensure": when its effect is already there
it returns None; otherwise it returns the op that undoes exactly what it did.

Speed (a 1,000-host star is ~10,000 ops): the messages are packed here with
``struct`` (no library round trip per call) and queued; consecutive messages
for the same namespace go out in one ``send``, each with its own sequence
number and ``NLM_F_ACK``, and every ACK is mapped back to the op that caused
it, so an error still names the failing op and rollback still gets the
inverse of every op that took effect. rtnetlink handles a request inside the
sender's ``send`` call, so the kernel sees the messages in plan order even
when they travel on different sockets. In a namespace made by this run the
backend assigns interface indexes itself (``ifi_index`` of RTM_NEWLINK,
also for the veth peer), so no lookup follows a creation.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import resource
import socket
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from vnetlab.host import netns, nlmsg, procsys, tuntap
from vnetlab.executors.apply import BatchFailed
from vnetlab.plan import (
    AddAddress, AddRoute, CreateBridge, CreateMacvlan, CreateNamespace, CreateTap, CreateVeth, DeleteAddress,
    DeleteLink, DeleteNamespace, DeleteRoute, Op, SetLinkState, SetMaster, SetMtu, SetSysctl,
)

from vnetlab.host.rtnetlink import (  # noqa: F401 (the wire format; tests and observe read it from here too)
    IFF_UP, IFA_F_NODAD, NETLINK_ROUTE, SOL_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK, NLM_F_REQUEST,
    NLM_F_MULTI, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP, NLM_F_ACK_TLVS, NLMSG_ERROR,
    NLMSG_DONE, NLMSGERR_ATTR_MSG, RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_NEWADDR, RTM_DELADDR,
    RTM_NEWROUTE, RTM_DELROUTE, IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER,
    IFLA_LINKINFO, IFLA_NET_NS_FD, IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER, IFLA_BR_STP_STATE,
    IFLA_MACVLAN_MODE, MACVLAN_MODES, IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS, RTA_DST, RTA_OIF, RTA_GATEWAY,
    RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST, RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_NOWHERE,
    NLA_F_NESTED, SO_RCVBUFFORCE, _HDR, _IFI, _IFA, _RTM, _RTA, _U32, CHUNK, RCVBUF, RECV_SIZE,
    HIGH_FD, _attr, _name, _mac, NetlinkError, LinkInfo, Namespace, _move_high, _netlink_socket,
    _configured, _next_seq, _parse_error,
)

# Descriptors left for everything else (libraries, the journal, OVS, pumps).
FD_RESERVE = 2048
# The namespace sessions in use hold at most this many descriptors (a
# netlink socket each, plus a namespace fd for the few that are veth peers
# or get sysctls set later), and never more than the descriptor limit
# leaves after FD_RESERVE. Beyond that the least recently used are released
# — after a flush, so no queued message still names one of their fds — and
# reopened when used again (open, setns, socket, setns: about 0.1 ms): a lab
# of any size fits any limit, and one that fits the limit pays nothing.
MAX_SESSION_FDS = 32768


# What an error code means for an op whose effect may already be there.
_ALREADY = {
    "add_address": (errno.EEXIST,),
    "delete_address": (errno.EADDRNOTAVAIL, errno.ENODEV),
    "add_route": (errno.EEXIST,),
    "delete_route": (errno.ESRCH, errno.ENODEV),
    "delete_link": (errno.ENODEV,),
}


@dataclass
class _Pending:
    """One queued message: which op (batch position) and its inverse on success."""

    index: int
    op: Op
    inverse: Optional[Op]


class KernelBackend:
    """Applies ops to the running kernel."""

    def __init__(self) -> None:
        self._spaces: dict[str, Namespace] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()  # used since their release, oldest first
        self._fresh: set[str] = set()
        self._batch_ops: Sequence[Op] = ()
        self._at_creation: dict[str, list[int]] = {}  # namespace -> batch positions of its early sysctls
        self._done_at_creation: set[int] = set()
        self._mountpoints: list[str] = []  # made by this batch (netns.make_mountpoints)
        self._queue: list[tuple[Namespace, int, bytes]] = []  # (space, seq, message)
        self._pending: dict[int, _Pending] = {}
        self._batch_index = 0
        self._results: Optional[list[Optional[Op]]] = None
        # Ops whose netlink message is queued (flushed in batches) ...
        self._queued: dict[type, Callable[[Op], Optional[Op]]] = {
            CreateVeth: self._create_veth,
            CreateBridge: self._create_bridge,
            CreateMacvlan: self._create_macvlan,
            DeleteLink: self._delete_link,
            SetMaster: self._set_master,
            SetLinkState: self._link_state,
            AddAddress: self._add_address,
            DeleteAddress: self._delete_address,
            AddRoute: self._add_route,
            DeleteRoute: self._delete_route,
        }
        # ... and every op this backend handles (the others run at once, after a flush).
        self._handlers: dict[type, Callable[[Op], Optional[Op]]] = {
            CreateNamespace: self._create_namespace,
            DeleteNamespace: self._delete_namespace,
            SetSysctl: self._sysctl,
            CreateTap: self._create_tap,
            SetMtu: self._set_mtu,
            **{kind: self._single for kind in self._queued},
        }
        self._fd_budget = _session_fds(_raise_fd_limit())
        self._ns_fds = 0  # namespace fds the sessions hold (each session also holds its socket)

    def handles(self, op: Op) -> bool:
        """Whether this backend applies ``op``."""
        return type(op) in self._handlers

    def apply(self, op: Op) -> Optional[Op]:
        """Applies one op; returns its inverse, or None if nothing changed."""
        return self._handlers[type(op)](op)

    def apply_batch(self, ops: Sequence[Op]) -> list[Optional[Op]]:
        """Applies ``ops`` in order, netlink messages batched; returns their
        inverses (aligned with ``ops``). On a failure raises BatchFailed
        naming the first op that failed."""
        results: list[Optional[Op]] = [None] * len(ops)
        self._queue.clear()
        self._pending.clear()
        self._results = results
        self._batch_ops = ops
        self._at_creation = _sysctls_at_creation(ops)
        self._mountpoints = netns.make_mountpoints([op.netns for op in ops if isinstance(op, CreateNamespace)])
        position = sysctls_done = 0
        try:
            try:
                for position, op in enumerate(ops):
                    self._batch_index = position
                    queued = self._queued.get(type(op))
                    if queued is not None:
                        queued(op)  # queues a message (the ACK decides), or finds nothing to do
                        continue
                    self._flush()
                    if isinstance(op, SetSysctl):
                        if sysctls_done > position or position in self._done_at_creation:
                            continue
                        sysctls_done = self._sysctl_run(ops, position, results)
                        continue
                    results[position] = self._handlers[type(op)](op)
                self._flush()
            except _Failed:
                raise
            except Exception as exc:  # noqa: BLE001 — raised while preparing op `position`
                self._flush()  # what was sent before it: applied or failed first?
                raise _Failed(position, exc) from exc
        except _Failed as failed:
            self._after_failure()
            raise BatchFailed(failed.index, failed.cause, results) from failed.cause
        finally:
            self._results = None
            self._batch_ops = ()
            self._at_creation = {}
            self._done_at_creation.clear()
            self._mountpoints = []
        return results

    def close(self) -> None:
        """Closes every netlink socket."""
        for space in self._spaces.values():
            space.close()
        self._spaces.clear()
        self._recent.clear()

    def forget(self, name: str) -> None:
        """Another backend (Open vSwitch) made links in namespace ``name``:
        re-read its links on next use, and from then on let the kernel pick
        the indexes of devices made there (OVS may add ports at any time)."""
        space = self._spaces.get(name)
        if space is not None:
            space.forget()
            space.auto_index = True
        self._fresh.discard(name)

    def space(self, name: str) -> Namespace:
        """The (cached) netlink session of namespace ``name``."""
        space = self._spaces.get(name)
        if space is None:
            space = self._spaces[name] = Namespace(name, fresh=name in self._fresh)
            space.before_request, space.fd_count = self._flush, self._count_fd
        self._used(name)
        return space

    def _count_fd(self, delta: int) -> None:
        self._ns_fds += delta

    def _used(self, name: str) -> None:
        """Marks ``name``'s session as in use (its socket counts as open); past
        ``_fd_budget`` descriptors, sends what is queued and releases the least
        recently used sessions down to half the budget."""
        if name in self._recent:
            self._recent.move_to_end(name)
            return
        self._recent[name] = None
        if len(self._recent) + self._ns_fds <= self._fd_budget:
            return
        self._flush()  # no queued message may still name a descriptor we close
        while self._recent and len(self._recent) + self._ns_fds > self._fd_budget // 2:
            oldest, _ = self._recent.popitem(last=False)
            self._spaces[oldest].release()

    # -- the queue --------------------------------------------------------
    def _single(self, op: Op) -> Optional[Op]:
        """One queued op on its own (``apply``): send, wait, map the result."""
        try:
            return self.apply_batch([op])[0]
        except BatchFailed as failed:
            raise failed.cause from None

    def _send(self, space: Namespace, msg_type: int, flags: int, body: bytes, inverse: Optional[Op], op: Op) -> None:
        seq = _next_seq()
        self._queue.append((space, seq, _HDR.pack(16 + len(body), msg_type, flags | NLM_F_REQUEST | NLM_F_ACK, seq, 0)
                            + body))
        self._pending[seq] = _Pending(self._batch_index, op, inverse)

    def _flush(self) -> None:
        """Sends the queue (runs of one namespace in one send), reads every
        ACK and fills the batch's results; raises _Failed for the first error."""
        queue, self._queue = self._queue, []
        if not queue:
            return
        results = self._results
        assert results is not None
        first: Optional[_Failed] = None
        i = 0
        while i < len(queue):
            space = queue[i][0]
            j = i
            while j < len(queue) and j - i < CHUNK and queue[j][0] is space:
                j += 1
            space.sock.send(b"".join(message for _, _, message in queue[i:j]))
            waiting = {seq for _, seq, _ in queue[i:j]}
            while waiting:
                data = space.sock.recv(RECV_SIZE)
                for kind, seq, start, end in nlmsg.walk(data):
                    if kind == NLMSG_ERROR and seq in waiting:
                        waiting.discard(seq)
                        code, message = _parse_error(data[start:end])
                        pending = self._pending.pop(seq)
                        if code == 0:
                            results[pending.index] = pending.inverse
                        elif code not in _ALREADY.get(pending.op.name, ()):
                            if first is None or pending.index < first.index:
                                first = _Failed(pending.index, NetlinkError(code, message))
            i = j
            if first is not None:
                break  # the rest of the queue is not sent
        self._pending.clear()
        if first is not None:
            raise first

    def _after_failure(self) -> None:
        netns.remove_unpinned(self._mountpoints)  # made for namespaces the failure left unmade
        self._queue.clear()
        self._pending.clear()
        for space in self._spaces.values():
            space.forget()
        self._fresh.clear()

    # -- namespaces -------------------------------------------------------
    def _create_namespace(self, op: CreateNamespace) -> Optional[Op]:
        """Makes the namespace; while the thread is inside it, opens its netlink
        socket and writes the sysctls the batch sets there right after (see
        :func:`_sysctls_at_creation`): no setns and no descriptor later."""
        made: list[socket.socket] = []
        failed: list[tuple[int, BaseException]] = []

        def inside() -> None:
            made.append(_netlink_socket())
            for position in self._at_creation.get(op.netns, ()):
                try:
                    self._set_result(position, _ensure_sysctl(self._batch_ops[position]))
                except Exception as exc:  # noqa: BLE001 — reported as that sysctl's failure below
                    failed.append((position, exc))
                    return
                self._done_at_creation.add(position)

        if not netns.create(op.netns, inside=inside):
            return None
        self._fresh.add(op.netns)
        stale = self._spaces.pop(op.netns, None)
        if stale is not None:
            stale.close()
        space = self._spaces[op.netns] = Namespace(op.netns, fresh=True, sock=made[0])
        space.before_request, space.fd_count = self._flush, self._count_fd
        self._used(op.netns)
        if failed:
            self._set_result(self._batch_index, DeleteNamespace(op.netns))
            raise _Failed(*failed[0])
        return DeleteNamespace(op.netns)

    def _set_result(self, position: int, inverse: Optional[Op]) -> None:
        if self._results is not None:
            self._results[position] = inverse

    def _delete_namespace(self, op: DeleteNamespace) -> Optional[Op]:
        space = self._spaces.pop(op.netns, None)
        self._recent.pop(op.netns, None)
        if space is not None:
            space.close()
        self._fresh.discard(op.netns)
        return CreateNamespace(op.netns) if netns.delete(op.netns) else None

    def _sysctl_run(self, ops: Sequence[Op], start: int, results: list[Optional[Op]]) -> int:
        """Applies the consecutive SetSysctl ops from ``start``, entering each
        namespace once (by a kept fd) and each file with one open; returns
        where the run ends. Raises _Failed naming the op that failed."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        inside: Optional[str] = None
        end = start
        try:
            while end < len(ops) and isinstance(ops[end], SetSysctl):
                op = ops[end]
                if end in self._done_at_creation:
                    end += 1
                    continue
                try:
                    if op.netns != inside:
                        netns.setns(self.space(op.netns).ns_fd())
                        inside = op.netns
                    results[end] = _ensure_sysctl(op)
                except Exception as exc:  # noqa: BLE001
                    raise _Failed(end, exc) from exc
                end += 1
        finally:
            if inside is not None:
                netns.setns(own)
            os.close(own)
        return end

    def _sysctl(self, op: SetSysctl) -> Optional[Op]:
        with netns.entered(op.netns):
            old = netns.read_sysctl(op.key)
            if old == op.value:
                return None
            netns.write_sysctl(op.key, op.value)
        return SetSysctl(op.netns, key=op.key, value=old)

    # -- devices ----------------------------------------------------------
    def _create_veth(self, op: CreateVeth) -> object:
        space, peer = self.space(op.netns), self.space(op.peer_netns)
        if op.ifname in space.links:
            return None
        peer.links  # noqa: B018 — known (dumped) before an index is picked there
        index, peer_index = space.new_index(), peer.new_index()
        if not (index and peer_index):
            index = peer_index = 0  # the kernel uses a peer index only with an own index
        peer_attrs = _attr(IFLA_IFNAME, _name(op.peer_ifname)) + _attr(IFLA_NET_NS_FD, _U32.pack(peer.ns_fd()))
        attrs = _attr(IFLA_IFNAME, _name(op.ifname))
        if op.mtu:
            peer_attrs += _attr(IFLA_MTU, _U32.pack(op.mtu))
            attrs += _attr(IFLA_MTU, _U32.pack(op.mtu))
        if op.mac:
            attrs += _attr(IFLA_ADDRESS, _mac(op.mac))
        if op.peer_mac:
            peer_attrs += _attr(IFLA_ADDRESS, _mac(op.peer_mac))
        info = _attr(IFLA_INFO_KIND, b"veth\0") + _attr(
            IFLA_INFO_DATA | NLA_F_NESTED,
            _attr(VETH_INFO_PEER | NLA_F_NESTED, _IFI.pack(0, 0, peer_index, 0, 0) + peer_attrs))
        body = _IFI.pack(0, 0, index, 0, 0) + attrs + _attr(IFLA_LINKINFO | NLA_F_NESTED, info)
        self._send(space, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, DeleteLink(op.netns, ifname=op.ifname), op)
        space.links[op.ifname] = LinkInfo(index or None)
        peer.links[op.peer_ifname] = LinkInfo(peer_index or None)
        return _QUEUED

    def _create_bridge(self, op: CreateBridge) -> object:
        space = self.space(op.netns)
        if op.ifname in space.links:
            return None
        index = space.new_index()
        attrs = _attr(IFLA_IFNAME, _name(op.ifname))
        if op.mtu:
            attrs += _attr(IFLA_MTU, _U32.pack(op.mtu))
        if op.mac:
            attrs += _attr(IFLA_ADDRESS, _mac(op.mac))
        info = _attr(IFLA_INFO_KIND, b"bridge\0") + _attr(
            IFLA_INFO_DATA | NLA_F_NESTED, _attr(IFLA_BR_STP_STATE, _U32.pack(0)))
        body = _IFI.pack(0, 0, index, 0, 0) + attrs + _attr(IFLA_LINKINFO | NLA_F_NESTED, info)
        self._send(space, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, DeleteLink(op.netns, ifname=op.ifname), op)
        space.links[op.ifname] = LinkInfo(index or None)
        return _QUEUED

    def _create_macvlan(self, op: CreateMacvlan) -> object:
        space = self.space(op.netns)
        if op.ifname in space.links:
            return None
        index = space.new_index()
        attrs = _attr(IFLA_IFNAME, _name(op.ifname)) + _attr(IFLA_LINK, _U32.pack(space.index(op.parent)))
        if op.mtu:
            attrs += _attr(IFLA_MTU, _U32.pack(op.mtu))
        if op.mac:
            attrs += _attr(IFLA_ADDRESS, _mac(op.mac))
        info = _attr(IFLA_INFO_KIND, b"macvlan\0") + _attr(
            IFLA_INFO_DATA | NLA_F_NESTED, _attr(IFLA_MACVLAN_MODE, _U32.pack(MACVLAN_MODES[op.mode])))
        body = _IFI.pack(0, 0, index, 0, 0) + attrs + _attr(IFLA_LINKINFO | NLA_F_NESTED, info)
        self._send(space, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, op.inverse(), op)
        space.links[op.ifname] = LinkInfo(index or None)
        return _QUEUED

    def _create_tap(self, op: CreateTap) -> Optional[Op]:
        space = self.space(op.netns)
        if op.ifname in space.links:
            return None
        with netns.entered(op.netns):
            tuntap.create_persistent_tap(op.ifname)
        space.links[op.ifname] = LinkInfo(None)
        space._next_index = 0  # the kernel picked the tap's index: let it pick from here on
        attrs = b""
        if op.mtu:
            attrs += _attr(IFLA_MTU, _U32.pack(op.mtu))
        if op.mac:
            attrs += _attr(IFLA_ADDRESS, _mac(op.mac))
        if attrs:
            space.request(RTM_NEWLINK, 0, _IFI.pack(0, 0, space.index(op.ifname), 0, 0) + attrs, _next_seq())
        return DeleteLink(op.netns, ifname=op.ifname)

    def _delete_link(self, op: DeleteLink) -> object:
        space = self.space(op.netns)
        if op.ifname not in space.links:
            return None
        try:
            index = space.index(op.ifname)
        except LookupError:
            del space.links[op.ifname]
            return None
        self._send(space, RTM_DELLINK, 0, _IFI.pack(0, 0, index, 0, 0), None, op)
        del space.links[op.ifname]
        return _QUEUED  # re-creating a deleted device is not an undo we offer

    def _set_mtu(self, op: SetMtu) -> Optional[Op]:
        space = self.space(op.netns)
        index = space.index(op.ifname)  # LookupError if there is no such interface
        replies = space.request(RTM_GETLINK, 0, _IFI.pack(0, 0, index, 0, 0), _next_seq())
        attrs = nlmsg.attributes(replies[0][1], 32)
        previous = _U32.unpack(attrs[IFLA_MTU])[0] if IFLA_MTU in attrs else None
        if previous == op.mtu:
            return None
        space.request(RTM_NEWLINK, 0, _IFI.pack(0, 0, index, 0, 0) + _attr(IFLA_MTU, _U32.pack(op.mtu)), _next_seq())
        return op.inverse(previous)

    # -- ports, state -----------------------------------------------------
    def _set_master(self, op: SetMaster) -> object:
        space = self.space(op.netns)
        info = space.links.get(op.ifname)
        if info is None:
            raise LookupError(f"no interface {op.ifname!r} in namespace {op.netns}")
        want = space.index(op.master) if op.master else None
        if info.master == want:
            return None
        previous = space.name_of(info.master)
        body = _IFI.pack(0, 0, space.index(op.ifname), 0, 0) + _attr(IFLA_MASTER, _U32.pack(want or 0))
        self._send(space, RTM_NEWLINK, 0, body, SetMaster(op.netns, ifname=op.ifname, master=previous), op)
        info.master = want
        return _QUEUED

    def _link_state(self, op: SetLinkState) -> object:
        space = self.space(op.netns)
        info = space.links.get(op.ifname)
        if info is None:
            raise LookupError(f"no interface {op.ifname!r} in namespace {op.netns}")
        if info.up == op.up:
            return None
        body = _IFI.pack(0, 0, space.index(op.ifname), IFF_UP if op.up else 0, IFF_UP)
        self._send(space, RTM_NEWLINK, 0, body, SetLinkState(op.netns, ifname=op.ifname, up=not op.up), op)
        info.up = op.up
        return _QUEUED

    # -- addresses, routes ------------------------------------------------
    def _address_body(self, op: AddAddress | DeleteAddress, add: bool) -> tuple[Namespace, bytes]:
        space = self.space(op.netns)
        iface = ipaddress.ip_interface(op.address)
        packed = iface.ip.packed
        family = socket.AF_INET6 if iface.version == 6 else socket.AF_INET
        flags = IFA_F_NODAD if (iface.version == 6 and add) else 0  # our lab: no duplicate to detect
        body = _IFA.pack(family, iface.network.prefixlen, flags, 0, space.index(op.ifname))
        body += _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed)
        return space, body

    def _add_address(self, op: AddAddress) -> object:
        space, body = self._address_body(op, add=True)
        self._send(space, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body,
                   DeleteAddress(op.netns, ifname=op.ifname, address=op.address), op)
        return _QUEUED

    def _delete_address(self, op: DeleteAddress) -> object:
        try:
            space, body = self._address_body(op, add=False)
        except LookupError:
            return None
        self._send(space, RTM_DELADDR, 0, body, AddAddress(op.netns, ifname=op.ifname, address=op.address), op)
        return _QUEUED

    def _route_body(self, op: AddRoute, add: bool) -> tuple[Namespace, bytes]:
        space = self.space(op.netns)
        family = socket.AF_INET6 if op.family == 6 else socket.AF_INET
        if op.to == "default":
            dst, dst_len = b"", 0
        else:
            network = ipaddress.ip_network(op.to, strict=False)
            dst, dst_len = network.network_address.packed, network.prefixlen
        attrs = _attr(RTA_DST, dst) if dst else b""
        if op.via:
            attrs += _attr(RTA_GATEWAY, ipaddress.ip_address(op.via).packed)
        if op.dev:
            attrs += _attr(RTA_OIF, _U32.pack(space.index(op.dev)))
        # as `ip route add`: a route without a gateway is on-link; `del` matches any scope
        if add:
            scope, protocol = (RT_SCOPE_LINK if (op.dev and not op.via) else RT_SCOPE_UNIVERSE), RTPROT_BOOT
        else:
            scope, protocol = RT_SCOPE_NOWHERE, 0
        body = _RTM.pack(family, dst_len, 0, 0, RT_TABLE_MAIN, protocol, scope, RTN_UNICAST, 0) + attrs
        return space, body

    def _add_route(self, op: AddRoute) -> object:
        space, body = self._route_body(op, add=True)
        self._send(space, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body,
                   DeleteRoute(op.netns, to=op.to, via=op.via, dev=op.dev, family=op.family), op)
        return _QUEUED

    def _delete_route(self, op: DeleteRoute) -> object:
        try:
            space, body = self._route_body(op, add=False)
        except LookupError:
            return None
        self._send(space, RTM_DELROUTE, 0, body,
                   AddRoute(op.netns, to=op.to, via=op.via, dev=op.dev, family=op.family), op)
        return _QUEUED


def _sysctls_at_creation(ops: Sequence[Op]) -> dict[str, list[int]]:
    """Positions of the SetSysctl ops that may run while their namespace is
    being made, by namespace: those of namespaces this batch creates, up to
    the first op that is neither a creation nor a sysctl (a compiled plan
    sets every sysctl right after making every namespace, before any device
    exists, so nothing between creation and sysctl sees the difference)."""
    created: set[str] = set()
    early: dict[str, list[int]] = {}
    for position, op in enumerate(ops):
        if isinstance(op, CreateNamespace):
            created.add(op.netns)
        elif not isinstance(op, SetSysctl):
            break
        elif op.netns in created:
            early.setdefault(op.netns, []).append(position)
    return early


def _ensure_sysctl(op: SetSysctl) -> Optional[SetSysctl]:
    """Sets one sysctl of the calling thread's namespace; the inverse, or None."""
    fd = procsys.open_sysctl(op.key, os.O_RDWR)
    try:
        old = os.pread(fd, 4096, 0).decode().strip()
        if old == op.value:
            return None
        os.pwrite(fd, op.value.encode(), 0)
    finally:
        os.close(fd)
    return SetSysctl(op.netns, key=op.key, value=old)


_QUEUED = object()  # a queued handler's answer: the ACK decides the inverse


class _Failed(Exception):
    def __init__(self, index: int, cause: BaseException):
        super().__init__(str(cause))
        self.index, self.cause = index, cause


def _raise_fd_limit() -> int:
    """Raises the descriptor limit so MAX_SESSION_FDS fit (more than the usual
    1,024); returns the limit now in force. The soft limit goes up to the hard
    one; with CAP_SYS_RESOURCE the hard one too, up to the kernel's
    fs.nr_open — this process's own limit, nothing host-wide."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = FD_RESERVE + MAX_SESSION_FDS
    if hard != resource.RLIM_INFINITY and hard < want and os.geteuid() == 0:
        try:
            with open("/proc/sys/fs/nr_open") as handle:
                ceiling = int(handle.read())
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, ceiling),) * 2)
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        except (OSError, ValueError):
            pass  # keep the hard limit we were given
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return 1 << 30 if soft == resource.RLIM_INFINITY else soft


def _session_fds(limit: int) -> int:
    """How many descriptors the namespace sessions may hold under ``limit``."""
    return max(32, min(MAX_SESSION_FDS, limit - FD_RESERVE))
