"""Size bombs: the peak memory of `syncer once --full` against records that are too large.

    python -m bench.studies.size_bombs [--code DIR]

A stand-in registry with one ordinary group of 20 versions, then, each on a
fresh database, the same registry with: one package carrying 10 MB of customer
metadata, 10,000 tags and a 5 MB description ("one bomb"); three packages with
10 MB of incompressible customer metadata each ("three records"). Each run is
`syncer once --full` in a subprocess, its peak resident memory read from the
kernel (wait4's ru_maxrss). ``--code DIR`` runs the `syncer` package found in
DIR instead (an older checkout, for a before and after: ``git archive <commit>
syncer migrations | tar -x -C DIR``, then ``ln -s ../../migrations
DIR/syncer/warehouse/migrations``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import subprocess
import sys
from collections.abc import Callable

from standin.environment import service_env
from standin.postgres import scratch_database
from standin.sagemaker import Registry, StandIn, serve_in_thread

T0 = 1_767_225_600.0


def ordinary(registry: Registry) -> None:
    registry.create_group("ordinary", created=T0)
    for v in range(20):
        registry.create_package("ordinary", created=T0 + 1 + v)


def one_bomb(registry: Registry) -> None:
    registry.create_group("bomb", created=T0)
    registry.create_package(
        "bomb",
        created=T0 + 100,
        description="d" * 5_000_000,
        tags={f"tag-{i}": "v" for i in range(10_000)},
        governance={"CustomerMetadataProperties": {"blob": "m" * 10_000_000}},
    )


def three_records(registry: Registry) -> None:
    rng = random.Random(3)
    registry.create_group("bombs", created=T0)
    for i in range(3):
        blob = base64.b64encode(rng.randbytes(7_500_000)).decode()  # 10 MB, incompressible
        registry.create_package(
            "bombs",
            created=T0 + 200 + i,
            governance={"CustomerMetadataProperties": {"blob": blob}},
        )


SCENARIOS: dict[str, Callable[[Registry], None]] = {
    "ordinary registry": lambda r: None,
    "one bomb": one_bomb,
    "three records": three_records,
}


def peak_rss_mb(env: dict[str, str], code: str | None) -> tuple[float, int]:
    # `python -m` puts its working directory first on the path: that decides the code.
    process = subprocess.Popen(
        [sys.executable, "-m", "syncer", "once", "--full"],
        env=env,
        cwd=code or os.getcwd(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    return usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--code", help="a directory holding the syncer package to run")
    args = parser.parse_args()
    print("| registry | peak RSS (MB) | exit |")
    print("| --- | ---: | ---: |")
    for name, shape in SCENARIOS.items():
        registry = Registry()
        ordinary(registry)
        shape(registry)
        async with scratch_database() as dsn:
            with serve_in_thread(StandIn(registry)) as endpoint:
                env = service_env(dsn, endpoint, SYNCER_LOG_LEVEL="WARNING")
                rss, code = await asyncio.to_thread(peak_rss_mb, env, args.code)
        print(f"| {name} | {rss:.0f} | {code} |", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
