"""SIGKILL `syncer once` at random moments; nothing is lost, nothing duplicated.

Twelve runs of the real command line (six through PgBouncer, whose part is
the pooler's: the kills themselves are the direct run's) against a slowed
stand-in, each killed
at a seeded random moment: most a random delay after its cycle started (so
the kill lands among its pages, sweeps and run bookkeeping), some a random
delay after the process started (in its start-up or migration). Between
kills the registry changes: new versions and groups, approvals, deletions.
Runs alternate between incremental and full, with no lookback, so a
watermark that ran ahead of its rows would lose packages for good.

After every kill: for every scope, the watermark is at most the newest
creation time stored in it. At the end a clean incremental `once` must find
every package (no gap below any watermark), and a clean `once --full` must
leave the mirror equal to the source; every package was recorded created
exactly once. Directly, and through PgBouncer in transaction mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from standin.environment import service_env
from standin.mirror import WATERMARKS, assert_same, mirror_packages, source_packages
from standin.sagemaker import ApiError, Faults, Registry, StandIn, serve_in_thread
from tests.conftest import Route, boto_client

SEED = 2026
KILLS = {"direct": 12, "pgbouncer": 6}


def ticking_clock() -> Callable[[], float]:
    """Creation times a second apart, from an hour ago: distinct and long visible."""
    start = round(time.time() - 3600, 3)
    counter = itertools.count()
    return lambda: round(start + next(counter), 3)


def seeded_registry() -> Registry:
    registry = Registry(clock=ticking_clock())
    for g in range(4):
        registry.create_group(f"model-{g}")
        for _ in range(10):
            registry.create_package(f"model-{g}")
    for u in range(3):
        registry.create_package(name=f"standalone-{u}")
    return registry


def change(registry: Registry, rng: random.Random, round_: int, mirrored: list[str]) -> bool:
    """What a busy team does between two runs (deleting what the mirror already holds).
    Whether it deleted a package."""
    groups = sorted(registry.groups)
    for _ in range(rng.randint(1, 3)):
        registry.create_package(rng.choice(groups))
    arns = sorted(registry.packages)
    registry.update_package(rng.choice(arns), approval=rng.choice(["Approved", "Rejected"]))
    deletable = sorted(set(mirrored) & set(arns))
    deleted = round_ % 2 == 0 and bool(deletable)
    if deleted:
        registry.delete_package(rng.choice(deletable))
    if round_ % 4 == 1:
        name = f"model-new-{round_}"
        registry.create_group(name)
        registry.create_package(name)
    if round_ % 5 == 2:
        with contextlib.suppress(ApiError):  # the name may be taken
            registry.create_package(name=f"standalone-new-{round_}")
    return deleted


@dataclass
class Kill:
    round: int
    mode: str
    requests_before: int  # SageMaker requests the run had made when it died
    mid_cycle: bool  # it had started a cycle (its sync_runs row is left 'running')


async def assert_watermarks_cover_only_stored_rows(db: asyncpg.Connection) -> None:
    for row in await db.fetch(WATERMARKS):
        if row["watermark"] is not None:
            assert row["newest"] is not None and row["watermark"] <= row["newest"], dict(row)


def once(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "syncer", "once", *args],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


async def clean_once(args: list[str], env: dict[str, str], log: Path) -> int:
    process = once(args, env, log)
    deadline = time.monotonic() + 120
    while process.poll() is None:
        assert time.monotonic() < deadline, "a clean run did not finish"
        await asyncio.sleep(0.05)
    return process.returncode


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def run_and_kill(
    server: StandIn,
    db: asyncpg.Connection,
    mode: list[str],
    env: dict[str, str],
    log: Path,
    rng: random.Random,
    round_: int,
    patience: float,
) -> Kill | None:
    """One `once`, SIGKILLed at a random moment; None if it finished first."""
    before_run, before_requests = await newest_run(db), len(server.requests)
    process = once(mode, env, log)
    if round_ % 4 == 3:  # in start-up, migration or the first listing
        await asyncio.sleep(rng.uniform(0.02, 0.5) * patience)
    else:  # among the cycle's pages, sweeps and bookkeeping
        deadline = time.monotonic() + 30
        while await newest_run(db) == before_run and process.poll() is None:
            assert time.monotonic() < deadline, tail(log)
            await asyncio.sleep(0.01)
        await asyncio.sleep(rng.uniform(0, 0.8) * patience)
    if process.poll() is not None:
        assert process.returncode == 0, tail(log)
        return None
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    mid_cycle = bool(
        await db.fetchval(
            "SELECT count(*) FROM sagemaker.sync_runs WHERE run_id > $1 AND status = 'running'",
            before_run,
        )
    )
    requests = len(server.requests) - before_requests
    return Kill(round_, "full" if mode else "incremental", requests, mid_cycle)


async def newest_run(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT coalesce(max(run_id), 0) FROM sagemaker.sync_runs"))


async def test_sigkill_at_random_moments_loses_nothing(
    route: Route, db: asyncpg.Connection, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    registry = seeded_registry()
    server = StandIn(registry, Faults(latency_seconds=0.04))
    log = tmp_path / "once.log"
    kills: list[Kill] = []
    with serve_in_thread(server) as endpoint:
        env = service_env(
            route.url,
            endpoint,
            SYNCER_PAGE_SIZE="2",
            SYNCER_CONCURRENCY="2",
            SYNCER_LOOKBACK_SECONDS="0",
            # A killed run's lease expires before the next run gives up on it.
            SYNCER_LEASE_SECONDS="3",
            **route.env,
        )
        deleted = 0
        for round_ in range(KILLS[route.name]):
            mode = ["--full"] if round_ % 2 else []
            # A run that finishes before its moment comes is run again, sooner.
            for patience in (1.0, 0.5, 0.25, 0.1):
                kill = await run_and_kill(server, db, mode, env, log, rng, round_, patience)
                await assert_watermarks_cover_only_stored_rows(db)
                if kill:
                    kills.append(kill)
                    break
            deleted += change(registry, rng, round_, list(await mirror_packages(db)))
        if not deleted:
            # Every kill came before a page was stored (a slow machine): one
            # clean run, then a deletion of what it mirrored, so that marking
            # deletions is still checked below.
            assert await clean_once([], env, log) == 0, tail(log)
            registry.delete_package(rng.choice(sorted(await mirror_packages(db))))

        # Nothing below any watermark is missing: an incremental run finds it all.
        assert await clean_once([], env, log) == 0, tail(log)
        source = source_packages(boto_client(endpoint))
        mirrored = await mirror_packages(db, live_only=False)
        assert set(source) <= set(mirrored), sorted(set(source) - set(mirrored))[:5]

        assert await clean_once(["--full"], env, log) == 0, tail(log)
        source = source_packages(boto_client(endpoint))

    assert_same(await mirror_packages(db), source)
    marked = {
        r[0]
        for r in await db.fetch(
            "SELECT model_package_arn FROM sagemaker.model_packages WHERE deleted_at IS NOT NULL"
        )
    }
    assert marked and marked == set(await mirror_packages(db, live_only=False)) - set(source)
    assert (
        await db.fetchval(
            "SELECT count(*) FROM sagemaker.model_packages p WHERE 1 <> (SELECT count(*)"
            " FROM sagemaker.model_package_changes c"
            " WHERE c.model_package_arn = p.model_package_arn AND c.change_type = 'created')"
        )
        == 0
    ), "a package recorded created twice, or never"
    # Runs cut off by a kill were closed by the next one.
    assert not await db.fetchval(
        "SELECT count(*) FROM sagemaker.sync_runs WHERE status = 'running'"
    )

    # The kills landed across the sync: mid-cycle, at many different depths.
    required = KILLS[route.name] - 2  # a run may finish before every moment drawn for it
    assert len(kills) >= required, kills
    assert sum(k.mid_cycle for k in kills) >= required // 2 + 1, kills
    assert len({k.requests_before for k in kills}) >= min(5, required - 1), kills
    print(
        f"\n{len(kills)} kills, {sum(k.mid_cycle for k in kills)} mid-cycle, after"
        f" {sorted(k.requests_before for k in kills)} SageMaker requests"
    )
