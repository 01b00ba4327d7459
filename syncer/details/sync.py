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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from syncer.aws.registry import (
    SEARCHED_GROUP_ARN,
    SEARCHED_PACKAGE_ARN,
    RegistrySource,
    parse_all,
)
from syncer.details.parse import parse_group_details, parse_package_details
from syncer.details.store import DetailsState, DetailsStore
from syncer.logging import get_logger
from syncer.models import (
    EPOCH,
    InvalidRecord,
    Target,
    group_in_scope,
    in_scope,
    parse_timestamp,
)
from syncer.windows import Interrupted, Progress, Slots, Window, list_windows, tiled

log = get_logger(__name__)

SECOND = timedelta(seconds=1)
# A Search page takes longer to parse and store than to fetch: a few windows
# hide the calls' latency, and each more costs a partly filled page.
DETAILS_WINDOWS = 4

# Share of a cycle's calls (SYNCER_MAX_REQUESTS_PER_SECOND x SYNCER_INTERVAL_SECONDS)
# a details pass may use: 30,000 packages a cycle at the defaults.
BUDGET_SHARE = 0.1

Action = Literal["none", "resume", "full", "recent", "groups"]


@dataclass(frozen=True)
class DetailsPlan:
    action: Action
    start: datetime | None = None  # the first creation time read; None: every package
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
        return DetailsPlan("resume", state.pass_cursor, reason="a pass was cut short")
    if state is None or state.looked_through is None:
        return DetailsPlan("full", None, groups=True, reason="backfill")
    if full_cycle:
        return DetailsPlan("full", None, groups=True, reason="reconcile re-read")
    if packages_missing_since is not None:
        return DetailsPlan(
            "recent",
            packages_missing_since,
            groups=groups_missing,
            reason="new packages without details",
        )
    if groups_missing:
        return DetailsPlan("groups", groups=True, reason="new groups without details")
    return DetailsPlan("none", reason="all details present")


class RangesIgnored(Exception):
    """A bounded Search window came back empty where the mirror has packages: this
    Search does not apply range filters (moto's does not)."""


@dataclass(frozen=True)
class Reading:
    """How a target's details are read: windows of creation time side by side, up to
    ``parallel`` at once, split where the mirror's packages are (``edges``)."""

    slots: Slots
    parallel: int
    now: Callable[[], datetime]
    stop: asyncio.Event
    edges: Callable[[], Awaitable[list[datetime]]]


async def sync_details(
    source: RegistrySource,
    store: DetailsStore,
    reading: Reading,
    *,
    full_cycle: bool,
    budget: int,
    lookback: timedelta,
    name_contains: str | None,
    include_unversioned: bool,
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
        start=plan.start.isoformat() if plan.start else None,
    )
    if plan.groups:
        async for items, _ in source.search_records("ModelPackageGroup"):
            if reading.stop.is_set():
                return result
            groups = parse_all(items, parse_group_details, SEARCHED_GROUP_ARN, target)
            result.pages += 1
            result.skipped += groups.skipped
            wanted_groups = [g for g in groups.items if group_in_scope(g.name, name_contains)]
            result.groups_written += await store.store_groups(wanted_groups)
    if plan.action == "groups":
        result.complete = True
        return result
    if plan.action != "resume":
        await store.open_pass(target, plan.start, full=plan.action == "full")
    scope = PassScope(budget, lookback, name_contains, include_unversioned)
    try:
        await read_pass(source, store, reading, plan, result, scope, parallel=reading.parallel)
    except RangesIgnored:
        # One window, never split: no range filter but the plan's own bound.
        log.info("details.ranges_ignored", target=str(target))
        await read_pass(source, store, reading, plan, result, scope, parallel=1)
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


@dataclass(frozen=True)
class PassScope:
    """How much of a pass one cycle reads, and which records it keeps."""

    budget: int
    lookback: timedelta
    name_contains: str | None
    include_unversioned: bool


async def read_pass(
    source: RegistrySource,
    store: DetailsStore,
    reading: Reading,
    plan: DetailsPlan,
    result: DetailsResult,
    scope: PassScope,
    *,
    parallel: int,
) -> None:
    """Read the pass's packages by creation-time windows side by side (at most the
    budget's pages), store each page's details, and keep the pass's cursor: where
    everything before has been read. Once every window is in, the pass closes."""
    target = source.target
    listed: list[Progress] = []
    started = reading.now()
    windows = [Window(start=plan.start)]
    if parallel > 1:
        # Where the mirror's packages split into windows of whole pages, in the
        # whole seconds a Search filter takes; where it knows none yet (a first
        # sync), one window, halved as it goes.
        seconds = {e.replace(microsecond=0) for e in await reading.edges()}
        windows = tiled(sorted(e for e in seconds if plan.start is None or e > plan.start))
        windows[0] = Window(plan.start, windows[0].end)
    ranged = len(windows) > 1 or parallel > 1

    async def write(window: Window, page: tuple[list[dict[str, Any]], bool]) -> None:
        items, last = page
        if not items and last and ranged and (window.start, window.end) != (plan.start, None):
            # Only what the index has surely caught up with counts as missing.
            before = min(window.end or started, started - scope.lookback)
            if await store.live_between(target, window.start or EPOCH, before):
                raise RangesIgnored
        parsed = parse_all(items, parse_package_details, SEARCHED_PACKAGE_ARN, target, last)
        wanted = [
            d
            for d in parsed.items
            if in_scope(d.group_name, scope.name_contains, scope.include_unversioned)
        ]
        result.pages += 1
        result.records += len(items)
        result.skipped += parsed.skipped
        result.written += await store.store_packages(wanted)

    try:
        await list_windows(
            windows,
            lambda w: source.search_records("ModelPackage", w.start, w.end),
            write,
            newest=newest_record,
            last=lambda page: page[1],
            slots=reading.slots,
            parallel=parallel,
            now=reading.now,
            step=SECOND,
            split=len(windows) == 1,
            # A cycle reads at most the budget; a stop ends it between pages.
            interrupt=lambda: reading.stop.is_set() or result.pages >= scope.budget,
            listed=listed,
        )
    except Interrupted:
        cursor = read_through(listed)
        if cursor is not None:
            await store.advance_pass(target, cursor)
        return
    await store.close_pass(target, lookback_seconds=scope.lookback.total_seconds())
    result.complete = True


def read_through(listed: list[Progress]) -> datetime | None:
    """Where a cut pass resumes: the earliest point a window has not read past."""
    points = [p.reached or p.window.start for p in listed if not p.done]
    if not points or None in points:
        return None
    return min(p for p in points if p is not None)


def newest_record(page: tuple[list[dict[str, Any]], bool]) -> datetime | None:
    """The newest CreationTime on a page of Search results (pages are oldest first)."""
    times = []
    for item in page[0]:
        record = item.get("ModelPackage") if isinstance(item, dict) else None
        if isinstance(record, dict) and record.get("CreationTime") is not None:
            with contextlib.suppress(InvalidRecord):
                times.append(parse_timestamp(record["CreationTime"]))
    return max(times, default=None)


async def store_feed_details(
    store: DetailsStore,
    target: Target,
    received: list[dict[str, Any]],
    *,
    name_contains: str | None,
    include_unversioned: bool,
) -> int:
    """The details of a change-feed page's records (read anyway: no extra call)."""
    page = parse_all(received, parse_package_details, SEARCHED_PACKAGE_ARN, target)
    return await store.store_packages(
        [d for d in page.items if in_scope(d.group_name, name_contains, include_unversioned)]
    )
