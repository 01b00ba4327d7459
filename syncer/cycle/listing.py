"""One scope's sync: list -> store page by page, each with its watermark -> sweep if complete.

Incremental listings start at the watermark minus the lookback (and one more
millisecond, because ``CreationTimeAfter`` is strict and packages share
milliseconds); re-reading that overlap is free because writes are idempotent.
A listing without a lower bound is complete, and only a complete listing that
ended without error may mark rows deleted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from syncer.aws.registry import RegistrySource
from syncer.logging import get_logger
from syncer.models import ONE_MILLISECOND, Scope
from syncer.warehouse.store import Store

log = get_logger(__name__)


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
