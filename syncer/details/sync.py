"""Reading governance details: what a cycle reads (a pure plan), and reading it.

Details come from Search pages sorted by CreationTime, 100 records a call, in
*passes* over a target's packages:

* **backfill**: the first pass reads every package (about N/100 calls);
* **re-read**: every reconcile (full cycle) starts a pass over every package
  again, because tag and metadata edits need not move LastModifiedTime, so
  the change feed would not see them;
* **recent**: packages (and groups) first seen since the last completed pass
  that still have no details, from the oldest of them on: new versions the
  change feed did not carry (whether creation moves LastModifiedTime is not
  documented).

Between those, the change feed stores the details of every record it reads,
at no extra call. A pass reads at most ``budget`` pages per cycle and keeps
its cursor in sagemaker.details_state, so a large registry is read over
several cycles and a restart resumes where it stopped. When everything has
details and no reconcile is due, a cycle makes no details call at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from syncer.aws.registry import RegistrySource, parse_all
from syncer.details.parse import (
    group_in_scope,
    in_scope,
    parse_group_details,
    parse_package_details,
)
from syncer.details.store import DetailsState, DetailsStore
from syncer.logging import get_logger
from syncer.models import ONE_MILLISECOND, Target

log = get_logger(__name__)
T = TypeVar("T")

# Share of a cycle's calls (SYNCER_MAX_REQUESTS_PER_SECOND x SYNCER_INTERVAL_SECONDS)
# a details pass may use: 30,000 packages a cycle at the defaults.
BUDGET_SHARE = 0.1

Action = Literal["none", "resume", "full", "recent", "groups"]


@dataclass(frozen=True)
class DetailsPlan:
    action: Action
    created_after: datetime | None = None  # the Search filter; None: every package
    groups: bool = False  # read the groups' details first
    reason: str = ""


@dataclass
class DetailsResult:
    pages: int = 0
    records: int = 0
    written: int = 0
    groups_written: int = 0
    skipped: int = 0
    complete: bool = False


def details_budget(max_requests_per_second: float, interval_seconds: float) -> int:
    """Search pages a details pass may read in one cycle (at least one)."""
    return max(1, int(max_requests_per_second * interval_seconds * BUDGET_SHARE))


def plan_details(
    state: DetailsState | None,
    *,
    full_cycle: bool,
    packages_missing_since: datetime | None,
    groups_missing: bool,
) -> DetailsPlan:
    """What this cycle reads, from the target's state; no I/O. Where SageMaker refuses
    the details' Search, the cycle switches them off before any plan
    (syncer/cycle/availability.py)."""
    if state is not None and state.pass_started_at is not None:
        if state.pass_cursor is None:
            return DetailsPlan("resume", state.pass_from, reason="a pass was cut short")
        return DetailsPlan(
            "resume", state.pass_cursor - ONE_MILLISECOND, reason="a pass was cut short"
        )
    if state is None or state.looked_through is None:
        return DetailsPlan("full", None, groups=True, reason="backfill")
    if full_cycle:
        return DetailsPlan("full", None, groups=True, reason="reconcile re-read")
    if packages_missing_since is not None:
        return DetailsPlan(
            "recent",
            packages_missing_since - ONE_MILLISECOND,
            groups=groups_missing,
            reason="new packages without details",
        )
    if groups_missing:
        return DetailsPlan("groups", groups=True, reason="new groups without details")
    return DetailsPlan("none", reason="all details present")


async def sync_details(
    source: RegistrySource,
    store: DetailsStore,
    *,
    full_cycle: bool,
    budget: int,
    lookback: timedelta,
    name_contains: str | None,
    include_unversioned: bool,
    stop: asyncio.Event,
) -> DetailsResult:
    """Plan this cycle's details reads for one target and carry them out."""
    target = source.target
    state = await store.state(target)
    missing_since, groups_missing = (None, False)
    if state is not None and state.looked_through is not None and state.pass_started_at is None:
        missing_since, groups_missing = await store.missing(target, state.looked_through)
    plan = plan_details(
        state,
        full_cycle=full_cycle,
        packages_missing_since=missing_since,
        groups_missing=groups_missing,
    )
    result = DetailsResult()
    if plan.action == "none":
        return result
    log.info(
        "details.planned",
        target=str(target),
        action=plan.action,
        reason=plan.reason,
        created_after=plan.created_after.isoformat() if plan.created_after else None,
    )
    if plan.groups:
        async for items, _ in source.search_records("ModelPackageGroup"):
            if stop.is_set():
                return result
            groups = parse_all(items, parse_group_details, "ModelPackageGroupArn", target)
            result.pages += 1
            result.skipped += groups.skipped
            wanted_groups = [g for g in groups.items if group_in_scope(g.name, name_contains)]
            result.groups_written += await store.store_groups(wanted_groups)
    if plan.action == "groups":
        result.complete = True
        return result
    if plan.action != "resume":
        await store.open_pass(target, plan.created_after, full=plan.action == "full")
    pages = source.search_records("ModelPackage", plan.created_after)
    async for items, last in prefetched(pages, limit=max(1, budget - result.pages)):
        if stop.is_set():
            break
        page = parse_all(items, parse_package_details, "ModelPackageArn", target, last)
        result.pages += 1
        result.records += len(items)
        result.skipped += page.skipped
        wanted = [d for d in page.items if in_scope(d, name_contains, include_unversioned)]
        cursor = max((d.creation_time for d in page.items), default=None)
        result.written += await store.store_pass_page(
            target, wanted, cursor, last=last, lookback_seconds=lookback.total_seconds()
        )
        if last:
            result.complete = True
        # Otherwise, after ``limit`` pages, the cursor is stored: the next cycle resumes there.
    log.info(
        "details.read",
        target=str(target),
        action=plan.action,
        pages=result.pages,
        records=result.records,
        written=result.written,
        groups_written=result.groups_written,
        complete=result.complete,
    )
    return result


async def prefetched(pages: AsyncIterator[T], *, limit: int) -> AsyncIterator[T]:
    """At most ``limit`` items of ``pages``, the next one requested while the caller
    works on the current one.

    Search pages follow each other (NextToken), so a pass is a sequence of
    calls; overlapping each call with the previous page's parsing and writing
    makes it about as long as its calls alone.
    """
    queue: asyncio.Queue[tuple[T | None, BaseException | None, bool]] = asyncio.Queue(1)

    async def pump() -> None:
        try:
            count = 0
            async for item in pages:
                await queue.put((item, None, False))
                count += 1
                if count >= limit:
                    break
            close = getattr(pages, "aclose", None)
            if close is not None:  # stopped early: finish the generator now, not at GC
                await close()
            await queue.put((None, None, True))
        except Exception as exc:  # handed to the consumer, raised there
            await queue.put((None, exc, True))

    task = asyncio.create_task(pump(), name="details:prefetch")
    try:
        while True:
            item, error, done = await queue.get()
            if error is not None:
                raise error
            if done:
                return
            assert item is not None
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def store_feed_details(
    store: DetailsStore,
    target: Target,
    received: list[dict[str, Any]],
    *,
    name_contains: str | None,
    include_unversioned: bool,
) -> int:
    """The details of a change-feed page's records (read anyway: no extra call)."""
    page = parse_all(received, parse_package_details, "ModelPackageArn", target)
    return await store.store_packages(
        [d for d in page.items if in_scope(d, name_contains, include_unversioned)]
    )
