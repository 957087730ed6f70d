"""The userspace impairment engine's scheduler: netem's decisions, exactly, with
a clock handed in (nanoseconds) and a seeded RNG."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from vnetlab.agents.impair_engine import (
    DEFAULT_LIMIT, NETEM_DIST_SCALE, Scheduler, distribution_table, percent_u32, tabledist, wants_bulk,
)
from vnetlab.model.impairment import Impairment

MS = 1_000_000  # ns
HEADER = 10


def frame(n: int, size: int = 100) -> bytes:
    """A distinct frame: a zero virtio header, then n as the first bytes of the body."""
    body = n.to_bytes(4, "big") + bytes(size - 4)
    return bytes(HEADER) + body


def departures(impairment: Impairment, count: int, seed: int = 1) -> list[int]:
    """The departure time (ns after its arrival at 0) of each of ``count`` frames
    offered one at a time into an empty queue."""
    s = Scheduler(impairment, seed=seed, header=HEADER)
    times = []
    for n in range(count):
        s.offer(frame(n), 0)
        times.append(s.next_due())
        assert len(s.pop_due(10**15)) == 1
    return times


def offer_and_send(s: Scheduler, data: bytes, now: int = 0) -> int:
    """Offers one frame and sends whatever is due at once (so the queue stays short)."""
    queued = s.offer(data, now)
    s.pop_due(now)
    return queued


def binomial_interval(n: int, p: float, z: float = 3.29) -> tuple[float, float]:
    """The normal approximation's 99.9% interval of a binomial count."""
    sd = math.sqrt(n * p * (1 - p))
    return n * p - z * sd, n * p + z * sd


# ---------------------------------------------------------------- netem's arithmetic


def test_percent_is_tcs_u32_scale():
    assert percent_u32(None) == 0
    assert percent_u32(0) == 0
    assert percent_u32(100) == 0xFFFFFFFF
    assert percent_u32(50) == 2147483648  # rint(0.5 * UINT32_MAX)
    assert percent_u32(1) == 42949673


def test_tabledist_uniform_without_table():
    assert tabledist(20 * MS, 0, 12345, None) == 20 * MS  # no jitter: no draw matters
    assert tabledist(1000, 100, 0, None) == 900  # the bottom of [mu - sigma, mu + sigma)
    assert tabledist(1000, 100, 199, None) == 1099  # the top
    assert tabledist(1000, 100, 200, None) == 900  # rnd % 2 sigma


def test_tabledist_with_a_table_rounds_as_netem():
    table = (NETEM_DIST_SCALE, -NETEM_DIST_SCALE, NETEM_DIST_SCALE // 2)  # +1, -1, +0.5 sigma
    assert tabledist(10_000, 8192, 0, table) == 10_000 + 8192
    assert tabledist(10_000, 8192, 1, table) == 10_000 - 8192
    assert tabledist(10_000, 100, 2, table) == 10_000 + 50
    # sigma % 8192 * t rounds half away from zero, then truncates: 3 * 4096 / 8192 = 1.5 -> 2
    assert tabledist(0, 3, 2, table) == 2
    assert tabledist(0, 3, 1, table) == -3


def test_tables_are_iproute2s():
    normal = distribution_table("normal")
    assert len(normal) == 4096
    assert normal[:3] == (-32768, -28307, -26871)  # the first entries of iproute2's normal.dist
    assert statistics.pstdev(normal) / NETEM_DIST_SCALE == pytest.approx(1.0, abs=0.01)
    pareto = distribution_table("pareto")
    assert min(pareto) == round(-0.5 * 4 / 3 * NETEM_DIST_SCALE)  # its floor: -2/3 sigma
    assert max(pareto) == 32767
    assert distribution_table("uniform") is None and distribution_table(None) is None


# ---------------------------------------------------------------- delay and jitter


def test_delay_is_exact():
    s = Scheduler(Impairment(delay=20_000), seed=1, header=HEADER)
    assert s.offer(frame(1), 5 * MS) == 1
    assert s.next_due() == 25 * MS
    assert s.pop_due(25 * MS - 1) == []
    assert s.pop_due(25 * MS) == [frame(1)]
    assert s.next_due() is None and len(s) == 0
    assert (s.stats.received, s.stats.sent) == (1, 1)


def test_no_impairment_is_passthrough_and_leaves_at_once():
    s = Scheduler(Impairment(), seed=1)
    assert s.passthrough
    s.offer(b"x", 7)
    assert s.next_due() == 7 and s.pop_due(7) == [b"x"]
    assert not Scheduler(Impairment(loss=1.0)).passthrough


@pytest.mark.parametrize("distribution,low,high", [
    (None, -1.0, 1.0),  # netem's default: uniform over [delay - jitter, delay + jitter)
    ("uniform", -1.0, 1.0),
    ("normal", -4.0, 4.0),  # the table is clamped to s16: ±4 sigma
    ("pareto", -2 / 3, 4.0),
    ("paretonormal", -1.5, 4.0),
])
def test_jitter_stays_within_the_distributions_bounds(distribution, low, high):
    delay, jitter = 20 * MS, 5 * MS
    times = departures(Impairment(delay=20_000, jitter=5_000, distribution=distribution), 20_000)
    spread = [(t - delay) / jitter for t in times]
    assert low - 1e-6 <= min(spread) and max(spread) <= high + 1e-6
    assert statistics.fmean(spread) == pytest.approx(0, abs=0.05)  # centred on the delay
    if distribution in (None, "uniform"):
        assert min(spread) < low + 0.01 and max(spread) > high - 0.01  # it fills the interval
        assert statistics.pstdev(spread) == pytest.approx(1 / math.sqrt(3), rel=0.03)
    if distribution == "normal":
        assert statistics.pstdev(spread) == pytest.approx(1.0, rel=0.03)  # jitter is one sigma
        assert sum(abs(x) <= 1 for x in spread) / len(spread) == pytest.approx(0.683, abs=0.015)


def test_jitter_reorders_frames_as_netem_does():
    s = Scheduler(Impairment(delay=20_000, jitter=10_000), seed=3, header=HEADER)
    for n in range(200):
        s.offer(frame(n), n * 100_000)  # one frame every 0.1 ms: far closer than the jitter
    out = s.pop_due(10**12)
    order = [int.from_bytes(f[HEADER:HEADER + 4], "big") for f in out]
    assert sorted(order) == list(range(200)) and order != list(range(200))


# ---------------------------------------------------------------- loss


@pytest.mark.parametrize("percent", [1.0, 10.0, 50.0])
def test_loss_rate_is_inside_the_binomial_interval(percent):
    n = 50_000
    s = Scheduler(Impairment(loss=percent), seed=percent)
    kept = sum(offer_and_send(s, b"f") for _ in range(n))
    low, high = binomial_interval(n, percent / 100)
    assert low <= s.stats.lost <= high
    assert kept + s.stats.lost == n


def test_loss_100_passes_nothing_and_0_everything():
    s = Scheduler(Impairment(loss=100.0), seed=1)
    assert sum(s.offer(b"f", 0) for _ in range(1000)) == 0 and s.stats.lost == 1000
    s = Scheduler(Impairment(loss=0.0), seed=1)
    assert sum(s.offer(b"f", 0) for _ in range(1000)) == 1000


def _loss_pattern(impairment: Impairment, n: int = 100_000) -> list[bool]:
    s = Scheduler(impairment, seed=7)
    return [offer_and_send(s, b"f") == 0 for _ in range(n)]


def test_loss_correlation_makes_losses_come_in_bursts():
    def after_a_loss(lost: list[bool]) -> float:
        follow = [b for a, b in zip(lost, lost[1:]) if a]
        return sum(follow) / len(follow)

    independent = _loss_pattern(Impairment(loss=30.0))
    correlated = _loss_pattern(Impairment(loss=30.0, loss_correlation=75.0))
    share = sum(independent) / len(independent)
    assert after_a_loss(independent) == pytest.approx(share, abs=0.01)  # no memory
    # netem's simple correlation: a loss makes the next far likelier than the average ...
    correlated_share = sum(correlated) / len(correlated)
    assert after_a_loss(correlated) > 5 * correlated_share
    # ... and, its known flaw (tc-netem(8) warns of it), averaging the draws lowers the
    # loss rate itself: 30% with 75% correlation loses about 3%
    assert correlated_share < share / 4


# ---------------------------------------------------------------- duplicate, corrupt


def test_duplicates_are_counted_and_both_copies_leave():
    n = 50_000
    s = Scheduler(Impairment(duplicate=10.0), seed=5)
    queued = sum(offer_and_send(s, b"f") for _ in range(n))
    low, high = binomial_interval(n, 0.10)
    assert low <= s.stats.duplicated <= high
    assert queued == n + s.stats.duplicated == s.stats.sent


def test_a_duplicate_takes_its_own_loss_decision():
    # 50% duplicate, 50% loss, as netem counts: 1 + duplicated - lost copies. Only a
    # duplicated frame not lost makes a clone, and the clone is lost again with 50%:
    # 2 copies (1/8), 1 (1/8 + 1/4 + 1/4), 0 (1/4); 0.875 on average.
    s = Scheduler(Impairment(duplicate=50.0, loss=50.0), seed=11)
    per_frame = [offer_and_send(s, b"f") for _ in range(20_000)]
    assert set(per_frame) == {0, 1, 2}
    assert statistics.fmean(per_frame) == pytest.approx(0.875, abs=0.02)
    assert per_frame.count(2) / len(per_frame) == pytest.approx(0.125, abs=0.01)


def test_corrupt_flips_exactly_one_bit_after_the_header():
    header = bytes([2]) + bytes(HEADER - 1)  # DATA_VALID set by the TAP
    original = header + bytes(range(256)) * 6
    s = Scheduler(Impairment(corrupt=100.0), seed=2, header=HEADER)
    flipped_positions = set()
    for _ in range(2000):
        s.offer(original, 0)
        (out,) = s.pop_due(0)
        assert len(out) == len(original)
        assert out[0] == 0 and out[1:HEADER] == original[1:HEADER]  # DATA_VALID cleared: the receiver checks
        diff = [i for i in range(HEADER, len(out)) if out[i] != original[i]]
        assert len(diff) == 1
        assert bin(out[diff[0]] ^ original[diff[0]]).count("1") == 1
        flipped_positions.add(diff[0])
    assert s.stats.corrupted == 2000
    assert min(flipped_positions) < HEADER + 50 and max(flipped_positions) > len(original) - 50  # anywhere


def test_corrupt_share():
    n = 20_000
    s = Scheduler(Impairment(corrupt=5.0), seed=9)
    out = []
    for _ in range(n):
        s.offer(b"\x00" * 64, 0)
        out += s.pop_due(0)
    low, high = binomial_interval(n, 0.05)
    assert low <= sum(f != b"\x00" * 64 for f in out) == s.stats.corrupted <= high


# ---------------------------------------------------------------- reorder


def test_reorder_sends_its_share_at_once_and_delays_the_rest():
    n = 20_000
    s = Scheduler(Impairment(delay=10_000, reorder=25.0, limit=n), seed=4, header=HEADER)
    for i in range(n):
        s.offer(frame(i), 0)
    at_once = s.pop_due(0)
    low, high = binomial_interval(n, 0.25)
    assert low <= len(at_once) == s.stats.reordered <= high
    assert s.next_due() == 10 * MS
    assert s.pop_due(10 * MS - 1) == []
    assert len(s.pop_due(10 * MS)) == n - len(at_once)


def test_a_reordered_frame_overtakes_the_delayed_ones():
    s = Scheduler(Impairment(delay=10_000, reorder=50.0), seed=6, header=HEADER)
    for i in range(50):
        s.offer(frame(i), i * MS // 10)
    out = s.pop_due(10**12)
    order = [int.from_bytes(f[HEADER:HEADER + 4], "big") for f in out]
    assert order != sorted(order)
    assert sorted(order) == list(range(50))


# ---------------------------------------------------------------- rate and limit


def test_rate_paces_frames_by_their_length():
    # 8 Mbit/s is one byte per microsecond: a 1,000-byte frame takes 1 ms on the wire
    s = Scheduler(Impairment(rate=8_000_000), seed=1, header=HEADER)
    for i in range(5):
        s.offer(frame(i, 1000), 0)
    times = []
    while len(s):
        times.append(s.next_due())
        s.pop_due(times[-1])
    assert times == [1 * MS, 2 * MS, 3 * MS, 4 * MS, 5 * MS]
    # an idle link: the next frame waits only for its own transmission
    s.offer(frame(9, 500), 100 * MS)
    assert s.next_due() == 100 * MS + MS // 2


def test_rate_with_delay_queues_behind_the_last_departure():
    s = Scheduler(Impairment(delay=10_000, rate=8_000_000), seed=1, header=HEADER)
    s.offer(frame(0, 1000), 0)  # 0 + 10 ms + 1 ms
    s.offer(frame(1, 1000), 0)  # behind it: 11 ms + 1 ms
    s.offer(frame(2, 1000), 5 * MS)  # max(5 + 10, 12) + 1 = 16 ms
    times = []
    while len(s):
        times.append(s.next_due())
        s.pop_due(times[-1])
    assert times == [11 * MS, 12 * MS, 16 * MS]


def test_rate_holds_a_long_run_to_the_configured_bits_per_second():
    rate = 10_000_000
    s = Scheduler(Impairment(rate=rate, limit=100_000), seed=1, header=HEADER)
    for i in range(10_000):
        s.offer(frame(i, 1514), 0)
    last = max(t for t, _, _ in s._heap)
    assert 10_000 * 1514 * 8 / (last / 1e9) == pytest.approx(rate, rel=1e-6)


def test_limit_drops_beyond_the_queue_length():
    s = Scheduler(Impairment(delay=10_000, limit=5), seed=1)
    assert [s.offer(bytes([i]), 0) for i in range(8)] == [1, 1, 1, 1, 1, 0, 0, 0]
    assert s.stats.overlimit == 3 and len(s) == 5
    assert len(s.pop_due(10 * MS)) == 5
    assert s.offer(b"again", 10 * MS) == 1  # room again once the queue drained


def test_limit_defaults_to_netems_thousand():
    s = Scheduler(Impairment(delay=1_000), seed=1)
    assert s.limit == DEFAULT_LIMIT
    assert sum(s.offer(b"f", 0) for _ in range(DEFAULT_LIMIT + 10)) == DEFAULT_LIMIT


# ---------------------------------------------------------------- update, determinism


def test_update_changes_new_frames_and_keeps_queued_ones():
    s = Scheduler(Impairment(delay=50_000), seed=1, header=HEADER)
    s.offer(frame(1), 0)  # due at 50 ms
    s.update(Impairment(delay=5_000))
    s.offer(frame(2), 1 * MS)  # due at 6 ms: overtakes the first, as after `tc qdisc change`
    assert s.pop_due(6 * MS) == [frame(2)]
    assert s.pop_due(50 * MS) == [frame(1)]
    s.update(Impairment(loss=100.0))
    assert s.offer(frame(3), 60 * MS) == 0
    s.update(Impairment())
    assert s.passthrough
    assert s.offer(frame(4), 70 * MS) == 1 and s.pop_due(70 * MS) == [frame(4)]
    assert s.stats.received == 4 and s.stats.lost == 1  # one scheduler, one set of counters


def test_the_same_seed_gives_the_same_decisions():
    impairment = Impairment(delay=10_000, jitter=3_000, distribution="normal", loss=5.0, duplicate=2.0,
                            corrupt=1.0, reorder=3.0)

    def run(seed):
        s = Scheduler(impairment, seed=seed, header=HEADER)
        decisions = [(s.offer(frame(i), i * 1000), s.next_due()) for i in range(2000)]
        return decisions, s.pop_due(10**12)

    assert run(42) == run(42)
    assert run(42) != run(43)


def test_an_injected_rng_is_used():
    a = Scheduler(Impairment(loss=50.0), rng=random.Random(1))
    b = Scheduler(Impairment(loss=50.0), seed=1)
    assert [a.offer(b"f", 0) for _ in range(100)] == [b.offer(b"f", 0) for _ in range(100)]


def test_bulk_only_for_what_treats_every_frame_alike():
    assert wants_bulk(Impairment())
    assert wants_bulk(Impairment(delay=20_000))
    for other in (dict(jitter=1_000), dict(loss=1.0), dict(duplicate=1.0), dict(corrupt=1.0),
                  dict(reorder=1.0), dict(rate=10_000_000), dict(limit=10)):
        assert not wants_bulk(Impairment(delay=20_000, **other)), other
