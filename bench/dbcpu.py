"""PostgreSQL's CPU time for a full sync's writes, under two schemas, runs alternating.

``python -m bench.dbcpu --before 4`` replays the pages of scenario 1's full sync
(bench/replay.py: the service's own Store, two writers) into a database with
every migration (A) and into one migrated up to, not including, migration 4 (B);
``--variant FILE.sql`` instead makes B from A plus that SQL (a changed function,
a dropped index). It prints, for each, the median CPU-seconds PostgreSQL spent.

Why this and not wall time: the machine's speed drifts by 10-20% within minutes
(docs/benchmarks.md, "Noise"), more than most changes to the write path are
worth. PostgreSQL's own CPU time, taken over runs that alternate A and B, shows
a 5% difference reliably. It is read from the postmaster's reaped children
(cutime + cstime in /proc), so it needs the server on this machine and its data
directory readable; a backend's time counts when it exits, which the replay's
pool does at its end. Autovacuum workers count too: it is off on the CI
machines (conf.d/90-ci.conf), and should be for this.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from bench import replay
from bench.database import scratch, server_setting
from bench.scenarios import CONCURRENCY
from bench.server import HISTORY_SECONDS, Shape, build_registry
from standin.postgres import dsn_for
from syncer import migrate

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """CPU-seconds of a running process (utime + stime), or with ``children`` of its
    exited and reaped children (cutime + cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / TICKS


async def postmaster_pid() -> int:
    """The local PostgreSQL server's postmaster, whose reaped children are its backends."""
    return _read_pid(await server_setting("data_directory"))


def _read_pid(data_directory: str) -> int:
    pid_file = Path(data_directory, "postmaster.pid")
    try:
        return int(pid_file.read_text().split()[0])
    except OSError as exc:
        raise SystemExit(
            f"bench.dbcpu: cannot read {pid_file} ({exc.strerror}): it needs the"
            " PostgreSQL server on this machine, readable by this user"
        ) from None


async def _template(name: str, *, up_to: int | None, variant: str | None) -> None:
    conn = await asyncpg.connect(dsn_for(name))
    try:
        await migrate.migrate(conn, up_to=up_to)
        if variant is not None:
            await conn.execute(variant)
    finally:
        await conn.close()


async def _cpu_of_one_replay(template: str, listing: replay.Listing, postmaster: int) -> float:
    async with scratch(template) as dsn:
        before = cpu_seconds(postmaster, children=True)
        await replay.replay(dsn, listing, CONCURRENCY)
        await asyncio.sleep(0.2)  # the pool's backends are gone; let the postmaster reap them
        return cpu_seconds(postmaster, children=True) - before


async def compare(runs: int, shape: Shape, *, before: int | None, variant: str | None) -> None:
    postmaster = await postmaster_pid()
    listing = replay.listing_of(build_registry(shape, time.time() - HISTORY_SECONDS))
    async with scratch() as a, scratch() as b:
        names = {label: urlsplit(dsn).path.lstrip("/") for label, dsn in (("A", a), ("B", b))}
        await _template(names["A"], up_to=None, variant=None)
        await _template(names["B"], up_to=before - 1 if before else None, variant=variant)
        cpu: dict[str, list[float]] = {"A": [], "B": []}
        for run in range(runs):
            for label in ("A", "B") if run % 2 == 0 else ("B", "A"):
                cpu[label].append(await _cpu_of_one_replay(names[label], listing, postmaster))
    what_b = f"migrated up to {before - 1}" if before else "every migration, then the variant"
    print(f"{listing.packages:,} packages in {len(listing.scopes)} scopes, {runs} runs each")
    for label, about in (("A", "every migration"), ("B", what_b)):
        runs_text = " ".join(f"{s:.2f}" for s in cpu[label])
        print(f"{label} ({about}): median {statistics.median(cpu[label]):.3f} CPU-s  [{runs_text}]")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--before", type=int, help="B: migrated up to, not including, VERSION")
    which.add_argument("--variant", type=Path, help="B: every migration, then this SQL file")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--versions", type=int, default=40)
    args = parser.parse_args(argv)
    variant = args.variant.read_text() if args.variant else None
    shape = Shape(args.groups, args.versions, 10)
    asyncio.run(compare(args.runs, shape, before=args.before, variant=variant))


if __name__ == "__main__":
    main()
