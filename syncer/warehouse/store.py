"""PostgreSQL through asyncpg: the pool, transactions, listing pages, groups and sweeps.

Modules that own other tables (the lease, the change feed, runs, rates,
details, status) run their SQL through ``Store.transaction()``, which carries
the service's settings.

Each page is written in one transaction that also advances the scope's
watermark, under the scope's lock (its sync_state row), so a crash
between pages loses nothing and two writers never interleave on one scope.
A listing page is one round trip (sagemaker.write_listing_page, migrations
0003 and 0013), its last page included, which also sweeps and records the
scope: a statement that is its own transaction and sets its own bounds.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from syncer.errors import DatabaseError, describe
from syncer.logging import get_logger, mask_secrets, redact_dsn
from syncer.models import PackageGroup, PackageSummary, Scope, Target
from syncer.warehouse import migrate as migrations
from syncer.warehouse.sql import QUERIES

log = get_logger(__name__)

# Errors that mean "the database went away", as opposed to "this statement is wrong".
CONNECTION_ERRORS = (
    OSError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
)


@dataclass(frozen=True)
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    changes: int = 0
    deleted: int = 0


# A window of the account-wide listing holds whole pages, and enough of them
# that its partly filled last page costs little.
PAGE_SIZE = 100
MIN_WINDOW_PAGES = 5


Key = tuple[str, str, str, str]  # a sync_state row: account, region, kind, scope


def scope_key(scope: Scope) -> Key:
    """sync_state's primary key for a scope."""
    kind = "unversioned" if scope.is_unversioned else "group"
    return (scope.target.account_id, scope.target.region, kind, scope.group_name)


def groups_key(target: Target) -> Key:
    return (target.account_id, target.region, "groups", "")


def packages_key(target: Target) -> Key:
    """The listing of every package of a target: its watermark is where incremental
    cycles look for new packages next."""
    return (target.account_id, target.region, "packages", "")


def changes_key(target: Target) -> Key:
    """The change feed's row: its cursor is the watermark."""
    return (target.account_id, target.region, "changes", "")


def pool_size(writers: int) -> int:
    """Connections for ``writers`` page writers and the rest (the lease, /readyz, runs)."""
    return writers + 2


def transaction_settings(statement_timeout_seconds: float) -> tuple[str, str]:
    """The values of QUERIES["transaction_settings"], which every transaction the
    service opens runs first (as SET LOCAL would).

    Not startup parameters (a transaction-mode pooler refuses them) nor
    session settings (the next transaction may run on another server
    connection): each transaction carries its own. ``search_path`` keeps
    other users' objects in ``public`` from shadowing a built-in the service's
    SQL calls (ours are schema-qualified). ``statement_timeout`` bounds every
    statement; ``idle_in_transaction_session_timeout`` a transaction a bug
    leaves open. ``plan_cache_mode``: a first sync fills the tables from empty
    while the prepared statements run, and a generic plan made on the empty
    tables' statistics (sequential scans) stays until autovacuum analyzes
    them, which made each page and sweep cost O(table); planning every
    execution keeps the index plans. The page write
    overrides this inside its function, where its plans are confined to index
    probes (migration 0004).
    """
    timeout_ms = int(statement_timeout_seconds * 1000)
    return str(timeout_ms), str(2 * timeout_ms)


# What a transaction-mode pooler answers to asyncpg's named prepared statements
# when SYNCER_DATABASE_POOLER is not set: a statement prepared on one server
# connection is missing (or already taken) on the next.
PREPARED_STATEMENT_ERRORS = (
    asyncpg.exceptions.InvalidSQLStatementNameError,
    asyncpg.exceptions.DuplicatePreparedStatementError,
)
POOLER_MISSING = (
    "a transaction-mode pooler (PgBouncer, a pooled endpoint) sits in front of PostgreSQL: "
    "set SYNCER_DATABASE_POOLER=transaction"
)


class Store:
    def __init__(
        self, pool: asyncpg.Pool, statement_timeout_seconds: float = 60.0, pooler: str = "none"
    ) -> None:
        self._pool = pool
        self._pooler = pooler
        self._pooler_told = False
        self._settings = transaction_settings(statement_timeout_seconds)
        # The page write's own bound on lock waits (migration 0013), in ms.
        self._lock_timeout_ms = int(self._settings[0])

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        dsn: str,
        *,
        max_size: int,
        statement_timeout_seconds: float = 60.0,
        pooler: str = "none",
    ) -> AsyncIterator[Store]:
        """A pool on ``dsn``; ``pooler="transaction"`` when a transaction-mode pooler
        is in the way, which turns asyncpg's prepared-statement cache off (a named
        statement prepared in one transaction is gone in the next)."""
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=max_size,
                command_timeout=statement_timeout_seconds + 5,
                timeout=10,
                reset=_reset,
                statement_cache_size=0 if pooler == "transaction" else 100,
                # application_name is the one setting a pooler passes through at start-up.
                server_settings={"application_name": "registry-sync"},
            )
        except (*CONNECTION_ERRORS, asyncpg.PostgresError, TimeoutError) as exc:
            raise DatabaseError(
                f"cannot connect to {redact_dsn(dsn)}: {mask_secrets(describe(exc))}"
            ) from exc
        try:
            yield cls(pool, statement_timeout_seconds, pooler)
        finally:
            await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection in a transaction that carries the service's settings."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(QUERIES["transaction_settings"], *self._settings)
                yield conn
        except PREPARED_STATEMENT_ERRORS as exc:
            if self._pooler != "none":
                raise
            raise self._pooler_missing(exc) from exc

    async def _alone(self, query: str, *args: Any) -> asyncpg.Record:
        """One statement on its own, which is its own transaction: a page function
        that sets its own settings (migration 0013). Errors as ``transaction``'s."""
        try:
            record = await self._pool.fetchrow(QUERIES[query], *args)
        except PREPARED_STATEMENT_ERRORS as exc:
            if self._pooler != "none":
                raise
            raise self._pooler_missing(exc) from exc
        assert record is not None
        return record

    def _pooler_missing(self, exc: Exception) -> DatabaseError:
        """A prepared-statement error without a pooler configured: the error naming
        the setting, said once in the log as well."""
        if not self._pooler_told:
            self._pooler_told = True
            log.error("database.pooler_setting_missing", message=POOLER_MISSING)
        return DatabaseError(f"{POOLER_MISSING} ({describe(exc)})")

    async def migrate(self) -> list[str]:
        async with self._pool.acquire() as conn:
            return await migrations.migrate(conn, settings=self._settings)

    async def require_current_schema(self) -> None:
        async with self.transaction() as conn:
            await migrations.require_current(conn)

    async def schema_version(self) -> int:
        async with self.transaction() as conn:
            return await migrations.current_version(conn)

    # ------------------------------------------------------------- scopes
    async def watermarks(self, target: Target) -> dict[Key, datetime]:
        """Every scope's watermark in a target, by ``scope_key``; one query."""
        async with self.transaction() as conn:
            rows = await conn.fetch(QUERIES["get_watermarks"], target.account_id, target.region)
        return {(target.account_id, target.region, row[0], row[1]): row[2] for row in rows}

    async def store_page(
        self,
        scope: Scope,
        packages: Sequence[PackageSummary],
        run_id: int,
        *,
        last: bool = False,
        seen_arns: Sequence[str] | None = None,
        absent_before: datetime | None = None,
    ) -> WriteCounts:
        """Upsert one page of a listing and advance the scope's watermark over it, atomically.

        ``last`` (the listing's final page, possibly empty) also records the
        scope's success in the same transaction; with ``seen_arns``, everything
        a complete listing returned, packages of the scope not among them and
        created before ``absent_before`` are marked deleted first. One round
        trip: a statement on its own, which is its own transaction, not a
        transaction block. The page function sets its own search_path and
        plans, and a lock timeout of the statement timeout, so that a row
        someone else holds fails the page in time; asyncpg's command timeout
        bounds the rest (migration 0013).
        """
        rows = list({p.arn: p for p in packages}.values())  # a page may repeat an item
        if not rows and not last:
            return WriteCounts()
        if seen_arns is not None and absent_before is None:
            raise ValueError("a sweep needs absent_before")
        record = await self._alone(
            "store_listing_page",
            *scope_key(scope),
            *package_columns(rows),
            run_id,
            last,
            list(seen_arns) if seen_arns is not None else None,
            absent_before,
            self._lock_timeout_ms,
        )
        return WriteCounts(*record)

    async def write_package_page(
        self, packages: Sequence[PackageSummary], run_id: int
    ) -> WriteCounts:
        """Upsert one page of a target's account-wide listing, its rows in any group.

        No watermark moves here (``close_package_listing`` records the scopes);
        rows go sorted by ARN, so that concurrent writers lock them in one order.
        """
        rows = sorted({p.arn: p for p in packages}.values(), key=lambda p: p.arn)
        if not rows:
            return WriteCounts()
        record = await self._alone(
            "write_package_page", *package_columns(rows), run_id, self._lock_timeout_ms
        )
        return WriteCounts(record["inserted"], record["updated"], record["changes"])

    async def close_package_listing(
        self,
        target: Target,
        seen_arns: Sequence[str],
        *,
        absent_before: datetime,
        name_filter: str | None,
        unversioned: bool,
        run_id: int,
    ) -> int:
        """After a complete account-wide listing: mark what it did not contain deleted
        (created before ``absent_before``, within the name filter) and record every
        scope it covered. Returns how many packages were marked deleted."""
        record = await self._alone(
            "close_package_listing",
            target.account_id,
            target.region,
            list(seen_arns),
            absent_before,
            name_filter or "",
            unversioned,
            run_id,
            self._lock_timeout_ms,
        )
        return int(record[0])

    async def window_edges(self, target: Target, windows: int) -> list[datetime]:
        """Creation times that split the target's live packages, as the mirror knows
        them, into about ``windows`` windows of whole pages (at least a few each)."""
        async with self.transaction() as conn:
            rows = await conn.fetch(
                QUERIES["window_edges"],
                target.account_id,
                target.region,
                windows,
                MIN_WINDOW_PAGES * PAGE_SIZE,
            )
        return [r[0] for r in rows]

    async def live_among(self, arns: Sequence[str]) -> dict[str, datetime]:
        """Which of these packages the mirror has, not deleted, with their creation times."""
        if not arns:
            return {}
        async with self.transaction() as conn:
            rows = await conn.fetch(QUERIES["live_among"], list(arns))
        return {r[0]: r[1] for r in rows}

    async def advance_watermark(self, key: Key, to: datetime) -> None:
        async with self.transaction() as conn:
            await conn.execute(QUERIES["advance_watermark"], *key, to)

    async def scope_succeeded(self, key: Key, *, full: bool) -> None:
        async with self.transaction() as conn:
            await conn.execute(QUERIES["scope_succeeded"], *key, full)

    async def scope_failed(self, key: Key, error: str) -> None:
        async with self.transaction() as conn:
            await conn.execute(QUERIES["scope_failed"], *key, error[:2000])

    # ------------------------------------------------------------- groups
    async def newest_group(self, target: Target) -> datetime | None:
        """The newest creation time among the target's live groups (None: none known)."""
        async with self.transaction() as conn:
            value = await conn.fetchval(QUERIES["newest_group"], target.account_id, target.region)
        return value if isinstance(value, datetime) else None

    async def store_groups(self, target: Target, groups: Sequence[PackageGroup]) -> int:
        if not groups:
            return 0
        rows = list({g.arn: g for g in groups}.values())
        async with self.transaction() as conn:
            changed = await conn.fetchval(
                QUERIES["upsert_groups"],
                [g.arn for g in rows],
                [target.account_id] * len(rows),
                [target.region] * len(rows),
                [g.name for g in rows],
                [g.description for g in rows],
                [g.creation_time for g in rows],
                [g.status for g in rows],
                [g.raw for g in rows],
            )
        return int(changed)

    async def sweep_groups(
        self, target: Target, seen_arns: Sequence[str], name_filter: str | None, run_id: int
    ) -> tuple[list[str], int]:
        """Mark groups absent from a complete listing deleted, with their live packages.

        Returns the deleted group names and the number of packages marked deleted.
        """
        async with self.transaction() as conn:
            await conn.execute(QUERIES["scope_lock"], *groups_key(target))
            gone = [
                row[0]
                for row in await conn.fetch(
                    QUERIES["sweep_groups"],
                    target.account_id,
                    target.region,
                    list(seen_arns),
                    name_filter or "",
                )
            ]
            packages_deleted = await sweep_gone_groups(conn, target, gone, run_id)
            await conn.execute(QUERIES["scope_succeeded"], *groups_key(target), True)
        return gone, packages_deleted


async def sweep_gone_groups(
    conn: asyncpg.Connection, target: Target, names: Sequence[str], run_id: int | None
) -> int:
    """Each gone group's live packages marked deleted and its watermark forgotten, under
    its scope's lock; returns the number of packages marked deleted."""
    deleted = 0
    for name in names:
        await conn.execute(QUERIES["scope_lock"], *scope_key(Scope(target, name)))
        deleted += int(
            await conn.fetchval(
                QUERIES["sweep_packages"],
                target.account_id,
                target.region,
                name,
                [],
                datetime.max.replace(tzinfo=UTC),
                run_id,
            )
        )
        await conn.execute(QUERIES["forget_watermark"], target.account_id, target.region, name)
    return deleted


async def _reset(conn: asyncpg.Connection) -> None:
    """Nothing to reset on a connection's way back to the pool.

    asyncpg has already rolled back any open transaction, and the service
    keeps no session state (no SET, LISTEN, cursor or session lock: settings
    are SET LOCAL, leadership is a lease row), so asyncpg's full reset query
    would be a round trip per transaction for nothing.
    """


def package_columns(rows: Sequence[PackageSummary]) -> list[list[Any]]:
    return [
        [p.arn for p in rows],
        [p.account_id for p in rows],
        [p.region for p in rows],
        [p.group_name for p in rows],
        [p.version for p in rows],
        [p.name for p in rows],
        [p.description for p in rows],
        [p.creation_time for p in rows],
        [p.package_status for p in rows],
        [p.approval_status for p in rows],
        [p.life_cycle_stage for p in rows],
        [p.life_cycle_stage_status for p in rows],
        [p.life_cycle_stage_description for p in rows],
        [p.registration_type for p in rows],
        [p.raw for p in rows],
    ]
