"""How stale an approval is in the mirror, with and without the change feed, and its cost.

    python -m bench.studies.freshness [--groups 50 --versions 20 --interval 2
        --reconcile 24 --lookback 2 --changes 40 --periods 3 --seed 1
        --new-versions 0 --idle 0 --modes default,feed-off]

Runs ``syncer run`` in a subprocess against the test stand-in (in a thread
here), on a registry of groups x versions created over the past 90 days.
Once its first (full) cycle has succeeded, at moments drawn uniformly over
``--periods`` reconcile intervals, it changes the approval status of one
package (``UpdateModelPackage``: Approved or Rejected, from pending), and a
watcher polls the mirror every 20 ms for the new value. Staleness is the time
from the update to the mirror showing it. ``--new-versions`` adds that many
new versions (``CreateModelPackage`` in a random group) at moments drawn the
same way; their staleness is the time to the row appearing. The same run is
made in each of ``--modes``: ``default`` (the service as it ships) and
``feed-off`` (SYNCER_CHANGE_FEED=false). ``--idle`` seconds with nothing
changing follow, and their SageMaker calls per second are reported. The
intervals default to the service's defaults (40 s, reconcile 3600 s, lookback
300 s) scaled down 15 times (150 for the reconcile).

Prints staleness (median, 95th percentile, maximum; seconds and intervals)
and the SageMaker calls per cycle, by kind of cycle and by operation, from
sync_runs and the stand-in's counters. The database server is
SYNCER_TEST_DATABASE_URL's (default: postgres on 127.0.0.1:5432); a scratch
database is created and dropped per mode.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

import asyncpg

from bench.database import migrated_template, scratch
from bench.server import HISTORY_SECONDS
from bench.service import syncer_run
from standin.sagemaker import Registry, StandIn, serve_in_thread
from syncer.logging import configure_logging

POLL_SECONDS = 0.02
FIRST_SUCCESS = "SELECT max(run_id) FROM sagemaker.sync_runs WHERE status = 'succeeded'"

MODES: dict[str, dict[str, str]] = {
    "default": {},
    "feed-off": {"change_feed": "false"},
}


@dataclass
class Outcome:
    mode: str
    staleness: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    idle_calls_per_second: float | None = None
    missed: int = 0
    cycles: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)  # by mode
    calls_by_operation: Counter[str] = field(default_factory=Counter)
    all_cycles: int = 0
    cycle_seconds: list[float] = field(default_factory=list)


def seeded(groups: int, versions: int, rng: random.Random) -> Registry:
    """Groups and versions spread over 90 days, each group created just before its
    versions: incremental listings re-read only the newest, and the group listing
    (the newest group known, minus the lookback) finds one group, as in a
    registry that grew over time, not all of them at once."""
    registry = Registry()
    start = time.time() - HISTORY_SECONDS
    step = HISTORY_SECONDS / (groups * (versions + 1) + 1)
    moment = start
    for g in range(groups):
        name = f"model-{g:04d}"
        moment += step
        registry.create_group(name, created=round(moment, 3))
        for _ in range(versions):
            moment += step
            approval = rng.choice(["Approved", "Rejected", "PendingManualApproval"])
            registry.create_package(name, approval=approval, created=round(moment, 3))
    return registry


async def watch(
    conn: asyncpg.Connection,
    pending: dict[str, tuple[str, float, str]],
    outcome: Outcome,
    all_made: asyncio.Event,
    all_seen: asyncio.Event,
) -> None:
    """Record when each changed package shows its new approval in the mirror."""
    while True:
        if all_made.is_set() and not pending:
            all_seen.set()
        if pending:
            rows = await conn.fetch(
                "SELECT model_package_arn, model_approval_status FROM sagemaker.model_packages"
                " WHERE model_package_arn = ANY($1::text[])",
                list(pending),
            )
            seen = time.monotonic()
            for arn, approval in rows:
                expected, changed_at, kind = pending[arn]
                if approval == expected:
                    outcome.staleness.append(seen - changed_at)
                    outcome.by_kind.setdefault(kind, []).append(seen - changed_at)
                    del pending[arn]
        await asyncio.sleep(POLL_SECONDS)


async def first_success(conn: asyncpg.Connection) -> int:
    """The run_id of the service's first succeeded cycle, once there is one."""
    async with asyncio.timeout(120):
        while True:
            run_id = await conn.fetchval(FIRST_SUCCESS)
            if run_id is not None:
                return int(run_id)
            await asyncio.sleep(POLL_SECONDS)


async def measure(args: argparse.Namespace, template: str, mode: str) -> Outcome:
    rng = random.Random(args.seed)
    registry = seeded(args.groups, args.versions, rng)
    standin = StandIn(registry)
    outcome = Outcome(mode)
    duration = args.periods * args.reconcile
    # An approval change of a package, or (None) a new version in a random group.
    targets: list[str | None] = [*rng.sample(sorted(registry.packages), args.changes)]
    targets += [None] * args.new_versions
    rng.shuffle(targets)
    moments = sorted(rng.uniform(0, duration) for _ in targets)
    groups = sorted(registry.groups)
    pending: dict[str, tuple[str, float, str]] = {}
    settings = {
        "interval_seconds": str(args.interval),
        "reconcile_interval_seconds": str(args.reconcile),
        "lookback_seconds": str(args.lookback),
        "max_requests_per_second": "1000",
        **MODES[mode],
    }
    with serve_in_thread(standin) as endpoint:
        async with scratch(template) as dsn:
            conn = await asyncpg.connect(dsn)
            with syncer_run(dsn, endpoint, **settings):
                # The first (full) cycle fills the mirror; the loop's next full one
                # comes a reconcile interval after it.
                first_run = await first_success(conn)
                standin.reset_counters()
                all_made, all_seen = asyncio.Event(), asyncio.Event()
                watcher = asyncio.create_task(
                    watch(conn, pending, outcome, all_made, all_seen), name="watcher"
                )
                began = time.monotonic()
                for arn, moment in zip(targets, moments, strict=True):
                    await asyncio.sleep(max(0.0, began + moment - time.monotonic()))
                    if arn is None:
                        made = registry.create_package(rng.choice(groups))
                        pending[made] = ("PendingManualApproval", time.monotonic(), "new version")
                        continue
                    current = registry.packages[arn].approval
                    new = "Rejected" if current == "Approved" else "Approved"
                    registry.update_package(arn, approval=new)
                    pending[arn] = (new, time.monotonic(), "approval")
                all_made.set()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(args.reconcile * 1.5):
                        await all_seen.wait()
                outcome.missed = len(pending)
                if args.idle:
                    # Nothing changes now: what the loop costs SageMaker when idle.
                    idle_from = _sagemaker_calls(standin)
                    await asyncio.sleep(args.idle)
                    outcome.idle_calls_per_second = (
                        _sagemaker_calls(standin) - idle_from
                    ) / args.idle
                watcher.cancel()
            runs = await conn.fetch(
                "SELECT mode, api_calls, status,"
                " extract(epoch FROM finished_at - started_at)::float8 AS seconds"
                " FROM sagemaker.sync_runs WHERE run_id > $1",
                first_run,
            )
            await conn.close()
    for kind, calls, status, seconds in runs:
        outcome.all_cycles += 1  # the stand-in counted the calls of each, even the last
        if status == "succeeded":  # the last one may be cut short by the stop
            outcome.cycles[kind] += 1
            outcome.calls[kind] += calls
            outcome.cycle_seconds.append(seconds)
    outcome.calls_by_operation.update(
        {op: n for op, n in standin.calls.items() if not op.startswith("sts:")}
    )
    return outcome


def _sagemaker_calls(standin: StandIn) -> int:
    return sum(n for op, n in standin.calls.items() if not op.startswith("sts:"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(args: argparse.Namespace, outcomes: list[Outcome]) -> None:
    print(
        f"registry: {args.groups} groups x {args.versions} versions; interval {args.interval} s,"
        f" reconcile {args.reconcile} s, lookback {args.lookback} s;"
        f" {args.changes} approval changes and {args.new_versions} new versions over"
        f" {args.periods * args.reconcile:g} s\n"
    )
    print("| mode | change | seen | median | p95 | max | median / interval |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for o in outcomes:
        for kind, s in sorted(o.by_kind.items()):
            print(
                f"| {o.mode} | {kind} | {len(s)}"
                f" | {statistics.median(s):.2f} s | {percentile(s, 0.95):.2f} s"
                f" | {max(s):.2f} s | {statistics.median(s) / args.interval:.2f} |"
            )
        if o.missed:
            print(f"| {o.mode} | not seen in time | {o.missed} | | | | |")
    print(
        "\n| mode | cycles (incremental, full) | calls per incremental cycle"
        " | calls per full cycle | Search calls per cycle | median cycle time"
        " | calls/s idle |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for o in outcomes:
        inc, full = o.cycles["incremental"], o.cycles["full"]
        idle = "-" if o.idle_calls_per_second is None else f"{o.idle_calls_per_second:.2f}"
        print(
            f"| {o.mode} | {inc}, {full}"
            f" | {o.calls['incremental'] / max(inc, 1):.1f}"
            f" | {o.calls['full'] / max(full, 1):.1f}"
            f" | {o.calls_by_operation['Search'] / max(o.all_cycles, 1):.2f}"
            f" | {statistics.median(o.cycle_seconds or [0.0]):.2f} s | {idle} |"
        )
    for o in outcomes:
        print(f"\ncalls by operation, {o.mode}: {dict(sorted(o.calls_by_operation.items()))}")


async def measure_modes(args: argparse.Namespace, modes: list[str]) -> list[Outcome]:
    async with migrated_template() as template:
        return [await measure(args, template, mode) for mode in modes]


def main() -> None:
    configure_logging("WARNING", "console")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument(
        "--interval", type=float, default=40 / 15, help="40 s, scaled down 15 times"
    )
    parser.add_argument("--reconcile", type=float, default=24.0)
    parser.add_argument("--lookback", type=float, default=20.0, help="300 s, scaled down 15 times")
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--periods", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--new-versions", type=int, default=0)
    parser.add_argument("--idle", type=float, default=0.0, help="seconds of no change at the end")
    parser.add_argument("--modes", default="default,feed-off")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",")]
    report(args, asyncio.run(measure_modes(args, modes)))


if __name__ == "__main__":
    main()
