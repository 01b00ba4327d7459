"""The migration runner: ordered, once each, checksummed, safe with concurrent runners
(directly and through PgBouncer in transaction mode)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from urllib.parse import urlsplit

import asyncpg
import pytest

from standin.pgbouncer import PgBouncer
from syncer.details.parse import parse_package_details
from syncer.errors import MigrationError
from syncer.warehouse import migrate as migrations
from syncer.warehouse.sql import QUERIES
from syncer.warehouse.store import Store


async def connect(dsn: str) -> asyncpg.Connection:
    return await asyncpg.connect(dsn)


async def test_migrate_applies_every_file_once_then_nothing(empty_database_url: str) -> None:
    conn = await connect(empty_database_url)
    try:
        first = await migrations.migrate(conn)
        second = await migrations.migrate(conn)
        rows = await conn.fetch("SELECT version, name, checksum FROM sagemaker.schema_migrations")
    finally:
        await conn.close()
    expected = migrations.load_migrations()
    assert first == [m.name for m in expected]
    assert second == []
    assert {(r["version"], r["name"], r["checksum"]) for r in rows} == {
        (m.version, m.name, m.checksum) for m in expected
    }


async def test_concurrent_runners_apply_each_migration_exactly_once(
    empty_database_url: str,
) -> None:
    conns = [await connect(empty_database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrations.migrate(c) for c in conns))
        count = await conns[0].fetchval("SELECT count(*) FROM sagemaker.schema_migrations")
    finally:
        for c in conns:
            await c.close()
    applied = [name for result in results for name in result]
    assert sorted(applied) == sorted(m.name for m in migrations.load_migrations())
    assert count == len(migrations.load_migrations())


async def test_concurrent_runners_through_pgbouncer_apply_each_migration_exactly_once(
    empty_database_url: str, pgbouncer: PgBouncer
) -> None:
    """Every transaction may land on another server connection: the runners'
    locks hold for one transaction each, and nothing stays locked afterwards."""
    pooled = pgbouncer.dsn(urlsplit(empty_database_url).path.lstrip("/"))

    async def runner() -> list[str]:
        async with Store.open(pooled, max_size=2, pooler="transaction") as store:
            return await store.migrate()

    results = await asyncio.gather(*(runner() for _ in range(3)))
    assert sorted(n for r in results for n in r) == sorted(
        m.name for m in migrations.load_migrations()
    )
    async with asyncio.timeout(30):  # a lock left behind would make this wait
        assert await runner() == []
    conn = await connect(empty_database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM sagemaker.schema_migrations") == len(
            migrations.load_migrations()
        )
        assert not await conn.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE d.datname = current_database() AND l.locktype IN ('advisory', 'relation')"
            " AND l.pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()


async def test_a_changed_applied_migration_is_an_error(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = migrations.load_migrations()
    edited = [
        migrations.Migration(original[0].version, original[0].name, original[0].sql + "\n-- edited")
    ]
    monkeypatch.setattr(migrations, "load_migrations", lambda: edited + original[1:])
    conn = await connect(database_url)
    try:
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrations.migrate(conn)
        # The runner released its lock: a later run is not blocked.
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND pid = pg_backend_pid()"
            )
            == 0
        )
    finally:
        await conn.close()


async def test_a_failing_migration_rolls_back_alone(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = migrations.load_migrations()
    bad = migrations.Migration(
        999, "0999_broken.sql", "CREATE TABLE sagemaker.half (x int); SELECT 1/0;"
    )
    monkeypatch.setattr(migrations, "load_migrations", lambda: [*good, bad])
    conn = await connect(empty_database_url)
    try:
        with pytest.raises(MigrationError, match="division by zero"):
            await migrations.migrate(conn)
        assert await conn.fetchval("SELECT to_regclass('sagemaker.half')") is None
        assert await conn.fetchval("SELECT max(version) FROM sagemaker.schema_migrations") == max(
            m.version for m in good
        )
    finally:
        await conn.close()


async def test_every_named_query_prepares_against_the_migrated_schema(
    db: asyncpg.Connection,
) -> None:
    """The schema built from all migrations is the one the code's SQL expects."""
    for name, sql in QUERIES.items():
        try:
            await db.prepare(sql)
        except asyncpg.PostgresError as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"query {name} does not match the schema: {exc}")


async def test_reader_role_can_select_every_table(db: asyncpg.Connection) -> None:
    """Every table and view; of those holding identities, every other column
    (tests/integration/test_identities.py checks column by column)."""
    tables = await db.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'sagemaker' AND c.relkind IN ('r', 'v')"
    )
    assert tables
    for row in tables:
        assert await db.fetchval(
            "SELECT has_any_column_privilege('sagemaker_reader', $1, 'SELECT')",
            f"sagemaker.{row['relname']}",
        ), row["relname"]


async def test_0003_moves_the_change_feed_cursor_to_its_own_row(empty_database_url: str) -> None:
    """A mirror made before 0003 kept the feed's cursor on its 'groups' row."""
    conn = await connect(empty_database_url)
    try:
        assert [m[:4] for m in await migrations.migrate(conn, up_to=2)] == ["0001", "0002"]
        await conn.execute(
            "INSERT INTO sagemaker.sync_state (account_id, region, scope_kind,"
            " model_package_group_name, watermark, last_success_at) VALUES"
            " ('1', 'r', 'groups', '', '2026-01-02T03:04:05.678Z', now()),"
            " ('1', 's', 'groups', '', NULL, now()),"
            " ('1', 'r', 'group', 'g', '2026-01-01T00:00:00Z', now())"
        )
        applied = await migrations.migrate(conn)
        assert [m[:4] for m in applied] == [
            f"{m.version:04d}" for m in migrations.load_migrations() if m.version >= 3
        ]
        rows = await conn.fetch(
            "SELECT region, scope_kind, model_package_group_name, watermark"
            " FROM sagemaker.sync_state ORDER BY 1, 2, 3"
        )
    finally:
        await conn.close()
    assert [tuple(r) for r in rows] == [
        ("r", "changes", "", datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)),
        ("r", "group", "g", datetime(2026, 1, 1, tzinfo=UTC)),
        ("r", "groups", "", None),
        ("s", "groups", "", None),
    ]


async def test_the_service_s_functions_are_not_for_everyone(db: asyncpg.Connection) -> None:
    """EXECUTE on the write path stays with the owner (and whom it grants)."""
    functions = await db.fetch(
        "SELECT p.oid::regprocedure::text AS name, has_function_privilege('public', p.oid,"
        " 'EXECUTE') AS public FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'sagemaker'"
    )
    assert {f["name"].split("(")[0] for f in functions} >= {
        "sagemaker.store_listing_page",
        "sagemaker.sweep_scope",
        "sagemaker.lock_scope",
    }
    assert not [f["name"] for f in functions if f["public"]]


async def test_0016_fills_lineage_statuses_and_containers_from_stored_records(
    empty_database_url: str,
) -> None:
    """Details stored before 0016 get the new typed columns from their record, as
    the service parses them (a record with none of the fields keeps them empty)."""
    prefix = "arn:aws:sagemaker:us-east-1:123456789012"
    records = [
        {
            "ModelPackageArn": f"{prefix}:model-package/churn/1",
            "CreationTime": 1_780_000_000.0,
            "MetadataProperties": {
                "GeneratedBy": f"{prefix}:pipeline/train/execution/x1",
                "ProjectId": "p-1",
                "CommitId": "9f2c1ab",
                "Repository": "https://git.example.com/churn",
            },
            "ModelPackageStatusDetails": {
                "ValidationStatuses": [{"Name": "v", "Status": "Failed", "FailureReason": "x"}],
                "ImageScanStatuses": [{"Name": "scan", "Status": "Completed"}, {"Status": "?"}],
            },
            "AdditionalInferenceSpecifications": [
                {"Name": "gpu", "Containers": [{"Image": "gpu:1", "ModelDataUrl": "s3://g"}]},
                {
                    "Name": "cpu",
                    "Containers": [
                        {"Image": "cpu:1"},
                        {"ModelDataSource": {"S3DataSource": {"S3Uri": "s3://c"}}},
                    ],
                },
            ],
        },
        {"ModelPackageArn": f"{prefix}:model-package/churn/2", "CreationTime": 1_780_000_001.0},
        {
            "ModelPackageArn": f"{prefix}:model-package/churn/3",
            "CreationTime": 1_780_000_002.0,
            "ModelPackageStatusDetails": {"ValidationStatuses": "not a list"},
            "AdditionalInferenceSpecifications": [{"Containers": {"Image": "not a list"}}],
        },
    ]
    conn = await connect(empty_database_url)
    try:
        await migrations.migrate(conn, up_to=15)
        for record in records:
            await conn.execute(
                "INSERT INTO sagemaker.model_package_details (model_package_arn, record)"
                " VALUES ($1, $2::jsonb)",
                record["ModelPackageArn"],
                json.dumps(record),
            )
        await migrations.migrate(conn)
        rows = await conn.fetch(
            "SELECT model_package_arn, generated_by, project_id, commit_id, repository,"
            " validation_statuses, image_scan_statuses, additional_image_uris,"
            " additional_model_data_urls FROM sagemaker.model_package_details"
        )
    finally:
        await conn.close()
    stored = {r["model_package_arn"]: r for r in rows}
    for record in records:
        parsed = parse_package_details({"ModelPackage": record})
        row = stored[record["ModelPackageArn"]]
        assert (
            row["generated_by"],
            row["project_id"],
            row["commit_id"],
            row["repository"],
            row["additional_image_uris"],
            row["additional_model_data_urls"],
        ) == (
            parsed.generated_by,
            parsed.project_id,
            parsed.commit_id,
            parsed.repository,
            parsed.additional_image_uris,
            parsed.additional_model_data_urls,
        ), record["ModelPackageArn"]
        for column, value in (
            ("validation_statuses", parsed.validation_statuses),
            ("image_scan_statuses", parsed.image_scan_statuses),
        ):
            got = row[column]
            assert (json.loads(got) if got else None) == (json.loads(value) if value else None)
    assert stored[records[0]["ModelPackageArn"]]["additional_image_uris"] == ["gpu:1", "cpu:1"]
