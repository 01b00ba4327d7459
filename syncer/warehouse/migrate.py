"""Schema migrations: ordered SQL files, one transaction each, recorded with a checksum.

Each file is applied in its own transaction, which takes the migration lock
first and checks under it that the file is still pending, so replicas that
start together apply each file once and the others wait, then find nothing
to do. The lock is held for one transaction only (nothing is kept in the
session), so migrations are safe through a transaction-mode pooler too,
where each transaction may run on another server connection. It is a table
lock on sagemaker.schema_migrations, which only a role that may update it can
take: a reader cannot stall start-up (creating that table, the very first
time, takes a transaction advisory lock). A current schema takes no lock and
runs no DDL. A file changed after it was applied is an error, not a silent
re-run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from syncer.errors import MigrationError
from syncer.logging import get_logger
from syncer.warehouse.sql import QUERIES

log = get_logger(__name__)

# pg_advisory_xact_lock(classid, objid): the class is ours ("SGMR"), the object the purpose.
LOCK_CLASS = 0x53474D52
MIGRATION_LOCK = 1
# Self-conflicting, and not in conflict with readers' ACCESS SHARE.
_TABLE_LOCK = "LOCK TABLE sagemaker.schema_migrations IN SHARE ROW EXCLUSIVE MODE"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS sagemaker;
CREATE TABLE IF NOT EXISTS sagemaker.schema_migrations (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sagemaker.schema_migrations IS
    'Migrations applied by registry-sync (syncer migrate), with the checksum of each file.';
COMMENT ON COLUMN sagemaker.schema_migrations.version IS 'Number of the migration file.';
COMMENT ON COLUMN sagemaker.schema_migrations.name IS 'File name of the migration.';
COMMENT ON COLUMN sagemaker.schema_migrations.checksum IS 'SHA-256 of the file as applied.';
COMMENT ON COLUMN sagemaker.schema_migrations.applied_at IS 'When it was applied.';
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("syncer.warehouse.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration numbers in {[m.name for m in found]}")
    return found


def latest_version() -> int:
    return max((m.version for m in load_migrations()), default=0)


async def _bootstrapped(conn: asyncpg.Connection, settings: tuple[str, str] | None) -> None:
    """In a transaction: its settings, then the bookkeeping table if it is missing.

    No DDL once the table exists: a runtime role with only DML rights (no
    CREATE on the database) starts against a current schema, which
    `CREATE SCHEMA IF NOT EXISTS` would refuse even though it exists.
    """
    if settings:
        await conn.execute(QUERIES["transaction_settings"], *settings)
    if await conn.fetchval("SELECT to_regclass('sagemaker.schema_migrations') IS NULL"):
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_CLASS, MIGRATION_LOCK)
        await conn.execute(_BOOTSTRAP)


async def migrate(
    conn: asyncpg.Connection,
    up_to: int | None = None,
    *,
    settings: tuple[str, str] | None = None,
) -> list[str]:
    """Apply pending migrations (those numbered up to ``up_to``, when given);
    returns the names applied (empty when current). ``settings``: the
    service's transaction settings (store.transaction_settings), set first in
    each transaction."""
    applied_now: list[str] = []
    try:
        async with conn.transaction():
            await _bootstrapped(conn, settings)
            applied = {
                row["version"]: row
                for row in await conn.fetch(
                    "SELECT version, name, checksum FROM sagemaker.schema_migrations"
                )
            }
        for migration in load_migrations():
            if up_to is not None and migration.version > up_to:
                break
            done = applied.get(migration.version)
            if done is not None:
                if done["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.name} was changed after it was applied "
                        "(checksum differs); add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await _bootstrapped(conn, settings)
                await conn.execute(_TABLE_LOCK)
                # Another runner may have applied it while this one waited.
                if await conn.fetchval(
                    "SELECT true FROM sagemaker.schema_migrations WHERE version = $1",
                    migration.version,
                ):
                    continue
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO sagemaker.schema_migrations (version, name, checksum)"
                    " VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("migrate.applied", migration=migration.name)
            applied_now.append(migration.name)
    except asyncpg.PostgresError as exc:
        raise MigrationError(f"migration failed: {exc}") from exc
    return applied_now


async def require_current(conn: asyncpg.Connection) -> None:
    """For a service that does not migrate (SYNCER_MIGRATE=false): the schema must
    already be at least this code's version."""
    version, expected = await current_version(conn), latest_version()
    if version < expected:
        raise MigrationError(
            f"schema version {version}, expected {expected}, and SYNCER_MIGRATE is false; "
            "run `syncer migrate` (as a role that may change the schema) first"
        )


async def current_version(conn: asyncpg.Connection) -> int:
    """The highest applied migration, 0 if none (used by readiness checks)."""
    exists = await conn.fetchval("SELECT to_regclass('sagemaker.schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(
        await conn.fetchval("SELECT coalesce(max(version), 0) FROM sagemaker.schema_migrations")
    )
