"""Quota scenarios Q1-Q4: an unknown quota, a shared one, three at once, one that changes.

The stand-in answers ThrottlingException beyond its quota (a token bucket per
region). It runs in a thread of the benchmark process, metered: every request
is stamped with when it arrived, whose it was (the service's, or the competing
client's) and how it was answered. Rates are counted over the span in which
the server saw the service's calls. The service is the real `syncer once` in
a subprocess, with its ceiling far above the quota
(SYNCER_MAX_REQUESTS_PER_SECOND=100000), so only the adaptation is measured.

Variants compared: this service's adaptive rate (the default); botocore's
adaptive retry mode with the service's own rate fixed at the ceiling
(AWS_RETRY_MODE=adaptive, SYNCER_ADAPTIVE_RATE=false); and a fixed rate with
standard retries (SYNCER_ADAPTIVE_RATE=false).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from bench.database import scratch
from bench.report import Row, progress, seconds
from bench.server import BenchStandIn, Shape, build_registry
from bench.service import Run, syncer_once
from standin.sagemaker import Faults, Regions, Registry, serve_in_thread

if TYPE_CHECKING:
    from bench.scenarios import Context

LATENCY = 0.020
QUOTA = 20.0
COMPETITOR_RATE = 10.0
SHAPE = Shape(300, 3, 3)  # as in the measurement

OURS = ("adaptive rate (default)", {}, {})
BOTOCORE = (
    "botocore adaptive mode",
    {"adaptive_rate": "false"},
    {"AWS_RETRY_MODE": "adaptive"},
)
FIXED = ("fixed rate, standard retries", {"adaptive_rate": "false"}, {})
VARIANTS = (OURS, BOTOCORE, FIXED)


@dataclass(frozen=True)
class Event:
    at: float
    who: str  # service | competitor
    outcome: str  # ok | throttled | other


class Metered(BenchStandIn):
    """The benchmark's stand-in, with every request's arrival and answer recorded."""

    def __init__(self, registry: Registry, faults: Faults | None = None) -> None:
        super().__init__(registry, faults)
        self.events: list[Event] = []
        self.started = threading.Event()  # set at the service's first request

    async def handle(self, request: web.Request) -> web.StreamResponse:
        response = await super().handle(request)
        if request.headers.get("X-Amz-Target"):
            who = "competitor" if request.headers.get("X-Bench-Client") else "service"
            if response.headers.get("x-amzn-ErrorType") == "ThrottlingException":
                outcome = "throttled"
            else:
                outcome = "ok" if response.status == 200 else "other"
            self.events.append(Event(time.monotonic(), who, outcome))
            if who == "service":
                self.started.set()
        return response

    def set_quota(self, rate: float) -> None:
        self.faults = dataclasses.replace(self.faults, rate_limit_per_second=rate)


@dataclass(frozen=True)
class Usage:
    ok: int
    throttled: int
    attempts: int
    span: float

    @property
    def rate(self) -> float:
        return self.ok / self.span if self.span else 0.0

    @property
    def throttled_share(self) -> float:
        return self.throttled / self.attempts if self.attempts else 0.0


def usage(
    events: list[Event], who: str, start: float | None = None, end: float | None = None
) -> Usage:
    mine = [e for e in events if e.who == who]
    if start is not None or end is not None:
        lo, hi = start or -1e18, end or 1e18
        mine = [e for e in mine if lo <= e.at <= hi]
    if not mine:
        return Usage(0, 0, 0, 0.0)
    span = mine[-1].at - mine[0].at
    ok = sum(e.outcome == "ok" for e in mine)
    throttled = sum(e.outcome == "throttled" for e in mine)
    return Usage(ok, throttled, len(mine), span)


async def run_service(
    ctx: Context, endpoint: str, settings: dict[str, str], aws: dict[str, str]
) -> Run:
    async with scratch(ctx.template) as dsn:
        return await syncer_once(dsn, endpoint, full=True, aws=aws, **settings)


@contextlib.asynccontextmanager
async def competitor(endpoint: str, rate: float) -> AsyncIterator[None]:
    """Another client of the same quota: a steady ``rate`` requests/s, not waiting for answers."""

    async def send(session: aiohttp.ClientSession) -> None:
        headers = {
            "X-Amz-Target": "SageMaker.ListModelPackageGroups",
            "Content-Type": "application/x-amz-json-1.1",
            "Authorization": "AWS4-HMAC-SHA256 Credential=bench/20260101/us-east-1/sagemaker/x",
            "X-Bench-Client": "competitor",
        }
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.post(endpoint, data=b'{"MaxResults": 1}', headers=headers) as r:
                await r.read()

    async def loop() -> None:
        async with aiohttp.ClientSession() as session:
            pending: set[asyncio.Task[None]] = set()
            began = time.monotonic()
            n = 0
            try:
                while True:
                    n += 1
                    task = asyncio.create_task(send(session))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    await asyncio.sleep(max(0.0, began + n / rate - time.monotonic()))
            finally:  # the requests under way are answered before the session closes
                await asyncio.gather(*pending, return_exceptions=True)

    task = asyncio.create_task(loop(), name="competitor")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _faults(quota: float) -> Faults:
    return Faults(latency_seconds=LATENCY, rate_limit_per_second=quota)


# ---------------------------------------------------------------- Q1
async def unknown_quota(ctx: Context) -> list[Row]:
    rows = []
    for name, settings, aws in VARIANTS:
        standin = Metered(build_registry(SHAPE), _faults(QUOTA))
        with serve_in_thread(standin) as endpoint:
            progress(f"Q1: unknown {QUOTA:g}/s quota, {name}")
            run = await run_service(ctx, endpoint, settings, aws)
        u = usage(standin.events, "service")
        ours = name == OURS[0]
        met = u.rate >= 0.9 * QUOTA and u.throttled_share <= 0.05 and run.status == "succeeded"
        rows.append(
            Row(
                "Q1",
                f"unknown quota {QUOTA:g}/s, ceiling far above, {name}: successful calls/s "
                "(share of the quota); throttled share; cycle",
                f"{u.rate:.1f}/s ({u.rate / QUOTA:.0%}); {u.throttled_share:.1%}; "
                f"{run.status}, {seconds(run.cycle_seconds)}",
                target=">= 90%; <= 5%; succeeded" if ours else "-",
                met=met if ours else None,
            )
        )
    return rows


# ---------------------------------------------------------------- Q2
async def shared_quota(ctx: Context) -> list[Row]:
    rows = []
    for name, settings, aws in (OURS, BOTOCORE):
        standin = Metered(build_registry(SHAPE), _faults(QUOTA))
        with serve_in_thread(standin) as endpoint:
            progress(f"Q2: {QUOTA:g}/s shared with a {COMPETITOR_RATE:g}/s client, {name}")
            async with competitor(endpoint, COMPETITOR_RATE):
                await asyncio.sleep(2)  # the other client was there first
                run = await run_service(ctx, endpoint, settings, aws)
        mine = usage(standin.events, "service")
        service_events = [e for e in standin.events if e.who == "service"]
        start, end = service_events[0].at, service_events[-1].at
        other = usage(standin.events, "competitor", start, end)
        ours = name == OURS[0]
        met = other.throttled_share <= 0.05 and run.status == "succeeded"
        rows.append(
            Row(
                "Q2",
                f"quota {QUOTA:g}/s shared with a client sending {COMPETITOR_RATE:g}/s, {name}: "
                "the other client's throttled share; the service's calls/s and throttled "
                "share; cycle",
                f"{other.throttled_share:.1%}; {mine.rate:.1f}/s, {mine.throttled_share:.1%}; "
                f"{run.status}, {seconds(run.cycle_seconds)}",
                target="<= 5%; -; succeeded" if ours else "-",
                met=met if ours else None,
            )
        )
    return rows


# ---------------------------------------------------------------- Q3
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
REGIONAL_QUOTA = 10.0


async def three_quotas(ctx: Context) -> list[Row]:
    standins = {
        r: Metered(build_registry(SHAPE, region=r), _faults(REGIONAL_QUOTA)) for r in REGIONS
    }
    with serve_in_thread(Regions(dict(standins))) as endpoint:
        progress(f"Q3: three regions, each its own {REGIONAL_QUOTA:g}/s quota, one process")
        run = await run_service(
            ctx, endpoint, {"regions": ",".join(REGIONS)}, {"AWS_REGION": REGIONS[0]}
        )
    # The span in which all three were being synced at once.
    spans = [(s.events[0].at, s.events[-1].at) for s in standins.values() if s.events]
    start, end = max(a for a, _ in spans), min(b for _, b in spans)
    rows = []
    for region, standin in standins.items():
        u = usage(standin.events, "service", start, end)
        rows.append(
            Row(
                "Q3",
                f"three regions with a {REGIONAL_QUOTA:g}/s quota each, one process; {region}: "
                f"calls/s while all three synced ({end - start:.1f} s); throttled share",
                f"{u.rate:.1f}/s ({u.rate / REGIONAL_QUOTA:.0%}); {u.throttled_share:.1%}",
                target=">= 80%",
                met=u.rate >= 0.8 * REGIONAL_QUOTA and run.status == "succeeded",
            )
        )
    return rows


# ---------------------------------------------------------------- Q4
LOW_QUOTA = 5.0
DROP_AFTER = 8.0
LOW_FOR = 15.0
CHANGE_SHAPE = Shape(700, 1, 3)


def settle_seconds(
    events: list[Event], since: float, until: float, quota: float, rising: bool
) -> float | None:
    """Seconds after ``since`` until the service's rate fits ``quota``, for good.

    Down: from then on, no 3-second window before ``until`` has more than 10%
    of its calls throttled (at 5/s, one call of 15). Up: the first 3-second
    window with at least 80% of the quota in successful calls.
    """
    mine = [e for e in events if e.who == "service" and since <= e.at <= until]
    step, window = 0.5, 3.0
    t = since
    settled: float | None = None
    while t + window <= until:
        inside = [e for e in mine if t <= e.at < t + window]
        ok = sum(e.outcome == "ok" for e in inside)
        throttled = sum(e.outcome == "throttled" for e in inside)
        if rising:
            if ok / window >= 0.8 * quota:
                return t + window - since
        else:
            bad = inside and throttled / len(inside) > 0.10
            if bad:
                settled = None
            elif settled is None:
                settled = t + window - since
        t += step
    return settled


async def change_quota(standin: Metered, moments: dict[str, float]) -> None:
    """From the service's first call: the quota drops after DROP_AFTER s, back LOW_FOR s later."""
    await asyncio.to_thread(standin.started.wait)
    await asyncio.sleep(DROP_AFTER)
    standin.set_quota(LOW_QUOTA)
    moments["down"] = time.monotonic()
    await asyncio.sleep(LOW_FOR)
    standin.set_quota(QUOTA)
    moments["up"] = time.monotonic()


async def quota_change(ctx: Context) -> list[Row]:
    rows = []
    for name, settings, aws in (OURS, BOTOCORE):
        standin = Metered(build_registry(CHANGE_SHAPE), _faults(QUOTA))
        with serve_in_thread(standin) as endpoint:
            progress(f"Q4: quota {QUOTA:g} -> {LOW_QUOTA:g} -> {QUOTA:g}/s mid-cycle, {name}")
            moments: dict[str, float] = {}
            changer = asyncio.create_task(change_quota(standin, moments))
            run = await run_service(ctx, endpoint, settings, aws)
            changer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await changer
        if "up" not in moments:
            progress("Q4: the cycle ended before the quota came back; make the registry larger")
            continue
        end = standin.events[-1].at
        down = settle_seconds(standin.events, moments["down"], moments["up"], LOW_QUOTA, False)
        up = settle_seconds(standin.events, moments["up"], end, QUOTA, True)
        low = usage(standin.events, "service", moments["down"] + 5, moments["up"])
        ours = name == OURS[0]

        def shown(value: float | None) -> str:
            return "never" if value is None else f"{value:.1f} s"

        rows.append(
            Row(
                "Q4",
                f"quota {QUOTA:g} -> {LOW_QUOTA:g} -> {QUOTA:g}/s mid-cycle, {name}: settled after "
                f"the drop (throttled <= 10%), after the rise (>= 80% of {QUOTA:g}/s); "
                "calls/s and throttled share at the low quota (from 5 s after the drop); cycle",
                f"{shown(down)}; {shown(up)}; {low.rate:.1f}/s, {low.throttled_share:.1%}; "
                f"{run.status}, {seconds(run.cycle_seconds)}",
                target="<= 10 s each way" if ours else "-",
                met=(down is not None and down <= 10 and up is not None and up <= 10)
                if ours
                else None,
            )
        )
    return rows
