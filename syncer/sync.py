"""One scope's sync: list -> store page by page -> advance watermark -> sweep if complete.

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

from syncer.logging import get_logger
from syncer.models import Scope
from syncer.source import RegistrySource
from syncer.store import Store

log = get_logger(__name__)

ONE_MILLISECOND = timedelta(milliseconds=1)


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
    return watermark - lookback - ONE_MILLISECOND


async def sync_scope(
    source: RegistrySource,
    store: Store,
    scope: Scope,
    *,
    full: bool,
    lookback: timedelta,
    run_id: int,
    now: Callable[[], datetime],
    stop: asyncio.Event,
) -> ScopeResult:
    started = now()
    watermark = None if full else await store.watermark(scope)
    created_after = listing_lower_bound(watermark, lookback)
    result = ScopeResult(complete_listing=created_after is None)
    seen: list[str] | None = [] if result.complete_listing else None
    group = None if scope.is_unversioned else scope.group_name

    async for page in source.list_packages(group, created_after):
        if stop.is_set():
            raise Stopped(str(scope))
        counts = await store.store_packages(scope, page.items, run_id)
        result.pages += 1
        result.listed += len(page.items) + page.skipped
        result.skipped += page.skipped
        result.inserted += counts.inserted
        result.updated += counts.updated
        result.changes += counts.changes
        if seen is not None:
            seen.extend(p.arn for p in page.items)
            seen.extend(page.skipped_arns)

    # The list API is eventually consistent: a package created moments before
    # the listing may be missing from it without being gone.
    result.deleted = await store.finish_scope(
        scope,
        run_id,
        seen_arns=seen,
        absent_before=started - lookback if seen is not None else None,
    )
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
