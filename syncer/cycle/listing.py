"""One scope's sync: list -> store page by page, each with its watermark -> sweep if complete.

Incremental listings start at the watermark minus the lookback (and one more
millisecond, because ``CreationTimeAfter`` is strict and packages share
milliseconds); re-reading that overlap is free because writes are idempotent.
A listing without a lower bound is complete, and only a complete listing that
ended without error may mark rows deleted.

The change feed (``sync_changes``) covers what a creation-time watermark
cannot see between reconciles: approvals, statuses and life-cycle stages of
packages listed before, from Search sorted on LastModifiedTime.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from syncer.aws.registry import RegistrySource
from syncer.logging import get_logger
from syncer.models import Scope
from syncer.warehouse.store import Store

log = get_logger(__name__)

ONE_MILLISECOND = timedelta(milliseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Stores the governance details of a page of Search records as received.
StoreRecords = Callable[[list[dict[str, Any]]], Awaitable[object]]
# A change without who made it (governance details off: no identities stored).
ANONYMOUS: dict[str, Any] = {
    "modified_by_arn": None,
    "modified_by_user_profile": None,
    "approval_description": None,
}


class Stopped(Exception):
    """The service is stopping; the scope ended between two committed pages."""


@dataclass
class ScopeResult:
    listed: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    changes: int = 0
    pages: int = 0
    complete_listing: bool = False


def listing_lower_bound(watermark: datetime | None, lookback: timedelta) -> datetime | None:
    """``CreationTimeAfter`` for an incremental listing (None: list everything)."""
    if watermark is None:
        return None
    try:
        return watermark - lookback - ONE_MILLISECOND
    except OverflowError:  # a watermark within the lookback of year 1: there is no bound
        return None


async def sync_scope(
    source: RegistrySource,
    store: Store,
    scope: Scope,
    *,
    watermark: datetime | None,
    lookback: timedelta,
    run_id: int,
    now: Callable[[], datetime],
    stop: asyncio.Event,
) -> ScopeResult:
    """List one scope from ``watermark`` (None: everything) and store it page by page."""
    started = now()
    created_after = listing_lower_bound(watermark, lookback)
    result = ScopeResult(complete_listing=created_after is None)
    seen: list[str] | None = [] if result.complete_listing else None
    # The list API is eventually consistent: a package created moments before
    # the listing may be missing from it without being gone.
    absent_before = started - lookback if seen is not None else None
    group = None if scope.is_unversioned else scope.group_name

    async for page in source.list_packages(group, created_after):
        if stop.is_set():
            raise Stopped(str(scope))
        if seen is not None:
            seen.extend(p.arn for p in page.items)
            seen.extend(page.skipped_arns)
        # The last page also sweeps and records the scope, in the same round trip.
        counts = await store.store_page(
            scope,
            page.items,
            run_id,
            last=page.last,
            seen_arns=seen if page.last else None,
            absent_before=absent_before,
        )
        result.pages += 1
        result.listed += len(page.items) + page.skipped
        result.skipped += page.skipped
        result.inserted += counts.inserted
        result.updated += counts.updated
        result.changes += counts.changes
        result.deleted += counts.deleted
    log.debug(
        "sync.scope_done",
        scope=str(scope),
        full=result.complete_listing,
        created_after=created_after.isoformat() if created_after else None,
        listed=result.listed,
        inserted=result.inserted,
        updated=result.updated,
        deleted=result.deleted,
    )
    return result


async def sync_changes(
    source: RegistrySource,
    store: Store,
    *,
    lookback: timedelta,
    run_id: int,
    stop: asyncio.Event,
    details: StoreRecords | None = None,
) -> ScopeResult:
    """Apply the approvals, statuses and stages that Search reports changed since the cursor.

    ``details`` (governance details on) stores the records' details first, at
    no extra call; without it the change history records no identities.

    A creation-time listing never sees those changes; without this feed they
    wait for the next full reconcile. Deletions still do: Search does not
    report what is gone. The cursor re-reads the lookback, as a watermark does,
    because Search is eventually consistent too; re-applying is free.
    """
    target = source.target
    result = ScopeResult()
    cursor = await store.change_cursor(target)
    if cursor is None:
        # The feed starts at the newest change there is now; what happened
        # before is for the listings (a new mirror's first cycle lists
        # everything). With no package at all, every later change is new.
        latest = await source.latest_change()
        await store.start_change_feed(target, latest or EPOCH)
        return result
    modified_after = cursor - lookback - ONE_MILLISECOND
    async for page in source.changed_packages(modified_after):
        if stop.is_set():
            raise Stopped(f"{target}/(changes)")
        changes = page.items
        if details is not None:
            await details(page.received)
        else:
            changes = [replace(c, **ANONYMOUS) for c in changes]
        counts = await store.store_changes(target, changes, run_id)
        result.pages += 1
        result.listed += len(page.items) + page.skipped
        result.skipped += page.skipped
        result.updated += counts.updated
        result.changes += counts.changes
    log.debug(
        "sync.changes_done",
        target=str(target),
        modified_after=modified_after.isoformat(),
        results=result.listed,
        updated=result.updated,
        changes=result.changes,
    )
    return result
