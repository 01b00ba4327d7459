"""Replicas of `syncer run` on one database: one leads each cycle, none duplicates
another's work, nothing deadlocks or is lost, and a standby takes over from a
leader killed mid-cycle within one lease period; directly and through PgBouncer.

A cycle runs under the deployment's lease (syncer/cycle/lease.py); every page
write and sweep takes a transaction advisory lock on its scope. The process
tests read the leaders from each replica's log and the cycles from sync_runs;
the in-process test drives two writers at one scope as hard as it can.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from standin.environment import service_env
from standin.mirror import assert_same, mirror_packages, source_packages
from standin.sagemaker import ACCOUNT, REGION, Faults, Registry, StandIn, serve_in_thread
from syncer.cycle.runs import Runs
from syncer.models import PackageSummary, Scope, Target
from syncer.warehouse.store import Store
from tests.acceptance.test_run import STOP_LIMIT, Service, eventually, running_service
from tests.conftest import Route, boto_client, hold_lease, release_lease

REPLICA_ENV = {
    "SYNCER_PAGE_SIZE": "2",
    "SYNCER_CONCURRENCY": "2",
    "SYNCER_RECONCILE_INTERVAL_SECONDS": "2",  # full cycles often: approvals, deletions
}


def sample_registry(groups: int = 3, versions: int = 6) -> Registry:
    """Created an hour ago, a second apart: outside the lookback, so deletions show."""
    start = round(time.time() - 3600, 3)  # milliseconds, as the API has them
    registry = Registry()
    for g in range(groups):
        registry.create_group(f"model-{g}", created=start)
        for v in range(versions):
            registry.create_package(f"model-{g}", created=round(start + g * 100 + v, 3))
    registry.create_package(name="standalone", created=start)
    return registry


def led_runs(service: Service) -> set[int]:
    return {e["run_id"] for e in service.events("cycle.started")}


async def assert_cycles_never_overlapped(db: asyncpg.Connection) -> list[asyncpg.Record]:
    runs = await db.fetch(
        "SELECT run_id, mode, status, started_at, finished_at FROM sagemaker.sync_runs"
        " ORDER BY started_at"
    )
    for earlier, later in itertools.pairwise(runs):
        if earlier["status"] == "interrupted" and earlier["finished_at"] is None:
            continue  # its leader died; its lease expired
        assert earlier["finished_at"] <= later["started_at"], (dict(earlier), dict(later))
    return runs


@pytest.mark.parametrize("replicas", [2, 3])
async def test_replicas_lead_one_at_a_time_and_converge(
    replicas: int, route: Route, db: asyncpg.Connection, tmp_path: Path
) -> None:
    registry = sample_registry()
    server = StandIn(registry, Faults(latency_seconds=0.03))
    with serve_in_thread(server) as endpoint, contextlib.ExitStack() as stack:
        services = [
            stack.enter_context(
                running_service(route.url, endpoint, tmp_path, **REPLICA_ENV, **route.env)
            )
            for _ in range(replicas)
        ]
        for service in services:
            await service.wait_status("/readyz", 200)

        # Changes while they run: new versions, an approval, a deletion.
        arns = sorted(registry.packages)
        registry.update_package(arns[0], approval="Approved")
        registry.delete_package(arns[1])
        for g in range(3):
            registry.create_package(f"model-{g}")
        changed_at = await db.fetchval("SELECT now()")

        # A full cycle that saw the changes, and enough cycles for the lead to
        # pass around. On a slow machine the first cycle may be the only full
        # one before the changes are seen; waiting only for that one left too
        # few cycles to assert on.
        async def full_cycle_after_the_changes_and_three_cycles() -> bool:
            return bool(
                await db.fetchval(
                    "SELECT count(*) FILTER (WHERE mode = 'full' AND status = 'succeeded'"
                    "                          AND started_at > $1) > 0"
                    "       AND count(*) >= 3"
                    "  FROM sagemaker.sync_runs",
                    changed_at,
                )
            )

        await eventually(
            full_cycle_after_the_changes_and_three_cycles,
            "a full cycle after the changes, and three cycles",
            services[0],
        )
        for service in services:
            code, took = service.stop(signal.SIGTERM)
            assert code == 0 and took < STOP_LIMIT, service.log_tail()
        source = source_packages(boto_client(endpoint))

    runs = await assert_cycles_never_overlapped(db)
    assert len(runs) >= 3
    # Every cycle was led by exactly one replica, and each replica had its say.
    leaders = [led_runs(s) for s in services]
    assert sorted(r for led in leaders for r in led) == sorted(r["run_id"] for r in runs)
    assert all(led or s.events("cycle.skipped") for led, s in zip(leaders, services, strict=True))
    for service in services:
        text = service.log.read_text()
        assert "deadlock" not in text.lower() and "Traceback" not in text, service.log_tail()
    assert_same(await mirror_packages(db), source)
    assert await db.fetchval(
        "SELECT deleted_at IS NOT NULL FROM sagemaker.model_packages WHERE model_package_arn = $1",
        arns[1],
    )
    assert await db.fetchval(
        "SELECT count(*) = count(DISTINCT model_package_arn) FROM sagemaker.model_package_changes"
        " WHERE change_type = 'created'"
    )


async def test_a_standby_takes_over_from_a_leader_killed_mid_cycle(
    route: Route, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Within one lease period: the standby asks again when the lease expires,
    not an interval later (an interval of a minute here, a lease of 3 s)."""
    registry = sample_registry(groups=4, versions=8)
    server = StandIn(registry, Faults(latency_seconds=0.15))  # cycles of a few seconds
    env = {
        **REPLICA_ENV,
        **route.env,
        "SYNCER_INTERVAL_SECONDS": "60",
        "SYNCER_RECONCILE_INTERVAL_SECONDS": "60",
        "SYNCER_LEASE_SECONDS": "3",
    }
    with serve_in_thread(server) as endpoint, contextlib.ExitStack() as stack:
        services = [
            stack.enter_context(running_service(route.url, endpoint, tmp_path, **env))
            for _ in range(2)
        ]

        async def some_rows_and_a_cycle_in_flight() -> int | None:
            return await db.fetchval(  # type: ignore[no-any-return]
                "SELECT max(run_id) FROM sagemaker.sync_runs WHERE status = 'running'"
                " AND EXISTS (SELECT 1 FROM sagemaker.model_packages)"
            )

        run_id = await eventually(some_rows_and_a_cycle_in_flight, "a cycle under way")

        async def its_leader() -> Service | None:
            return next((s for s in services if run_id in led_runs(s)), None)

        leader = await eventually(its_leader, f"the log of the replica leading run {run_id}")
        standby = next(s for s in services if s is not leader)
        leader.process.send_signal(signal.SIGKILL)
        leader.process.wait(10)
        killed_at = await db.fetchval("SELECT now()")

        async def taken_over() -> bool:
            return bool(
                await db.fetchval(
                    "SELECT count(*) FROM sagemaker.sync_runs"
                    " WHERE status = 'succeeded' AND started_at > $1",
                    killed_at,
                )
            )

        await eventually(taken_over, "a cycle led by the standby", standby)
        took_over_after = await db.fetchval(
            "SELECT extract(epoch FROM min(started_at) - $1)::float8 FROM sagemaker.sync_runs"
            " WHERE started_at > $1",
            killed_at,
        )
        # The lease (3 s) and a second of jitter, with room for a loaded
        # machine; far below the interval a standby waited for before.
        assert took_over_after < 30, took_over_after
        code, took = standby.stop(signal.SIGTERM)
        assert code == 0 and took < STOP_LIMIT, standby.log_tail()
        source = source_packages(boto_client(endpoint))

    status = await db.fetchval("SELECT status FROM sagemaker.sync_runs WHERE run_id = $1", run_id)
    assert status == "interrupted"  # marked by the standby's first cycle
    assert min(led_runs(standby) - led_runs(leader)) > run_id
    await assert_cycles_never_overlapped(db)
    assert_same(await mirror_packages(db), source)


def summaries(count: int, base: datetime) -> list[PackageSummary]:
    return [
        PackageSummary(
            arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/contested/{i}",
            account_id=ACCOUNT,
            region=REGION,
            group_name="contested",
            version=i,
            name=None,
            description=None,
            creation_time=base + timedelta(milliseconds=i),
            package_status="Completed",
            approval_status="Approved" if i % 2 else "PendingManualApproval",
            life_cycle_stage=None,
            life_cycle_stage_status=None,
            life_cycle_stage_description=None,
            registration_type=None,
            raw=f'{{"v":{i}}}',
        )
        for i in range(1, count + 1)
    ]


async def test_two_writers_on_one_scope_neither_deadlock_nor_lose_updates(
    database_url: str, db: asyncpg.Connection
) -> None:
    """Pages of 1000 rows overlapping by half, in opposite orders, three writers at
    once: without the scope lock their row locks deadlock (they did, every time)."""
    scope = Scope(Target(ACCOUNT, REGION), "contested")
    rows = summaries(2000, datetime(2026, 1, 1, tzinfo=UTC))
    async with (
        Store.open(database_url, max_size=4) as a,
        Store.open(database_url, max_size=4) as b,
    ):
        run_a, run_b = await Runs(a).start("full"), await Runs(b).start("full")

        async def writer(store: Store, run_id: int, pages: list[list[PackageSummary]]) -> None:
            for page in pages:
                await store.store_page(scope, page, run_id, last=True)

        forward = [rows[i : i + 1000] for i in range(0, 2000, 500)]
        backward = [list(reversed(page)) for page in reversed(forward)]
        for _ in range(3):
            await asyncio.gather(
                writer(a, run_a, forward), writer(b, run_b, backward), writer(a, run_a, backward)
            )

    stored = await db.fetch(
        "SELECT model_package_arn, model_approval_status FROM sagemaker.model_packages"
    )
    assert {r[0]: r[1] for r in stored} == {p.arn: p.approval_status for p in rows}
    assert await db.fetchval(
        "SELECT watermark FROM sagemaker.sync_state WHERE model_package_group_name = 'contested'"
    ) == max(p.creation_time for p in rows)
    created = await db.fetch(
        "SELECT model_package_arn, count(*) FROM sagemaker.model_package_changes"
        " WHERE change_type = 'created' GROUP BY 1"
    )
    assert len(created) == 2000 and {r[1] for r in created} == {1}


async def test_once_waits_for_the_leader_at_most_the_statement_timeout_and_a_lease(
    database_url: str, db: asyncpg.Connection
) -> None:
    registry = sample_registry(groups=1, versions=2)
    with serve_in_thread(StandIn(registry)) as endpoint:
        env = service_env(
            database_url,
            endpoint,
            SYNCER_STATEMENT_TIMEOUT_SECONDS="1",
            SYNCER_LEASE_SECONDS="3",
        )
        key = await hold_lease(db)
        started = time.monotonic()
        done = await run_syncer(["once"], env)
        assert time.monotonic() - started < 20
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert lines == [
            "syncer: error: another replica held the cycle lease for longer than "
            "SYNCER_STATEMENT_TIMEOUT_SECONDS + SYNCER_LEASE_SECONDS; its cycle is still running"
        ], done.stderr
        assert not await db.fetchval("SELECT count(*) FROM sagemaker.sync_runs")

        # A leader that finishes within the bound: `once` queues, then runs
        # (whenever the last cycle was: `once` does not wait for an interval).
        waiting = asyncio.create_task(
            run_syncer(["once"], {**env, "SYNCER_STATEMENT_TIMEOUT_SECONDS": "30"})
        )

        async def queued() -> bool:
            return bool(
                await db.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = 'registry-sync' AND datname = current_database()"
                )
            )

        await eventually(queued, "`once` connected, queued behind the leader")
        await asyncio.sleep(1)
        assert not waiting.done()
        await release_lease(db, key)
        done = await waiting
    assert done.returncode == 0, done.stderr
    assert await db.fetchval("SELECT count(*) FROM sagemaker.model_packages") == 3


async def run_syncer(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "syncer",
        *args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())
