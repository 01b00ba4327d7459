"""Governance details: their calls (backfill, steady state, reconcile), their cost to a sync.

    python -m bench.details [--groups 200] [--versions 100] [--rounds 2]

Against the benchmark's stand-in (20 ms a call, as in bench.scenarios), the real
`syncer once` in a subprocess:

* the first full sync with SYNCER_DETAILS on and off, alternating, each on a
  fresh database: cycle time, rows written to the database (packages, groups,
  changes, details) and rows per second of cycle, side by side in one run;
* on the last "on" database: the details calls of the backfill (that first
  sync), of an unchanged incremental cycle and of a reconcile (`once --full`).

Targets (issue): backfill of 20,000 packages at most 210 calls; 0 extra calls
per steady-state incremental cycle; at most N/100 + 5 per reconcile.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

import asyncpg

from bench.database import migrated_template, scratch, server_version
from bench.report import Row, machine, markdown, seconds
from bench.server import Server, Shape, running
from bench.service import Run, syncer_once

LATENCY = 0.020
DETAILS_SEARCHES = ("ModelPackage/CreationTime", "ModelPackageGroup/CreationTime")

ROWS = """
SELECT (SELECT count(*) FROM sagemaker.model_packages)
     + (SELECT count(*) FROM sagemaker.model_package_groups)
     + (SELECT count(*) FROM sagemaker.model_package_changes)
     + (SELECT count(*) FROM sagemaker.model_package_details)
     + (SELECT count(*) FROM sagemaker.model_package_group_details)
"""
DETAILS_ROWS = "SELECT count(*) FROM sagemaker.model_package_details"


def progress(message: str) -> None:
    print(f"[bench.details {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def details_calls(server: Server) -> int:
    searches = server.searches()
    return sum(searches.get(key, 0) for key in DETAILS_SEARCHES)


async def fetch(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def first_syncs(
    template: str, server: Server, rounds: int
) -> tuple[dict[bool, list[tuple[Run, int]]], list[Row]]:
    """Alternating first full syncs with details on and off; then, on the last "on"
    database, an unchanged incremental cycle and a reconcile."""
    runs: dict[bool, list[tuple[Run, int]]] = {True: [], False: []}
    steady: list[Row] = []
    for i in range(rounds):
        for details in (False, True) if i % 2 == 0 else (True, False):
            async with scratch(template) as dsn:
                server.reset()
                progress(f"round {i + 1}: first full sync, details {'on' if details else 'off'}")
                run = await syncer_once(dsn, server.endpoint, full=True, details=str(details))
                if run.status != "succeeded":
                    raise RuntimeError(f"first sync {run.status}: {run.stderr_tail}")
                runs[details].append((run, await fetch(dsn, ROWS)))
                if details and i == rounds - 1:
                    steady = await steady_state(dsn, server, backfill=details_calls(server))
    return runs, steady


async def steady_state(dsn: str, server: Server, backfill: int) -> list[Row]:
    packages = await fetch(dsn, "SELECT count(*) FROM sagemaker.model_packages")
    filled = await fetch(dsn, DETAILS_ROWS)
    progress("unchanged incremental cycle")
    server.reset()
    incremental = await syncer_once(dsn, server.endpoint, full=False)
    incremental_calls = details_calls(server)
    feed = server.searches().get("ModelPackage/LastModifiedTime", 0)
    progress("reconcile")
    server.reset()
    reconcile = await syncer_once(dsn, server.endpoint, full=True)
    reconcile_calls = details_calls(server)
    bound = packages / 100 + 5
    return [
        Row(
            "D1",
            f"backfill: details calls of the first sync ({packages:,} packages; "
            f"{filled:,} details rows after it)",
            str(backfill),
            target=f"<= N/100 + 10 = {packages / 100 + 10:.0f} (210 for 20,000)",
            met=backfill <= packages / 100 + 10 and filled == packages,
        ),
        Row(
            "D2",
            f"unchanged incremental cycle: details calls (the feed's own Search: {feed}); "
            f"status {incremental.status}",
            str(incremental_calls),
            target="0",
            met=incremental_calls == 0 and incremental.status == "succeeded",
        ),
        Row(
            "D3",
            f"reconcile (`once --full`): details calls; cycle {seconds(reconcile.cycle_seconds)}",
            str(reconcile_calls),
            target=f"<= N/100 + 5 = {bound:.0f}",
            met=reconcile_calls <= bound and reconcile.status == "succeeded",
        ),
    ]


def comparison(runs: dict[bool, list[tuple[Run, int]]]) -> list[Row]:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    rows = []
    cells = {}
    for details, measured in runs.items():
        times = [run.cycle_seconds for run, _ in measured]
        rates = [written / run.cycle_seconds for run, written in measured]
        calls = [run.api_calls for run, _ in measured]
        cells[details] = (times, rates, calls, measured[0][1])
    on, off = cells[True], cells[False]
    rows.append(
        Row(
            "D4",
            "first full sync: cycle time, median of "
            f"{len(on[0])} (each: {', '.join(seconds(t) for t in on[0])} on; "
            f"{', '.join(seconds(t) for t in off[0])} off)",
            f"on {seconds(median(on[0]))}",
            f"off {seconds(median(off[0]))}",
            f"{median(on[0]) / median(off[0]):.2f}x",
        )
    )
    rows.append(
        Row(
            "D4",
            f"first full sync: database rows written (on {on[3]:,}, off {off[3]:,}) per second "
            "of cycle, median",
            f"on {median(on[1]):,.0f} rows/s",
            f"off {median(off[1]):,.0f} rows/s",
            f"{median(on[1]) / median(off[1]):.2f}x",
        )
    )
    rows.append(
        Row(
            "D4",
            "first full sync: SageMaker calls (retries included)",
            f"on {median(on[2]):.0f}",
            f"off {median(off[2]):.0f}",
        )
    )
    return rows


async def main_async(args: argparse.Namespace) -> int:
    shape = Shape(args.groups, args.versions, args.unversioned)
    progress(f"registry: {shape.groups} groups x {shape.versions} + {shape.unversioned}")
    async with migrated_template() as template:
        with running(shape, latency_seconds=LATENCY) as server:
            runs, steady = await first_syncs(template, server, args.rounds)
    rows = [*steady, *comparison(runs)]
    print(f"Machine: {machine(await server_version())}")
    print(
        f"Registry: {shape.packages:,} packages in {shape.groups} groups, "
        f"{LATENCY * 1000:.0f} ms a call"
    )
    print(markdown(rows))
    return 0 if all(row.met is not False for row in rows) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--unversioned", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
