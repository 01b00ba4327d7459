"""One target's change feed in one cycle: the changes it applies and the creations it names.

A creation-time watermark never sees what changes after creation. Between
reconciles, Search sorted on LastModifiedTime reports approvals, statuses and
life-cycle stages since the feed's cursor (``sync_changes``), which are
applied to mirrored packages with their history. Deletions still wait for the
reconcile: Search does not report what is gone, and new packages are found by
the listings. The cursor re-reads the lookback, as a watermark does, because
Search is eventually consistent too; re-applying is free. The feed is an
accelerator, not the source of truth: listings and the reconcile converge
without it, and when SageMaker refuses it, it is switched off for a while
(syncer/cycle/availability.py).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from syncer.aws.registry import RegistrySource
from syncer.cycle.availability import Availability, refusal
from syncer.cycle.feed.state import FeedState
from syncer.cycle.listing import ScopeResult, Stopped
from syncer.details.identities import Identities
from syncer.details.store import DetailsStore
from syncer.details.sync import store_feed_details
from syncer.errors import SourceError
from syncer.logging import get_logger
from syncer.models import EPOCH, ONE_MILLISECOND
from syncer.settings import Settings

log = get_logger(__name__)

# Stores the governance details of a page of Search records as received.
StoreRecords = Callable[[list[dict[str, Any]]], Awaitable[object]]
# A change without who made it (governance details off: no identities stored).
ANONYMOUS: dict[str, Any] = {
    "modified_by_arn": None,
    "modified_by_user_profile": None,
    "approval_description": None,
}


class ChangeFeed:
    """The change feed of one target, run once per cycle before the listings."""

    def __init__(
        self,
        source: RegistrySource,
        state: FeedState,
        availability: Availability,
        details: DetailsStore | None,
        settings: Settings,
        *,
        run_id: int,
        stop: asyncio.Event,
    ) -> None:
        self._source = source
        self._target = source.target
        self._state = state
        self._availability = availability
        self._details = details
        self._settings = settings
        self._run_id = run_id
        self._stop = stop
        self._lookback = timedelta(seconds=settings.lookback_seconds)

    async def usable(self, *, full: bool) -> bool:
        """Whether the feed runs this cycle (not while switched off; a reconcile tries)."""
        return await self._availability.usable(self._target, full=full)

    async def run(self) -> ScopeResult | None:
        """Apply the changes since the cursor; None when SageMaker refused the feed,
        which switches it off. Any other failure is raised for the cycle to record,
        and ``Stopped`` when stopping."""
        try:
            applied = await sync_changes(
                self._source,
                self._state,
                lookback=self._lookback,
                run_id=self._run_id,
                stop=self._stop,
                details=self._store_details() if self._details is not None else None,
                identities=Identities.from_settings(self._settings),
            )
        except SourceError as exc:
            code = refusal(exc)
            if code is None:
                raise
            await self._availability.refused(self._target, code, str(exc))
            return None
        await self._state.succeeded(self._target)
        await self._availability.worked(self._target)
        return applied

    def _store_details(self) -> StoreRecords:
        assert self._details is not None
        s = self._settings
        return functools.partial(
            store_feed_details,
            self._details,
            self._target,
            name_contains=s.group_name_contains,
            include_unversioned=s.include_unversioned,
        )


async def sync_changes(
    source: RegistrySource,
    state: FeedState,
    *,
    lookback: timedelta,
    run_id: int,
    stop: asyncio.Event,
    details: StoreRecords | None = None,
    identities: Identities | None = None,
) -> ScopeResult:
    """Apply the approvals, statuses and stages that Search reports changed since the cursor.

    ``details`` (governance details on) stores the records' details first, at
    no extra call; without it the change history records no identities.
    """
    target = source.target
    identities = identities or Identities()
    result = ScopeResult()
    cursor = await state.current_cursor(target)
    if cursor is None:
        # The feed starts at the newest change there is now; what happened
        # before is for the listings (a new mirror's first cycle lists
        # everything). With no package at all, every later change is new.
        latest = await source.latest_change()
        await state.start(target, latest or EPOCH)
        return result
    modified_after = cursor - lookback - ONE_MILLISECOND
    async for page in source.changed_packages(modified_after):
        if stop.is_set():
            raise Stopped(f"{target}/(changes)")
        changes = page.items
        if details is not None:
            await details(page.received)
            changes = [identities.change(c) for c in changes]
        else:
            changes = [replace(c, **ANONYMOUS) for c in changes]
        counts = await state.apply(target, changes, run_id)
        result.add_page(page, counts)
    log.debug(
        "sync.changes_done",
        target=str(target),
        modified_after=modified_after.isoformat(),
        results=result.listed,
        updated=result.updated,
        changes=result.changes,
    )
    return result
