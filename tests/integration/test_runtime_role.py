"""The service runs as a role with DML rights only, once another role has migrated.

Such a role has no CREATE on the database, which `CREATE SCHEMA IF NOT
EXISTS` needs even when the schema exists: the service must run no DDL when
the schema is current, and not even try with SYNCER_MIGRATE=false.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from standin.environment import service_env
from standin.sagemaker import Registry, StandIn, serve_in_thread
from syncer.warehouse import migrate as migrations
from tests.acceptance.cli import syncer
from tests.integration.test_security import as_user, login_role

GRANTS = """
GRANT USAGE ON SCHEMA sagemaker TO "{role}";
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA sagemaker TO "{role}";
GRANT USAGE ON ALL SEQUENCES IN SCHEMA sagemaker TO "{role}";
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA sagemaker TO "{role}";
"""


@pytest.fixture
async def dml_only(empty_database_url: str) -> AsyncIterator[str]:
    """The DSN of a login with USAGE, SELECT, INSERT, UPDATE and EXECUTE on a
    schema that the database's owner migrated."""
    role = f"rs_app_{uuid.uuid4().hex[:8]}"
    async with login_role(role, "NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT"):
        owner = await asyncpg.connect(empty_database_url)
        try:
            await migrations.migrate(owner)
            await owner.execute(GRANTS.format(role=role))
            try:
                yield as_user(empty_database_url, role)
            finally:
                await owner.execute(f'DROP OWNED BY "{role}"')  # its grants, so it can be dropped
        finally:
            await owner.close()


def sample_registry() -> Registry:
    registry = Registry()
    registry.create_group("churn")
    registry.create_package("churn", approval="Approved")
    registry.create_package(name="standalone")
    return registry


async def test_a_dml_only_role_runs_the_service_against_a_current_schema(dml_only: str) -> None:
    conn = await asyncpg.connect(dml_only)
    try:
        assert not await conn.fetchval(
            "SELECT has_database_privilege(current_database(), 'CREATE')"
        )
    finally:
        await conn.close()
    with serve_in_thread(StandIn(sample_registry())) as endpoint:
        for args, extra in (
            (("once",), {}),  # migrates by default: finds nothing to do, runs no DDL
            (("once", "--full"), {"SYNCER_MIGRATE": "false"}),
            (("status",), {}),
        ):
            done = syncer(*args, env=service_env(dml_only, endpoint, **extra))
            assert done.returncode == 0, (args, extra, done.stderr)
    conn = await asyncpg.connect(dml_only)
    try:
        assert await conn.fetchval("SELECT count(*) FROM sagemaker.model_packages") == 2
        runs = await conn.fetch("SELECT status FROM sagemaker.sync_runs ORDER BY run_id")
    finally:
        await conn.close()
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]


async def test_without_migrate_an_older_schema_is_refused_and_nothing_is_written(
    empty_database_url: str,
) -> None:
    with serve_in_thread(StandIn(sample_registry())) as endpoint:
        env = service_env(empty_database_url, endpoint, SYNCER_MIGRATE="false")
        done = syncer("once", env=env)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    expected = migrations.latest_version()
    assert lines[0].startswith(
        f"syncer: error: schema version 0, expected {expected}, and SYNCER_MIGRATE is false"
    ), lines[0]
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert await conn.fetchval("SELECT to_regnamespace('sagemaker')") is None
    finally:
        await conn.close()
