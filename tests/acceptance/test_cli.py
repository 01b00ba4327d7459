"""`syncer once` / `migrate` / `check` as a user runs them: exit codes, output, rows."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import pytest

from standin.environment import service_env
from standin.sagemaker import Faults, Registry, StandIn, serve_in_thread
from tests.acceptance.cli import syncer


@pytest.fixture
def registry() -> Registry:
    r = Registry()
    for name, versions in (("churn", 3), ("fraud", 2), ("broken", 2)):
        r.create_group(name)
        for _ in range(versions):
            r.create_package(name, approval="Approved")
    r.create_package(name="standalone")
    return r


@pytest.fixture
def endpoint(registry: Registry) -> Iterator[str]:
    with serve_in_thread(StandIn(registry, Faults(fail_groups={"broken"}))) as url:
        yield url


async def test_once_exits_1_when_a_group_fails_and_mirrors_the_rest(
    database_url: str, endpoint: str, db: asyncpg.Connection
) -> None:
    done = syncer("once", env=service_env(database_url, endpoint, SYNCER_MAX_ATTEMPTS="2"))

    assert done.returncode == 1, done.stderr
    groups = await db.fetch(
        "SELECT model_package_group_name, count(*) FROM sagemaker.model_packages GROUP BY 1 ORDER BY 1"
    )
    assert [tuple(g) for g in groups] == [("churn", 3), ("fraud", 2), (None, 1)]
    run = await db.fetchrow("SELECT status, scopes_failed, errors FROM sagemaker.sync_runs")
    assert run["status"] == "partial" and run["scopes_failed"] == 1
    assert "broken" in run["errors"]
    state = await db.fetchrow(
        "SELECT last_error, consecutive_failures FROM sagemaker.sync_state"
        " WHERE model_package_group_name = 'broken'"
    )
    assert "InternalFailure" in state["last_error"] and state["consecutive_failures"] == 1


async def test_once_exits_0_when_every_scope_synced(
    database_url: str, registry: Registry, db: asyncpg.Connection
) -> None:
    with serve_in_thread(StandIn(registry)) as url:
        done = syncer("once", "--full", env=service_env(database_url, url))
    assert done.returncode == 0, done.stderr
    assert await db.fetchval("SELECT count(*) FROM sagemaker.model_packages") == 8
    assert await db.fetchval("SELECT mode FROM sagemaker.sync_runs") == "full"


def test_unreachable_database_is_one_line_exit_2_without_password(endpoint: str) -> None:
    dsn = "postgresql://svc:hunter2@127.0.0.1:1/registry"
    done = syncer("once", env=service_env(dsn, endpoint))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        "syncer: error: cannot connect to postgresql://svc:***@127.0.0.1:1/registry"
    )
    assert "hunter2" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_missing_database_url_is_one_line_exit_2(endpoint: str) -> None:
    env = service_env("x", endpoint)
    del env["SYNCER_DATABASE_URL"]
    done = syncer("migrate", env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == "syncer: error: SYNCER_DATABASE_URL is required"


async def test_bad_region_config_writes_nothing(empty_database_url: str, endpoint: str) -> None:
    env = service_env(empty_database_url, endpoint)
    del env["AWS_REGION"]
    done = syncer("once", env=env)
    assert done.returncode == 2
    assert "SYNCER_REGIONS" in done.stderr
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert await conn.fetchval("SELECT to_regnamespace('sagemaker')") is None
    finally:
        await conn.close()


def test_check_reports_each_dependency(database_url: str, endpoint: str) -> None:
    good = syncer("check", env=service_env(database_url, endpoint))
    assert good.returncode == 0, good.stdout + good.stderr
    assert (
        "ok    database" in good.stdout and "ok    sagemaker 123456789012/us-east-1" in good.stdout
    )

    bad = syncer("check", env=service_env("postgresql://u:pw@127.0.0.1:1/x", endpoint))
    assert bad.returncode == 2
    assert "FAIL  database" in bad.stdout and "pw@" not in bad.stdout
