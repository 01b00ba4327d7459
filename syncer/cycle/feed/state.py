"""What the change feed keeps in PostgreSQL.

Its cursor is the watermark of the target's 'changes' row of sync_state. SQL
in syncer/warehouse/sql/feed.sql.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from syncer.cycle.feed.order import last_modified_of, older, write_changes
from syncer.models import PackageChange, Target
from syncer.warehouse.sql import QUERIES
from syncer.warehouse.store import Store, WriteCounts, changes_key, groups_key


class FeedState:
    """The feed's rows: its cursor and the changes it applies."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def current_cursor(self, target: Target) -> datetime | None:
        """The newest LastModifiedTime applied (None: the feed has not started)."""
        async with self._store.transaction() as conn:
            value = await conn.fetchval(QUERIES["get_watermark"], *changes_key(target))
        return value if isinstance(value, datetime) else None

    async def start(self, target: Target, cursor: datetime) -> None:
        await self._store.advance_watermark(changes_key(target), cursor)

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

    async def succeeded(self, target: Target) -> None:
        await self._store.scope_succeeded(changes_key(target), full=False)
