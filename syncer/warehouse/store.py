"""PostgreSQL through asyncpg: the pool, page upserts, sweeps, watermarks and run records.

Each page is written in one transaction that also advances the scope's
watermark, under a transaction-level advisory lock on the scope, so a crash
between pages loses nothing and two writers never interleave on one scope.
A listing page is one round trip (sagemaker.write_listing_page, migrations
0003 and 0013), its last page included, which also sweeps and records the
scope: a statement that is its own transaction and sets its own bounds.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg

from syncer.cycle.plan import Created, Trust
from syncer.errors import DatabaseError, describe
from syncer.logging import get_logger, mask_secrets, redact_dsn
from syncer.models import (
    MUTABLE_SUMMARY_KEYS,
    PackageChange,
    PackageGroup,
    PackageSummary,
    Scope,
    Target,
)
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


@dataclass
class RunTotals:
    scopes_total: int = 0
    scopes_failed: int = 0
    packages_listed: int = 0
    packages_inserted: int = 0
    packages_updated: int = 0
    packages_deleted: int = 0
    groups_listed: int = 0
    groups_changed: int = 0
    groups_deleted: int = 0
    items_skipped: int = 0
    api_calls: int = 0
    api_throttled: int = 0


def scope_key(scope: Scope) -> tuple[str, str, str, str]:
    """sync_state's primary key for a scope."""
    kind = "unversioned" if scope.is_unversioned else "group"
    return (scope.target.account_id, scope.target.region, kind, scope.group_name)


def groups_key(target: Target) -> tuple[str, str, str, str]:
    return (target.account_id, target.region, "groups", "")


def changes_key(target: Target) -> tuple[str, str, str, str]:
    """The change feed's row: its cursor is the watermark."""
    return (target.account_id, target.region, "changes", "")


def pool_size(writers: int) -> int:
    """Connections for ``writers`` page writers and the rest (the lease, /readyz, runs)."""
    return writers + 2


@dataclass(frozen=True)
class LeaseState:
    """A deployment's cycle lease as one replica found it, by the database's clock."""

    granted: bool
    holder: str | None
    expires_in: float  # seconds until it is free (0: free now)
    due_in: float  # seconds until the deployment's next cycle is due (0: due)
    completed_ago: float | None  # since a cycle of the deployment last completed


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
    them, which made each page and sweep cost O(table). Planning every
    execution costs ~0.2 ms and keeps the index plans. The page write
    overrides this inside its function, where its plans are confined to index
    probes (migration 0004).
    """
    timeout_ms = int(statement_timeout_seconds * 1000)
    return str(timeout_ms), str(2 * timeout_ms)


class Store:
    def __init__(self, pool: asyncpg.Pool, statement_timeout_seconds: float = 60.0) -> None:
        self._pool = pool
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
            yield cls(pool, statement_timeout_seconds)
        finally:
            await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection in a transaction that carries the service's settings."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(QUERIES["transaction_settings"], *self._settings)
            yield conn

    async def migrate(self) -> list[str]:
        async with self._pool.acquire() as conn:
            return await migrations.migrate(conn, settings=self._settings)

    async def require_current_schema(self) -> None:
        async with self.transaction() as conn:
            await migrations.require_current(conn)

    async def schema_version(self) -> int:
        async with self.transaction() as conn:
            return await migrations.current_version(conn)

    # ------------------------------------------------------------- leadership
    async def take_lease(
        self, deployment: str, holder: str, *, seconds: float, min_gap: float
    ) -> LeaseState:
        """Take the deployment's cycle lease if it is free and a cycle is due
        (``min_gap`` seconds after the last one started)."""
        async with self.transaction() as conn:
            row = await conn.fetchrow(
                QUERIES["take_cycle_lease"], deployment, holder, seconds, min_gap
            )
        assert row is not None
        return LeaseState(
            bool(row["granted"]),
            row["holder"],
            row["expires_in"],
            row["due_in"],
            row["completed_ago"],
        )

    async def renew_lease(self, deployment: str, holder: str, *, seconds: float) -> bool:
        """Extend the lease; False when another replica holds it now."""
        async with self.transaction() as conn:
            return bool(
                await conn.fetchval(QUERIES["renew_cycle_lease"], deployment, holder, seconds)
            )

    async def release_lease(self, deployment: str, holder: str, *, completed: bool) -> None:
        async with self.transaction() as conn:
            await conn.execute(QUERIES["release_cycle_lease"], deployment, holder, completed)

    # ------------------------------------------------------------- runs
    async def start_run(self, mode: str, deployment: str | None = None) -> int:
        """Record a cycle's start; runs of the deployment left 'running' by a
        replica that died become 'interrupted' (this one holds its lease now)."""
        async with self.transaction() as conn:
            run_id = int(
                await conn.fetchval(QUERIES["start_run"], mode, socket.gethostname(), deployment)
            )
            await conn.execute(QUERIES["abandon_stale_runs"], run_id, deployment)
        return run_id

    async def finish_run(
        self, run_id: int, status: str, totals: RunTotals, errors: Sequence[dict[str, str]]
    ) -> None:
        t = totals
        async with self.transaction() as conn:
            await conn.execute(
                QUERIES["finish_run"],
                run_id,
                status,
                t.scopes_total,
                t.scopes_failed,
                t.packages_listed,
                t.packages_inserted,
                t.packages_updated,
                t.packages_deleted,
                t.groups_listed,
                t.groups_changed,
                t.groups_deleted,
                t.items_skipped,
                t.api_calls,
                t.api_throttled,
                json.dumps(list(errors)),
            )

    async def last_full_run_started(self, deployment: str | None = None) -> datetime | None:
        async with self.transaction() as conn:
            value = await conn.fetchval(QUERIES["last_full_run_started"], deployment)
        return value if isinstance(value, datetime) else None

    # ------------------------------------------------------------- scopes
    async def watermarks(self, target: Target) -> dict[tuple[str, str, str, str], datetime]:
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
        record = await self._pool.fetchrow(
            QUERIES["store_listing_page"],
            *scope_key(scope),
            *_package_columns(rows),
            run_id,
            last,
            list(seen_arns) if seen_arns is not None else None,
            absent_before,
            self._lock_timeout_ms,
        )
        assert record is not None
        return WriteCounts(*record)

    # ------------------------------------------------------------- change feed
    # The feed's cursor (the newest LastModifiedTime applied) is the watermark of
    # the target's 'changes' row.
    async def change_cursor(self, target: Target) -> datetime | None:
        async with self.transaction() as conn:
            value = await conn.fetchval(QUERIES["get_watermark"], *changes_key(target))
        return value if isinstance(value, datetime) else None

    async def store_changes(
        self, target: Target, changes: Sequence[PackageChange], run_id: int
    ) -> WriteCounts:
        """Apply one page of the change feed and advance its cursor over it, atomically."""
        if not changes:
            return WriteCounts()
        rows = list({c.arn: c for c in changes}.values())  # the latest of a repeated item
        cursor = max(c.last_modified for c in rows)
        async with self.transaction() as conn:
            # The target-wide lock, which the group sweep takes too: both write
            # packages of any group (rows locked in different orders would deadlock).
            await conn.execute(QUERIES["scope_lock"], *groups_key(target))
            record = await conn.fetchrow(
                QUERIES["apply_package_changes"],
                [c.arn for c in rows],
                [c.package_status for c in rows],
                [c.approval_status for c in rows],
                [c.life_cycle_stage for c in rows],
                [c.life_cycle_stage_status for c in rows],
                [c.life_cycle_stage_description for c in rows],
                [c.patch for c in rows],
                list(MUTABLE_SUMMARY_KEYS),
                run_id,
                [c.modified_by_arn for c in rows],
                [c.modified_by_user_profile for c in rows],
                [c.approval_description for c in rows],
            )
            await conn.execute(QUERIES["advance_watermark"], *changes_key(target), cursor)
        assert record is not None
        return WriteCounts(updated=record["updated"], changes=record["changes"])

    async def start_change_feed(self, target: Target, cursor: datetime) -> None:
        async with self.transaction() as conn:
            await conn.execute(QUERIES["advance_watermark"], *changes_key(target), cursor)

    # ------------------------------------------------------------- directed cycles
    async def trust(self, target: Target) -> Trust:
        """The feed's persisted trust state (the default for a target never seen)."""
        row = await self._pool.fetchrow(QUERIES["get_trust"], target.account_id, target.region)
        if row is None or row["trust_reason"] is None:
            default = Trust()
            if row is None:
                return default
            return replace(default, since=row["feed_since"], creation_cursor=row["creation_cursor"])
        return Trust(
            directed=row["trust_directed"],
            reason=row["trust_reason"],
            detail=row["trust_detail"] or "",
            misses=row["feed_misses"],
            last_miss=row["feed_last_miss"],
            since=row["feed_since"],
            creation_cursor=row["creation_cursor"],
        )

    async def save_trust(self, target: Target, trust: Trust, *, missed: bool) -> None:
        await self._pool.execute(
            QUERIES["save_trust"],
            target.account_id,
            target.region,
            trust.directed,
            trust.reason,
            trust.detail,
            trust.misses,
            trust.last_miss,
            missed,
            trust.since,
            trust.creation_cursor,
        )

    async def live_among(self, arns: Sequence[str]) -> dict[str, datetime]:
        """Which of these packages the mirror has, not deleted, with their creation times."""
        if not arns:
            return {}
        return {r[0]: r[1] for r in await self._pool.fetch(QUERIES["live_among"], list(arns))}

    async def created_in_run(
        self, target: Target, run_id: int, after: datetime, before: datetime
    ) -> list[Created]:
        """Packages of the target that a run stored first, created between two moments."""
        rows = await self._pool.fetch(
            QUERIES["created_in_run"], target.account_id, target.region, run_id, after, before
        )
        return [Created(r[0], r[1]) for r in rows]

    async def newest_package(self, target: Target) -> tuple[str, datetime] | None:
        row = await self._pool.fetchrow(QUERIES["newest_package"], target.account_id, target.region)
        return (row[0], row[1]) if row else None

    async def newest_group(self, target: Target) -> datetime | None:
        value = await self._pool.fetchval(QUERIES["newest_group"], target.account_id, target.region)
        return value if isinstance(value, datetime) else None

    async def scope_succeeded(self, key: tuple[str, str, str, str], *, full: bool) -> None:
        async with self.transaction() as conn:
            await conn.execute(QUERIES["scope_succeeded"], *key, full)

    async def scope_failed(self, key: tuple[str, str, str, str], error: str) -> None:
        async with self.transaction() as conn:
            await conn.execute(QUERIES["scope_failed"], *key, error[:2000])

    # ------------------------------------------------------------- groups
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

    async def live_groups(self, target: Target) -> dict[str, set[str]]:
        """The ARNs of the target's live groups, by name (two only while one replaces another)."""
        groups: dict[str, set[str]] = {}
        async with self.transaction() as conn:
            rows = await conn.fetch(QUERIES["live_groups"], target.account_id, target.region)
        for name, arn in rows:
            groups.setdefault(name, set()).add(arn)
        return groups

    async def sweep_groups(
        self, target: Target, seen_arns: Sequence[str], name_filter: str | None, run_id: int
    ) -> tuple[list[str], int]:
        """Mark groups absent from a complete listing deleted, with their live packages.

        Returns the deleted group names and the number of packages marked deleted.
        """
        packages_deleted = 0
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
            for name in gone:
                await conn.execute(QUERIES["scope_lock"], *scope_key(Scope(target, name)))
                packages_deleted += int(
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
                await conn.execute(
                    QUERIES["forget_watermark"], target.account_id, target.region, name
                )
            await conn.execute(QUERIES["scope_succeeded"], *groups_key(target), True)
        return gone, packages_deleted

    # ------------------------------------------------------------- reporting
    # ------------------------------------------------------------- change feed availability
    async def change_feed_off(self, target: Target) -> asyncpg.Record | None:
        """(off_since, off_until, reason) while the target's change feed is off; else None."""
        async with self.transaction() as conn:
            row: asyncpg.Record | None = await conn.fetchrow(
                QUERIES["change_feed_off"], target.account_id, target.region
            )
        return row

    async def switch_change_feed_off(self, target: Target, reason: str, until: datetime) -> bool:
        """Record the feed off until ``until``; True if it was on before."""
        async with self.transaction() as conn:
            was_on = await conn.fetchval(
                QUERIES["switch_change_feed_off"],
                target.account_id,
                target.region,
                reason[:2000],
                until,
            )
        return bool(was_on)

    async def switch_change_feed_on(self, target: Target) -> datetime | None:
        """Forget that the feed was off; returns since when it was (None: it was on)."""
        async with self.transaction() as conn:
            off_since: datetime | None = await conn.fetchval(
                QUERIES["switch_change_feed_on"], target.account_id, target.region
            )
        return off_since

    async def record_api_rates(
        self, target: Target, ceiling: float, rates: Sequence[tuple[str, float, int]]
    ) -> None:
        """(operation class, allowed rate, throttles in the cycle) of a target, for status."""
        async with self.transaction() as conn:
            await conn.execute(
                QUERIES["record_api_rates"],
                target.account_id,
                target.region,
                [r[0] for r in rates],
                [r[1] for r in rates],
                ceiling,
                [r[2] for r in rates],
            )

    async def api_rates(self, target: Target) -> list[tuple[str, float, float]]:
        """(operation class, allowed rate, ceiling) as the last cycle of a target left them."""
        async with self.transaction() as conn:
            rows = await conn.fetch(QUERIES["get_api_rates"], target.account_id, target.region)
        return [(r["operation_class"], r["allowed_rate"], r["ceiling"]) for r in rows]

    async def scope_lags(self) -> list[asyncpg.Record]:
        async with self.transaction() as conn:
            return list(await conn.fetch(QUERIES["scope_lags"]))

    async def status(self, runs: int = 5) -> dict[str, Any]:
        async with self.transaction() as conn:
            scopes = await conn.fetch(QUERIES["status_scopes"])
            totals = await conn.fetchrow(QUERIES["status_totals"])
            last_runs = await conn.fetch(QUERIES["last_runs"], runs)
            quota = await conn.fetch(QUERIES["status_quota"])
            details = await conn.fetch(QUERIES["status_details"])
            feeds = await conn.fetch(QUERIES["status_feeds"])
        return {
            "scopes": [dict(r) for r in scopes],
            "quota": [dict(r) for r in quota],
            "details": [dict(r) for r in details],
            "incremental": [dict(r) for r in feeds],
            "totals": dict(totals) if totals else {},
            "runs": [dict(r) for r in last_runs],
        }

    async def ping(self) -> None:
        async with self.transaction() as conn:
            await conn.fetchval("SELECT 1")


async def _reset(conn: asyncpg.Connection) -> None:
    """Nothing to reset on a connection's way back to the pool.

    asyncpg has already rolled back any open transaction, and the service
    keeps no session state (no SET, LISTEN, cursor or session lock: settings
    are SET LOCAL, leadership is a lease row), so asyncpg's full reset query
    would be a round trip per transaction (a sixth of a page's) for nothing.
    """


def _package_columns(rows: Sequence[PackageSummary]) -> list[list[Any]]:
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
