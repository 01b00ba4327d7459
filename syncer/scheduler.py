"""Cycles: list groups, fan out per-scope syncs under a concurrency bound, record the run.

One replica of a deployment leads a cycle at a time (a lease row, see
syncer/lease.py); the others ask again when the lease or the deployment's
next cycle comes due. Within a cycle a failing scope is logged and recorded and
the rest go on; it is retried next cycle. Stopping sets an event: no new scope
starts, in-flight scopes end at their next page boundary (their committed
pages stand), and whatever is still running after the grace period is
cancelled, which rolls back its open transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import asyncpg

from syncer.availability import FeedAvailability, RateRecorder
from syncer.details_store import DetailsStore
from syncer.details_sync import details_budget, store_feed_details, sync_details
from syncer.directed import check_feed, creation_feed
from syncer.errors import SyncerError, describe, stored_error
from syncer.lease import CycleLease, deployment_key
from syncer.limits import FairSlots, TargetSlots
from syncer.logging import get_logger
from syncer.metrics import Metrics, ScopeState
from syncer.models import UNVERSIONED, PackageGroup, Scope, Target
from syncer.plan import FULL, FeedReport, Inputs, Plan, Trust, plan_cycle
from syncer.settings import Settings
from syncer.source import ApiStats, RegistrySource, feed_refusal
from syncer.store import (
    CONNECTION_ERRORS,
    LeaseState,
    RunTotals,
    Store,
    changes_key,
    groups_key,
    scope_key,
)
from syncer.sync import ScopeResult, Stopped, StoreRecords, sync_changes, sync_scope
from syncer.targets import Targets, target_states

log = get_logger(__name__)

# In-flight work gets this long after SIGTERM, then is cancelled: with the
# shutdown after it, the process ends within the 10 s the spec allows.
STOP_GRACE_SECONDS = 7.0
# A standby that has skipped cycles this many intervals while no cycle of its
# deployment completed is not ready: the mirror is going stale.
STALE_INTERVALS = 3


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class CycleResult:
    run_id: int | None
    mode: str
    status: str  # succeeded | partial | failed | interrupted | skipped
    totals: RunTotals = field(default_factory=RunTotals)
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "skipped")


class Syncer:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        sources: Sequence[RegistrySource],
        stats: ApiStats,
        *,
        metrics: Metrics | None = None,
        now: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        stop_event: asyncio.Event | None = None,
        targets: Targets | None = None,
        deployment: str | None = None,
    ) -> None:
        self._settings = settings
        self.deployment = deployment or deployment_key(settings, settings.region_list(os.environ))
        self._lease = CycleLease(store, self.deployment, seconds=settings.lease_seconds)
        # Set while this replica skips cycles (since when, and the lease as last
        # found), for readiness and for when to ask for the lease again.
        self._skipping_since: float | None = None
        self._lease_seen: tuple[float, LeaseState] | None = None
        self._store = store
        self._details = DetailsStore(store)
        self._sources = list(sources)
        # Re-resolved at the start of every cycle this replica leads (discovery).
        self._targets = targets
        self._stats = stats
        self._metrics = metrics or Metrics()
        self._metrics.track_api(stats)
        self._metrics.track_limits(
            lambda: {s.target: s.limits for s in self._sources if s.limits is not None}
        )
        self._feed = FeedAvailability(store, self._metrics, now)
        self._rates = RateRecorder(store)
        self._now = now
        self._monotonic = monotonic
        # Passed in when signals must be caught before the service is built.
        self.stop_event = stop_event or asyncio.Event()
        self.cycles_completed = 0
        # The last plan of each target (tests and benchmarks read it).
        self.plans: dict[Target, Plan] = {}
        self.last_cycle_ok: bool | None = None
        # Ready once a cycle completed (succeeded or partial), or once another
        # replica was found leading: a standby has done its part by checking.
        self.ready = False
        # Progress watchdog for /healthz: the last moment the loop visibly moved
        # (a cycle or scope boundary, a group page, a SageMaker attempt); idle
        # while it sleeps between cycles, which is not being stuck.
        self.heartbeat = monotonic()
        self.idle = False
        self._calls_at_heartbeat = 0

    # ------------------------------------------------------------- one cycle
    async def run_cycle(self, *, full: bool, wait: bool = False) -> CycleResult:
        """One cycle, if this replica leads; ``wait`` queues behind a running one
        (at most the statement timeout), and runs whenever the last cycle was."""
        mode = "full" if full else "incremental"
        if wait:
            # Long enough for the lease of a leader that died to expire.
            lease = await self._lease.wait(
                within=self._settings.statement_timeout_seconds + self._settings.lease_seconds
            )
        else:
            lease = await self._lease.take(min_gap=self._settings.interval_seconds)
        if not lease.granted:
            self._skipped(mode, lease)
            return CycleResult(None, mode, "skipped")
        self._skipping_since = self._lease_seen = None
        completed = False
        try:
            async with self._lease.renewing():
                result = await self._led_cycle(mode, full)
            completed = result.status in ("succeeded", "partial")
            return result
        finally:
            await self._lease.release(completed=completed)

    def _skipped(self, mode: str, lease: LeaseState) -> None:
        if lease.expires_in > 0:
            reason = f"another replica is running a cycle ({lease.holder})"
        else:
            reason = "the deployment's last cycle started less than an interval ago"
        log.info("cycle.skipped", reason=reason, retry_in=round(self.retry_in(lease), 1))
        self._metrics.cycles.labels(mode, "skipped").inc()
        now = self._monotonic()
        if self._skipping_since is None:
            self._skipping_since = now
        self._lease_seen = (now, lease)
        self.ready = True

    @staticmethod
    def retry_in(lease: LeaseState) -> float:
        """When to ask for a lease that was not granted: when it expires (its
        holder may have died) or the next cycle is due, whichever is later."""
        return max(0.05, lease.expires_in, lease.due_in)

    def stale_reason(self) -> str | None:
        """Why this replica is not ready although another leads: it has skipped
        cycles for STALE_INTERVALS intervals, and no cycle of its deployment
        completed in that time either (None: nothing stale)."""
        if self._skipping_since is None or self._lease_seen is None:
            return None
        now = self._monotonic()
        limit = STALE_INTERVALS * self._settings.interval_seconds
        skipping = now - self._skipping_since
        seen_at, lease = self._lease_seen
        completed = None if lease.completed_ago is None else lease.completed_ago + now - seen_at
        if skipping <= limit or (completed is not None and completed <= limit):
            return None
        last = "never" if completed is None else f"{completed:.0f}s ago"
        return (
            f"skipped cycles for {skipping:.0f}s while another replica held the lease"
            f" ({lease.holder}); a cycle of this deployment last completed {last}"
        )

    def beat(self) -> None:
        self.heartbeat = self._monotonic()

    def seconds_since_progress(self) -> float:
        """How long the loop has gone without visible progress; 0 while it sleeps."""
        if self.idle:
            return 0.0
        calls = self._stats.total
        if calls != self._calls_at_heartbeat:  # a SageMaker attempt since the last look
            self._calls_at_heartbeat = calls
            self.beat()
        return max(0.0, self._monotonic() - self.heartbeat)

    async def _led_cycle(self, mode: str, full: bool) -> CycleResult:
        started = self._monotonic()
        run_id = await self._store.start_run(mode, self.deployment)
        result = CycleResult(run_id, mode, "running")
        calls_before, throttled_before = self._stats.total, self._stats.throttled
        log.info("cycle.started", run_id=run_id, mode=mode)
        # Bounded globally, and each target gets at most an equal share of the
        # slots while others wait: a slow or throttled account cannot hold them all.
        slots = FairSlots(self._settings.concurrency)
        try:
            await self._refresh_targets(result)
            async with asyncio.TaskGroup() as tasks:
                for source in self._sources:
                    semaphore = slots.for_target(source.target)
                    tasks.create_task(
                        self._sync_target(source, full, run_id, semaphore, result),
                        name=f"target:{source.target}",
                    )
        finally:
            totals = result.totals
            totals.api_calls = self._stats.total - calls_before
            totals.api_throttled = self._stats.throttled - throttled_before
            result.status = self._status(result)
            await self._finish(result, started)
        return result

    async def _refresh_targets(self, result: CycleResult) -> None:
        """This cycle's targets. Failed discovery keeps the last ones and fails the cycle's
        '(organization)' scope: the cycle is partial, the targets still synced."""
        if self._targets is None:
            return
        self._sources = await self._targets.refresh()
        if self._targets.error is not None:
            result.totals.scopes_total += 1
            result.totals.scopes_failed += 1
            error = stored_error(self._targets.error)
            result.errors.append({"scope": "(organization)", "error": error})
            self._metrics.scopes.labels("failed").inc()

    def _status(self, result: CycleResult) -> str:
        if self.stop_event.is_set():
            return "interrupted"
        failed, total = result.totals.scopes_failed, result.totals.scopes_total
        if failed == 0:
            return "succeeded"
        return "failed" if failed >= total else "partial"

    async def _finish(self, result: CycleResult, started: float) -> None:
        duration = self._monotonic() - started
        m = self._metrics
        m.cycles.labels(result.mode, result.status).inc()
        m.cycle_seconds.labels(result.mode).observe(duration)
        m.last_cycle.set(time.time())
        if result.status == "succeeded":
            m.last_success.set(time.time())
        self.last_cycle_ok = result.status == "succeeded"
        self.beat()
        try:
            assert result.run_id is not None
            await self._store.finish_run(result.run_id, result.status, result.totals, result.errors)
            await self._refresh_scope_metrics()
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            m.up.set(0)
            log.error("cycle.record_failed", run_id=result.run_id, error=describe(exc))
        # Only now: whoever sees the service ready finds the run and its gauges.
        self.cycles_completed += 1
        if result.status in ("succeeded", "partial"):
            self.ready = True
        t = result.totals
        log.info(
            "cycle.finished",
            run_id=result.run_id,
            mode=result.mode,
            status=result.status,
            seconds=round(duration, 3),
            scopes=t.scopes_total,
            failed=t.scopes_failed,
            listed=t.packages_listed,
            inserted=t.packages_inserted,
            updated=t.packages_updated,
            deleted=t.packages_deleted,
            api_calls=t.api_calls,
            throttled=t.api_throttled,
        )

    async def _refresh_scope_metrics(self) -> None:
        rows = await self._store.scope_lags()
        # Only this deployment's targets: an account that left, or another
        # deployment's, is not this one's lag to alert on.
        ours = {(s.target.account_id, s.target.region) for s in self._sources}
        self._metrics.set_scopes(
            {
                (row["account_id"], row["region"], row["scope"]): ScopeState(
                    row["watermark"], row["last_success"], row["consecutive_failures"]
                )
                for row in rows
                if (row["account_id"], row["region"]) in ours
            }
        )
        groups_rows = {
            (row["account_id"], row["region"]): (
                row["consecutive_failures"],
                row["last_success"] is not None,
            )
            for row in rows
            if row["scope"] == "(groups)"
        }
        states = target_states([s.target for s in self._sources], groups_rows)
        departed = len(self._targets.departed) if self._targets is not None else 0
        self._metrics.set_targets(list(states.values()), departed)

    # ------------------------------------------------------------- one target
    async def _sync_target(
        self,
        source: RegistrySource,
        full: bool,
        run_id: int,
        semaphore: TargetSlots,
        result: CycleResult,
    ) -> None:
        """The feed first, then the plan (syncer.plan), then the listings it names."""
        target = source.target
        lookback = timedelta(seconds=self._settings.lookback_seconds)
        # Read before this cycle moves anything: where each scope's listing
        # starts (a full cycle lists from the start) and which groups are live.
        watermarks = {} if full else await self._store.watermarks(target)
        live_groups = await self._store.live_groups(target)
        trust = await self._store.trust(target)
        newest_group = await self._store.newest_group(target)
        # The feed runs before the listings, so that they find its changes stored;
        # on full cycles too, so that its cursors keep up with the mirror.
        feed = FeedReport(ok=False, error="SYNCER_CHANGE_FEED=false")
        if self._settings.change_feed:
            feed, trust = await self._sync_changes(source, full, run_id, semaphore, result, trust)
        inputs = Inputs(
            full=full,
            include_unversioned=self._settings.include_unversioned,
            change_feed=self._settings.change_feed,
            trust=trust,
            feed=feed,
            newest_group=newest_group,
            lookback=lookback,
            feed_unavailable=(
                f"the change feed is switched off for this account and region ({feed.error})"
                if feed.unavailable
                else None
            ),
            directed_cycles=self._settings.directed_cycles,
        )
        plan = plan_cycle(inputs)
        self.plans[target] = plan
        log.info("cycle.plan", target=str(target), run_id=run_id, **plan.event())
        listings_ok = await self._list(
            source, plan, watermarks, live_groups, run_id, semaphore, result
        )
        await self._record_rates(source)
        checks = self._settings.change_feed and self._settings.directed_cycles
        if checks and not self.stop_event.is_set():
            try:
                trust, misses = await check_feed(
                    source,
                    self._store,
                    trust,
                    feed,
                    run_id=run_id,
                    lookback=lookback,
                    reconcile=full,
                    listings_ok=listings_ok,
                )
            except Exception as exc:
                await self._scope_failed(changes_key(target), f"{target}/(changes)", exc, result)
                return
            self._metrics.feed_missed(target, len(misses))
        # What the next incremental cycle will do, and why, as of now.
        self._metrics.set_mode(target, plan_cycle(replace(inputs, full=False, trust=trust)))

    async def _list(
        self,
        source: RegistrySource,
        plan: Plan,
        watermarks: dict[tuple[str, str, str, str], datetime],
        live_groups: dict[str, set[str]],
        run_id: int,
        semaphore: TargetSlots,
        result: CycleResult,
    ) -> bool:
        """Run the plan's listings; whether every one of them completed."""
        target = source.target
        failed: list[str] = []
        started: set[str] = set()

        async def one(scope: Scope, watermark: datetime | None) -> None:
            if not await self._guarded_scope(source, scope, watermark, run_id, semaphore, result):
                failed.append(str(scope))

        async with asyncio.TaskGroup() as tasks:
            if self._settings.details:  # beside the listings, the feed being done
                tasks.create_task(
                    self._sync_details(source, plan.mode == FULL), name=f"details:{target}"
                )

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
            if await self._sync_groups(source, plan, run_id, semaphore, result, listed):
                if plan.sweeps_groups:
                    for name in recreated:
                        start(Scope(target, name), None)
            else:
                failed.append(f"{target}/(groups)")
        return not failed and not self.stop_event.is_set()

    async def _record_rates(self, source: RegistrySource) -> None:
        """The target's allowed rates and throttles, for `syncer status`."""
        if source.limits is None:
            return
        try:
            await self._rates.record(source.target, source.limits)
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            log.warning("limits.not_recorded", target=str(source.target), error=describe(exc))

    async def _sync_groups(
        self,
        source: RegistrySource,
        plan: Plan,
        run_id: int,
        semaphore: TargetSlots,
        result: CycleResult,
        listed: Callable[[PackageGroup], None],
    ) -> bool:
        """List the groups (cheap: 100 a call), store them, sweep the vanished ones.

        ``listed`` is called with each group once its page is stored. A
        directed plan lists only groups created after its moment, and sweeps
        nothing. Returns whether the listing (and its sweep) completed.
        """
        target = source.target
        totals = result.totals
        totals.scopes_total += 1
        seen: list[str] = []
        try:
            async with semaphore:
                async for page in source.list_groups(
                    self._settings.group_name_contains, plan.groups_created_after
                ):
                    if self.stop_event.is_set():  # an incomplete listing: no sweep
                        raise Stopped(f"{target}/(groups)")
                    self.beat()
                    totals.groups_listed += len(page.items) + page.skipped
                    totals.items_skipped += page.skipped
                    totals.groups_changed += await self._store.store_groups(target, page.items)
                    seen.extend(g.arn for g in page.items)
                    seen.extend(page.skipped_arns)
                    for group in page.items:
                        listed(group)
            gone: list[str] = []
            packages = 0
            if plan.sweeps_groups:
                gone, packages = await self._store.sweep_groups(
                    target, seen, self._settings.group_name_contains, run_id
                )
            else:
                await self._store.scope_succeeded(groups_key(target), full=False)
        except Stopped:
            log.info("sync.scope_stopped", scope=f"{target}/(groups)")
            return False
        except Exception as exc:
            await self._scope_failed(groups_key(target), f"{target}/(groups)", exc, result)
            return False
        totals.groups_deleted += len(gone)
        totals.packages_deleted += packages
        self._metrics.rows.labels("deleted").inc(packages)
        if gone:
            log.info("sync.groups_deleted", target=str(target), groups=gone[:20], count=len(gone))
        self._metrics.scopes.labels("succeeded").inc()
        return True

    async def _sync_changes(
        self,
        source: RegistrySource,
        full: bool,
        run_id: int,
        semaphore: TargetSlots,
        result: CycleResult,
        trust: Trust,
    ) -> tuple[FeedReport, Trust]:
        """The change feed of one target, recorded in its own sync_state row ('changes').

        Approvals, statuses and stages are applied (sync_changes); then
        creations name the scopes a directed cycle lists (creation_feed). A
        failure counts the cycle partial (approvals may be stale until the
        reconcile), except SageMaker refusing Search: then the feed is off for
        the target for a while (syncer/availability.py) and the cycle succeeds.
        Either way this cycle lists in all-groups mode.
        """
        target = source.target
        name = f"{target}/(changes)"
        async with semaphore:
            if self.stop_event.is_set():
                return FeedReport(ok=False, error="stopping"), trust
            try:
                usable = await self._feed.usable(target, full=full)
            except Exception as exc:
                result.totals.scopes_total += 1
                await self._scope_failed(changes_key(target), name, exc, result)
                return FeedReport(ok=False, error=result.errors[-1]["error"]), trust
            if not usable:
                return FeedReport(ok=False, unavailable=True, error="switched off"), trust
            result.totals.scopes_total += 1
            try:
                lookback = timedelta(seconds=self._settings.lookback_seconds)
                outcome = await sync_changes(
                    source,
                    self._store,
                    lookback=lookback,
                    run_id=run_id,
                    stop=self.stop_event,
                    details=self._feed_details(target) if self._settings.details else None,
                )
                feed = FeedReport(ok=True)  # names nothing: directed cycles are off
                if self._settings.directed_cycles:
                    feed, trust = await creation_feed(
                        source, self._store, trust, lookback=lookback, now=self._now
                    )
                await self._store.scope_succeeded(changes_key(target), full=False)
                await self._feed.worked(target)
            except Stopped:
                log.info("sync.scope_stopped", scope=name)
                return FeedReport(ok=False, error="stopping"), trust
            except Exception as exc:
                code = feed_refusal(exc)
                if code is None:
                    await self._scope_failed(changes_key(target), name, exc, result)
                    return FeedReport(ok=False, error=result.errors[-1]["error"]), trust
                await self._feed_refused(target, name, code, exc, result)
                return FeedReport(ok=False, unavailable=True, error=f"refused: {code}"), trust
        self.beat()
        # Search results are not listed packages: only what they changed counts.
        self._add(result.totals, replace(outcome, listed=0))
        self._metrics.scopes.labels("succeeded").inc()
        return feed, trust

    async def _feed_refused(
        self, target: Target, name: str, code: str, exc: Exception, result: CycleResult
    ) -> None:
        try:
            await self._feed.refused(target, code, stored_error(str(exc)))
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as db_exc:
            await self._scope_failed(changes_key(target), name, db_exc, result)

    def _feed_details(self, target: Target) -> StoreRecords:
        s = self._settings
        return functools.partial(
            store_feed_details,
            self._details,
            str(target),
            name_contains=s.group_name_contains,
            include_unversioned=s.include_unversioned,
        )

    async def _sync_details(
        self,
        source: RegistrySource,
        full: bool,
    ) -> None:
        """The target's governance-details reads (syncer/details_sync.py), after the feed.

        A failure (Search denied, say) is logged and recorded in details_state;
        it leaves the details as they were and the cycle's outcome alone.
        """
        # One stream of Search calls per target, beside the listings rather than
        # in one of their SYNCER_CONCURRENCY slots (a pass is one call after the
        # other); the rate cap applies to it as to every call.
        if self.stop_event.is_set():
            return
        s = self._settings
        try:
            await sync_details(
                source,
                self._details,
                full_cycle=full,
                budget=details_budget(s.max_requests_per_second, s.interval_seconds),
                lookback=timedelta(seconds=s.lookback_seconds),
                name_contains=s.group_name_contains,
                include_unversioned=s.include_unversioned,
                stop=self.stop_event,
            )
        except Exception as exc:
            message = str(exc) if isinstance(exc, SyncerError) else describe(exc)
            known = isinstance(exc, SyncerError | asyncpg.PostgresError | OSError)
            log.warning(
                "details.failed",
                target=str(source.target),
                error=message,
                exc_info=None if known else exc,
            )
            with contextlib.suppress(*CONNECTION_ERRORS, asyncpg.PostgresError):
                await self._details.failed(source.target, stored_error(message))
        self.beat()

    async def _guarded_scope(
        self,
        source: RegistrySource,
        scope: Scope,
        watermark: datetime | None,
        run_id: int,
        semaphore: TargetSlots,
        result: CycleResult,
    ) -> bool:
        """One scope, listed from ``watermark`` (None: all of it); its failure is
        recorded and contained, never raised to the cycle. Whether it completed."""
        async with semaphore:
            if self.stop_event.is_set():
                return False
            result.totals.scopes_total += 1
            self.beat()
            try:
                outcome = await sync_scope(
                    source,
                    self._store,
                    scope,
                    watermark=watermark,
                    lookback=timedelta(seconds=self._settings.lookback_seconds),
                    run_id=run_id,
                    now=self._now,
                    stop=self.stop_event,
                )
            except Stopped:
                log.info("sync.scope_stopped", scope=str(scope))
                return False
            except Exception as exc:
                await self._scope_failed(scope_key(scope), str(scope), exc, result)
                return False
            self.beat()
            self._add(result.totals, outcome)
            self._metrics.scopes.labels("succeeded").inc()
            return True

    def _add(self, totals: RunTotals, outcome: ScopeResult) -> None:
        totals.packages_listed += outcome.listed
        totals.packages_inserted += outcome.inserted
        totals.packages_updated += outcome.updated
        totals.packages_deleted += outcome.deleted
        totals.items_skipped += outcome.skipped
        m = self._metrics
        m.rows.labels("inserted").inc(outcome.inserted)
        m.rows.labels("updated").inc(outcome.updated)
        m.rows.labels("deleted").inc(outcome.deleted)
        m.items_skipped.inc(outcome.skipped)

    async def _scope_failed(
        self, key: tuple[str, str, str, str], name: str, exc: Exception, result: CycleResult
    ) -> None:
        message = str(exc) if isinstance(exc, SyncerError) else describe(exc)
        if isinstance(exc, SyncerError | asyncpg.PostgresError | OSError):
            log.warning("sync.scope_failed", scope=name, error=message)
        else:  # a bug: keep the traceback
            log.error("sync.scope_failed", scope=name, error=message, exc_info=exc)
        result.totals.scopes_failed += 1
        stored = stored_error(message)
        result.errors.append({"scope": name, "error": stored})
        self._metrics.scopes.labels("failed").inc()
        try:
            await self._store.scope_failed(key, stored)
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as db_exc:
            log.error("sync.scope_failure_not_recorded", scope=name, error=describe(db_exc))

    # ------------------------------------------------------------- forever
    async def run_forever(self) -> None:
        """Cycle every interval until stop_event; reconcile every reconcile interval."""
        interval = self._settings.interval_seconds
        reconcile_every = timedelta(seconds=self._settings.reconcile_interval_seconds)
        last_full = await self._last_full()
        backoff = min(5.0, interval)
        while not self.stop_event.is_set():
            began = self._monotonic()
            self.beat()
            full = last_full is None or self._now() - last_full >= reconcile_every
            cycle_start = self._now()
            try:
                result = await self.run_cycle(full=full)
            except Exception as exc:  # the loop outlives any one cycle
                self._cycle_error("full" if full else "incremental", exc, backoff)
                # Jittered, doubling up to the interval: a database or SageMaker
                # outage is retried soon, but not hammered.
                await self._sleep(backoff * random.uniform(1.0, 1.2))
                backoff = min(backoff * 2, interval)
                continue
            self._metrics.up.set(1)
            backoff = min(5.0, interval)
            if full and result.status in ("succeeded", "partial"):
                last_full = cycle_start
            elif full and result.status == "skipped":
                last_full = await self._last_full()
            # Jitter keeps replicas (and many deployments against one account) apart.
            elapsed = self._monotonic() - began
            wait = max(0.0, interval - elapsed) + random.uniform(0, interval * 0.1)
            if result.status == "skipped" and self._lease_seen is not None:
                # Ask again once the lease expires or the cycle is due: a
                # leader killed mid-cycle is replaced within one lease period.
                retry = self.retry_in(self._lease_seen[1])
                wait = min(wait, retry + random.uniform(0, min(1.0, interval * 0.1)))
            await self._sleep(wait)

    def _cycle_error(self, mode: str, exc: Exception, retry_in: float) -> None:
        self.last_cycle_ok = False
        self._metrics.cycles.labels(mode, "error").inc()
        retry = round(retry_in, 1)
        if isinstance(exc, (SyncerError, asyncpg.PostgresError, *CONNECTION_ERRORS)):
            self._metrics.up.set(0)
            error = str(exc) if isinstance(exc, SyncerError) else describe(exc)
            log.error("cycle.failed", error=error, retry_in=retry)
        else:  # a bug: keep the traceback, and keep the loop
            log.error("cycle.failed", error=describe(exc), retry_in=retry, exc_info=exc)

    async def _last_full(self) -> datetime | None:
        try:
            last = await self._store.last_full_run_started(self.deployment)
            await self._refresh_scope_metrics()
        except (*CONNECTION_ERRORS, asyncpg.PostgresError):
            self._metrics.up.set(0)
            return None
        self._metrics.up.set(1)
        return last

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when asked to stop."""
        self.idle = True
        try:
            async with asyncio.timeout(seconds):
                await self.stop_event.wait()
        except TimeoutError:
            pass
        finally:
            self.idle = False
            self.beat()


async def run_until_stopped(
    work: asyncio.Task[object], stop: asyncio.Event, grace: float = STOP_GRACE_SECONDS
) -> None:
    """Await ``work``; once ``stop`` is set, give it ``grace`` seconds, then cancel it.

    Cancelling rolls back whatever transaction is open; committed pages stand.
    """
    stopper = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            log.info("service.stopping", grace_seconds=grace)
            try:
                async with asyncio.timeout(grace):
                    await asyncio.shield(work)
            except TimeoutError:
                log.warning("service.cancelling", reason="grace period over")
                work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work
    finally:
        stopper.cancel()
