"""The limiter's arithmetic, on an injected clock: no test here waits for real time."""

from __future__ import annotations

import asyncio
import math

import pytest

from syncer.aws.limits import (
    LIST,
    SEARCH,
    AdaptiveRate,
    AimdParams,
    FairSlots,
    Pacer,
    TargetLimits,
    operation_class,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def succeed(rate: AdaptiveRate, clock: Clock, calls: int, per_second: float) -> None:
    for _ in range(calls):
        clock.advance(1 / per_second)
        rate.success()


def test_starts_at_the_ceiling_and_never_exceeds_it() -> None:
    clock = Clock()
    rate = AdaptiveRate(10, clock)
    assert rate.rate == 10
    succeed(rate, clock, 100, 10)
    assert rate.rate == 10


def test_a_throttle_drops_to_a_share_of_the_rate_served() -> None:
    """Allowed far above the quota, one decrease lands just under what was served."""
    clock = Clock()
    rate = AdaptiveRate(100_000, clock)
    succeed(rate, clock, 20, 20)  # the server served 20/s over the last second
    rate.throttled()
    assert rate.rate == pytest.approx(0.9 * 20)
    assert (rate.throttles, rate.decreases) == (1, 1)


def test_throttles_within_the_cooldown_count_once() -> None:
    clock = Clock()
    rate = AdaptiveRate(50, clock)
    succeed(rate, clock, 20, 20)
    rate.throttled()
    after_first = rate.rate
    clock.advance(0.3)
    rate.throttled()
    rate.throttled()
    assert rate.rate == after_first
    assert (rate.throttles, rate.decreases) == (3, 1)
    clock.advance(0.3)  # 0.6 s after the first: a new signal
    rate.throttled()
    assert rate.decreases == 2
    assert rate.rate < after_first


def test_the_rate_never_drops_below_the_floor() -> None:
    clock = Clock()
    rate = AdaptiveRate(10, clock, AimdParams(floor=0.5))
    rate.throttled()  # nothing served at all in the last second
    assert rate.rate == 0.5


def test_below_the_peak_the_rate_closes_in_and_rests_there() -> None:
    """Throttled while 10/s were served: 9/s, then back up to 10, not past it while it
    approaches (half the gap a second, at least ``growth`` of the peak), then probing."""
    clock = Clock()
    rate = AdaptiveRate(100, clock, AimdParams(growth=0.025))
    succeed(rate, clock, 10, 10)
    rate.throttled()
    assert rate.rate == pytest.approx(9.0)
    succeed(rate, clock, 100, 100)  # one second: the gap of 1 shrinks to e^-0.5
    assert rate.rate == pytest.approx(10 - math.exp(-0.5), abs=0.01)
    seen = []
    for _ in range(4):
        succeed(rate, clock, 100, 100)
        seen.append(rate.rate)
    assert seen == sorted(seen)
    assert max(seen[:2]) <= 10.0 + 1e-9  # approaching for 3 s in all
    assert seen[2] > 10.0  # then past the peak: probing


def test_past_the_peak_the_increase_grows_with_time() -> None:
    """Past a peak of 10/s: 0.3/s per second x (1 + t)^2, i.e. 0.3 ((1 + t)^3 - 1) / 3."""
    clock = Clock()
    rate = AdaptiveRate(100, clock)
    succeed(rate, clock, 10, 10)
    rate.throttled()
    while rate.rate < 10.0 - 1e-9:  # back at the peak first
        succeed(rate, clock, 1, 100)
    peak = rate.rate
    for seconds in range(1, 5):
        succeed(rate, clock, 100, 100)
        expected = 0.3 * ((1 + seconds) ** 3 - 1) / 3
        assert rate.rate - peak == pytest.approx(expected, rel=0.03)


def test_a_5_per_second_quota_is_probed_as_gently_as_a_20_per_second_one() -> None:
    gains = []
    for quota in (5, 20):
        clock = Clock()
        rate = AdaptiveRate(100, clock)
        succeed(rate, clock, quota, quota)
        rate.throttled()
        while rate.rate < quota - 1e-9:
            succeed(rate, clock, 1, 100)
        succeed(rate, clock, 200, 100)  # two seconds past the peak
        gains.append((rate.rate - quota) / quota)
    assert gains[0] == pytest.approx(gains[1], rel=0.01)


def test_a_burst_before_the_first_throttle_is_not_taken_for_the_rate() -> None:
    """A server's full bucket lets 40 calls through in the first second; the second
    decrease measures what was served since the first, not the burst."""
    clock = Clock()
    rate = AdaptiveRate(100_000, clock)
    succeed(rate, clock, 40, 40)
    rate.throttled()
    assert rate.rate == pytest.approx(36.0)
    succeed(rate, clock, 12, 20)  # 0.6 s at the server's 20/s
    rate.throttled()
    assert rate.rate == pytest.approx(18.0, rel=0.05)


def test_time_without_calls_does_not_raise_the_rate() -> None:
    clock = Clock()
    rate = AdaptiveRate(100, clock)
    succeed(rate, clock, 10, 10)
    rate.throttled()
    base = rate.rate
    clock.advance(3600)  # idle for an hour
    rate.success()
    # At most one max_step (1 s) of sending counts for the gap.
    assert rate.rate <= base + 0.5 * 1.0 + 1e-9


def test_recovers_from_5_to_20_in_about_eight_seconds_of_sending() -> None:
    """The arithmetic alone (no server's burst, no queue): 6 -> 20/s takes 8.2 s."""
    clock = Clock()
    rate = AdaptiveRate(100, clock)
    succeed(rate, clock, 6, 6)
    rate.throttled()
    assert rate.rate == pytest.approx(5.4)
    seconds = 0.0
    while rate.rate < 20:
        clock.advance(0.05)
        rate.success()
        seconds += 0.05
    assert 7.5 < seconds < 9


def test_a_probe_the_servers_bucket_let_through_is_not_taken_for_the_quota() -> None:
    """A 5/s quota, probed past it: the server's full bucket let the last second
    through at 7.5/s. Measured since the last decrease (8 s), the served rate is
    close to the quota, and the rate lands under it; measured over the last
    second, it would land at 6.75/s and be throttled again at once."""
    clock = Clock()
    rate = AdaptiveRate(100, clock)
    succeed(rate, clock, 10, 5)
    rate.throttled()
    succeed(rate, clock, 35, 5)  # 7 s at the quota
    succeed(rate, clock, 7, 7.5)  # the bucket's 5 spare calls and more
    rate.throttled()
    assert rate.rate < 5.0
    assert rate.rate == pytest.approx(0.9 * 42 / (7 + 7 / 7.5), rel=0.02)


def test_the_pacer_lets_callers_through_one_over_the_rate_apart() -> None:
    clock = Clock()
    pacer = Pacer(lambda: 4.0, clock)
    assert pacer.take()
    assert not pacer.take()
    assert pacer.wait_time() == pytest.approx(0.25)
    clock.advance(0.25)
    assert pacer.take()
    clock.advance(10)  # idle: no burst saved up
    assert pacer.take() and not pacer.take()


def test_the_pacer_applies_a_raised_rate_at_once() -> None:
    """Nothing is reserved at the old rate: waiters go at the rate of the moment."""
    clock = Clock()
    rate = [1.0]
    pacer = Pacer(lambda: rate[0], clock)
    assert pacer.take()
    assert pacer.wait_time() == pytest.approx(1.0)
    rate[0] = 10.0
    assert pacer.wait_time() == pytest.approx(0.1)


async def test_the_pacer_sleeps_on_the_injected_sleep() -> None:
    clock = Clock()
    pacer = Pacer(lambda: 2.0, clock, clock.sleep)
    start = clock.now
    for _ in range(5):
        await pacer.acquire()
    assert clock.now - start == pytest.approx(2.0)


async def test_the_pacer_keeps_its_rate_when_sleepers_wake_late() -> None:
    """An event loop that wakes each sleeper 5 ms late must not cost the rate."""
    clock = Clock()

    async def late_sleep(seconds: float) -> None:
        await clock.sleep(seconds + 0.005)

    pacer = Pacer(lambda: 20.0, clock, late_sleep)
    start = clock.now
    for _ in range(21):
        await pacer.acquire()
    # 20 spacings of 50 ms, and one wake-up's lateness: not 20 x 55 ms.
    assert clock.now - start == pytest.approx(1.005)


def test_operation_classes() -> None:
    assert operation_class("Search") == SEARCH
    assert operation_class("ListModelPackages") == LIST
    assert operation_class("ListModelPackageGroups") == LIST


async def test_target_limits_adapt_each_class_on_its_own() -> None:
    clock = Clock()
    limits = TargetLimits(100, clock=clock, sleep=clock.sleep)
    for _ in range(20):
        await limits.acquire("ListModelPackages")
        clock.advance(0.05)
        limits.record("ListModelPackages", "ok")
    limits.record("ListModelPackages", "throttled")
    assert limits.allowed(LIST) < 20
    assert limits.allowed(SEARCH) == 100
    assert (limits.throttles(LIST), limits.throttles(SEARCH)) == (1, 0)


async def test_target_limits_keep_both_classes_within_the_ceiling() -> None:
    clock = Clock()
    limits = TargetLimits(10, clock=clock, sleep=clock.sleep)
    start = clock.now
    for i in range(20):
        await limits.acquire("Search" if i % 2 else "ListModelPackages")
    # 20 attempts at a ceiling of 10/s for the target: 1.9 s, not 0.9 s.
    assert clock.now - start == pytest.approx(1.9)


async def test_fixed_limits_ignore_throttles() -> None:
    clock = Clock()
    limits = TargetLimits(10, adaptive=False, clock=clock, sleep=clock.sleep)
    limits.record("ListModelPackages", "throttled")
    assert limits.allowed(LIST) == 10
    assert limits.throttles(LIST) == 1


async def test_fair_slots_let_one_target_use_every_slot() -> None:
    slots = FairSlots(4)
    for _ in range(4):
        await slots.acquire("a")
    assert slots.held("a") == 4


async def test_fair_slots_bound_each_target_to_its_share_while_another_waits() -> None:
    slots = FairSlots(4)
    for _ in range(2):
        await slots.acquire("a")
    b = [asyncio.create_task(slots.acquire("b")) for _ in range(3)]
    more_a = asyncio.create_task(slots.acquire("a"))
    await asyncio.sleep(0)
    # Two targets want slots: each gets at most two of the four.
    assert slots.held("b") == 2 and slots.held("a") == 2
    assert not more_a.done() and sum(t.done() for t in b) == 2
    slots.release("b")
    await asyncio.sleep(0)
    assert slots.held("b") == 2  # b's third waiter got the slot b gave up
    assert not more_a.done()
    slots.release("a")
    await asyncio.sleep(0)
    assert more_a.done() and slots.held("a") == 2


async def test_fair_slots_share_grows_when_a_target_is_done() -> None:
    slots = FairSlots(4)
    await slots.acquire("a")
    await slots.acquire("b")
    await slots.acquire("b")
    waiting = [asyncio.create_task(slots.acquire("a")) for _ in range(3)]
    await asyncio.sleep(0)
    assert slots.held("a") == 2  # its share of the four while b holds slots
    slots.release("b")
    slots.release("b")
    await asyncio.sleep(0)
    assert slots.held("a") == 4 and all(t.done() for t in waiting)


async def test_a_cancelled_waiter_takes_no_slot() -> None:
    slots = FairSlots(1)
    await slots.acquire("a")
    waiter = asyncio.create_task(slots.acquire("a"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    slots.release("a")
    assert slots.held("a") == 0
    await slots.acquire("b")
    assert slots.held("b") == 1


def test_resuming_starts_under_the_rate_found_then_probes_past_it() -> None:
    clock = Clock()
    rate = AdaptiveRate(100, clock)
    rate.resume(10.0)
    assert rate.rate == pytest.approx(9.0)  # as after a throttle at 10/s
    succeed(rate, clock, 500, 100)  # five seconds of sending
    assert rate.rate > 10.0
    rate.resume(500.0)  # more than the ceiling: the ceiling is the peak
    assert rate.rate == pytest.approx(90.0)
