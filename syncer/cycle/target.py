"""One target's part of a cycle: the change feed, the plan, the listings it names, the checks.

`Syncer` (syncer/cycle/loop.py) leads the cycle and runs one `TargetCycle` per
account and region, side by side. Every failure here is contained in its
scope: recorded in sync_state and in the run's errors, never raised to the
cycle, so one account, group or feed cannot stop the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import asyncpg

from syncer.aws.limits import TargetSlots
from syncer.aws.registry import RegistrySource
from syncer.cycle.availability import Availability, refusal
from syncer.cycle.feed.changes import ChangeFeed
from syncer.cycle.feed.directed import check_feed
from syncer.cycle.feed.state import FeedState
from syncer.cycle.listing import ScopeResult, Stopped, sync_scope
from syncer.cycle.metrics import Metrics
from syncer.cycle.plan import FULL, FeedReport, Inputs, Plan, Trust, plan_cycle
from syncer.cycle.privacy import Privacy
from syncer.cycle.rates import RateRecorder
from syncer.cycle.runs import CycleResult
from syncer.details.store import DetailsStore
from syncer.details.sync import details_budget, sync_details
from syncer.errors import SyncerError, error_message
from syncer.logging import get_logger, stored_error
from syncer.models import UNVERSIONED, PackageGroup, Scope
from syncer.settings import Settings
from syncer.warehouse.store import CONNECTION_ERRORS, Store, changes_key, groups_key, scope_key

log = get_logger(__name__)

Key = tuple[str, str, str, str]  # a sync_state row: account, region, kind, scope


@dataclass(frozen=True)
class Services:
    """What every target's cycle shares, built once by `Syncer`."""

    settings: Settings
    store: Store
    metrics: Metrics
    now: Callable[[], datetime]
    stop: asyncio.Event
    beat: Callable[[], None]  # the progress watchdog (syncer/cycle/progress.py)
    feed_state: FeedState
    feed: Availability
    rates: RateRecorder
    details: DetailsStore
    details_on: Availability  # the details' Search, switched off where it is refused
    privacy: Privacy  # what the mirror may hold, enforced at each reconcile


class TargetCycle:
    """One target's part of one cycle; `run` returns the plan it executed."""

    def __init__(
        self,
        services: Services,
        source: RegistrySource,
        *,
        full: bool,
        run_id: int,
        slots: TargetSlots,
        result: CycleResult,
    ) -> None:
        self._s = services
        self._settings = services.settings
        self._store = services.store
        self._source = source
        self._target = source.target
        self._full = full
        self._run_id = run_id
        self._slots = slots
        self._result = result
        self._lookback = timedelta(seconds=services.settings.lookback_seconds)

    @property
    def _stopping(self) -> bool:
        return self._s.stop.is_set()

    async def run(self) -> Plan:
        """The feed first, then the plan (syncer.cycle.plan), then the listings it names."""
        target, settings, store = self._target, self._settings, self._store
        if self._source.limits is not None:
            await self._s.rates.resume(target, self._source.limits)
        if self._full:
            await self._s.privacy.enforce(target)
        # Read before this cycle moves anything: where each scope's listing
        # starts (a full cycle lists from the start) and which groups are live.
        watermarks = {} if self._full else await store.watermarks(target)
        live_groups = await store.live_groups(target)
        trust = await self._s.feed_state.trust(target)
        newest_group = await store.newest_group(target)
        # The feed runs before the listings, so that they find its changes stored;
        # on full cycles too, so that its cursors keep up with the mirror.
        feed = FeedReport(ok=False, error="SYNCER_CHANGE_FEED=false")
        if settings.change_feed:
            feed, trust = await self._sync_changes(trust)
        inputs = Inputs(
            full=self._full,
            include_unversioned=settings.include_unversioned,
            change_feed=settings.change_feed,
            trust=trust,
            feed=feed,
            newest_group=newest_group,
            lookback=self._lookback,
            feed_unavailable=(
                f"the change feed is switched off for this account and region ({feed.error})"
                if feed.unavailable
                else None
            ),
            directed_cycles=settings.directed_cycles,
        )
        plan = plan_cycle(inputs)
        log.info("cycle.plan", target=str(target), run_id=self._run_id, **plan.event())
        listings_ok = await self._list(plan, watermarks, live_groups)
        await self._record_rates()
        if settings.change_feed and settings.directed_cycles and not self._stopping:
            try:
                trust, misses = await check_feed(
                    self._source,
                    self._s.feed_state,
                    trust,
                    feed,
                    run_id=self._run_id,
                    lookback=self._lookback,
                    reconcile=self._full,
                    listings_ok=listings_ok,
                )
            except Exception as exc:
                await self._scope_failed(changes_key(target), f"{target}/(changes)", exc)
                return plan
            self._s.metrics.feed_missed(target, len(misses))
        # What the next incremental cycle will do, and why, as of now.
        self._s.metrics.set_mode(target, plan_cycle(replace(inputs, full=False, trust=trust)))
        return plan

    # ------------------------------------------------------------- listings
    async def _list(
        self, plan: Plan, watermarks: dict[Key, datetime], live_groups: dict[str, set[str]]
    ) -> bool:
        """Run the plan's listings; whether every one of them completed."""
        target = self._target
        failed: list[str] = []
        started: set[str] = set()

        async def one(scope: Scope, watermark: datetime | None) -> None:
            if not await self._guarded_scope(scope, watermark):
                failed.append(str(scope))

        async with asyncio.TaskGroup() as tasks:
            if self._settings.details:  # beside the listings, the feed being done
                tasks.create_task(self._sync_details(plan.mode == FULL), name=f"details:{target}")

            def start(scope: Scope, watermark: datetime | None) -> None:
                if scope.group_name not in started:
                    started.add(scope.group_name)
                    tasks.create_task(one(scope, watermark), name=f"scope:{scope}")

            def from_watermark(name: str) -> None:
                scope = Scope(target, name)
                start(scope, watermarks.get(scope_key(scope)))

            recreated: list[str] = []

            def listed(group: PackageGroup) -> None:
                # A group's versions are listed while later group pages are still
                # coming, except for a group re-created under the name of a live
                # one: the group sweep retires the old group first (its versions,
                # its watermark), and then it is listed from the start.
                if live_groups.get(group.name, {group.arn}) - {group.arn}:
                    recreated.append(group.name)
                    return
                # A directed listing re-reads the lookback: the groups it finds
                # mirrored already are listed only if the feed named them.
                if plan.sweeps_groups or group.arn not in live_groups.get(group.name, set()):
                    from_watermark(group.name)

            for name in sorted(plan.groups or ()):
                from_watermark(name)
            if plan.unversioned:
                from_watermark(UNVERSIONED)
            if await self._sync_groups(plan, listed):
                if plan.sweeps_groups:
                    for name in recreated:
                        start(Scope(target, name), None)
            else:
                failed.append(f"{target}/(groups)")
        return not failed and not self._stopping

    async def _sync_groups(self, plan: Plan, listed: Callable[[PackageGroup], None]) -> bool:
        """List the groups (cheap: 100 a call), store them, sweep the vanished ones.

        ``listed`` is called with each group once its page is stored. A
        directed plan lists only groups created after its moment, and sweeps
        nothing. Returns whether the listing (and its sweep) completed.
        """
        target, store = self._target, self._store
        totals = self._result.totals
        totals.scopes_total += 1
        seen: list[str] = []
        try:
            async with self._slots:
                async for page in self._source.list_groups(
                    self._settings.group_name_contains, plan.groups_created_after
                ):
                    if self._stopping:  # an incomplete listing: no sweep
                        raise Stopped(f"{target}/(groups)")
                    self._s.beat()
                    totals.groups_listed += len(page.items) + page.skipped
                    totals.items_skipped += page.skipped
                    totals.groups_changed += await store.store_groups(target, page.items)
                    seen.extend(g.arn for g in page.items)
                    seen.extend(page.skipped_arns)
                    for group in page.items:
                        listed(group)
            gone: list[str] = []
            packages = 0
            if plan.sweeps_groups:
                gone, packages = await store.sweep_groups(
                    target, seen, self._settings.group_name_contains, self._run_id
                )
            else:
                await store.scope_succeeded(groups_key(target), full=False)
        except Stopped:
            log.info("sync.scope_stopped", scope=f"{target}/(groups)")
            return False
        except Exception as exc:
            await self._scope_failed(groups_key(target), f"{target}/(groups)", exc)
            return False
        totals.groups_deleted += len(gone)
        totals.packages_deleted += packages
        self._s.metrics.rows.labels("deleted").inc(packages)
        if gone:
            log.info("sync.groups_deleted", target=str(target), groups=gone[:20], count=len(gone))
        self._s.metrics.scopes.labels("succeeded").inc()
        return True

    async def _guarded_scope(self, scope: Scope, watermark: datetime | None) -> bool:
        """One scope, listed from ``watermark`` (None: all of it); its failure is
        recorded and contained, never raised to the cycle. Whether it completed."""
        async with self._slots:
            if self._stopping:
                return False
            self._result.totals.scopes_total += 1
            self._s.beat()
            try:
                outcome = await sync_scope(
                    self._source,
                    self._store,
                    scope,
                    watermark=watermark,
                    lookback=self._lookback,
                    run_id=self._run_id,
                    now=self._s.now,
                    stop=self._s.stop,
                )
            except Stopped:
                log.info("sync.scope_stopped", scope=str(scope))
                return False
            except Exception as exc:
                await self._scope_failed(scope_key(scope), str(scope), exc)
                return False
            self._s.beat()
            self._add(outcome)
            self._s.metrics.scopes.labels("succeeded").inc()
            return True

    # ------------------------------------------------------------- the feed
    async def _sync_changes(self, trust: Trust) -> tuple[FeedReport, Trust]:
        """The change feed of the target (syncer/cycle/feed/), recorded in its own
        sync_state row ('changes').

        A failure counts the cycle partial (approvals may be stale until the
        reconcile), except SageMaker refusing Search: then the feed is off for
        the target for a while and the cycle succeeds. Either way this cycle
        lists in all-groups mode.
        """
        key, name = changes_key(self._target), f"{self._target}/(changes)"
        totals = self._result.totals
        feed = ChangeFeed(
            self._source,
            self._store,
            self._s.feed_state,
            self._s.feed,
            self._s.details if self._settings.details else None,
            self._settings,
            run_id=self._run_id,
            now=self._s.now,
            stop=self._s.stop,
        )
        async with self._slots:
            if self._stopping:
                return FeedReport(ok=False, error="stopping"), trust
            try:
                usable = await feed.usable(full=self._full)
            except Exception as exc:
                totals.scopes_total += 1
                return FeedReport(ok=False, error=await self._scope_failed(key, name, exc)), trust
            if not usable:
                return FeedReport(ok=False, unavailable=True, error="switched off"), trust
            totals.scopes_total += 1
            try:
                outcome = await feed.run(trust)
            except Stopped:
                log.info("sync.scope_stopped", scope=name)
                return FeedReport(ok=False, error="stopping"), trust
            except Exception as exc:
                return FeedReport(ok=False, error=await self._scope_failed(key, name, exc)), trust
        if outcome.report.unavailable:  # refused: switched off, the cycle goes on
            return outcome.report, outcome.trust
        self._s.beat()
        # Search results are not listed packages: only what they changed counts.
        self._add(replace(outcome.applied, listed=0))
        self._s.metrics.scopes.labels("succeeded").inc()
        return outcome.report, outcome.trust

    async def _sync_details(self, full: bool) -> None:
        """The target's governance-details reads (syncer/details/sync.py), after the feed.

        SageMaker refusing their Search switches them off for the target for a
        while, as the change feed is (one warning, `syncer status`); another
        failure is logged and recorded in details_state. Either leaves the
        details as they were and the cycle's outcome alone.
        """
        # One stream of Search calls per target, beside the listings rather than
        # in one of their SYNCER_CONCURRENCY slots (a pass is one call after the
        # other); the rate cap applies to it as to every call.
        if self._stopping:
            return
        s, available = self._settings, self._s.details_on
        try:
            if not await available.usable(self._target, full=full):
                return
            await sync_details(
                self._source,
                self._s.details,
                full_cycle=full,
                budget=details_budget(s.max_requests_per_second, s.interval_seconds),
                lookback=self._lookback,
                name_contains=s.group_name_contains,
                include_unversioned=s.include_unversioned,
                stop=self._s.stop,
            )
            await available.worked(self._target)
        except Exception as exc:
            message = error_message(exc)
            code = refusal(exc)
            if code is not None:
                with contextlib.suppress(*CONNECTION_ERRORS, asyncpg.PostgresError):
                    await available.refused(self._target, code, message)
                return
            known = isinstance(exc, SyncerError | asyncpg.PostgresError | OSError)
            log.warning(
                "details.failed",
                target=str(self._target),
                error=message,
                exc_info=None if known else exc,
            )
            with contextlib.suppress(*CONNECTION_ERRORS, asyncpg.PostgresError):
                await self._s.details.failed(self._target, stored_error(message))
        finally:
            self._s.beat()

    async def _record_rates(self) -> None:
        """The target's allowed rates and throttles, for `syncer status`."""
        limits = self._source.limits
        if limits is None:
            return
        try:
            await self._s.rates.record(self._target, limits)
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            log.warning("limits.not_recorded", target=str(self._target), error=error_message(exc))

    # ------------------------------------------------------------- bookkeeping
    def _add(self, outcome: ScopeResult) -> None:
        totals = self._result.totals
        totals.packages_listed += outcome.listed
        totals.packages_inserted += outcome.inserted
        totals.packages_updated += outcome.updated
        totals.packages_deleted += outcome.deleted
        totals.items_skipped += outcome.skipped
        m = self._s.metrics
        m.rows.labels("inserted").inc(outcome.inserted)
        m.rows.labels("updated").inc(outcome.updated)
        m.rows.labels("deleted").inc(outcome.deleted)
        m.items_skipped.inc(outcome.skipped)

    async def _scope_failed(self, key: Key, name: str, exc: Exception) -> str:
        """Log, count and record a failed scope; returns the error as stored."""
        message = error_message(exc)
        if isinstance(exc, SyncerError | asyncpg.PostgresError | OSError):
            log.warning("sync.scope_failed", scope=name, error=message)
        else:  # a bug: keep the traceback
            log.error("sync.scope_failed", scope=name, error=message, exc_info=exc)
        self._result.totals.scopes_failed += 1
        stored = stored_error(message)
        self._result.errors.append({"scope": name, "error": stored})
        self._s.metrics.scopes.labels("failed").inc()
        try:
            await self._store.scope_failed(key, stored)
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as db_exc:
            log.error("sync.scope_failure_not_recorded", scope=name, error=error_message(db_exc))
        return stored
