"""The loop: a cycle every interval, a reconcile every reconcile interval, until stopped.

One replica of a deployment leads a cycle at a time (a lease row, see
syncer/cycle/lease.py); the others ask again when the lease or the deployment's
next cycle comes due. A led cycle records its run and runs every target's part
side by side (syncer/cycle/target.py), where failures stay contained in their
scope. Stopping sets an event: no new scope starts, in-flight scopes end at
their next page boundary (their committed pages stand), and whatever is still
running after the grace period is cancelled, which rolls back its open
transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from syncer.aws.clients import ApiStats
from syncer.aws.limits import FairSlots
from syncer.aws.registry import RegistrySource
from syncer.aws.targets import Targets
from syncer.cycle.availability import Availability
from syncer.cycle.feed.state import FeedState
from syncer.cycle.lease import CycleLease, LeaseState, Standby, deployment_key
from syncer.cycle.metrics import Metrics, refresh_scope_metrics
from syncer.cycle.plan import Plan
from syncer.cycle.privacy import Privacy
from syncer.cycle.progress import Progress
from syncer.cycle.rates import RateRecorder
from syncer.cycle.runs import CycleResult, Runs
from syncer.cycle.target import Services, TargetCycle
from syncer.deployments.store import DeploymentsStore
from syncer.details.identities import Identities
from syncer.details.store import DetailsStore
from syncer.errors import SyncerError, error_message
from syncer.logging import get_logger, stored_error
from syncer.models import Target
from syncer.settings import Settings
from syncer.warehouse.store import CONNECTION_ERRORS, Store

log = get_logger(__name__)

# In-flight work gets this long after SIGTERM, then is cancelled: with the
# shutdown after it, the process ends within 10 s of the signal.
STOP_GRACE_SECONDS = 7.0


def utcnow() -> datetime:
    return datetime.now(UTC)


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
        self.standby = Standby(self.interval_seconds, monotonic)
        # Set by the events consumer (syncer/events/): while its queue works,
        # incremental cycles may run less often; it sets cadence_changed when that flips.
        self.events_healthy: Callable[[], bool] | None = None
        self.cadence_changed = asyncio.Event()
        self._store = store
        self._runs = Runs(store)
        self._sources = list(sources)
        # Re-resolved at the start of every cycle this replica leads (discovery).
        self._targets = targets
        self._stats = stats
        self._metrics = metrics or Metrics(per_scope=settings.scope_metrics)
        self._metrics.track_api(stats)
        self._metrics.track_limits(
            lambda: {s.target: s.limits for s in self._sources if s.limits is not None}
        )
        self._now = now
        self._monotonic = monotonic
        self.progress = Progress(stats, monotonic)
        # Passed in when signals must be caught before the service is built.
        self.stop_event = stop_event or asyncio.Event()
        self._services = Services(
            settings=settings,
            store=store,
            metrics=self._metrics,
            now=now,
            stop=self.stop_event,
            beat=self.progress.beat,
            feed_state=FeedState(store),
            feed=Availability(
                "change_feed",
                store,
                self._metrics,
                now,
                effect="approval, status and stage changes wait for the next reconcile",
            ),
            rates=RateRecorder(store),
            details=DetailsStore(store, Identities.from_settings(settings)),
            details_on=Availability(
                "details",
                store,
                self._metrics,
                now,
                effect="governance details are not read (what is stored stays)",
            ),
            deployments=DeploymentsStore(store),
            deployments_on=Availability(
                "deployments",
                store,
                self._metrics,
                now,
                effect="which model versions the endpoints run is not updated until it is back",
            ),
            privacy=Privacy(store, settings),
        )
        self.cycles_completed = 0
        # The last plan of each target (tests and benchmarks read it).
        self.plans: dict[Target, Plan] = {}
        self.last_cycle_ok: bool | None = None
        # Ready once a cycle completed (succeeded or partial), or once another
        # replica was found leading: a standby has done its part by checking.
        self.ready = False

    @property
    def sources(self) -> list[RegistrySource]:
        """The current targets' sources (discovery may change them at a cycle's start)."""
        return list(self._sources)

    def interval_seconds(self) -> float:
        """From one incremental cycle's start to the next: SYNCER_INTERVAL_SECONDS, or
        SYNCER_EVENTS_INTERVAL_SECONDS while events arrive, when that is longer (at
        most the reconcile interval)."""
        s = self._settings
        if self.events_healthy is not None and self.events_healthy():
            events = max(s.interval_seconds, s.events_interval_seconds)
            return min(events, s.reconcile_interval_seconds)
        return s.interval_seconds

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
            lease = await self._lease.take(min_gap=self.interval_seconds())
        if not lease.granted:
            self._skipped(mode, lease)
            return CycleResult(None, mode, "skipped")
        self.standby.leading()
        completed = False
        try:
            async with self._lease.renewing():
                result = await self._led_cycle(mode, full)
            completed = result.status in ("succeeded", "partial")
            return result
        finally:
            await self._lease.release(completed=completed)

    def _skipped(self, mode: str, lease: LeaseState) -> None:
        reason = self.standby.skipped(lease)
        log.info("cycle.skipped", reason=reason, retry_in=round(lease.retry_in(), 1))
        self._metrics.cycles.labels(mode, "skipped").inc()
        self.ready = True

    async def _led_cycle(self, mode: str, full: bool) -> CycleResult:
        started = self._monotonic()
        run_id = await self._runs.start(mode, self.deployment)
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
                    tasks.create_task(
                        self._sync_target(source, full, run_id, slots, result),
                        name=f"target:{source.target}",
                    )
        finally:
            totals = result.totals
            totals.api_calls = self._stats.total - calls_before
            totals.api_throttled = self._stats.throttled - throttled_before
            result.status = self._status(result)
            await self._finish(result, started)
        return result

    async def _sync_target(
        self, source: RegistrySource, full: bool, run_id: int, slots: FairSlots, result: CycleResult
    ) -> None:
        part = TargetCycle(
            self._services,
            source,
            full=full,
            run_id=run_id,
            slots=slots.for_target(source.target),
            result=result,
        )
        self.plans[source.target] = await part.run()

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
        self.progress.beat()
        try:
            await self._runs.finish(result)
            await self._refresh_scope_metrics()
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            m.up.set(0)
            log.error("cycle.record_failed", run_id=result.run_id, error=error_message(exc))
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
        departed = len(self._targets.departed) if self._targets is not None else 0
        await refresh_scope_metrics(
            self._metrics, self._store, [s.target for s in self._sources], departed
        )

    # ------------------------------------------------------------- forever
    async def run_forever(self) -> None:
        """Cycle every interval until stop_event; reconcile every reconcile interval."""
        reconcile_every = timedelta(seconds=self._settings.reconcile_interval_seconds)
        last_full = await self._last_full()
        backoff = min(5.0, self._settings.interval_seconds)
        while not self.stop_event.is_set():
            began = self._monotonic()
            self.progress.beat()
            full = last_full is None or self._now() - last_full >= reconcile_every
            cycle_start = self._now()
            try:
                result = await self.run_cycle(full=full)
            except Exception as exc:  # the loop outlives any one cycle
                self._cycle_error("full" if full else "incremental", exc, backoff)
                # Jittered, doubling up to the interval: a database or SageMaker
                # outage is retried soon, but not hammered.
                await self._sleep(backoff * random.uniform(1.0, 1.2))
                backoff = min(backoff * 2, self._settings.interval_seconds)
                continue
            self._metrics.up.set(1)
            backoff = min(5.0, self._settings.interval_seconds)
            if full and result.status in ("succeeded", "partial"):
                last_full = cycle_start
            elif full and result.status == "skipped":
                last_full = await self._last_full()
            retry = self.standby.retry_in()
            if result.status == "skipped" and retry is not None:
                # Ask again once the lease expires or the cycle is due: a
                # leader killed mid-cycle is replaced within one lease period.
                interval = self.interval_seconds()
                elapsed = self._monotonic() - began
                wait = max(0.0, interval - elapsed) + random.uniform(0, interval * 0.1)
                wait = min(wait, retry + random.uniform(0, min(1.0, interval * 0.1)))
                await self._sleep(wait)
            else:
                await self._sleep_until_due(began)

    async def _sleep_until_due(self, began: float) -> None:
        """Until the next cycle is due, an interval after ``began`` (jittered: it keeps
        replicas and deployments against one account apart), counted again whenever
        the interval changes (the events queue stopped or started working)."""
        jitter = random.uniform(0, 0.1)
        while not self.stop_event.is_set():
            self.cadence_changed.clear()
            interval = self.interval_seconds()
            wait = max(0.0, interval - (self._monotonic() - began)) + interval * jitter
            if not await self._sleep(wait, wake=self.cadence_changed):
                return

    def _cycle_error(self, mode: str, exc: Exception, retry_in: float) -> None:
        self.last_cycle_ok = False
        self._metrics.cycles.labels(mode, "error").inc()
        retry = round(retry_in, 1)
        if isinstance(exc, (SyncerError, asyncpg.PostgresError, *CONNECTION_ERRORS)):
            self._metrics.up.set(0)
            log.error("cycle.failed", error=error_message(exc), retry_in=retry)
        else:  # a bug: keep the traceback, and keep the loop
            log.error("cycle.failed", error=error_message(exc), retry_in=retry, exc_info=exc)

    async def _last_full(self) -> datetime | None:
        try:
            last = await self._runs.last_full_started(self.deployment)
            await self._refresh_scope_metrics()
        except (*CONNECTION_ERRORS, asyncpg.PostgresError):
            self._metrics.up.set(0)
            return None
        self._metrics.up.set(1)
        return last

    async def _sleep(self, seconds: float, wake: asyncio.Event | None = None) -> bool:
        """Sleep, but wake at once when asked to stop; whether ``wake`` cut it short."""
        self.progress.idle = True
        waits = [asyncio.ensure_future(self.stop_event.wait())]
        if wake is not None:
            waits.append(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
            self.progress.idle = False
            self.progress.beat()
        return wake is not None and wake.is_set() and not self.stop_event.is_set()


async def run_until_stopped(
    work: asyncio.Future[Any], stop: asyncio.Event, grace: float = STOP_GRACE_SECONDS
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
