"""What the change feed keeps in PostgreSQL, and whether it may run.

Its cursor is the watermark of the target's 'changes' row of sync_state, and
its trust (directed cycles) lives in the same row. While SageMaker refuses
Search for a target (the role may not call it; the request is rejected), the
feed is switched off there for ``FEED_OFF_SECONDS`` or until the next
reconcile, whichever comes first, with one warning when it goes off, and the
cycle still succeeds: ``sagemaker.change_feed_availability`` keeps that
across restarts, and ``syncer status`` and the gauge ``syncer_change_feed_up``
show it. SQL in syncer/warehouse/sql/feed.sql.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from syncer.cycle.metrics import Metrics
from syncer.cycle.plan import Trust
from syncer.logging import get_logger
from syncer.models import MUTABLE_SUMMARY_KEYS, PackageChange, Target
from syncer.warehouse.sql import QUERIES
from syncer.warehouse.store import Store, WriteCounts, changes_key, groups_key

log = get_logger(__name__)

FEED_OFF_SECONDS = 3600.0


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
        """Apply one page of changes and advance the cursor over it, atomically."""
        if not changes:
            return WriteCounts()
        rows = list({c.arn: c for c in changes}.values())  # the latest of a repeated item
        cursor = max(c.last_modified for c in rows)
        async with self._store.transaction() as conn:
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


class FeedAvailability:
    """Whether a target's feed may run: off for a while after SageMaker refused it."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        now: Callable[[], datetime],
        off_for: timedelta = timedelta(seconds=FEED_OFF_SECONDS),
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._now = now
        self._off_for = off_for

    async def usable(self, target: Target, *, full: bool) -> bool:
        """Whether to run the target's feed this cycle (a reconcile always tries)."""
        async with self._store.transaction() as conn:
            off = await conn.fetchrow(QUERIES["change_feed_off"], target.account_id, target.region)
        if off is None:
            self._metrics.change_feed_up(target, True)
            return True
        if full or self._now() >= off["off_until"]:
            log.info("changes.feed_retry", target=str(target), off_since=off["off_since"])
            return True
        self._metrics.change_feed_up(target, False)
        return False

    async def refused(self, target: Target, code: str, error: str) -> None:
        """SageMaker refused Search for the target: off for a while; warn once."""
        until = self._now() + self._off_for
        async with self._store.transaction() as conn:
            was_on = await conn.fetchval(
                QUERIES["switch_change_feed_off"],
                target.account_id,
                target.region,
                error[:2000],
                until,
            )
        self._metrics.change_feed_up(target, False)
        if was_on:
            log.warning(
                "changes.feed_off",
                target=str(target),
                code=code,
                error=error,
                retry_after=until.isoformat(timespec="seconds"),
                effect="approval, status and stage changes wait for the next reconcile",
            )
        else:
            log.info("changes.feed_still_off", target=str(target), code=code)

    async def worked(self, target: Target) -> None:
        """The feed ran: on again if it was off."""
        self._metrics.change_feed_up(target, True)
        async with self._store.transaction() as conn:
            off_since = await conn.fetchval(
                QUERIES["switch_change_feed_on"], target.account_id, target.region
            )
        if off_since is not None:
            log.info("changes.feed_on", target=str(target), off_since=off_since.isoformat())
