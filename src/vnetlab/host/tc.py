"""Traffic control over rtnetlink: the qdiscs and the filter of a link impairment.

What ``tc`` does for vnetlab's impairments, packed here with ``struct`` and
sent on a namespace's raw netlink socket (:class:`vnetlab.host.rtnetlink.Namespace`,
opened inside the namespace), never by running ``tc``:

* a root ``netem`` qdisc (delay, jitter with its distribution table,
  loss, duplication, corruption, reordering, rate, queue limit) or ``tbf``
  (a rate and a queue) — replaced in place, so the interface, its index and
  its connections stay;
* ``clsact`` with one egress filter whose action is ``mirred egress
  redirect`` into another device (vnetlab's userspace path: what an
  interface sends goes into a TAP the lab supervisor reads) — a classic-BPF
  ``cls_bpf`` filter that matches every frame but those the supervisor sends
  back marked (:func:`vnetlab.model.impairment.redirect_program`; this
  kernel's u32 cannot match a mark);
* reading them back (:func:`read`): the root qdisc of every interface, with
  netem's and tbf's parameters decoded, and where each interface's egress is
  redirected — what drift compares with the plan.

The messages follow iproute2's (``tc/q_netem.c``, ``q_tbf.c``, ``f_bpf.c``,
``f_u32.c``, ``m_mirred.c``); the kernel's answers are the ``NetlinkError`` of
:mod:`vnetlab.host.rtnetlink`.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from dataclasses import dataclass, field
from typing import Optional

from vnetlab.errors import EnvironmentProblem
from vnetlab.host import nlmsg
from vnetlab.host.rtnetlink import (
    NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, Namespace, NetlinkError, _attr, _next_seq,
)
from vnetlab.model.impairment import REDIRECT_MARK, Impairment, TBF_LATENCY_US, redirect_program, tbf_burst

RTM_NEWQDISC, RTM_DELQDISC, RTM_GETQDISC = 36, 37, 38
RTM_NEWTFILTER, RTM_DELTFILTER, RTM_GETTFILTER = 44, 45, 46
NLM_F_REPLACE = 0x100
TCA_KIND, TCA_OPTIONS = 1, 2

TC_H_ROOT = 0xFFFFFFFF
TC_H_CLSACT = 0xFFFFFFF1     # == TC_H_INGRESS
CLSACT_HANDLE = 0xFFFF0000   # TC_H_MAKE(TC_H_CLSACT, 0)
EGRESS = 0xFFFFFFF3          # TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS): clsact's egress hook
ETH_P_ALL = 0x0003
PRIO = 1                     # the redirect filter's priority

# tbf (linux/pkt_sched.h)
TCA_TBF_PARMS, TCA_TBF_RATE64, TCA_TBF_BURST = 1, 4, 6
LINKLAYER_ETHERNET = 1
_RATESPEC = struct.Struct("=BBHhHI")  # cell_log, linklayer, overhead, cell_align, mpu, rate (bytes/s)
_TBF_QOPT = struct.Struct("=BBHhHI BBHhHI III".replace(" ", ""))  # rate, peakrate, limit, buffer, mtu

# netem
TCA_NETEM_CORR, TCA_NETEM_DELAY_DIST, TCA_NETEM_REORDER, TCA_NETEM_CORRUPT = 1, 2, 3, 4
TCA_NETEM_RATE, TCA_NETEM_RATE64, TCA_NETEM_LATENCY64, TCA_NETEM_JITTER64 = 6, 8, 10, 11
_NETEM_QOPT = struct.Struct("=IIIIII")  # latency, limit, loss, gap, duplicate, jitter (ticks, probabilities)
NETEM_LIMIT = 1000  # tc's default queue length (packets)
DIST_DIRS = ("/usr/lib/x86_64-linux-gnu/tc", "/usr/lib/aarch64-linux-gnu/tc", "/usr/lib/tc", "/usr/lib64/tc",
             "/usr/share/tc")

# cls_bpf (classic BPF), u32, mirred
TCA_BPF_ACT, TCA_BPF_OPS_LEN, TCA_BPF_OPS = 1, 4, 5
_SOCK_FILTER = struct.Struct("=HBBI")   # code, jt, jf, k
TCA_U32_SEL, TCA_U32_ACT = 5, 7
TC_U32_TERMINAL = 1
_U32_SEL = struct.Struct("=BBBxHHhhI")  # flags, offshift, nkeys, offmask, off, offoff, hoff, hmask
_U32_KEY = struct.Struct("=IIii")       # mask, val, off, offmask
TCA_ACT_KIND, TCA_ACT_OPTIONS = 1, 2
TCA_MIRRED_PARMS = 2
_MIRRED = struct.Struct("=IIiiiiI")     # index, capab, action, refcnt, bindcnt, eaction, ifindex
TC_ACT_STOLEN = 4
TCA_EGRESS_REDIR = 1

_TCM = struct.Struct("=BBHiIII")  # tcmsg: family, pad, pad, ifindex, handle, parent, info
_U32 = struct.Struct("=I")
_U64 = struct.Struct("=Q")

U32_MAX = 0xFFFFFFFF


def _ticks_per_usec() -> float:
    """The kernel's packet-scheduler clock (``/proc/net/psched``), as tc reads it."""
    try:
        with open("/proc/net/psched") as handle:
            t2us, us2t, clock_res, _ = (int(word, 16) for word in handle.read().split()[:4])
        return t2us / us2t * (clock_res / 1_000_000)
    except (OSError, ValueError, ZeroDivisionError):
        return 15.625  # PSCHED_SHIFT 6: a tick is 64 ns


TICKS_PER_USEC = _ticks_per_usec()


def _probability(percent: Optional[float]) -> int:
    """A share in percent as the kernel's u32 probability (100% -> 2^32-1)."""
    return 0 if not percent else min(U32_MAX, round(percent / 100 * U32_MAX))


def _percent(value: int) -> float:
    return round(value / U32_MAX * 100, 4)


# -- what the kernel should hold ------------------------------------------------
def tbf_params(impairment: Impairment) -> dict:
    """The tbf parameters for an impairment's rate (and queue length): bytes/s,
    bucket bytes, queue bytes — as ``tc qdisc … tbf`` with :func:`tbf_args`."""
    assert impairment.rate is not None
    rate = impairment.rate // 8
    burst = tbf_burst(impairment.rate)
    if impairment.limit is not None:
        limit = impairment.limit * 1514
    else:
        limit = int(rate * TBF_LATENCY_US / 1_000_000 + burst)
    return {"rate": rate, "burst": burst, "limit": limit}


def netem_params(impairment: Impairment) -> dict:
    """The netem parameters of an impairment, as the kernel reports them back:
    times in ns, probabilities as u32, rate in bytes/s."""
    i = impairment
    return {
        "latency": (i.delay or 0) * 1000, "jitter": (i.jitter or 0) * 1000 if i.delay else 0,
        "limit": i.limit or NETEM_LIMIT, "loss": _probability(i.loss), "duplicate": _probability(i.duplicate),
        "loss_corr": _probability(i.loss_correlation), "corrupt": _probability(i.corrupt),
        "reorder": _probability(i.reorder), "rate": (i.rate or 0) // 8,
    }


def tbf_options(impairment: Impairment) -> bytes:
    """TCA_OPTIONS of a tbf qdisc for ``impairment``'s rate."""
    p = tbf_params(impairment)
    rate32 = min(p["rate"], U32_MAX)
    buffer = min(U32_MAX, int(TICKS_PER_USEC * 1_000_000 * p["burst"] / p["rate"]))
    qopt = _RATESPEC.pack(0, LINKLAYER_ETHERNET, 0, 0, 0, rate32) + _RATESPEC.pack(0, 0, 0, 0, 0, 0) \
        + struct.pack("=III", p["limit"], buffer, 0)
    options = _attr(TCA_TBF_PARMS, qopt) + _attr(TCA_TBF_BURST, _U32.pack(p["burst"]))
    if p["rate"] > U32_MAX:
        options += _attr(TCA_TBF_RATE64, _U64.pack(p["rate"]))
    return options


def distribution_table(name: str) -> bytes:
    """iproute2's delay distribution table ``NAME.dist`` (s16 values), packed.

    Raises:
        EnvironmentProblem: iproute2's tables are not installed.
    """
    for folder in DIST_DIRS:
        path = os.path.join(folder, f"{name}.dist")
        try:
            with open(path) as handle:
                text = handle.read()
        except FileNotFoundError:
            continue
        values = [int(word) for line in text.splitlines() if not line.lstrip().startswith("#")
                  for word in line.split()]
        return struct.pack(f"={len(values)}h", *values)
    raise EnvironmentProblem(
        f"netem's delay distribution {name!r} needs iproute2's table {name}.dist (looked in "
        f"{', '.join(DIST_DIRS)}) — install iproute2 (apt install iproute2), or leave distribution out")


def netem_options(impairment: Impairment) -> bytes:
    """TCA_OPTIONS of a netem qdisc for ``impairment`` (a tc_netem_qopt, then
    netem's nested attributes, as iproute2 sends them)."""
    i, p = impairment, netem_params(impairment)
    latency_ticks = min(U32_MAX, int(p["latency"] / 1000 * TICKS_PER_USEC))
    jitter_ticks = min(U32_MAX, int(p["jitter"] / 1000 * TICKS_PER_USEC))
    gap = 1 if i.reorder else 0  # tc: reordering sends every gap-th frame at once; 1 when not given
    body = _NETEM_QOPT.pack(latency_ticks, p["limit"], p["loss"], gap, p["duplicate"], jitter_ticks)
    body += _attr(TCA_NETEM_LATENCY64, struct.pack("=q", p["latency"]))
    body += _attr(TCA_NETEM_JITTER64, struct.pack("=q", p["jitter"]))
    if p["loss_corr"]:
        body += _attr(TCA_NETEM_CORR, struct.pack("=III", 0, p["loss_corr"], 0))
    if p["reorder"]:
        body += _attr(TCA_NETEM_REORDER, struct.pack("=II", p["reorder"], 0))
    if p["corrupt"]:
        body += _attr(TCA_NETEM_CORRUPT, struct.pack("=II", p["corrupt"], 0))
    if p["rate"]:
        body += _attr(TCA_NETEM_RATE, struct.pack("=IiIi", min(p["rate"], U32_MAX), 0, 0, 0))
        if p["rate"] > U32_MAX:
            body += _attr(TCA_NETEM_RATE64, _U64.pack(p["rate"]))
    if i.distribution and i.jitter and i.distribution != "uniform":
        body += _attr(TCA_NETEM_DELAY_DIST, distribution_table(i.distribution))
    return body


def parse_tbf(options: bytes) -> dict:
    """A tbf qdisc's TCA_OPTIONS -> {"rate": bytes/s, "burst": bytes, "limit": bytes}."""
    attrs = nlmsg.attributes(options, 0)
    raw = attrs.get(TCA_TBF_PARMS, b"")
    if len(raw) < _TBF_QOPT.size:
        return {}
    fields = _TBF_QOPT.unpack_from(raw)
    rate, limit, buffer = fields[5], fields[12], fields[13]
    if TCA_TBF_RATE64 in attrs:
        rate = _U64.unpack(attrs[TCA_TBF_RATE64][:8])[0]
    burst = round(buffer / TICKS_PER_USEC / 1_000_000 * rate) if rate else 0
    return {"rate": rate, "burst": burst, "limit": limit}


def parse_netem(options: bytes) -> dict:
    """A netem qdisc's TCA_OPTIONS -> the fields of :func:`netem_params`."""
    if len(options) < _NETEM_QOPT.size:
        return {}
    latency, limit, loss, _gap, duplicate, jitter = _NETEM_QOPT.unpack_from(options)
    attrs = nlmsg.attributes(options, _NETEM_QOPT.size)
    found = {"latency": round(latency / TICKS_PER_USEC * 1000), "jitter": round(jitter / TICKS_PER_USEC * 1000),
             "limit": limit, "loss": loss, "duplicate": duplicate, "loss_corr": 0, "corrupt": 0, "reorder": 0,
             "rate": 0}
    if TCA_NETEM_LATENCY64 in attrs:
        found["latency"] = struct.unpack("=q", attrs[TCA_NETEM_LATENCY64][:8])[0]
    if TCA_NETEM_JITTER64 in attrs:
        found["jitter"] = struct.unpack("=q", attrs[TCA_NETEM_JITTER64][:8])[0]
    if TCA_NETEM_CORR in attrs:
        found["loss_corr"] = struct.unpack_from("=III", attrs[TCA_NETEM_CORR])[1]
    if TCA_NETEM_REORDER in attrs:
        found["reorder"] = struct.unpack_from("=I", attrs[TCA_NETEM_REORDER])[0]
    if TCA_NETEM_CORRUPT in attrs:
        found["corrupt"] = struct.unpack_from("=I", attrs[TCA_NETEM_CORRUPT])[0]
    if TCA_NETEM_RATE in attrs:
        found["rate"] = struct.unpack_from("=I", attrs[TCA_NETEM_RATE])[0]
    if TCA_NETEM_RATE64 in attrs:
        found["rate"] = _U64.unpack(attrs[TCA_NETEM_RATE64][:8])[0]
    return found


def same_tbf(found: dict, wanted: dict) -> bool:
    """Whether a tbf read back holds ``wanted`` (its bucket within 1%: the kernel keeps it as a time)."""
    return bool(found) and found["rate"] == wanted["rate"] and found["limit"] == wanted["limit"] \
        and abs(found["burst"] - wanted["burst"]) <= max(64, wanted["burst"] // 100)


def same_netem(found: dict, wanted: dict) -> bool:
    """Whether a netem read back holds ``wanted`` (times within a clock tick)."""
    if not found:
        return False
    for key, value in wanted.items():
        slack = 64 if key in ("latency", "jitter") else 0
        if abs(found.get(key, 0) - value) > slack:
            return False
    return True


def describe_netem(found: dict) -> str:
    """A netem qdisc read back, as ``tc qdisc show`` words."""
    from vnetlab.model.impairment import format_duration, format_rate

    parts = ["netem"]
    if found.get("limit", NETEM_LIMIT) != NETEM_LIMIT:
        parts.append(f"limit {found['limit']}")
    if found.get("latency"):
        parts.append(f"delay {format_duration(round(found['latency'] / 1000))}")
        if found.get("jitter"):
            parts.append(format_duration(round(found["jitter"] / 1000)))
    for key, word in (("loss", "loss"), ("duplicate", "duplicate"), ("corrupt", "corrupt"), ("reorder", "reorder")):
        if found.get(key):
            parts.append(f"{word} {_percent(found[key]):g}%")
    if found.get("rate"):
        parts.append(f"rate {format_rate(found['rate'] * 8)}")
    return " ".join(parts)


def describe_tbf(found: dict) -> str:
    """A tbf qdisc read back, as ``tc qdisc show`` words."""
    from vnetlab.model.impairment import format_rate

    if not found:
        return "tbf"
    return f"tbf rate {format_rate(found['rate'] * 8)} burst {found['burst']}b limit {found['limit']}b"


# -- requests --------------------------------------------------------------------
def _tcmsg(index: int, handle: int = 0, parent: int = 0, info: int = 0) -> bytes:
    return _TCM.pack(socket.AF_UNSPEC, 0, 0, index, handle, parent, info)


def _kind(name: str) -> bytes:
    return _attr(TCA_KIND, name.encode() + b"\0")


def replace_root(space: Namespace, index: int, kind: str, options: bytes) -> None:
    """``tc qdisc replace dev IF root KIND …``: the same kind is changed in place."""
    body = _tcmsg(index, 0, TC_H_ROOT) + _kind(kind) + _attr(TCA_OPTIONS, options)
    space.request(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, body, _next_seq())


def delete_root(space: Namespace, index: int) -> bool:
    """``tc qdisc del dev IF root``; False when only the default one was there."""
    try:
        space.request(RTM_DELQDISC, 0, _tcmsg(index, 0, TC_H_ROOT), _next_seq())
    except NetlinkError as exc:
        if exc.code in (errno.ENOENT, errno.EINVAL):
            return False
        raise
    return True


def add_clsact(space: Namespace, index: int) -> bool:
    """``tc qdisc add dev IF clsact``; False when it was there."""
    try:
        space.request(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL,
                      _tcmsg(index, CLSACT_HANDLE, TC_H_CLSACT) + _kind("clsact"), _next_seq())
    except NetlinkError as exc:
        if exc.code == errno.EEXIST:
            return False
        raise
    return True


def delete_clsact(space: Namespace, index: int) -> bool:
    """``tc qdisc del dev IF clsact`` (its filters go with it); False when absent."""
    try:
        space.request(RTM_DELQDISC, 0, _tcmsg(index, CLSACT_HANDLE, TC_H_CLSACT), _next_seq())
    except NetlinkError as exc:
        if exc.code in (errno.ENOENT, errno.EINVAL):
            return False
        raise
    return True


def _mirred(target: int) -> bytes:
    """An action list of one ``mirred egress redirect dev TARGET``."""
    mirred = _attr(TCA_MIRRED_PARMS, _MIRRED.pack(0, 0, TC_ACT_STOLEN, 0, 0, TCA_EGRESS_REDIR, target))
    return _attr(1, _attr(TCA_ACT_KIND, b"mirred\0") + _attr(TCA_ACT_OPTIONS, mirred))


def _program(mark: int) -> bytes:
    return b"".join(_SOCK_FILTER.pack(*insn) for insn in redirect_program(mark))


def _redirect_options(target: int, mark: int = REDIRECT_MARK) -> bytes:
    """cls_bpf's options: the program that passes ``mark``, then the redirect."""
    program = _program(mark)
    return (_attr(TCA_BPF_OPS_LEN, struct.pack("=H", len(program) // _SOCK_FILTER.size))
            + _attr(TCA_BPF_OPS, program) + _attr(TCA_BPF_ACT, _mirred(target)))


def redirect_egress(space: Namespace, index: int, target: int) -> None:
    """``tc filter replace dev IF egress protocol all prio 1 bpf bytecode '…' action
    mirred egress redirect dev TARGET`` (IF's clsact must be there): every frame
    but the marked ones goes to TARGET. Any other filter at that priority goes first."""
    info = (PRIO << 16) | socket.htons(ETH_P_ALL)
    try:
        space.request(RTM_DELTFILTER, 0, _tcmsg(index, 0, EGRESS, info), _next_seq())
    except NetlinkError as exc:
        if exc.code not in (errno.ENOENT, errno.EINVAL):
            raise
    body = _tcmsg(index, 0, EGRESS, info) + _kind("bpf") + _attr(TCA_OPTIONS, _redirect_options(target))
    space.request(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, body, _next_seq())


# -- reading back ----------------------------------------------------------------
@dataclass
class Qdiscs:
    """The traffic control of one interface, as read back.

    Attributes:
        root: the root qdisc's kind when one was set (handle not 0: not the
            device's default), else None.
        params: netem's or tbf's parameters (:func:`parse_netem`, :func:`parse_tbf`).
        clsact: whether it has a clsact qdisc.
        redirects: ifindexes its egress filters redirect to (mirred).
        ours: every redirect is vnetlab's (the cls_bpf filter that lets the
            supervisor's marked frames pass); a redirect of another kind would
            send them back into the TAP.
    """

    root: Optional[str] = None
    params: dict = field(default_factory=dict)
    clsact: bool = False
    redirects: tuple[int, ...] = ()
    ours: bool = False

    def text(self, names: dict[int, str]) -> str:
        """What it does, as a person reads it ('tbf rate 1mbit …', 'redirected to eth0-imp', 'none')."""
        parts = []
        if self.root == "netem":
            parts.append(describe_netem(self.params))
        elif self.root == "tbf":
            parts.append(describe_tbf(self.params))
        elif self.root is not None:
            parts.append(f"qdisc {self.root}")
        if self.redirects:
            parts.append("egress redirected to " + ", ".join(names.get(i, str(i)) for i in self.redirects)
                         + ("" if self.ours else " (not by vnetlab's filter)"))
        elif self.clsact:
            parts.append("clsact")
        return "; ".join(parts) or "none"

    @property
    def empty(self) -> bool:
        return self.root is None and not self.clsact


def read(space: Namespace) -> dict[int, Qdiscs]:
    """ifindex -> :class:`Qdiscs` of every interface with a qdisc set (one dump,
    and one filter dump per interface with clsact)."""
    found: dict[int, Qdiscs] = {}
    for kind, msg in space.request(RTM_GETQDISC, NLM_F_DUMP, _tcmsg(0), _next_seq()):
        if kind != RTM_NEWQDISC:
            continue
        _, _, _, index, handle, parent, _ = _TCM.unpack_from(msg, 16)
        attrs = nlmsg.attributes(msg, 16 + _TCM.size)
        name = attrs.get(TCA_KIND, b"").rstrip(b"\0").decode(errors="replace")
        if name == "clsact":
            found.setdefault(index, Qdiscs()).clsact = True
        elif parent == TC_H_ROOT and handle != 0:
            entry = found.setdefault(index, Qdiscs())
            entry.root = name
            options = attrs.get(TCA_OPTIONS, b"")
            entry.params = parse_netem(options) if name == "netem" else parse_tbf(options) if name == "tbf" else {}
    for index, entry in found.items():
        if entry.clsact:
            redirects = egress_redirects(space, index)
            entry.redirects = tuple(target for target, _ in redirects)
            entry.ours = bool(redirects) and all(mine for _, mine in redirects)
    return found


def egress_redirects(space: Namespace, index: int) -> list[tuple[int, bool]]:
    """(target ifindex, whether it is vnetlab's marked-passing cls_bpf filter) of
    each mirred redirect among IF's egress filters."""
    targets: list[tuple[int, bool]] = []
    try:
        replies = space.request(RTM_GETTFILTER, NLM_F_DUMP, _tcmsg(index, 0, EGRESS), _next_seq())
    except OSError:  # NetlinkError, or a dump's error
        return targets
    for kind, msg in replies:
        if kind != RTM_NEWTFILTER:
            continue
        attrs = nlmsg.attributes(msg, 16 + _TCM.size)
        options = attrs.get(TCA_OPTIONS)
        if options is None:
            continue
        name = attrs.get(TCA_KIND, b"").rstrip(b"\0")
        parts = nlmsg.attributes(options, 0)
        actions = parts.get(TCA_BPF_ACT if name == b"bpf" else TCA_U32_ACT)
        mine = name == b"bpf" and parts.get(TCA_BPF_OPS) == _program(REDIRECT_MARK)
        for action in nlmsg.attributes(actions, 0).values() if actions else ():
            parts = nlmsg.attributes(action, 0)
            if parts.get(TCA_ACT_KIND, b"").rstrip(b"\0") != b"mirred":
                continue
            parms = nlmsg.attributes(parts.get(TCA_ACT_OPTIONS, b""), 0).get(TCA_MIRRED_PARMS, b"")
            if len(parms) >= _MIRRED.size:
                fields = _MIRRED.unpack_from(parms)
                if fields[5] == TCA_EGRESS_REDIR:
                    targets.append((fields[6], mine))
    return targets


def tbf_impairment(params: dict, hint: Optional[Impairment] = None) -> Optional[Impairment]:
    """The impairment a tbf read back holds (``hint`` first: the one expected),
    or None when no rate and queue length of ours give those parameters."""
    if not params or not params.get("rate"):
        return None
    rate = params["rate"] * 8
    candidates = [hint] if hint is not None and hint.rate is not None and not hint.needs_netem() else []
    candidates.append(Impairment(rate=rate))
    if params["limit"] % 1514 == 0:
        candidates.append(Impairment(rate=rate, limit=params["limit"] // 1514))
    for candidate in candidates:
        if same_tbf(params, tbf_params(candidate)):
            return candidate
    return None


def netem_impairment(params: dict, hint: Optional[Impairment] = None) -> Optional[Impairment]:
    """The impairment a netem read back holds (``hint`` first: the one expected; a
    distribution is not reported back, so the hint's is kept when the rest is the same)."""
    if not params:
        return None
    if hint is not None and same_netem(params, netem_params(hint)):
        return hint

    def share(key: str) -> Optional[float]:
        return _percent(params[key]) or None

    delay = round(params["latency"] / 1000) or None
    value = Impairment(
        delay=delay, jitter=(round(params["jitter"] / 1000) or None) if delay else None,
        loss=share("loss"), loss_correlation=share("loss_corr") if params["loss"] else None,
        duplicate=share("duplicate"), corrupt=share("corrupt"), reorder=share("reorder") if delay else None,
        rate=params["rate"] * 8 or None, limit=params["limit"] if params["limit"] != NETEM_LIMIT else None)
    return value


def describe_values(values: tuple) -> str:
    """An impairment's sorted (key, value) pairs as a person reads them."""
    return Impairment.from_dict(dict(values)).text() if values else "nothing configured in the supervisor"


def instance_of(inode: Optional[int], index: Optional[int], tap_index: Optional[int]) -> str:
    """Which interface and TAP a userspace end is carried on (the namespace's inode and
    their indexes): another value means one of them was made again (a node's reboot)."""
    return f"{inode}:{index}:{tap_index}"
