"""Two checkouts of the service, scenario 1's full sync each, runs alternating.

``python -m bench.alternate A_DIR B_DIR [--runs 6]`` runs `syncer once --full`
from each directory (``git worktree add /tmp/a <commit>`` makes one) in turn,
against one stand-in (500 groups x 40 packages, 20 ms a call) and a new
database each time, which that checkout's own `syncer once` migrates: a
change of code, of schema, or both. It prints, per run and as medians, the
cycle's time and the CPU-seconds of the service (its whole process), of the
stand-in, and of PostgreSQL (the postmaster's reaped children, as in
bench.dbcpu: this machine's server, autovacuum off).

Why alternate: the host's speed drifts by 10-20% within minutes
(docs/benchmarks.md, "Noise"); runs taken in turn share the drift. Why a
directory and not PYTHONPATH: ``python -m`` puts the working directory
first on the path, so it would run this checkout's code on both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path

from bench.database import scratch
from bench.dbcpu import cpu_seconds, postmaster_pid
from bench.scenarios import LATENCY, SUMMARIES_ONLY
from bench.server import Shape, running
from bench.service import syncer_once

COLUMNS = ("cycle s", "service CPU-s", "stand-in CPU-s", "PostgreSQL CPU-s")


async def compare(
    sources: dict[str, str], runs: int, shape: Shape
) -> dict[str, list[tuple[float, ...]]]:
    postmaster = await postmaster_pid()
    results: dict[str, list[tuple[float, ...]]] = {label: [] for label in sources}
    with running(shape, latency_seconds=LATENCY) as server:
        for run in range(runs):
            for label in ("A", "B") if run % 2 == 0 else ("B", "A"):
                async with scratch() as dsn:
                    server.reset()
                    standin = cpu_seconds(server.process.pid)
                    database = cpu_seconds(postmaster, children=True)
                    sync = await syncer_once(
                        dsn, server.endpoint, full=True, source=sources[label], **SUMMARIES_ONLY
                    )
                    await asyncio.sleep(0.2)  # let the postmaster reap the service's backends
                    if sync.status != "succeeded" or sync.packages_listed != shape.packages:
                        listed = f"{sync.status}, {sync.packages_listed} listed"
                        raise SystemExit(f"{label}: {listed}\n{sync.stderr_tail}")
                    row = (
                        sync.cycle_seconds,
                        sync.cpu_seconds,
                        cpu_seconds(server.process.pid) - standin,
                        cpu_seconds(postmaster, children=True) - database,
                    )
                results[label].append(row)
                print(f"run {run + 1} {label}: " + ", ".join(f"{v:.2f}" for v in row), flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.alternate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("a", type=Path, help="checkout A (a directory holding syncer/)")
    parser.add_argument("b", type=Path, help="checkout B")
    parser.add_argument("--runs", type=int, default=6, help="runs of each (default 6)")
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--versions", type=int, default=40)
    args = parser.parse_args(argv)
    sources = {"A": str(args.a.resolve()), "B": str(args.b.resolve())}
    for label, source in sources.items():
        if not Path(source, "syncer", "__main__.py").is_file():
            parser.error(f"{label}: {source} holds no syncer/ package")
    print("columns: " + ", ".join(COLUMNS))
    results = asyncio.run(compare(sources, args.runs, Shape(args.groups, args.versions, 10)))
    for label, rows in results.items():
        medians = ", ".join(
            f"{statistics.median(column):.3f}" for column in zip(*rows, strict=True)
        )
        print(f"{label} ({sources[label]}): medians {medians}")


if __name__ == "__main__":
    main()
