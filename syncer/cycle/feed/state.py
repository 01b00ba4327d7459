"""What the change feed keeps in PostgreSQL.

Its cursor is the watermark of the target's 'changes' row of sync_state, and
its trust (directed cycles) lives in the same row. The statement that applies
changes is shared with the events (syncer/events/), and so is the order they
keep: each package's newest LastModifiedTime applied. SQL in
syncer/warehouse/sql/feed.sql.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg

from syncer.cycle.plan import Trust
from syncer.models import MUTABLE_SUMMARY_KEYS, Order, PackageChange, Target, modified_order
from syncer.warehouse.sql import QUERIES
from syncer.warehouse.store import Store, WriteCounts, changes_key, groups_key


class FeedState:
    """The feed's rows: its cursor, the changes it applies, its trust and availability."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def current_cursor(self, target: Target) -> datetime | None:
        """The newest LastModifiedTime applied (None: the feed has not started)."""
        async with self._store.transaction() as conn:
            value = await conn.fetchval(QUERIES["get_watermark"], *changes_key(target))
        return value if isinstance(value, datetime) else None

    async def start(self, target: Target, cursor: datetime) -> None:
        async with self._store.transaction() as conn:
            await conn.execute(QUERIES["advance_watermark"], *changes_key(target), cursor)

    async def apply(
        self, target: Target, changes: Sequence[PackageChange], run_id: int
    ) -> WriteCounts:
        """Apply one page of changes and advance the cursor over it, atomically.

        A record older than what an event already applied is left out: the
        search index may lag behind the events (docs/operations/events.md).
        """
        if not changes:
            return WriteCounts()
        rows = list({c.arn: c for c in changes}.values())  # the latest of a repeated item
        cursor = max(c.last_modified for c in rows)
        async with self._store.transaction() as conn:
            # The target-wide lock, which the group sweep and events take too: all
            # write packages of any group (rows locked in different orders would deadlock).
            await conn.execute(QUERIES["scope_lock"], *groups_key(target))
            stored = await last_modified_of(conn, [c.arn for c in rows])
            fresh = [c for c in rows if not older(c, stored.get(c.arn))]
            counts = await write_changes(conn, fresh, run_id, applied_by="change_feed")
            await conn.execute(QUERIES["advance_watermark"], *changes_key(target), cursor)
        return counts

    # ------------------------------------------------------------- trust
    async def trust(self, target: Target) -> Trust:
        """The persisted trust (the default for a target never seen)."""
        async with self._store.transaction() as conn:
            row = await conn.fetchrow(QUERIES["get_trust"], target.account_id, target.region)
        if row is None:
            return Trust()
        if row["trust_reason"] is None:
            return replace(Trust(), since=row["feed_since"], creation_cursor=row["creation_cursor"])
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
        async with self._store.transaction() as conn:
            await conn.execute(
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
        async with self._store.transaction() as conn:
            rows = await conn.fetch(QUERIES["live_among"], list(arns))
        return {r[0]: r[1] for r in rows}

    async def created_in_run(
        self, target: Target, run_id: int, after: datetime, before: datetime
    ) -> list[tuple[str, datetime]]:
        """(ARN, creation time) of the target's packages a run stored first, created
        between two moments."""
        async with self._store.transaction() as conn:
            rows = await conn.fetch(
                QUERIES["created_in_run"], target.account_id, target.region, run_id, after, before
            )
        return [(r[0], r[1]) for r in rows]

    async def newest_package(self, target: Target) -> tuple[str, datetime] | None:
        async with self._store.transaction() as conn:
            row = await conn.fetchrow(QUERIES["newest_package"], target.account_id, target.region)
        return (row[0], row[1]) if row else None


@dataclass(frozen=True)
class LastModified:
    """The newest LastModifiedTime applied to a package (or when a delete call was made)."""

    at: datetime
    whole_seconds: bool
    deleted: bool = False


def older(change: PackageChange, stored: LastModified | None) -> bool:
    """Whether ``change`` is older than what the mirror has applied (models.modified_order)."""
    if stored is None:
        return False
    order = modified_order(
        change.last_modified, change.whole_seconds, stored.at, stored.whole_seconds
    )
    return order is Order.BEFORE


async def last_modified_of(
    conn: asyncpg.Connection, arns: Sequence[str]
) -> dict[str, LastModified]:
    """What the mirror has applied to these packages, by ARN (those with nothing are absent)."""
    if not arns:
        return {}
    rows = await conn.fetch(QUERIES["last_modified_of"], list(arns))
    return {r[0]: LastModified(r[1], r[2], r[3]) for r in rows}


async def write_changes(
    conn: asyncpg.Connection,
    changes: Sequence[PackageChange],
    run_id: int | None,
    *,
    applied_by: str,
) -> WriteCounts:
    """Apply changes (one per package) to live mirrored packages, in the caller's
    transaction, which holds the target's lock: feed.sql's apply_package_changes."""
    if not changes:
        return WriteCounts()
    record = await conn.fetchrow(
        QUERIES["apply_package_changes"],
        [c.arn for c in changes],
        [c.package_status for c in changes],
        [c.approval_status for c in changes],
        [c.life_cycle_stage for c in changes],
        [c.life_cycle_stage_status for c in changes],
        [c.life_cycle_stage_description for c in changes],
        [c.patch for c in changes],
        list(MUTABLE_SUMMARY_KEYS),
        run_id,
        [c.modified_by_arn for c in changes],
        [c.modified_by_user_profile for c in changes],
        [c.approval_description for c in changes],
        [c.last_modified for c in changes],
        [c.whole_seconds for c in changes],
        applied_by,
    )
    assert record is not None
    return WriteCounts(updated=record["updated"], changes=record["changes"])
