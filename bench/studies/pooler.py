"""What a transaction-mode pooler costs: the database side of a full sync, three ways.

``python -m bench.studies.pooler`` replays the Store calls of scenario 1's full sync
(bench/replay.py: the service's own Store, two writers; 500 groups x 40
versions by default) into a fresh clone of a migrated database, then replays
it again unchanged (every page re-sent, nothing to write), each way in turn:

- ``direct``: straight to PostgreSQL, asyncpg's prepared-statement cache on
  (the default, ``SYNCER_DATABASE_POOLER=none``);
- ``direct, no cache``: straight to PostgreSQL, the cache off
  (``SYNCER_DATABASE_POOLER=transaction``), to separate the cache's share;
- ``pgbouncer``: through PgBouncer in transaction mode (standin/pgbouncer.py, the
  suite's own instance), the cache off.

Then the whole cycle: `syncer once --full` on a fresh database against the
benchmark's stand-in (20 ms a call), directly and through PgBouncer. Runs
alternate between the ways, so that drift on a shared machine spreads over
them; medians are printed with every run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from urllib.parse import urlsplit

from bench import replay
from bench.database import migrated_template, scratch, server_version
from bench.report import progress
from bench.scenarios import CONCURRENCY, LATENCY, SUMMARIES_ONLY
from bench.server import Shape, build_registry, running
from bench.service import syncer_once
from standin.pgbouncer import PgBouncer, running_pgbouncer
from standin.postgres import admin_dsn
from syncer.logging import configure_logging


def _database(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


def _print(way: str, label: str, values: list[float], direct: float, extra: str = "") -> None:
    median = statistics.median(values)
    listed = " ".join(f"{v:.2f}" for v in values)
    print(
        f"{way:<17} {label:<10} median {median:6.2f} s ({median / direct:4.2f}x direct)"
        f"{extra}  [{listed}]"
    )


async def replays(runs: int, shape: Shape, template: str, bouncer: PgBouncer) -> None:
    """The Store calls of a first sync, then of an unchanged one, each way in turn."""
    listing = replay.listing_of(build_registry(shape))
    ways = {
        "direct": lambda dsn: (dsn, "none"),
        "direct, no cache": lambda dsn: (dsn, "transaction"),
        "pgbouncer": lambda dsn: (bouncer.dsn(_database(dsn)), "transaction"),
    }
    first: dict[str, list[float]] = {w: [] for w in ways}
    again: dict[str, list[float]] = {w: [] for w in ways}
    for run in range(runs):
        for way in list(ways) if run % 2 == 0 else reversed(ways):
            progress(f"replay {run + 1}, {way}")
            async with scratch(template) as dsn:
                url, pooler = ways[way](dsn)
                first[way].append(await replay.replay(url, listing, CONCURRENCY, pooler=pooler))
                again[way].append(await replay.replay(url, listing, CONCURRENCY, pooler=pooler))
    pages = sum(len(p) for p in listing.scopes.values())
    print(f"replay: {listing.packages:,} packages, {pages} pages in {len(listing.scopes)} scopes")
    for way in ways:
        for label, runs_of in (("first sync", first), ("unchanged", again)):
            rate = f"  {pages / statistics.median(runs_of[way]):6.0f} pages/s"
            _print(way, label, runs_of[way], statistics.median(runs_of["direct"]), rate)


async def cycles(runs: int, shape: Shape, template: str, bouncer: PgBouncer) -> None:
    """`syncer once --full` on a fresh database, directly and through PgBouncer."""
    seconds: dict[str, list[float]] = {"direct": [], "pgbouncer": []}
    with running(shape, latency_seconds=LATENCY) as server:
        for run in range(runs):
            for way in list(seconds) if run % 2 == 0 else reversed(seconds):
                progress(f"cycle {run + 1}, {way}")
                async with scratch(template) as dsn:
                    via: dict[str, str] = {}
                    if way == "pgbouncer":  # the service through it; the run record read direct
                        url = bouncer.dsn(_database(dsn))
                        via = {"database_url": url, "database_pooler": "transaction"}
                    done = await syncer_once(
                        dsn, server.endpoint, full=True, **SUMMARIES_ONLY, **via
                    )
                    if done.status != "succeeded":
                        raise SystemExit(f"{way}: {done.status}\n{done.stderr_tail}")
                    seconds[way].append(done.cycle_seconds)
    print(f"syncer once --full, {shape.packages:,} packages, {LATENCY * 1000:.0f} ms a call")
    for way, values in seconds.items():
        _print(way, "cycle", values, statistics.median(seconds["direct"]))


async def measure(runs: int, shape: Shape) -> None:
    print(f"PostgreSQL {await server_version()}; {runs} runs each, alternating")
    with running_pgbouncer(admin_dsn()) as bouncer:
        async with migrated_template() as template:
            await replays(runs, shape, template, bouncer)
            await cycles(runs, shape, template, bouncer)


def main(argv: list[str] | None = None) -> None:
    configure_logging("WARNING", "console")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--versions", type=int, default=40)
    args = parser.parse_args(argv)
    asyncio.run(measure(args.runs, Shape(args.groups, args.versions)))


if __name__ == "__main__":
    main()
