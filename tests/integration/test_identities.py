"""Personal data kept to what is needed: the name filter, SYNCER_IDENTITIES, the
identity reader role, and the retention of deleted packages' history and details.

Against the stand-in, whose records name their creators and modifiers
(assumed-role/SageMakerUser/<name>); every test reads the rows back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import asyncpg
import pytest

from standin.sagemaker import Registry, StandIn, serve_in_thread, user
from syncer.errors import ConfigError
from syncer.settings import load_settings
from tests.conftest import sync_once
from tests.integration.test_runtime_role import dml_only  # noqa: F401  (a fixture)
from tests.integration.test_security import as_user, everything_stored, login_role

T0 = 1_767_225_600.0
KEY = "a-secret-identity-key-0123456789"


def team_registry() -> Registry:
    """Team A's and team B's groups, each with versions by their own people."""
    registry = Registry()
    registry.create_group("teamA-churn", created=T0, created_by="ana.lima")
    registry.create_group(
        "teamB-acq", created=T0 + 1, created_by="bob.smith", tags={"project": "acquisition-x"}
    )
    for v in range(3):
        registry.create_package("teamA-churn", created=T0 + 10 + v, created_by=f"dev{v % 2}")
    registry.create_package("teamB-acq", created=T0 + 20, created_by="bob.smith")
    registry.create_package(name="standalone", created=T0 + 30, created_by="carl")
    return registry


async def sync(dsn: str, endpoint: str, **settings: Any) -> None:
    result = await sync_once(dsn, endpoint, **{"directed_cycles": False, **settings})
    assert result.status == "succeeded", result.errors


# ---------------------------------------------------------------- the name filter
async def test_the_name_filter_applies_to_everything_stored_and_purges_when_it_narrows(
    dml_only: str,  # noqa: F811
) -> None:
    """As the service's runtime role, which may not DELETE: the purge is the
    migration's function's."""
    registry = team_registry()
    with serve_in_thread(StandIn(registry)) as endpoint:
        await sync(dml_only, endpoint, full=True, group_name_contains="teamA")
        conn = await asyncpg.connect(dml_only)
        try:
            # Group details of team B were never stored (they were, before).
            groups = await conn.fetch(
                "SELECT g.model_package_group_name FROM sagemaker.model_package_group_details d"
                " JOIN sagemaker.model_package_groups g USING (model_package_group_arn)"
            )
            assert [r[0] for r in groups] == ["teamA-churn"]
            assert "bob.smith" not in await everything_stored(conn)

            await sync(dml_only, endpoint, full=True)  # the filter widens: team B comes in
            assert "bob.smith" in await everything_stored(conn)

            await sync(dml_only, endpoint, full=True, group_name_contains="teamA")
            stored = await everything_stored(conn)
            assert "bob.smith" not in stored and "acquisition-x" not in stored
            assert "teamB" not in stored
            names = await conn.fetch(
                "SELECT DISTINCT model_package_group_name FROM sagemaker.model_packages"
            )
            assert sorted(str(r[0]) for r in names) == ["None", "teamA-churn"]

            # Unversioned packages go too when they are no longer mirrored.
            await sync(
                dml_only, endpoint, full=True, group_name_contains="teamA",
                include_unversioned=False,
            )  # fmt: skip
            stored = await everything_stored(conn)
            assert "standalone" not in stored and "carl" not in stored
            assert await conn.fetchval("SELECT count(*) FROM sagemaker.model_packages") == 3
        finally:
            await conn.close()


# ---------------------------------------------------------------- SYNCER_IDENTITIES
def hashed(identity: str) -> str:
    return "hmac:" + hmac.new(KEY.encode(), identity.encode(), hashlib.sha256).hexdigest()


async def identities_stored(db: asyncpg.Connection) -> list[str | None]:
    rows = await db.fetch(
        "SELECT unnest(ARRAY[created_by_arn, created_by_user_profile, last_modified_by_arn,"
        " last_modified_by_user_profile]) FROM sagemaker.model_package_details"
        " UNION ALL SELECT unnest(ARRAY[created_by_arn, created_by_user_profile])"
        " FROM sagemaker.model_package_group_details"
        " UNION ALL SELECT unnest(ARRAY[last_modified_by_arn, last_modified_by_user_profile])"
        " FROM sagemaker.model_package_changes"
    )
    return [r[0] for r in rows]


async def records(db: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT record::text FROM sagemaker.model_package_details"
        " UNION ALL SELECT record::text FROM sagemaker.model_package_group_details"
    )
    return [json.loads(r[0]) for r in rows]


@pytest.mark.parametrize("mode", ["hash", "drop"])
async def test_identities_are_hashed_or_dropped_new_and_stored_ones_alike(
    database_url: str, db: asyncpg.Connection, mode: str
) -> None:
    """Stored with keep first; the next reconcile with hash or drop rewrites what is
    there, history included; the records lose CreatedBy and LastModifiedBy."""
    registry = team_registry()
    arn = next(iter(registry.packages))
    with serve_in_thread(StandIn(registry)) as endpoint:
        await sync(database_url, endpoint, full=True, lookback_seconds=0)
        registry.update_package(arn, approval="Approved", by="maria", approval_description="ok")
        await sync(database_url, endpoint, lookback_seconds=0)  # the feed: who approved
        assert user("maria")["IamIdentity"]["Arn"] in await identities_stored(db)

        registry.create_package("teamA-churn", created_by="dev0")  # new, under the new mode
        settings = (
            {"identities": mode, "identity_key": KEY} if mode == "hash" else {"identities": mode}
        )
        await sync(database_url, endpoint, full=True, lookback_seconds=0, **settings)

    found = [v for v in await identities_stored(db) if v is not None]
    stored = await everything_stored(db)
    for name in ("ana.lima", "bob.smith", "dev0", "dev1", "maria", "SageMakerUser"):
        assert name not in stored, name
    assert all("CreatedBy" not in r and "LastModifiedBy" not in r for r in await records(db))
    if mode == "drop":
        assert found == []
        return
    assert found and all(v.startswith("hmac:") for v in found)
    # One person, one pseudonym: versions per creator still count.
    per_creator = await db.fetch(
        "SELECT created_by, count(*) FROM sagemaker.model_package_governance"
        " WHERE model_package_group_name = 'teamA-churn' GROUP BY 1 ORDER BY 2 DESC"
    )
    assert [tuple(r) for r in per_creator] == [
        (hashed(user("dev0")["IamIdentity"]["Arn"]), 3),
        (hashed(user("dev1")["IamIdentity"]["Arn"]), 1),
    ]
    approver = await db.fetchval(
        "SELECT last_modified_by_arn FROM sagemaker.model_package_changes"
        " WHERE change_type = 'model_approval_status'"
    )
    assert approver == hashed(user("maria")["IamIdentity"]["Arn"])


def test_hash_needs_a_key_given_as_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCER_DATABASE_URL", "postgresql://u@localhost/db")
    monkeypatch.setenv("SYNCER_IDENTITIES", "hash")
    with pytest.raises(ConfigError, match="SYNCER_IDENTITIES=hash needs SYNCER_IDENTITY_KEY"):
        load_settings()
    monkeypatch.setenv("SYNCER_IDENTITY_KEY", KEY)
    assert load_settings().identity_key is not None
    assert KEY not in repr(load_settings())


# ---------------------------------------------------------------- who may read them
IDENTITY_COLUMN = r"^(created_by|last_modified_by|record$)"


async def test_only_the_identity_reader_reads_identities_and_readers_read_the_rest(
    database_url: str, db: asyncpg.Connection
) -> None:
    columns = await db.fetch(
        "SELECT c.relname, a.attname FROM pg_attribute a"
        " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'sagemaker' AND c.relkind IN ('r', 'v') AND a.attnum > 0"
        " AND NOT a.attisdropped"
    )
    identity = {
        (r[0], r[1]) for r in columns if r[1].startswith(("created_by", "last_modified_by"))
    }
    identity |= {(t, "record") for t in ("model_package_details", "model_package_group_details")}
    assert len(identity) >= 14
    for role, readable in (("sagemaker_reader", False), ("sagemaker_identity_reader", True)):
        for relation, column in sorted((r[0], r[1]) for r in columns):
            allowed = await db.fetchval(
                "SELECT has_column_privilege($1, $2, $3, 'SELECT')",
                role,
                f"sagemaker.{relation}",
                column,
            )
            expected = readable or (relation, column) not in identity
            assert allowed is expected, (role, relation, column)

    registry = team_registry()
    with serve_in_thread(StandIn(registry)) as endpoint:
        await sync(database_url, endpoint, full=True)
    name = f"rs_reader_{uuid.uuid4().hex[:8]}"
    async with login_role(name, "IN ROLE sagemaker_reader"):
        reader = await asyncpg.connect(as_user(database_url, name))
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await reader.fetch("SELECT created_by FROM sagemaker.model_package_governance")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await reader.fetch("SELECT record FROM sagemaker.model_package_details")
            tags = await reader.fetch(
                "SELECT model_package_group_name, tags FROM sagemaker.model_package_group_governance"
            )
            assert len(tags) == 2
        finally:
            await reader.close()
    name = f"rs_ident_{uuid.uuid4().hex[:8]}"
    async with login_role(name, "IN ROLE sagemaker_identity_reader"):
        auditor = await asyncpg.connect(as_user(database_url, name))
        try:
            creators = await auditor.fetch(
                "SELECT created_by FROM sagemaker.model_package_group_governance ORDER BY 1"
            )
            assert [r[0].rsplit("/", 1)[1] for r in creators] == ["ana.lima", "bob.smith"]
        finally:
            await auditor.close()


# ---------------------------------------------------------------- retention
async def test_history_and_details_of_packages_deleted_long_ago_are_purged(
    database_url: str, db: asyncpg.Connection
) -> None:
    registry = team_registry()
    gone, kept = list(registry.packages)[:2]
    with serve_in_thread(StandIn(registry)) as endpoint:
        await sync(database_url, endpoint, full=True)
        registry.delete_package(gone)
        await sync(database_url, endpoint, full=True)
        await db.execute(
            "UPDATE sagemaker.model_packages SET deleted_at = now() - interval '10 days'"
            " WHERE model_package_arn = $1",
            gone,
        )
        await sync(database_url, endpoint, full=True, deleted_retention_days=30)
        count = "SELECT count(*) FROM sagemaker.{} WHERE model_package_arn = $1"
        assert await db.fetchval(count.format("model_package_changes"), gone) == 2  # kept
        await sync(database_url, endpoint, full=True, deleted_retention_days=7)

    for table in ("model_package_changes", "model_package_details"):
        assert await db.fetchval(count.format(table), gone) == 0, table
        assert await db.fetchval(count.format(table), kept) > 0, table
    with pytest.raises(asyncpg.RaiseError, match="a day or more in the past"):
        await db.fetchval(
            "SELECT sagemaker.purge_deleted_before('123456789012', 'us-east-1', now())"
        )
