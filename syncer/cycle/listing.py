"""The listings of packages: one scope's, and the whole account's by creation-time windows.

A scope (a group, or the unversioned packages) is listed page by page, each
page stored with the scope's watermark. Incremental listings start at the
watermark minus the lookback (and one more millisecond, because
``CreationTimeAfter`` is strict and packages share milliseconds); re-reading
that overlap is free because writes are idempotent. A listing without a lower
bound is complete, and only a complete listing that ended without error may
mark rows deleted.

The account-wide listing (ListModelPackages with a type and no group) returns
every group's packages in one creation-time order, about packages/100 calls:
a reconcile stores it window by window and closes it once every window has
completed (``sync_account``); an incremental cycle only reads what is new
since the packages cursor, to know which scopes to list (``discover``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from syncer.aws.registry import Page, RegistrySource
from syncer.cycle.plan import Found, earlier
from syncer.logging import get_logger
from syncer.models import ONE_MILLISECOND, PackageSummary, Scope, Target, in_scope
from syncer.warehouse.store import Store, WriteCounts
from syncer.windows import Progress, Slots, Window, list_windows

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

    def add_page(self, page: Page[Any], counts: WriteCounts) -> None:
        """One stored page: what it listed, and what writing it changed."""
        self.pages += 1
        self.listed += len(page.items) + page.skipped
        self.skipped += page.skipped
        self.inserted += counts.inserted
        self.updated += counts.updated
        self.changes += counts.changes
        self.deleted += counts.deleted


def listing_lower_bound(watermark: datetime | None, lookback: timedelta) -> datetime | None:
    """``CreationTimeAfter`` for an incremental listing (None: list everything)."""
    return earlier(watermark, lookback + ONE_MILLISECOND)


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
            seen.extend(page.arns())
        # The last page also sweeps and records the scope, in the same round trip.
        counts = await store.store_page(
            scope,
            page.items,
            run_id,
            last=page.last,
            seen_arns=seen if page.last else None,
            absent_before=absent_before,
        )
        result.add_page(page, counts)
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


@dataclass(frozen=True)
class Reach:
    """What an account-wide listing covers: the name filter, unversioned packages."""

    name_contains: str | None
    unversioned: bool

    def covers(self, package: PackageSummary) -> bool:
        return in_scope(package.group_name, self.name_contains, self.unversioned)


@dataclass(frozen=True)
class AccountListing:
    """The account-wide listing of one target, by windows side by side."""

    source: RegistrySource
    reach: Reach
    slots: Slots
    parallel: int
    now: Callable[[], datetime]

    def read(self, window: Window) -> AsyncIterator[Page[PackageSummary]]:
        after = window.start - ONE_MILLISECOND if window.start is not None else None
        return self.source.list_account_packages(
            after, window.end, unversioned=self.reach.unversioned
        )

    async def run(
        self,
        windows: Sequence[Window],
        write: Callable[[Window, Page[PackageSummary]], Awaitable[None]],
        *,
        split: bool,
    ) -> list[Progress]:
        return await list_windows(
            windows,
            self.read,
            write,
            newest=newest,
            last=lambda page: page.last,
            slots=self.slots,
            parallel=self.parallel,
            now=self.now,
            step=ONE_MILLISECOND,
            split=split,
        )


def newest(page: Page[PackageSummary]) -> datetime | None:
    return max((p.creation_time for p in page.items), default=None)


async def sync_account(
    source: RegistrySource,
    store: Store,
    windows: tuple[Window, ...],
    *,
    reach: Reach,
    lookback: timedelta,
    run_id: int,
    slots: Slots,
    parallel: int,
    now: Callable[[], datetime],
    stop: asyncio.Event,
) -> ScopeResult:
    """List every package of the target by ``windows`` and store them; once every
    window has completed, mark what the listing did not contain deleted."""
    target = source.target
    # The list API is eventually consistent: a package created moments before
    # the listing may be missing from it without being gone.
    absent_before = now() - lookback
    result = ScopeResult(complete_listing=True)
    seen: set[str] = set()  # every ARN listed, skipped ones too

    async def write(_: Window, page: Page[PackageSummary]) -> None:
        if stop.is_set():
            raise Stopped(f"{target}/(packages)")
        seen.update(page.arns())
        counts = await store.write_package_page([p for p in page.items if reach.covers(p)], run_id)
        result.add_page(page, counts)

    listing = AccountListing(source, reach, slots, parallel, now)
    # Windows of whole pages, from what the mirror knows, are listed as they
    # are; a single one (a first reconcile) is split as it goes.
    listed = await listing.run(windows, write, split=len(windows) == 1)
    if stop.is_set():
        raise Stopped(f"{target}/(packages)")
    result.deleted = await store.close_package_listing(
        target,
        sorted(seen),
        absent_before=absent_before,
        name_filter=reach.name_contains,
        unversioned=reach.unversioned,
        run_id=run_id,
    )
    log.debug(
        "sync.packages_done",
        target=str(target),
        windows=len(listed),
        pages=result.pages,
        listed=result.listed,
        inserted=result.inserted,
        updated=result.updated,
        deleted=result.deleted,
    )
    return result


async def discover(
    source: RegistrySource,
    window: Window,
    *,
    reach: Reach,
    slots: Slots,
    parallel: int,
    now: Callable[[], datetime],
    stop: asyncio.Event,
) -> list[Found]:
    """The packages of the target created in ``window`` that the mirror covers; nothing
    is stored (the scopes they name are listed from their own watermarks)."""
    target: Target = source.target
    found: list[Found] = []

    async def collect(_: Window, page: Page[PackageSummary]) -> None:
        if stop.is_set():
            raise Stopped(f"{target}/(packages)")
        found.extend(
            Found(p.arn, p.group_name, p.creation_time) for p in page.items if reach.covers(p)
        )

    await AccountListing(source, reach, slots, parallel, now).run([window], collect, split=True)
    return found
