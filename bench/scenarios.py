"""The benchmark's scenarios, each against its own stand-in and scratch databases.

Every scenario runs the service (`syncer once` in a subprocess) and, where
the comparison means something, the baseline against the same server in the
same run. Timings are wall-clock on a shared machine: they are reported, and
compared with the targets, but never asserted by the test suite.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import account, baseline, checks, quota, replay
from bench.database import scratch
from bench.report import Row, count, progress, seconds, times
from bench.server import Server, Shape, build_registry, running
from bench.service import Run, syncer_once
from standin.sagemaker import CREDENTIALS

LATENCY = 0.020  # seconds per call, in every scenario
CONCURRENCY = 16
RATE_LIMIT = 20.0  # requests/s, scenario 3
ERROR_RATE = 0.05  # scenario 4


@dataclass
class Context:
    template: str  # a migrated database to clone
    scale: float = 1.0  # 1.0 is the sizes; smaller for a quick look
    previous: Path | None = None  # another checkout to measure beside this one

    def shape(self, groups: int, versions: int, unversioned: int = 10) -> Shape:
        return Shape(max(1, round(groups * self.scale)), versions, unversioned)


async def _service(ctx: Context, server: Server, *, full: bool = True, **settings: str) -> Run:
    """`syncer once` on a fresh database (dropped afterwards)."""
    server.reset()
    async with scratch(ctx.template) as dsn:
        return await syncer_once(dsn, server.endpoint, full=full, **settings)


async def _baseline(ctx: Context, server: Server) -> tuple[baseline.BaselineRun, int]:
    server.reset()
    async with scratch(ctx.template) as dsn:
        run = await asyncio.to_thread(baseline.run_baseline, dsn, server.endpoint, CREDENTIALS)
    return run, server.sagemaker_calls()


# ---------------------------------------------------------------- 1 and 2
# The baseline mirrors the listings' summaries only, and so does the service
# here and in scenario 5: the governance details (a sequential Search pass of N/100 calls on a
# first sync) are measured on their own, against the same sync without them,
# in bench.studies.details.
SUMMARIES_ONLY = {"details": "false"}


async def full_then_unchanged(ctx: Context) -> list[Row]:
    """1: first full sync against the bound and the baseline. 2: an unchanged incremental cycle."""
    shape = ctx.shape(500, 40)
    name = f"{shape.groups} groups x {shape.versions} + {shape.unversioned} unversioned"
    with running(shape, latency_seconds=LATENCY) as server:
        async with scratch(ctx.template) as dsn:
            progress(f"1: service, full sync of {name}")
            server.reset()
            full = await syncer_once(dsn, server.endpoint, full=True, **SUMMARIES_ONLY)
            full_calls = server.calls()
            mirrored = await checks.mirror_matches_source(server, dsn)
            server.set_faults(latency_seconds=LATENCY)

            progress("2: service, unchanged incremental cycle")
            before = await checks.row_versions(dsn)
            server.reset()
            unchanged = await syncer_once(dsn, server.endpoint, full=False, **SUMMARIES_ONLY)
            unchanged_calls = server.calls()
            written = checks.rows_written(before, await checks.row_versions(dsn))

        progress("1: database time (the same pages through the Store, no API)")
        database_seconds = await _database_time(ctx, shape)

        progress("1: baseline")
        async with scratch(ctx.template) as dsn:
            server.reset()
            first = await asyncio.to_thread(
                baseline.run_baseline, dsn, server.endpoint, CREDENTIALS
            )
            base_calls = server.sagemaker_calls()
            progress("2: baseline, second pass")
            before = await checks.row_versions(dsn)
            second = await asyncio.to_thread(
                baseline.run_baseline, dsn, server.endpoint, CREDENTIALS
            )
            base_written = checks.rows_written(before, await checks.row_versions(dsn))

    calls = sum(full_calls.values())
    bound = calls * LATENCY / CONCURRENCY + database_seconds
    minimum = shape.minimum_calls()
    speedup = first.seconds / full.cycle_seconds
    return [
        Row(
            "1",
            f"full sync, {name}, {LATENCY * 1000:.0f} ms/call, concurrency {CONCURRENCY}: time",
            seconds(full.cycle_seconds),
            f"{seconds(first.seconds)} ({seconds(first.database_seconds)} of it upserting)",
            times(speedup),
            ">= 10x faster",
            speedup >= 10,
        ),
        Row(
            "1",
            f"time against the bound: calls x latency / concurrency "
            f"({calls} x {LATENCY * 1000:.0f} ms / {CONCURRENCY}) "
            f"+ database time ({seconds(database_seconds)})",
            seconds(full.cycle_seconds),
            f"bound {seconds(bound)}",
            times(full.cycle_seconds / bound),
            "<= 1.5x the bound",
            full.cycle_seconds <= 1.5 * bound,
        ),
        Row(
            "1",
            "list calls, other calls; rows mirrored equal to the source, field by field; "
            "the service's CPU time",
            f"{listing_calls(full_calls)} + {_others(full_calls)}; {count(mirrored)} rows; "
            f"{full.cpu_seconds:.1f} CPU-s (process)",
            f"{base_calls} + none; {count(first.rows_written)} rows",
            # The group pages and the account's pages, and a partly filled last
            # page for each window a first sync splits its listing into.
            target=f"{minimum} + at most {CONCURRENCY} windows; {count(shape.packages)} rows",
            met=listing_calls(full_calls) <= minimum + CONCURRENCY
            and mirrored == shape.packages
            and full.status == "succeeded",
        ),
        Row(
            "2",
            "unchanged incremental cycle: list calls (new groups, new packages), "
            "other calls (the change feed, the deployments); time",
            f"{listing_calls(unchanged_calls)} + {_others(unchanged_calls)}; "
            f"{seconds(unchanged.cycle_seconds)}",
            f"{base_calls}; {seconds(second.seconds)}",
            # One listing of each; the feed's Search and the deployments' one.
            target="<= 2 list + 2 Search",
            met=unchanged.status == "succeeded"
            and listing_calls(unchanged_calls) <= 2
            and sum(unchanged_calls.values()) <= 4,
        ),
        Row(
            "2",
            "rows written by that cycle (packages, groups, changes)",
            count(written),
            count(base_written),
            target="0",
            met=written == 0,
        ),
    ]


LISTINGS = ("ListModelPackageGroups", "ListModelPackages")


def listing_calls(calls: dict[str, int]) -> int:
    return sum(calls.get(op, 0) for op in LISTINGS)


def _others(calls: dict[str, int]) -> str:
    others = {op: n for op, n in calls.items() if op not in LISTINGS}
    return ", ".join(f"{n} {op}" for op, n in sorted(others.items())) or "none"


async def _database_time(ctx: Context, shape: Shape) -> float:
    listing = replay.listing_of(build_registry(shape))
    async with scratch(ctx.template) as dsn:
        return await replay.replay(dsn, listing, CONCURRENCY)


# ---------------------------------------------------------------- 3
async def rate_limited(ctx: Context) -> list[Row]:
    """3: a server limit of 20 requests/s; the client-side cap at, below and above it."""
    shape = ctx.shape(500, 40)
    faults = {"latency_seconds": LATENCY, "rate_limit_per_second": RATE_LIMIT}
    rows = []
    with running(shape, **faults) as server:
        for cap, why in ((19.0, "95% of the limit"), (20.0, "= the limit"), (40.0, "2x the limit")):
            progress(f"3: service, SYNCER_MAX_REQUESTS_PER_SECOND={cap:g}")
            server.set_faults(**faults)  # a full token bucket for each run
            run = await _service(ctx, server, max_requests_per_second=str(cap))
            ok, throttled, attempts = _outcomes(server)
            rate = ok / run.cycle_seconds
            share = throttled / attempts
            recommended = cap == 19.0
            rows.append(
                Row(
                    "3",
                    f"server limit {RATE_LIMIT:g}/s, client cap {cap:g}/s ({why}): "
                    "successful calls/s; throttled share; failed scopes",
                    f"{rate:.1f}/s ({rate / RATE_LIMIT:.0%}); {share:.1%}; {run.scopes_failed}",
                    target=">= 90%; <= 5%; 0" if recommended else "-",
                    met=(rate >= 0.9 * RATE_LIMIT and share <= 0.05 and run.scopes_failed == 0)
                    if recommended
                    else None,
                )
            )
        progress("3: baseline")
        server.set_faults(**faults)
        base, _ = await _baseline(ctx, server)
        ok, throttled, attempts = _outcomes(server)
    rate = ok / base.seconds
    rows[0] = dataclasses.replace(
        rows[0], baseline=f"{rate:.1f}/s ({rate / RATE_LIMIT:.0%}); {throttled / attempts:.1%}; -"
    )
    return rows


def _outcomes(server: Server) -> tuple[int, int, int]:
    stats = server.stats()
    outcomes = stats["outcomes"]
    attempts = sum(n for op, n in stats["calls"].items() if not op.startswith("sts:"))
    return outcomes.get("ok", 0), outcomes.get("throttled", 0), attempts


# ---------------------------------------------------------------- 4
async def server_errors(ctx: Context) -> list[Row]:
    """4: 5% of calls answered 500/503; the cycle still completes with every package."""
    shape = ctx.shape(500, 40)
    faults = {"latency_seconds": LATENCY, "error_rate": ERROR_RATE}
    with running(shape, **faults) as server:
        async with scratch(ctx.template) as dsn:
            progress("4: service with 5% injected 5xx")
            server.reset()
            run = await syncer_once(dsn, server.endpoint, full=True)
            errors = server.stats()["outcomes"].get("error", 0)
            mirrored = await _mirrored_or_zero(server, dsn)
        async with scratch(ctx.template) as dsn:
            progress("4: baseline with 5% injected 5xx")
            server.set_faults(**faults)
            server.reset()
            base = await asyncio.to_thread(baseline.run_baseline, dsn, server.endpoint, CREDENTIALS)
            base_errors = server.stats()["outcomes"].get("error", 0)
            base_mirrored = await _mirrored_or_zero(server, dsn)
    return [
        Row(
            "4",
            f"{ERROR_RATE:.0%} of calls answered 5xx: status; 5xx retried; "
            "packages mirrored equal to the source",
            f"{run.status}, {seconds(run.cycle_seconds)}; {errors}; {count(mirrored)}",
            f"done, {seconds(base.seconds)}; {base_errors}; {count(base_mirrored)}",
            target=f"succeeded; -; {count(shape.packages)}",
            met=run.status == "succeeded" and mirrored == shape.packages,
        )
    ]


async def _mirrored_or_zero(server: Server, dsn: str) -> int:
    try:
        return await checks.mirror_matches_source(server, dsn)
    except AssertionError as exc:
        progress(f"mirror differs from the source: {str(exc)[:200]}")
        return 0


# ---------------------------------------------------------------- 5
async def scale(ctx: Context) -> list[Row]:
    """5: 200,000 packages: the service's peak RSS, and rows/s into PostgreSQL."""
    shape = ctx.shape(2000, 100)
    with running(shape, latency_seconds=LATENCY) as server:
        async with scratch(ctx.template) as dsn:
            progress(f"5: service, full sync of {count(shape.packages)} packages")
            server.reset()
            full = await syncer_once(dsn, server.endpoint, full=True, **SUMMARIES_ONLY)
            stored = await checks.count_packages(dsn)
            progress("5: service, incremental cycle over them")
            incremental = await syncer_once(dsn, server.endpoint, full=False, **SUMMARIES_ONLY)
    progress("5: database side alone: the service's Store, then the baseline's row-by-row upserts")
    registry = build_registry(shape)
    listing = replay.listing_of(registry)
    async with scratch(ctx.template) as dsn:
        store_seconds = await replay.replay(dsn, listing, CONCURRENCY)
    summaries = _summaries_by_scope(registry)
    del registry, listing
    async with scratch(ctx.template) as dsn:
        base = await asyncio.to_thread(baseline.store_only, dsn, summaries)
    store_rate = shape.packages / store_seconds
    base_rate = base.rows_written / base.seconds
    peak = max(full.peak_rss_mb, incremental.peak_rss_mb)
    return [
        Row(
            "5",
            f"{count(shape.packages)} packages ({shape.groups} groups x {shape.versions}): "
            "full sync time; rows stored; peak RSS (full, incremental)",
            f"{seconds(full.cycle_seconds)}; {count(stored)}; "
            f"{full.peak_rss_mb:.0f} MB, {incremental.peak_rss_mb:.0f} MB",
            target=f"{count(shape.packages)} rows; < 200 MB",
            met=stored == shape.packages and peak < 200 and full.status == "succeeded",
        ),
        Row(
            "5",
            "rows/s into PostgreSQL, end to end (full sync)",
            f"{full.packages_inserted / full.cycle_seconds:,.0f}/s",
        ),
        Row(
            "5",
            "rows/s into PostgreSQL, database side alone (same rows, no API)",
            f"{store_rate:,.0f}/s",
            f"{base_rate:,.0f}/s",
            times(store_rate / base_rate),
            ">= 20,000/s",
            store_rate >= 20_000,
        ),
    ]


def _summaries_by_scope(registry: Any) -> list[list[dict[str, Any]]]:
    """Each scope's summaries as boto3 would hand them over (timestamps as datetimes)."""
    scopes: dict[str | None, list[dict[str, Any]]] = {}
    for package in registry.packages.values():
        summary = package.summary()
        summary["CreationTime"] = datetime.fromtimestamp(summary["CreationTime"], UTC)
        scopes.setdefault(package.group, []).append(summary)
    return list(scopes.values())


# ---------------------------------------------------------------- 6
async def growth(ctx: Context) -> list[Row]:
    """6: time and calls at 1x, 4x and 16x the registry, to show linear growth."""
    rows = []
    first: tuple[float, int, float] | None = None
    for factor in (1, 4, 16):
        shape = ctx.shape(125 * factor, 40)
        with running(shape, latency_seconds=LATENCY) as server:
            progress(f"6: {factor}x ({count(shape.packages)} packages), service")
            run = await _service(ctx, server)
            calls = server.sagemaker_calls()
            progress(f"6: {factor}x, baseline")
            base, base_calls = await _baseline(ctx, server)
        if first is None:
            first = (run.cycle_seconds, calls, base.seconds)
        rows.append(
            Row(
                "6",
                f"{factor}x: {count(shape.packages)} packages: time; calls; peak RSS "
                "(growth against 1x)",
                f"{seconds(run.cycle_seconds)} ({run.cycle_seconds / first[0]:.1f}x); "
                f"{calls} ({calls / first[1]:.1f}x); {run.peak_rss_mb:.0f} MB",
                f"{seconds(base.seconds)} ({base.seconds / first[2]:.1f}x); {base_calls}",
                times(base.seconds / run.cycle_seconds),
                f"~{factor}x" if factor > 1 else "-",
            )
        )
    return rows


Scenario = Callable[[Context], Awaitable[list[Row]]]
# (the scenario numbers a function measures, the function)
SCENARIOS: list[tuple[frozenset[str], Scenario]] = [
    (frozenset({"1", "2"}), full_then_unchanged),
    (frozenset({"3"}), rate_limited),
    (frozenset({"4"}), server_errors),
    (frozenset({"5"}), scale),
    (frozenset({"6"}), growth),
    (frozenset({"Q1"}), quota.unknown_quota),
    (frozenset({"Q2"}), quota.shared_quota),
    (frozenset({"Q3"}), quota.three_quotas),
    (frozenset({"Q4"}), quota.quota_change),
    (frozenset({"7"}), account.account_listing),
]
