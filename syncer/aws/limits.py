"""Client-side rate limits per target, adaptive, and a fair share of the concurrency slots.

AWS throttles SageMaker per account, per region and per operation, at a quota
that is not published and is shared with every other client there. So each
target (account x region) gets a ceiling (``SYNCER_MAX_REQUESTS_PER_SECOND``)
and, within it, one adaptive rate per operation class with a quota of its own
(the list calls; Search). Every HTTP attempt, retries included, waits for its
turn at both.

``AdaptiveRate`` is additive-increase, multiplicative-decrease, with two
changes (why: docs/correctness.md#quota-an-adaptive-rate-per-account-and-region):

- On a throttle the rate drops to a fraction of what the server *served*
  (successful calls since the last decrease, if recent), not of what was
  allowed, so one step lands just under an unknown quota.
- Below the rate served at the last throttle (the peak) the gap closes
  quickly; past it the rate probes upwards, slowly at first and faster the
  longer it goes unthrottled, as TCP CUBIC does. Only time spent sending
  counts, so an idle target does not come back at its ceiling.

One decrease per ``cooldown``: the calls in flight when the quota was hit
come back throttled together, and count as one signal.

``FairSlots`` bounds concurrency globally and gives each target at most an
equal share of it among the targets that want slots, so one slow or throttled
account cannot hold every slot.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# The operation classes with a quota of their own. Any other operation is paced
# with the list calls.
LIST = "list"
SEARCH = "search"
CLASSES = (LIST, SEARCH)


def operation_class(operation: str) -> str:
    return SEARCH if operation == "Search" else LIST


@dataclass(frozen=True)
class AimdParams:
    """The adaptive rate's constants (requests/s and seconds)."""

    floor: float = 0.5  # never below: a throttled target still makes progress
    growth: float = 0.03  # past the peak: share of the peak gained per second, x (1 + s)^2
    min_increase: float = 0.1  # requests/s per second, at least
    approach: float = 0.5  # below the peak: the share of the gap closed per second
    decrease: float = 0.9  # the rate after a throttle, as a share of the rate served
    window: float = 1.0  # the served rate is measured over this many seconds at least
    memory: float = 8.0  # ... and since the last decrease, if that was this recent
    cooldown: float = 0.5  # at most one decrease in this many seconds
    max_step: float = 1.0  # longest gap between successes that counts as sending time


class AdaptiveRate:
    """The allowed rate of one operation class of one target (requests/s).

    ``success`` and ``throttled`` are fed with the outcome of every attempt;
    ``rate`` is what the pacer allows now. Pure arithmetic on an injected clock.
    """

    def __init__(
        self,
        ceiling: float,
        clock: Clock = time.monotonic,
        params: AimdParams | None = None,
        start: float | None = None,
    ) -> None:
        self.ceiling = ceiling
        self.params = params or AimdParams()
        self._clock = clock
        self.rate = min(ceiling, start) if start else ceiling
        self.throttles = 0
        self.decreases = 0
        self._served: deque[float] = deque()  # times of recent successes
        self._last_success: float | None = None
        self._peak = 0.0  # the rate served when the last throttle came
        self._past_peak = 0.0  # seconds of sending above that peak
        self._decreased_at = -math.inf

    def success(self) -> None:
        now = self._clock()
        p = self.params
        self._served.append(now)
        self._forget(now)
        if self._last_success is not None:
            step = min(max(0.0, now - self._last_success), p.max_step)
            self.rate = min(self.ceiling, self._increased(step))
        self._last_success = now

    def _increased(self, step: float) -> float:
        """The rate after ``step`` seconds of sending without a throttle.

        Below the rate at which the last throttle came (the peak), the gap
        closes by ``approach`` of itself a second, so the rate comes back near
        the quota it found and rests there. Past the peak it probes upwards,
        slowly at first and faster the longer nothing is throttled:
        ``growth`` x peak x (1 + seconds past the peak)^2 per second. Both
        scale with the peak, so a 5/s quota is probed as gently as a 20/s one.
        """
        p = self.params
        least = max(p.min_increase, p.growth * self._peak)
        if self.rate < self._peak:
            speed = max(least, (self._peak - self.rate) * p.approach)
            return min(self._peak, self.rate + speed * step)
        self._past_peak += step
        return self.rate + least * (1.0 + self._past_peak) ** 2 * step

    def throttled(self) -> None:
        now = self._clock()
        p = self.params
        self.throttles += 1
        if now - self._decreased_at < p.cooldown:
            return
        self._forget(now)
        # Served since the last decrease if that was recent (a burst the
        # server allowed before it throttled, its bucket being full, is not
        # its rate), else over the last window, long enough to hold several
        # calls so that one more or less barely moves the estimate.
        window = min(4.0, max(p.window, 8.0 / max(self.rate, 0.1)))
        recent = now - self._decreased_at <= max(p.memory, window)
        since = self._decreased_at if recent else now - window
        served = sum(1 for t in self._served if t > since) / max(now - since, 1e-3)
        self._peak = min(self.rate, served)
        self.rate = max(p.floor, min(self.ceiling, p.decrease * self._peak))
        self.decreases += 1
        self._decreased_at = now
        self._past_peak = 0.0

    def resume(self, allowed: float) -> None:
        """Start from a rate found earlier (by a previous process, say) as if a
        throttle had come at it: a little under it, back to it within seconds,
        then probing past it. A process that starts at the ceiling instead meets
        a quota it already found with every call in flight at once."""
        self._peak = min(self.ceiling, allowed)
        self.rate = max(self.params.floor, self.params.decrease * self._peak)
        self._past_peak = 0.0

    def _forget(self, now: float) -> None:
        horizon = now - max(4.0, self.params.memory)  # the longest window
        while self._served and self._served[0] <= horizon:
            self._served.popleft()


class Pacer:
    """Lets callers through 1/rate apart, at the rate of the moment (no burst).

    Nothing is reserved ahead: a caller that finds the next moment in the
    future sleeps until it and checks again. Reserving would queue the
    waiters at the rate of when they arrived, so after the rate rose the
    calls would still go out at the old one while the allowed rate climbed
    on, then all at once.
    """

    def __init__(
        self,
        rate: Callable[[], float],
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._last = -math.inf

    def wait_time(self) -> float:
        """Seconds until the next caller may go (0: now)."""
        return max(0.0, self._last + 1.0 / self._rate() - self._clock())

    def take(self) -> bool:
        """Go now if the spacing allows it.

        The next moment counts from the one this caller was due at, not from
        when it woke: an event loop that wakes sleepers a few ms late would
        otherwise lose that lateness on every call (19/s paced came out at
        17.7/s in bench scenario 3). Only a caller less than half a period
        late catches up; after an idle spell the spacing starts afresh, so no
        two calls go through at once.
        """
        if self.wait_time() > 0:
            return False
        now = self._clock()
        period = 1.0 / self._rate()
        due = self._last + period
        self._last = due if now - due < period / 2 else now
        return True

    async def acquire(self) -> None:
        while not self.take():
            await self._sleep(self.wait_time())


@dataclass
class ClassLimit:
    """One operation class of one target: its adaptive (or fixed) rate and pacer."""

    rate: AdaptiveRate
    pacer: Pacer
    adaptive: bool


@dataclass
class TargetLimits:
    """The limits of one target (account x region)."""

    ceiling: float
    adaptive: bool = True
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    params: AimdParams = field(default_factory=AimdParams)
    classes: dict[str, ClassLimit] = field(init=False)
    resumed: bool = field(init=False, default=False)  # from rates recorded earlier, once
    _ceiling_pacer: Pacer = field(init=False)

    def __post_init__(self) -> None:
        self.classes = {}
        for name in CLASSES:
            rate = AdaptiveRate(self.ceiling, self.clock, self.params)
            pacer = Pacer(self._allowed(rate), self.clock, self.sleep)
            self.classes[name] = ClassLimit(rate, pacer, self.adaptive)
        # Both classes together stay within the ceiling of the target.
        self._ceiling_pacer = Pacer(lambda: self.ceiling, self.clock, self.sleep)

    def _allowed(self, rate: AdaptiveRate) -> Callable[[], float]:
        if self.adaptive:
            return lambda: rate.rate
        return lambda: self.ceiling

    async def acquire(self, operation: str) -> None:
        """Wait for the turn of one HTTP attempt of ``operation``."""
        await self.classes[operation_class(operation)].pacer.acquire()
        await self._ceiling_pacer.acquire()

    def record(self, operation: str, outcome: str) -> None:
        """Feed an attempt's outcome (ok, throttled, ...) to its class's rate."""
        rate = self.classes[operation_class(operation)].rate
        if outcome == "throttled":
            rate.throttled()
        elif outcome == "ok":
            rate.success()

    def resume(self, found: dict[str, float]) -> None:
        """Start each class named in ``found`` from the rate found for it earlier."""
        self.resumed = True
        if self.adaptive:
            for name, allowed in found.items():
                if name in self.classes:
                    self.classes[name].rate.resume(allowed)

    def allowed(self, operation_class_name: str) -> float:
        limit = self.classes[operation_class_name]
        return limit.rate.rate if self.adaptive else self.ceiling

    def throttles(self, operation_class_name: str) -> int:
        return self.classes[operation_class_name].rate.throttles


class FairSlots:
    """At most ``total`` holders at once, and per target at most an equal share.

    The share is ``ceil(total / n)`` for the n targets that hold or wait for a
    slot, so a single target can use every slot, and when several compete none
    can take more than its share while another waits. Each target's waiters
    are served in order; a released slot is handed straight to a waiter.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self._held: dict[object, int] = {}
        self._queues: dict[object, deque[asyncio.Future[None]]] = {}

    def share(self) -> int:
        wanting = set(self._held) | set(self._queues)
        return max(1, math.ceil(self.total / max(1, len(wanting))))

    def _may_take(self, key: object) -> bool:
        in_use = sum(self._held.values())
        return in_use < self.total and self._held.get(key, 0) < self.share()

    def held(self, key: object) -> int:
        return self._held.get(key, 0)

    def for_target(self, key: object) -> TargetSlots:
        return TargetSlots(self, key)

    async def acquire(self, key: object) -> None:
        if key not in self._queues and self._may_take(key):
            self._held[key] = self._held.get(key, 0) + 1
            return
        granted = asyncio.get_running_loop().create_future()
        self._queues.setdefault(key, deque()).append(granted)
        self._grant()  # this target may now count in the share, others' shrink
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release(key)  # granted as the waiter was cancelled: give it back
            else:
                self._remove(key, granted)
            raise

    def release(self, key: object) -> None:
        self._held[key] -= 1
        if not self._held[key]:
            del self._held[key]
        self._grant()

    def _remove(self, key: object, waiter: asyncio.Future[None]) -> None:
        queue = self._queues.get(key)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self._queues[key]
        self._grant()  # one target fewer may want slots: the others' share grows

    def _grant(self) -> None:
        """Hand free slots to the first waiter of each target that is under its share."""
        progress = True
        while progress:
            progress = False
            for key in list(self._queues):
                if not self._may_take(key):
                    continue
                queue = self._queues[key]
                waiter = queue.popleft()
                if not queue:
                    del self._queues[key]
                progress = True
                if waiter.done():  # cancelled, its task not yet told
                    continue
                self._held[key] = self._held.get(key, 0) + 1
                waiter.set_result(None)


class TargetSlots:
    """The slots of one target, used as ``async with slots:`` like a semaphore."""

    def __init__(self, pool: FairSlots, key: object) -> None:
        self._pool = pool
        self._key = key

    async def __aenter__(self) -> None:
        await self._pool.acquire(self._key)

    async def __aexit__(self, *exc: object) -> None:
        self._pool.release(self._key)
