"""Faults around the service, injected, and the rows in PostgreSQL afterwards.

SageMaker (the stand-in): throttling storms, 5xx bursts, responses slower than
the read timeout, truncated JSON, a NextToken that repeats forever, empty pages
that carry a token. Retries are bounded, an affected scope fails alone (its
committed pages stand, its watermark covers exactly them), the rest completes,
and the next cycle converges.

PostgreSQL: the service's connections terminated (pg_terminate_backend) in the
middle of `syncer run` while new connections are refused, and a real restart
of a throwaway server: the service logs it, reports not-ready, backs off,
reconnects, and converges.

The API fault tests list with concurrency 1, so the stand-in's seeded fault
draws meet the same requests in the same order on every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from standin.mirror import (
    WATERMARKS,
    assert_same,
    mirror_packages,
    source_packages,
    stored_prefix,
)
from standin.sagemaker import Faults, Registry, StandIn, serve_in_thread
from tests.acceptance.test_run import EVENTUALLY, STOP_LIMIT, eventually, running_service
from tests.conftest import admin_dsn, boto_client, sync_once
from tests.integration.test_security import throwaway_postgres

GROUPS = ("alpha", "beta", "gamma")
VERSIONS = 3
PAGE = 2
SYNC = {"concurrency": 1, "page_size": PAGE, "lookback_seconds": 0}


def seeded_registry(groups: tuple[str, ...] = GROUPS, versions: int = VERSIONS) -> Registry:
    """Distinct creation times a second apart, an hour ago: outside any lookback."""
    start = round(time.time() - 3600, 3)
    registry = Registry()
    for g, group in enumerate(groups):
        registry.create_group(group, created=start + g)
        for v in range(versions):
            registry.create_package(group, created=start + 100 * (g + 1) + v)
    for u in range(2):
        registry.create_package(name=f"standalone-{u}", created=start + 1000 + u)
    return registry


Serve = Callable[[Faults], tuple[StandIn, str]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Starts a stand-in over the seeded registry with the given faults (and seed)."""
    with contextlib.ExitStack() as stack:

        def start(faults: Faults) -> tuple[StandIn, str]:
            server = StandIn(seeded_registry(), faults)
            return server, stack.enter_context(serve_in_thread(server))

        yield start


def listing_requests(server: StandIn, group: str) -> int:
    """ListModelPackages requests of a group, injected faults included."""
    return sum(
        1
        for op, body in server.requests
        if op == "ListModelPackages" and body.get("ModelPackageGroupName") == group
    )


async def failed_scopes(db: asyncpg.Connection, run_id: int | None) -> dict[str, str]:
    errors = await db.fetchval("SELECT errors FROM sagemaker.sync_runs WHERE run_id = $1", run_id)
    return {e["scope"].rsplit("/", 1)[-1]: e["error"] for e in json.loads(errors)}


async def assert_failed_scopes_kept_whole_pages(
    db: asyncpg.Connection, server: StandIn, run_id: int | None, error: str
) -> None:
    """Every scope that failed did so with ``error``, and a failed group kept a prefix."""
    for scope, message in (await failed_scopes(db, run_id)).items():
        assert error in message, (scope, message)
        if scope in GROUPS:
            await stored_prefix(db, server.registry, scope)


async def assert_only_failed(
    db: asyncpg.Connection, standin: tuple[StandIn, str], run_id: int | None, group: str, error: str
) -> None:
    """``group`` failed with ``error`` and was recorded; every other scope is complete."""
    failed = await failed_scopes(db, run_id)
    assert set(failed) == {group}, failed
    assert error in failed[group]
    state = await db.fetchrow(
        "SELECT last_error, consecutive_failures FROM sagemaker.sync_state"
        " WHERE scope_kind = 'group' AND model_package_group_name = $1",
        group,
    )
    assert error in state["last_error"] and state["consecutive_failures"] == 1
    server, endpoint = standin
    await stored_prefix(db, server.registry, group)
    others = {
        arn: row
        for arn, row in source_without_faults(server, endpoint).items()
        if row["model_package_group_name"] != group
    }
    mirrored = await mirror_packages(db)
    assert_same({a: r for a, r in mirrored.items() if a in others}, others)


def source_without_faults(server: StandIn, endpoint: str) -> dict[str, dict[str, Any]]:
    """The source as a well-behaved SageMaker would list it (the checker's own listing
    would otherwise meet the faults too)."""
    faults, server.faults = server.faults, Faults()
    try:
        return source_packages(boto_client(endpoint))
    finally:
        server.faults = faults


async def converge(
    database_url: str, server: StandIn, endpoint: str, db: asyncpg.Connection
) -> None:
    """With the faults gone, one incremental cycle completes the mirror."""
    server.faults = Faults()
    result = await sync_once(database_url, endpoint, **SYNC)
    assert result.status == "succeeded", result.errors
    assert_same(await mirror_packages(db), source_packages(boto_client(endpoint)))


# ---------------------------------------------------------------- SageMaker faults
async def test_a_throttling_storm_is_retried_within_bounds_and_converges(
    serve: Serve, database_url: str, db: asyncpg.Connection
) -> None:
    server, endpoint = serve(Faults(throttle_rate=0.5, seed=11))
    attempts = 3

    result = await sync_once(database_url, endpoint, max_attempts=attempts, **SYNC)

    calls = sum(n for op, n in server.calls.items() if not op.startswith("sts:"))
    throttled = server.outcomes["throttled"]
    assert throttled >= 3, "the storm did not happen"
    run = await db.fetchrow("SELECT * FROM sagemaker.sync_runs WHERE run_id = $1", result.run_id)
    assert (run["api_calls"], run["api_throttled"]) == (calls, throttled)
    # Bounded: each call either got an answer within its attempts, or its scope failed.
    answered = calls - throttled
    assert calls <= attempts * (answered + run["scopes_failed"])
    await assert_failed_scopes_kept_whole_pages(db, server, result.run_id, "ThrottlingException")
    await converge(database_url, server, endpoint, db)


async def test_a_5xx_burst_is_retried_and_a_failing_group_fails_alone(
    serve: Serve, database_url: str, db: asyncpg.Connection
) -> None:
    attempts = 3
    burst = Faults(error_rate=0.3, error_repeats=attempts - 1, fail_groups={"beta"}, seed=18)
    standin = server, endpoint = serve(burst)

    result = await sync_once(database_url, endpoint, max_attempts=attempts, **SYNC)

    beta_requests = listing_requests(
        server, "beta"
    )  # each answered 500, by the burst or fail_groups
    assert server.outcomes["error"] - beta_requests >= 5, "the burst did not happen"
    assert result.status == "partial"
    await assert_only_failed(db, standin, result.run_id, "beta", "InternalFailure")
    assert 1 <= beta_requests <= attempts
    await converge(database_url, server, endpoint, db)


async def test_responses_slower_than_the_read_timeout_fail_that_group_alone(
    serve: Serve, database_url: str, db: asyncpg.Connection
) -> None:
    standin = server, endpoint = serve(Faults(slow_groups={"beta": 3.0}))
    started = time.monotonic()

    result = await sync_once(
        database_url, endpoint, api_timeout_seconds=0.3, max_attempts=2, **SYNC
    )

    assert time.monotonic() - started < EVENTUALLY
    assert listing_requests(server, "beta") == 2  # the read timeout is retried, within bounds
    await assert_only_failed(db, standin, result.run_id, "beta", "ReadTimeoutError")
    await converge(database_url, server, endpoint, db)


async def test_a_truncated_json_body_fails_that_group_alone(
    serve: Serve, database_url: str, db: asyncpg.Connection
) -> None:
    standin = server, endpoint = serve(Faults(malformed_groups={"beta"}))

    result = await sync_once(database_url, endpoint, **SYNC)

    assert listing_requests(server, "beta") == 1  # a 200 with nonsense is not retried
    await assert_only_failed(
        db, standin, result.run_id, "beta", "response has no ModelPackageSummaryList"
    )
    await converge(database_url, server, endpoint, db)


async def test_truncated_bodies_at_random_fail_scopes_never_the_cycle(
    serve: Serve, database_url: str, db: asyncpg.Connection
) -> None:
    server, endpoint = serve(Faults(malformed_rate=0.4, seed=2))

    result = await sync_once(database_url, endpoint, **SYNC)

    assert server.outcomes["malformed"] >= 2, "no body was truncated"
    assert result.status in ("partial", "failed")
    await assert_failed_scopes_kept_whole_pages(db, server, result.run_id, "response has no")
    await converge(database_url, server, endpoint, db)


async def test_a_next_token_that_repeats_forever_stops_that_group_after_one_page(
    serve: Serve, database_url: str, db: asyncpg.Connection
) -> None:
    standin = server, endpoint = serve(Faults(repeat_token_for={"beta"}))

    result = await sync_once(database_url, endpoint, **SYNC)

    assert listing_requests(server, "beta") == 2
    await assert_only_failed(db, standin, result.run_id, "beta", "NextToken repeated")
    assert await stored_prefix(db, server.registry, "beta") == PAGE
    await converge(database_url, server, endpoint, db)


async def test_empty_pages_that_carry_a_token_are_followed_to_the_data(
    serve: Serve, database_url: str, db: asyncpg.Connection
) -> None:
    server, endpoint = serve(Faults(empty_pages_with_token=3))

    result = await sync_once(database_url, endpoint, **SYNC)

    assert result.status == "succeeded", result.errors
    pages = -(-VERSIONS // PAGE)
    assert [listing_requests(server, g) for g in GROUPS] == [3 + pages] * len(GROUPS)
    assert_same(await mirror_packages(db), source_without_faults(server, endpoint))


# ---------------------------------------------------------------- PostgreSQL faults
def invariant_holds(rows: list[asyncpg.Record]) -> None:
    for r in rows:
        assert r["watermark"] is None or (
            r["newest"] is not None and r["watermark"] <= r["newest"]
        ), dict(r)


async def test_connections_terminated_mid_run_are_survived(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """pg_terminate_backend on every connection of the service, mid-cycle, while the
    database refuses new ones for a moment; three times, at seeded random moments."""
    registry = seeded_registry(("alpha", "beta", "gamma", "delta"), versions=6)
    server = StandIn(registry, Faults(latency_seconds=0.1))
    name = await db.fetchval("SELECT current_database()")
    rng = random.Random(6)
    # The switch is thrown from another database: a session cannot refuse its own.
    admin = await asyncpg.connect(admin_dsn())
    try:
        with (
            serve_in_thread(server) as endpoint,
            running_service(
                database_url,
                endpoint,
                tmp_path,
                SYNCER_PAGE_SIZE="2",
                SYNCER_CONCURRENCY="2",
                SYNCER_LOOKBACK_SECONDS="0",
            ) as service,
        ):
            await service.wait_status("/readyz", 200)
            killed_runs: list[int] = [0]
            for _ in range(3):
                for _ in range(2):
                    registry.create_package(rng.choice(("alpha", "delta")))

                async def running() -> int | None:
                    # A cycle started after the last one cut off, still in flight.
                    return await db.fetchval(  # type: ignore[no-any-return]
                        "SELECT max(run_id) FROM sagemaker.sync_runs"
                        " WHERE status = 'running' AND run_id > $1",
                        killed_runs[-1],
                    )

                killed_runs.append(await eventually(running, "a new cycle in flight", service))
                await asyncio.sleep(rng.uniform(0, 0.3))
                await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                killed = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = $1 AND application_name = 'registry-sync'",
                    name,
                )
                assert killed >= 1
                body = json.loads(await service.wait_status("/readyz", 503))
                assert any(r.startswith("database unreachable") for r in body["reasons"]), body
                assert (await service.get("/healthz"))[0] == 200  # a restart would not help
                invariant_holds(await db.fetch(WATERMARKS))
                await asyncio.sleep(1.0)  # the cycle in flight meets the refusal
                await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
                await service.wait_status("/readyz", 200)

            client = boto_client(endpoint)

            async def converged() -> bool:
                return _same(await mirror_packages(db), source_packages(client))

            await eventually(converged, "the mirror equal to the source", service)
            code, took = service.stop(signal.SIGTERM)
            assert code == 0 and took < STOP_LIMIT, service.log_tail()
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()

    lost = service.events("cycle.failed") + service.events("sync.scope_failed")
    assert lost, "the lost connections were not logged"
    # Cycles fail for want of a database, never because a cycle that finished
    # then found its lock's connection cut (which raised an InterfaceError).
    assert not [e for e in service.events("cycle.failed") if "InterfaceError" in e["error"]]
    # A cycle cut off before recording its end was closed by the next one.
    assert not await db.fetchval(
        "SELECT count(*) FROM sagemaker.sync_runs WHERE status = 'running' OR finished_at IS NULL"
        " AND status <> 'interrupted'"
    )
    assert all(e["retry_in"] > 0 for e in service.events("cycle.failed"))
    invariant_holds(await db.fetch(WATERMARKS))
    assert await db.fetchval(
        "SELECT count(*) FROM sagemaker.model_package_changes WHERE change_type = 'created'"
    ) == await db.fetchval("SELECT count(*) FROM sagemaker.model_packages")


def _same(mirror: dict[str, Any], source: dict[str, Any]) -> bool:
    try:
        assert_same(mirror, source)
    except AssertionError:
        return False
    return True


async def test_a_real_postgres_restart_mid_run_is_survived(tmp_path: Path) -> None:
    """A throwaway server stopped hard (as a crash) mid-cycle and started again."""
    registry = seeded_registry(("alpha", "beta", "gamma"), versions=6)
    server = StandIn(registry, Faults(latency_seconds=0.05))
    with throwaway_postgres() as pg, serve_in_thread(server) as endpoint:
        dsn = pg.dsn()
        with running_service(
            dsn, endpoint, tmp_path, SYNCER_PAGE_SIZE="2", SYNCER_CONCURRENCY="2"
        ) as service:
            await service.wait_status("/readyz", 200)
            registry.create_package("beta")
            await asyncio.sleep(0.5)  # into the next cycle
            pg.stop(mode="immediate")
            body = json.loads(await service.wait_status("/readyz", 503))
            assert any(r.startswith("database unreachable") for r in body["reasons"]), body

            async def failed() -> bool:
                return bool(service.events("cycle.failed"))

            await eventually(failed, "a failed cycle in the log", service)
            assert (await service.get("/healthz"))[0] == 200
            pg.start()
            await service.wait_status("/readyz", 200)

            client = boto_client(endpoint)
            conn = await asyncpg.connect(dsn)
            try:

                async def converged() -> bool:
                    return _same(await mirror_packages(conn), source_packages(client))

                await eventually(converged, "the mirror equal to the source", service)
                invariant_holds(await conn.fetch(WATERMARKS))
            finally:
                await conn.close()
            code, took = service.stop(signal.SIGTERM)
            assert code == 0 and took < STOP_LIMIT, service.log_tail()
        assert all(e["retry_in"] > 0 for e in service.events("cycle.failed"))
