"""Batched apply (a backend with apply_batch), the neighbour-table estimate,
and the netlink messages the kernel backend packs — no kernel needed."""

from __future__ import annotations

import os
import struct

import pytest

from vnetlab.compile import compile_lab
from vnetlab.executors import kernel
from vnetlab.host import neigh, nlmsg, state
from vnetlab.model.neighbours import estimate
from vnetlab.executors.apply import ApplyError, BatchFailed, apply_plan
from vnetlab.executors.fake import FakeBackend, InjectedFailure
from vnetlab.model import load_lab, load_lab_text

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "proxmox-tap.yaml")


class BatchingFake(FakeBackend):
    """The fake backend, applying runs of ops through apply_batch; op number
    ``fail_in_batch`` (1-based, over all ops) fails inside a batch, after
    the ops that follow it in the same batch took effect (as netlink does)."""

    def __init__(self, fail_in_batch=None):
        super().__init__()
        self.fail_in_batch = fail_in_batch
        self.batches: list[int] = []
        self.seen = 0

    def apply_batch(self, ops):
        self.batches.append(len(ops))
        inverses, failed = [], None
        for k, op in enumerate(ops):
            self.seen += 1
            if self.seen == self.fail_in_batch:
                failed = k
                inverses.append(None)
                continue
            try:
                inverses.append(FakeBackend.apply(self, op))
            except KeyError:  # depends on what failed: fails too, as in the kernel
                if failed is None:
                    raise
                inverses.append(None)
        if failed is not None:
            raise BatchFailed(failed, InjectedFailure("injected"), inverses)
        return inverses


@pytest.fixture
def plan():
    return compile_lab(load_lab(EXAMPLE))


def test_batched_apply_matches_one_at_a_time(plan):
    one, many = FakeBackend(), BatchingFake()
    first, batched = apply_plan(plan, [one]), apply_plan(plan, [many])
    assert batched.changed == first.changed and batched.unchanged == first.unchanged
    assert many.batches == [len(plan.ops)]  # one backend: one batch
    assert {k: vars(v) for k, v in many.spaces.items()} == {k: vars(v) for k, v in one.spaces.items()}
    again = apply_plan(plan, [many])
    assert again.changed == [] and again.unchanged == len(plan.ops)


@pytest.mark.parametrize("fail", [1, 5, 12, -1])
def test_failure_inside_a_batch_names_the_op_and_undoes_everything(plan, fail):
    fail = len(plan.ops) if fail == -1 else fail
    backend = BatchingFake(fail_in_batch=fail)
    with pytest.raises(ApplyError) as info:
        apply_plan(plan, [backend])
    assert info.value.step == fail and info.value.op == plan.ops[fail - 1]
    assert backend.spaces == {}  # also the ops after the failing one were undone


def test_namespaces_of_a_batch_are_journaled_before_it(plan):
    entries = []

    class Recorder:
        def record(self, kind, **data):
            entries.append((kind, data, dict(backend.spaces)))

    backend = BatchingFake()
    apply_plan(plan, [backend], Recorder())
    journaled = [(data["name"], spaces) for kind, data, spaces in entries if kind == "netns"]
    assert [name for name, _ in journaled] == plan.namespaces()
    assert all(name not in spaces for name, spaces in journaled)


def _star(n, checks):
    text = "lab: st\nnodes:\n" + "".join(
        f"  h{i}: {{interfaces: {{eth0: {{address: 10.0.{i // 200}.{i % 200 + 1}/16}}}}}}\n" for i in range(1, n + 1))
    text += "  sw: {kind: switch}\nlinks:\n" + "".join(f"  - [h{i}:eth0, sw:p{i}]\n" for i in range(1, n + 1))
    return text + "checks:\n" + "".join(f"  - {c}\n" for c in checks)


def test_neighbour_estimate_counts_entries_per_namespace_and_address():
    ring = load_lab_text(_star(6, [f"{{from: h{i}, to: h{i % 6 + 1}}}" for i in range(1, 7)]), "x.yaml")
    assert estimate(ring) == {4: 12}  # each ping: one entry at each end
    same = load_lab_text(_star(3, ["{from: h1, to: h2}"] * 3 + ["{from: h2, to: h1}"]), "x.yaml")
    assert estimate(same) == {4: 2}  # repeats and the reverse direction add nothing


def test_warning_names_the_sysctl_and_the_flag(monkeypatch):
    spec = load_lab_text(_star(6, [f"{{from: h{i}, to: h{i % 6 + 1}}}" for i in range(1, 7)]), "x.yaml")
    monkeypatch.setattr(neigh, "read_limits", lambda family: {"gc_thresh1": 2, "gc_thresh2": 4, "gc_thresh3": 8})
    monkeypatch.setattr(neigh, "entries_in_use", lambda family: 1)
    (line,) = neigh.warnings(spec)
    assert "about 12 ARP" in line and "net.ipv4.neigh.default.gc_thresh3=8" in line
    assert "--raise-neigh-limit" in line
    assert neigh.wanted(spec)[4]["gc_thresh3"] >= 2 * 13
    monkeypatch.setattr(neigh, "entries_in_use", lambda family: 0)
    monkeypatch.setattr(neigh, "read_limits", lambda family: {"gc_thresh1": 2, "gc_thresh2": 4, "gc_thresh3": 12})
    assert neigh.warnings(spec) == []


def test_veth_message_carries_both_indexes_and_the_peer_namespace():
    info = kernel._attr(kernel.IFLA_INFO_KIND, b"veth\0")
    assert struct.unpack_from("=HH", info) == (9, kernel.IFLA_INFO_KIND) and len(info) == 12
    body = kernel._IFI.pack(0, 0, 7, 0, 0) + kernel._attr(kernel.IFLA_IFNAME, b"eth0\0")
    attrs = nlmsg.attributes(body, 16)
    assert attrs == {kernel.IFLA_IFNAME: b"eth0\0"}
    assert kernel._IFI.unpack_from(body)[2] == 7


def test_error_reply_is_mapped_to_errno_and_message():
    orig = kernel._HDR.pack(40, kernel.RTM_NEWLINK, 5, 99, 0)
    attr = kernel._attr(kernel.NLMSGERR_ATTR_MSG, b"Device busy\0")
    payload = struct.pack("=i", -16) + orig + attr
    msg = kernel._HDR.pack(16 + len(payload), kernel.NLMSG_ERROR, 0x100 | kernel.NLM_F_ACK_TLVS, 99, 0) + payload
    assert kernel._parse_error(msg) == (16, "Device busy")


def test_room_for_a_probe_grows_the_limits_to_twice_what_it_needs(monkeypatch):
    monkeypatch.setattr(neigh, "read_limits", lambda family: {"gc_thresh1": 128, "gc_thresh2": 512, "gc_thresh3": 1024})
    monkeypatch.setattr(neigh, "entries_in_use", lambda family: 100)
    # a full mesh of 50 hosts on one segment: 2,450 entries, 100 in use -> room for 5,100 -> 8,192
    assert neigh.wanted_for({4: 2450}) == {4: {"gc_thresh1": 1024, "gc_thresh2": 4096, "gc_thresh3": 8192}}
    assert neigh.wanted_for({4: 2}) == {}  # a scan's two entries fit: nothing to raise


def test_make_room_refuses_a_lab_that_is_not_up(monkeypatch, tmp_path):
    monkeypatch.setattr(state, "RUN_ROOT", str(tmp_path))
    with pytest.raises(LookupError, match="not up"):
        neigh.make_room("nosuch", {4: 5000})
    assert not (tmp_path / "nosuch").exists()



class _Session:
    def __init__(self):
        self.released = 0

    def release(self):
        self.released += 1


def test_sessions_past_the_budget_are_released_least_recently_used_first():
    backend = kernel.KernelBackend()
    backend._fd_budget = 9  # 8 sockets and the one namespace fd below
    backend._ns_fds = 1
    backend._spaces = {f"n{i}": _Session() for i in range(9)}
    for i in range(8):
        backend._used(f"n{i}")
    backend._used("n0")  # n0 is the most recent again
    assert not any(s.released for s in backend._spaces.values())
    backend._used("n8")  # one descriptor too many: back to half the budget (4), oldest first
    released = sorted(name for name, s in backend._spaces.items() if s.released)
    assert released == ["n1", "n2", "n3", "n4", "n5", "n6"]
    assert list(backend._recent) == ["n7", "n0", "n8"]  # 3 sockets + the namespace fd


def test_session_descriptors_follow_the_descriptor_limit():
    assert kernel._session_fds(1024) == 32  # a tiny limit still works, reopening often
    assert kernel._session_fds(20000) == 20000 - kernel.FD_RESERVE
    assert kernel._session_fds(1 << 30) == kernel.MAX_SESSION_FDS


def test_only_sysctls_right_after_the_creations_are_written_at_creation():
    from vnetlab.plan import CreateNamespace, SetLinkState, SetSysctl

    ops = [CreateNamespace("a"), CreateNamespace("b"), SetSysctl("a", key="k", value="1"),
           SetSysctl("c", key="k", value="1"), SetSysctl("b", key="k", value="1"),
           SetLinkState("a", ifname="lo"), SetSysctl("a", key="j", value="1")]
    # c is not made by this batch; the sysctl after the link op must wait its turn
    assert kernel._sysctls_at_creation(ops) == {"a": [2], "b": [4]}
