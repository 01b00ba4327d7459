"""The adaptive rate against a simulated quota, in virtual time: seconds to run, repeatable.

    python -m bench.rate_model [--seeds 30] [--workers 16]

A model of bench scenario Q4 (bench/quota.py) without a network or an event
loop: ``--workers`` paginations, each one call after the other, go through a
target's limits (syncer.aws.limits.TargetLimits, the code the service runs, on a
virtual clock) to a server that answers in 20 ms and throttles beyond a token
bucket holding one second of its quota. A throttled call is retried as
botocore's standard mode does (a random wait of up to 2^(attempt-1) s, at most
8 attempts). The quota is 20/s, drops to 5/s 8 s after the first call and
comes back 15 s later. Prints, as a median and worst case over the seeds,
the seconds to settle each way as bench.quota measures them (after the drop:
no 3-second window after it with more than 10% of calls throttled; after the
rise: the first 3-second window with 80% of 20/s in successful calls); then
Q1 and Q2 at a steady 20/s: the service's calls/s and throttled share, alone
and beside another client sending 10/s whatever the answers.

It is a model: it leaves out the event loop's lateness, the database, the
other scopes and the Search calls, so its figures are not the benchmark's (its
Q1 shows fewer throttles, its Q2 more for the other client: 9.7% against the
3.3% bench.quota measured for the same parameters). It is for comparing
parameter choices (``AimdParams``) quickly and over many seeds, before the
real benchmark confirms the one chosen.
"""

from __future__ import annotations

import argparse
import functools
import heapq
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from standin.sagemaker import TokenBucket
from syncer.aws.limits import AimdParams, TargetLimits

LATENCY = 0.02
QUOTA, LOW_QUOTA = 20.0, 5.0
DROP_AT, RISE_AT, END_AT = 8.0, 23.0, 40.0
MAX_ATTEMPTS = 8


@dataclass
class Simulation:
    params: AimdParams
    seed: int
    workers: int
    quotas: tuple[tuple[float, float], ...] = ((DROP_AT, LOW_QUOTA), (RISE_AT, QUOTA))
    competitor: float = 0.0  # another client's steady requests/s on the same quota
    now: float = 0.0
    events: list[tuple[float, str]] = field(default_factory=list)  # (time, ok|throttled)
    theirs: list[tuple[float, str]] = field(default_factory=list)  # the competitor's
    _queue: list[tuple[float, int, Callable[[], None]]] = field(default_factory=list)
    _order: int = 0

    def at(self, when: float, action: Callable[[], None]) -> None:
        self._order += 1
        heapq.heappush(self._queue, (when, self._order, action))

    def run(self) -> None:
        rng = random.Random(self.seed)
        limits = TargetLimits(ceiling=100_000.0, clock=lambda: self.now, params=self.params)
        limit = limits.classes["list"]

        def clock() -> float:
            return self.now

        bucket = TokenBucket(QUOTA, clock)

        def set_quota(rate: float) -> None:
            nonlocal bucket
            bucket = TokenBucket(rate, clock)  # as the stand-in: a new, full bucket

        for moment, quota in self.quotas:
            self.at(moment, functools.partial(set_quota, quota))

        def competing() -> None:  # sends steadily, whatever the answers
            if self.now < END_AT:
                self.theirs.append((self.now, "ok" if bucket.take() else "throttled"))
                self.at(self.now + 1 / self.competitor, competing)

        if self.competitor:
            self.at(0.0, competing)

        def call(attempt: int) -> None:
            if self.now >= END_AT:
                return
            if not limit.pacer.take():
                self.at(self.now + limit.pacer.wait_time(), lambda: call(attempt))
                return
            # The answer takes the server's latency and some of the network's.
            self.at(self.now + LATENCY + rng.expovariate(1 / 0.005), lambda: answer(attempt))

        def answer(attempt: int) -> None:
            ok = bucket.take()
            self.events.append((self.now, "ok" if ok else "throttled"))
            limits.record("ListModelPackages", "ok" if ok else "throttled")
            if ok or attempt >= MAX_ATTEMPTS:
                # The next page, once this one is stored (a few ms, sometimes more).
                self.at(self.now + rng.expovariate(1 / 0.01), lambda: call(1))
            else:
                wait = min(rng.random() * 2 ** (attempt - 1), 20.0)
                self.at(self.now + wait, lambda: call(attempt + 1))

        for w in range(self.workers):
            self.at(w * 0.001, lambda: call(1))
        while self._queue:
            self.now, _, action = heapq.heappop(self._queue)
            action()


def settle(events: list[tuple[float, str]], since: float, until: float, rising: bool) -> float:
    """bench.quota.settle_seconds on (time, outcome) pairs; inf: never."""
    step, window = 0.5, 3.0
    t, settled = since, None
    while t + window <= until:
        inside = [o for at, o in events if t <= at < t + window]
        ok = inside.count("ok")
        if rising:
            if ok / window >= 0.8 * QUOTA:
                return t + window - since
        elif inside and inside.count("throttled") / len(inside) > 0.10:
            settled = None
        elif settled is None:
            settled = t + window - since
        t += step
    return float("inf") if rising or settled is None else settled


def quota_change(params: AimdParams, seed: int, workers: int) -> tuple[float, float]:
    """Q4: seconds to settle after the drop and after the rise."""
    sim = Simulation(params, seed, workers)
    sim.run()
    return (
        settle(sim.events, DROP_AT, RISE_AT, rising=False),
        settle(sim.events, RISE_AT, END_AT, rising=True),
    )


def steady(params: AimdParams, seed: int, workers: int, competitor: float) -> tuple[float, ...]:
    """Q1 (competitor 0) and Q2: a steady 20/s quota. The service's successful
    calls/s and throttled share, and the competitor's throttled share."""
    sim = Simulation(params, seed, workers, quotas=(), competitor=competitor)
    sim.run()
    mine = [o for at, o in sim.events if at >= 2.0]  # after the start's burst
    theirs = [o for at, o in sim.theirs if at >= 2.0]
    return (
        mine.count("ok") / (END_AT - 2.0),
        mine.count("throttled") / max(1, len(mine)),
        theirs.count("throttled") / max(1, len(theirs)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    params = AimdParams()
    seeds = range(args.seeds)
    changes = [quota_change(params, seed, args.workers) for seed in seeds]
    for name, i in (("Q4 settled after the drop", 0), ("Q4 settled after the rise", 1)):
        values = [c[i] for c in changes]
        print(
            f"{name}: median {statistics.median(values):.1f} s, worst {max(values):.1f} s,"
            f" within 10 s in {sum(v <= 10 for v in values)} of {len(values)} seeds"
        )
    for name, competitor in (("Q1 alone", 0.0), ("Q2 beside 10/s", 10.0)):
        runs = [steady(params, seed, args.workers, competitor) for seed in seeds]
        rate, share, theirs = (statistics.mean(r[i] for r in runs) for i in range(3))
        other = f", the other client {theirs:.1%} throttled" if competitor else ""
        print(f"{name}: {rate:.1f} calls/s, {share:.1%} throttled{other}")


if __name__ == "__main__":
    main()
