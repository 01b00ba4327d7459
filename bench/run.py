"""The benchmark command: run the selected scenarios, print the table (and save it)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from bench.database import migrated_template, server_version
from bench.report import Row, machine, markdown, progress
from bench.scenarios import SCENARIOS, Context
from syncer.logging import configure_logging


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        default="1,2,3,4,5,6,Q1,Q2,Q3,Q4,7",
        help="comma list of scenario numbers (default: all)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply the number of groups (1.0: the issue's sizes; 0.05 for a quick look)",
    )
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    parser.add_argument(
        "--previous",
        type=Path,
        help="a checkout of another release, measured beside this one where a scenario can",
    )
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> str:
    selected = {part.strip() for part in args.only.split(",") if part.strip()}
    started = time.perf_counter()
    rows: list[Row] = []
    async with migrated_template() as template:
        ctx = Context(template, scale=args.scale, previous=args.previous)
        for numbers, scenario in SCENARIOS:
            if numbers & selected:
                began = time.perf_counter()
                rows += await scenario(ctx)
                progress(f"{scenario.__name__} took {time.perf_counter() - began:.0f} s")
    elapsed = time.perf_counter() - started
    header = [
        f"Machine: {machine(await server_version())}",
        f"Scenarios {','.join(sorted(selected))} at scale {args.scale:g}, "
        f"in {elapsed:.0f} s ({time.strftime('%Y-%m-%d %H:%M %Z')}).",
        "",
    ]
    return "\n".join(header) + markdown(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The service runs in subprocesses with their own logs; here only problems matter.
    configure_logging("ERROR", "json")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    report = asyncio.run(run(args))
    sys.stdout.write(report)
    if args.markdown:
        args.markdown.write_text(report, encoding="utf-8")
    return 0
