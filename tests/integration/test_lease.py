"""The cycle lease (migration 0007, syncer/cycle/lease.py): only the service may lead.

A reader login (a sagemaker_reader user) can neither take the lease nor
stall it, and the advisory locks that stalled the mirror before (the cycle's
and the migrations') stall nothing now. Deployments with disjoint targets
lead their own cycles side by side in one database, and write everything
once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from standin.dsn import with_login
from standin.mirror import assert_same, mirror_packages, source_packages
from standin.sagemaker import Faults, Registry, StandIn, serve_in_thread
from syncer.warehouse.migrate import LOCK_CLASS, MIGRATION_LOCK
from syncer.warehouse.store import Store
from tests.acceptance.test_run import STOP_LIMIT, eventually, running_service
from tests.conftest import admin_execute, boto_client, open_syncer

OLD_CYCLE_LOCK = 2  # pg_advisory_lock(LOCK_CLASS, 2) was the cycle's session lock


@contextlib.asynccontextmanager
async def reader_login(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of a new login that is a member of sagemaker_reader."""
    name = f"rs_reader_{uuid.uuid4().hex[:8]}"
    await admin_execute(f"CREATE ROLE {name} LOGIN IN ROLE sagemaker_reader")
    try:
        conn = await asyncpg.connect(with_login(database_url, user=name))
        try:
            yield conn
        finally:
            await conn.close()
    finally:
        await admin_execute(f"DROP ROLE IF EXISTS {name}")


def small_registry() -> Registry:
    registry = Registry()
    registry.create_group("model-a")
    for _ in range(3):
        registry.create_package("model-a")
    return registry


async def test_a_reader_can_neither_take_nor_stall_the_cycle(
    database_url: str, db: asyncpg.Connection
) -> None:
    async with reader_login(database_url) as reader:
        # Readers see who leads...
        await reader.fetch("SELECT * FROM sagemaker.cycle_leases")
        # ...and cannot take, lock, hold or change it.
        denied = [
            "SELECT * FROM sagemaker.take_cycle_lease('k', 'me', 3600, 0)",
            "SELECT sagemaker.renew_cycle_lease('k', 'me', 3600)",
            "SELECT sagemaker.release_cycle_lease('k', 'me', true)",
            "INSERT INTO sagemaker.cycle_leases (deployment_key) VALUES ('k')",
            "UPDATE sagemaker.cycle_leases SET expires_at = 'infinity'",
            "DELETE FROM sagemaker.cycle_leases",
            "SELECT * FROM sagemaker.cycle_leases FOR UPDATE",
            "SELECT * FROM sagemaker.cycle_leases FOR NO KEY UPDATE",
            "SELECT * FROM sagemaker.cycle_leases FOR SHARE",
            "SELECT * FROM sagemaker.cycle_leases FOR KEY SHARE",
            "LOCK TABLE sagemaker.cycle_leases IN SHARE MODE",
            "LOCK TABLE sagemaker.schema_migrations IN SHARE MODE",
        ]
        for sql in denied:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with reader.transaction():
                    await reader.execute(sql)

        # What stalled the mirror before: the cycle's and the migrations'
        # advisory locks, held by the reader; and an open transaction that read
        # the lease.
        await reader.execute("SELECT pg_advisory_lock($1, $2)", LOCK_CLASS, OLD_CYCLE_LOCK)
        await reader.execute("SELECT pg_advisory_lock($1, $2)", LOCK_CLASS, MIGRATION_LOCK)
        await reader.execute("BEGIN")
        await reader.fetch("SELECT * FROM sagemaker.cycle_leases")

        with serve_in_thread(StandIn(small_registry())) as endpoint:
            async with asyncio.timeout(60):
                async with Store.open(database_url, max_size=2) as store:
                    assert await store.migrate() == []
                async with open_syncer(database_url, endpoint) as syncer:
                    result = await syncer.run_cycle(full=True)  # not waiting: lead, or skip
        await reader.execute("ROLLBACK")

    assert result.status == "succeeded", result
    assert await db.fetchval("SELECT count(*) FROM sagemaker.model_packages") == 3
    lease = await db.fetchrow("SELECT * FROM sagemaker.cycle_leases")
    assert lease["holder"] and lease["last_completed_at"] is not None
    assert lease["expires_at"] <= await db.fetchval("SELECT now()")  # released


async def test_a_reader_can_neither_lock_nor_stall_a_scope(
    database_url: str, db: asyncpg.Connection
) -> None:
    """A scope's lock is its sync_state row, locked FOR UPDATE, which a reader (who
    may not update) cannot take; the advisory lock on a key computed from
    sync_state, which scopes took before, no longer stalls anything."""
    with serve_in_thread(StandIn(small_registry())) as endpoint:
        async with open_syncer(database_url, endpoint) as syncer:
            assert (await syncer.run_cycle(full=True)).status == "succeeded"
        scopes = await db.fetch(
            "SELECT account_id, region, scope_kind, model_package_group_name"
            " FROM sagemaker.sync_state"
        )
        async with reader_login(database_url) as reader:
            for lock in ("FOR UPDATE", "FOR NO KEY UPDATE", "FOR SHARE", "FOR KEY SHARE"):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    async with reader.transaction():
                        await reader.execute(f"SELECT * FROM sagemaker.sync_state {lock}")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await reader.execute("SELECT sagemaker.lock_scope('1', 'r', 'group', 'g')")
            # The old keys, every scope's, held for the whole cycle.
            for scope in scopes:
                key = "/".join(scope)
                await reader.execute("SELECT pg_advisory_lock(1397181779, hashtext($1))", key)
            async with (
                asyncio.timeout(60),
                open_syncer(database_url, endpoint, statement_timeout_seconds=2) as syncer,
            ):
                result = await syncer.run_cycle(full=True, wait=True)
                changed = await syncer.run_cycle(full=False, wait=True)
    assert result.status == changed.status == "succeeded", (result.errors, changed.errors)


async def test_deployments_with_disjoint_targets_run_side_by_side(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Two `syncer run`s on two regions: their cycles overlap in time (the lease
    is the deployment's), and the mirror holds both regions, each row once."""
    regions = ["us-east-1", "eu-west-1"]
    registries = {region: Registry(region=region) for region in regions}
    for region, registry in registries.items():
        for g in range(2):
            registry.create_group(f"{region}-model-{g}")
            for _ in range(4):
                registry.create_package(f"{region}-model-{g}")
    servers = {r: StandIn(reg, Faults(latency_seconds=0.05)) for r, reg in registries.items()}
    env = {"SYNCER_PAGE_SIZE": "2", "SYNCER_CONCURRENCY": "2"}
    with contextlib.ExitStack() as stack:
        endpoints = {r: stack.enter_context(serve_in_thread(s)) for r, s in servers.items()}
        services = [
            stack.enter_context(
                running_service(
                    database_url, endpoints[r], tmp_path, SYNCER_REGIONS=r, AWS_REGION=r, **env
                )
            )
            for r in regions
        ]

        async def both_ran_at_once() -> bool:
            return bool(
                await db.fetchval(
                    "SELECT count(*) FROM sagemaker.sync_runs a JOIN sagemaker.sync_runs b"
                    "  ON a.deployment_key < b.deployment_key"
                    " AND a.started_at < coalesce(b.finished_at, now())"
                    " AND b.started_at < coalesce(a.finished_at, now())"
                )
            )

        await eventually(both_ran_at_once, "cycles of both deployments at once", services[0])

        # New versions in both while they run; then a completed cycle of each after.
        for region, registry in registries.items():
            registry.create_package(f"{region}-model-0")
        changed_at = await db.fetchval("SELECT now()")

        async def each_synced_after_the_change() -> bool:
            return bool(
                await db.fetchval(
                    "SELECT count(DISTINCT deployment_key) = 2 FROM sagemaker.sync_runs"
                    " WHERE status = 'succeeded' AND started_at > $1",
                    changed_at,
                )
            )

        await eventually(each_synced_after_the_change, "a cycle of each after the change")
        for service in services:
            code, took = service.stop(signal.SIGTERM)
            assert code == 0 and took < STOP_LIMIT, service.log_tail()
        source = {}
        for endpoint in endpoints.values():
            source.update(source_packages(boto_client(endpoint)))

    assert len(source) == 2 * (2 * 4 + 1)
    assert_same(await mirror_packages(db), source)
    assert (
        await db.fetchval(
            "SELECT count(*) FROM sagemaker.model_packages p WHERE 1 <> (SELECT count(*)"
            " FROM sagemaker.model_package_changes c"
            " WHERE c.model_package_arn = p.model_package_arn AND c.change_type = 'created')"
        )
        == 0
    ), "a package recorded created twice, or never"
    runs = await db.fetch(
        "SELECT deployment_key, status, started_at, finished_at FROM sagemaker.sync_runs"
        " ORDER BY deployment_key, started_at"
    )
    assert len({r["deployment_key"] for r in runs}) == 2
    # Neither deployment's start closed the other's running cycle as 'interrupted'
    # (which leaves it unfinished); the stop may have interrupted the last ones.
    assert {r["status"] for r in runs} <= {"succeeded", "interrupted"}, [dict(r) for r in runs]
    assert all(r["finished_at"] for r in runs), [dict(r) for r in runs]
    # Within a deployment, cycles never overlapped.
    for _, own in itertools.groupby(runs, key=lambda r: r["deployment_key"]):
        for earlier, later in itertools.pairwise(own):
            assert earlier["finished_at"] <= later["started_at"]
    assert await db.fetchval("SELECT count(*) FROM sagemaker.cycle_leases") == 2
