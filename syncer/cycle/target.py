"""One target's part of a cycle: the change feed, the plan, the listings it runs.

`Syncer` (syncer/cycle/loop.py) leads the cycle and runs one `TargetCycle` per
account and region, side by side. Every failure here is contained in its
scope: recorded in sync_state and in the run's errors, never raised to the
cycle, so one account, group or feed cannot stop the others.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import asyncpg

from syncer.aws.limits import TargetSlots
from syncer.aws.registry import RegistrySource
from syncer.cycle.availability import Availability, run_optional
from syncer.cycle.deployments import resolve_model_packages, sync_target_deployments
from syncer.cycle.feed.changes import ChangeFeed
from syncer.cycle.feed.state import FeedState
from syncer.cycle.listing import Reach, ScopeResult, Stopped, discover, sync_account, sync_scope
from syncer.cycle.metrics import Metrics
from syncer.cycle.plan import Inputs, Plan, named_scopes, plan_cycle
from syncer.cycle.privacy import Privacy
from syncer.cycle.rates import RateRecorder
from syncer.cycle.runs import CycleResult
from syncer.deployments.store import DeploymentsStore
from syncer.details.store import DetailsStore
from syncer.details.sync import DETAILS_WINDOWS, Reading, details_budget, sync_details
from syncer.errors import SyncerError, error_message
from syncer.logging import get_logger, stored_error
from syncer.models import UNVERSIONED, Scope
from syncer.settings import Settings
from syncer.warehouse.store import (
    CONNECTION_ERRORS,
    Key,
    Store,
    changes_key,
    groups_key,
    packages_key,
    scope_key,
)

log = get_logger(__name__)


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
    deployments: DeploymentsStore
    deployments_on: Availability  # as details_on, for models' and endpoints' Search
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
        self._reach = Reach(
            services.settings.group_name_contains, services.settings.include_unversioned
        )

    @property
    def _stopping(self) -> bool:
        return self._s.stop.is_set()

    async def run(self) -> Plan:
        """The feed first, then the plan (syncer.cycle.plan), then its listings."""
        target, settings, store = self._target, self._settings, self._store
        if self._source.limits is not None:
            await self._s.rates.resume(target, self._source.limits)
        if self._full:
            await self._s.privacy.enforce(target)
        # Read before this cycle moves anything.
        watermarks = await store.watermarks(target)
        inputs = Inputs(
            full=self._full,
            newest_group=await store.newest_group(target),
            packages_cursor=watermarks.get(packages_key(target)),
            lookback=self._lookback,
            edges=tuple(
                await store.window_edges(target, settings.concurrency) if self._full else ()
            ),
        )
        # The feed runs before the listings, so that they find its changes stored.
        if settings.change_feed:
            await self._sync_changes()
        plan = plan_cycle(inputs)
        log.info("cycle.plan", target=str(target), run_id=self._run_id, **plan.event())
        # The details beside the listings, the feed being done.
        async with asyncio.TaskGroup() as tasks:
            if settings.details:
                tasks.create_task(self._sync_details(plan.full), name=f"details:{target}")
            if settings.deployments:  # beside the details, under the same rules
                tasks.create_task(
                    sync_target_deployments(
                        self._source,
                        self._s.deployments,
                        self._s.deployments_on,
                        full=plan.full,
                        lookback=self._lookback,
                        now=self._s.now,
                        stop=self._s.stop,
                        beat=self._s.beat,
                    ),
                    name=f"deployments:{target}",
                )
            if plan.full:
                await self._reconcile(plan)
            else:
                await self._incremental(plan, watermarks)
        if settings.deployments:  # the packages just listed: models that name them link
            await resolve_model_packages(self._s.deployments, target)
        await self._record_rates()
        return plan

    # ------------------------------------------------------------- listings
    async def _reconcile(self, plan: Plan) -> None:
        """The complete group listing and its sweep, then every package by windows.

        The group sweep goes first: a group deleted and created again under
        its name has its old versions retired before the listing stores the
        new ones (whose ARNs may be the old ones again).
        """
        await self._sync_groups(plan)
        if self._stopping:
            return
        key, name = packages_key(self._target), f"{self._target}/(packages)"
        self._result.totals.scopes_total += 1
        try:
            outcome = await sync_account(
                self._source,
                self._store,
                plan.windows,
                reach=self._reach,
                lookback=self._lookback,
                run_id=self._run_id,
                slots=self._slots,
                parallel=self._settings.concurrency,
                now=self._s.now,
                stop=self._s.stop,
            )
        except Stopped:
            log.info("sync.scope_stopped", scope=name)
            return
        except Exception as exc:
            await self._scope_failed(key, name, exc)
            return
        self._s.beat()
        self._add(outcome)
        self._s.metrics.scopes.labels("succeeded").inc()

    async def _incremental(self, plan: Plan, watermarks: dict[Key, datetime]) -> None:
        """New groups, and the packages created since the cursor beside them; then the
        scopes of the new packages, each from its watermark, and the cursor moves on
        once they all completed."""
        target = self._target
        key, name = packages_key(target), f"{target}/(packages)"
        self._result.totals.scopes_total += 1
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._sync_groups(plan), name=f"groups:{target}")
            try:
                found = await discover(
                    self._source,
                    plan.windows[0],
                    reach=self._reach,
                    slots=self._slots,
                    parallel=self._settings.concurrency,
                    now=self._s.now,
                    stop=self._s.stop,
                )
                mirrored = await self._store.live_among([f.arn for f in found])
            except Stopped:
                log.info("sync.scope_stopped", scope=name)
                return
            except Exception as exc:
                await self._scope_failed(key, name, exc)
                return
        groups, unversioned = named_scopes(found, mirrored)
        scopes = [Scope(target, g) for g in sorted(groups)]
        if unversioned:
            scopes.append(Scope(target, UNVERSIONED))
        if scopes:
            log.info("sync.new_packages", target=str(target), scopes=[str(s) for s in scopes[:20]])
        async with asyncio.TaskGroup() as tasks:
            listed = [
                tasks.create_task(
                    self._guarded_scope(scope, watermarks.get(scope_key(scope))),
                    name=f"scope:{scope}",
                )
                for scope in scopes
            ]
        if self._stopping or not all(t.result() for t in listed):
            return  # the next cycle looks again from the same cursor
        try:
            if found:
                await self._store.advance_watermark(key, max(f.created for f in found))
            await self._store.scope_succeeded(key, full=False)
        except Exception as exc:
            await self._scope_failed(key, name, exc)
            return
        self._s.metrics.scopes.labels("succeeded").inc()

    async def _sync_groups(self, plan: Plan) -> bool:
        """List the groups (100 a call), store them, sweep the vanished ones.

        An incremental plan lists only groups created after its moment, and
        sweeps nothing. Returns whether the listing (and its sweep) completed;
        a failure is recorded, never raised.
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
                    seen.extend(page.arns())
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
    async def _sync_changes(self) -> None:
        """The change feed of the target (syncer/cycle/feed/), recorded in its own
        sync_state row ('changes').

        A failure counts the cycle partial (approvals may be stale until the
        reconcile), except SageMaker refusing Search: then the feed is off for
        the target for a while and the cycle succeeds.
        """
        key, name = changes_key(self._target), f"{self._target}/(changes)"
        totals = self._result.totals
        feed = ChangeFeed(
            self._source,
            self._s.feed_state,
            self._s.feed,
            self._s.details if self._settings.details else None,
            self._settings,
            run_id=self._run_id,
            stop=self._s.stop,
        )
        async with self._slots:
            if self._stopping:
                return
            try:
                usable = await feed.usable(full=self._full)
            except Exception as exc:
                totals.scopes_total += 1
                await self._scope_failed(key, name, exc)
                return
            if not usable:
                return
            totals.scopes_total += 1
            try:
                applied = await feed.run()
            except Stopped:
                log.info("sync.scope_stopped", scope=name)
                return
            except Exception as exc:
                await self._scope_failed(key, name, exc)
                return
        if applied is None:  # refused: switched off, the cycle goes on
            return
        self._s.beat()
        # Search results are not listed packages: only what they changed counts.
        self._add(replace(applied, listed=0))
        self._s.metrics.scopes.labels("succeeded").inc()

    async def _sync_details(self, full: bool) -> None:
        """The target's governance-details reads (syncer/details/sync.py), after the
        feed: an optional read (``run_optional``), its failures in details_state."""
        if self._stopping:
            return
        s = self._settings

        async def read() -> bool:
            # Its windows take slots as the listings' do; the rate cap applies to
            # its calls as to every call.
            await sync_details(
                self._source,
                self._s.details,
                Reading(
                    self._slots,
                    min(s.concurrency, DETAILS_WINDOWS),
                    self._s.now,
                    self._s.stop,
                    edges=lambda: self._store.window_edges(self._target, DETAILS_WINDOWS),
                ),
                full_cycle=full,
                budget=details_budget(s.max_requests_per_second, s.interval_seconds),
                lookback=self._lookback,
                name_contains=s.group_name_contains,
                include_unversioned=s.include_unversioned,
            )
            return True

        await run_optional(
            self._s.details_on,
            self._target,
            full=full,
            read=read,
            record_failure=functools.partial(self._s.details.failed, self._target),
            beat=self._s.beat,
        )

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
