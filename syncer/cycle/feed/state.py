"""What the change feed keeps in PostgreSQL.

Its cursor is the watermark of the target's 'changes' row of sync_state, and
its trust (directed cycles) lives in the same row. SQL in
syncer/warehouse/sql/feed.sql.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from syncer.cycle.feed.order import last_modified_of, older, write_changes
from syncer.cycle.plan import Trust
from syncer.models import PackageChange, Target
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
