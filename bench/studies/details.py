"""Governance details: their calls (backfill, steady state, reconcile), their cost to a sync.

    python -m bench.studies.details [--groups 200] [--versions 100] [--rounds 2]

Against the benchmark's stand-in (20 ms a call, as in bench.scenarios), the real
`syncer once` in a subprocess, with SYNCER_DETAILS on and off in turn, each on
a fresh database: a first full sync, an unchanged incremental cycle and a
reconcile (`once --full`). The details' calls in each cycle are its SageMaker
calls with details on minus those with them off (the listings and the change
feed make the same calls either way). The first syncs' time and rows written
per second are compared over the rounds, which alternate on and off.

Targets: a backfill of N packages in at most N/100 + 10 calls; no call in an
unchanged incremental cycle; at most N/100 + 5 in a reconcile.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from dataclasses import dataclass

import asyncpg

from bench.database import migrated_template, scratch, server_version
from bench.report import Row, machine, markdown, progress, seconds
from bench.server import Server, Shape, running
from bench.service import Run, syncer_once
from syncer.logging import configure_logging

LATENCY = 0.020
CYCLES = (("first sync", True), ("unchanged incremental", False), ("reconcile", True))

ROWS = """
SELECT (SELECT count(*) FROM sagemaker.model_packages)
     + (SELECT count(*) FROM sagemaker.model_package_groups)
     + (SELECT count(*) FROM sagemaker.model_package_changes)
     + (SELECT count(*) FROM sagemaker.model_package_details)
     + (SELECT count(*) FROM sagemaker.model_package_group_details)
"""
DETAILS_ROWS = "SELECT count(*) FROM sagemaker.model_package_details"


async def fetch(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


@dataclass
class Measured:
    first: Run  # the first sync
    written: int  # rows in the mirror after it
    calls: list[int]  # SageMaker calls of each of CYCLES
    details_rows: int


async def three_cycles(template: str, server: Server, details: bool) -> Measured:
    """CYCLES on a fresh database, details on or off; each must succeed."""
    runs, calls = [], []
    async with scratch(template) as dsn:
        for name, full in CYCLES:
            progress(f"{name}, details {'on' if details else 'off'}")
            server.reset()
            run = await syncer_once(dsn, server.endpoint, full=full, details=str(details).lower())
            if run.status != "succeeded":
                raise RuntimeError(f"{name}: {run.status}: {run.stderr_tail}")
            runs.append(run)
            calls.append(server.sagemaker_calls())
            if len(runs) == 1:  # the mirror as the first sync left it
                written = await fetch(dsn, ROWS)
        return Measured(runs[0], written, calls, await fetch(dsn, DETAILS_ROWS))


def details_calls(on: Measured, off: Measured, packages: int) -> list[Row]:
    backfill, incremental, reconcile = (a - b for a, b in zip(on.calls, off.calls, strict=True))
    return [
        Row(
            "D1",
            f"backfill: details calls of the first sync ({packages:,} packages; "
            f"{on.details_rows:,} details rows after the cycles)",
            str(backfill),
            target=f"<= N/100 + 10 = {packages / 100 + 10:.0f}",
            met=backfill <= packages / 100 + 10 and on.details_rows == packages,
        ),
        Row(
            "D2",
            "unchanged incremental cycle: details calls",
            str(incremental),
            target="0",
            met=incremental == 0,
        ),
        Row(
            "D3",
            "reconcile (`once --full`): details calls",
            str(reconcile),
            target=f"<= N/100 + 5 = {packages / 100 + 5:.0f}",
            met=reconcile <= packages / 100 + 5,
        ),
    ]


def comparison(runs: dict[bool, list[Measured]]) -> list[Row]:
    median = statistics.median
    cells = {}
    for details, measured in runs.items():
        times = [m.first.cycle_seconds for m in measured]
        rates = [m.written / m.first.cycle_seconds for m in measured]
        cells[details] = (times, rates, measured[0].written)
    on, off = cells[True], cells[False]
    return [
        Row(
            "D4",
            f"first full sync: cycle time, median of {len(on[0])} "
            f"(each: {', '.join(seconds(t) for t in on[0])} on; "
            f"{', '.join(seconds(t) for t in off[0])} off)",
            f"on {seconds(median(on[0]))}",
            f"off {seconds(median(off[0]))}",
            f"{median(on[0]) / median(off[0]):.2f}x",
        ),
        Row(
            "D4",
            f"first full sync: database rows written (on {on[2]:,}, off {off[2]:,}) per second "
            "of cycle, median",
            f"on {median(on[1]):,.0f} rows/s",
            f"off {median(off[1]):,.0f} rows/s",
            f"{median(on[1]) / median(off[1]):.2f}x",
        ),
    ]


async def main_async(args: argparse.Namespace) -> int:
    shape = Shape(args.groups, args.versions, args.unversioned)
    progress(f"registry: {shape.groups} groups x {shape.versions} + {shape.unversioned}")
    runs: dict[bool, list[Measured]] = {True: [], False: []}
    async with migrated_template() as template:
        with running(shape, latency_seconds=LATENCY) as server:
            for i in range(args.rounds):
                for details in (False, True) if i % 2 == 0 else (True, False):
                    runs[details].append(await three_cycles(template, server, details))
    rows = [*details_calls(runs[True][-1], runs[False][-1], shape.packages), *comparison(runs)]
    print(f"Machine: {machine(await server_version())}")
    print(
        f"Registry: {shape.packages:,} packages in {shape.groups} groups, "
        f"{LATENCY * 1000:.0f} ms a call"
    )
    print(markdown(rows))
    return 0 if all(row.met is not False for row in rows) else 1


def main(argv: list[str] | None = None) -> int:
    configure_logging("WARNING", "console")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--unversioned", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
