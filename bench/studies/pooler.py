"""What a transaction-mode pooler costs: the database side of a full sync, three ways.

``python -m bench.pooler`` replays the Store calls of scenario 1's full sync
(bench/replay.py: the service's own Store, two writers; 500 groups x 40
versions by default) into a fresh clone of a migrated database, then replays
it again unchanged (every page re-sent, nothing to write), each way in turn:

- ``direct``: straight to PostgreSQL, asyncpg's prepared-statement cache on
  (the default, ``SYNCER_DATABASE_POOLER=none``);
- ``direct, no cache``: straight to PostgreSQL, the cache off
  (``SYNCER_DATABASE_POOLER=transaction``), to separate the cache's share;
- ``pgbouncer``: through PgBouncer in transaction mode (standin/pgbouncer.py, the
  suite's own instance), the cache off.

Runs alternate between the ways, so that drift on a shared machine spreads
over all three; medians are printed with every run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from urllib.parse import urlsplit

from bench import replay
from bench.database import migrated_template, scratch, server_version
from bench.server import HISTORY_SECONDS, Shape, build_registry
from standin.pgbouncer import running_pgbouncer
from standin.postgres import admin_dsn

CONCURRENCY = 16  # SYNCER_CONCURRENCY's default: scopes in flight


async def measure(runs: int, shape: Shape) -> None:
    listing = replay.listing_of(build_registry(shape, time.time() - HISTORY_SECONDS))
    with running_pgbouncer(admin_dsn()) as bouncer:
        async with migrated_template() as template:
            ways = {
                "direct": lambda dsn: (dsn, "none"),
                "direct, no cache": lambda dsn: (dsn, "transaction"),
                "pgbouncer": lambda dsn: (
                    bouncer.dsn(urlsplit(dsn).path.lstrip("/")),
                    "transaction",
                ),
            }
            first: dict[str, list[float]] = {w: [] for w in ways}
            again: dict[str, list[float]] = {w: [] for w in ways}
            order = list(ways)
            for run in range(runs):
                for way in order if run % 2 == 0 else reversed(order):
                    async with scratch(template) as dsn:
                        url, pooler = ways[way](dsn)
                        first[way].append(
                            await replay.replay(url, listing, CONCURRENCY, pooler=pooler)
                        )
                        again[way].append(
                            await replay.replay(url, listing, CONCURRENCY, pooler=pooler)
                        )
    pages = sum(len(p) for p in listing.scopes.values())
    print(
        f"PostgreSQL {await server_version()}; {listing.packages:,} packages, {pages} pages"
        f" in {len(listing.scopes)} scopes; {runs} runs each, alternating"
    )
    base = {
        "first": statistics.median(first["direct"]),
        "again": statistics.median(again["direct"]),
    }
    for way in ways:
        for label, runs_of in (("first sync", first), ("unchanged", again)):
            values = runs_of[way]
            median = statistics.median(values)
            ratio = median / base["first" if label == "first sync" else "again"]
            listed = " ".join(f"{v:.2f}" for v in values)
            print(
                f"{way:<17} {label:<10} median {median:6.2f} s ({ratio:4.2f}x direct)"
                f"  {pages / median:6.0f} pages/s  [{listed}]"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--versions", type=int, default=40)
    args = parser.parse_args(argv)
    asyncio.run(measure(args.runs, Shape(args.groups, args.versions)))


if __name__ == "__main__":
    main()
