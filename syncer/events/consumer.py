"""The events consumer: long-poll the queue, apply each event, delete it once committed.

It runs beside the loop (syncer/service.py) and shares its stop event. Every
message ends one of three ways:

* **applied or ignored**, in a transaction that has committed: then deleted
  (a kill before the delete redelivers it, and a redelivered event is a
  duplicate, which changes nothing);
* **dropped** (``Dropped``: malformed, too large, an unknown kind, a failed
  call, another deployment's account or region, a package the mirror does not
  list, a tie SageMaker would not settle): one log line, counted, deleted;
* **failed** (the database is down, a bug): logged, counted, and made
  visible again after a backoff that doubles with each delivery; past the
  queue's maxReceiveCount SQS moves it to the dead-letter queue.

The queue's health (syncer/events/health.py) decides how often incremental
cycles run (Syncer.interval_seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping

import asyncpg

from syncer.aws.queue import EventQueue, QueueError, QueueMessage, open_queue
from syncer.aws.registry import RegistrySource
from syncer.cycle.availability import refusal
from syncer.details.identities import Identities
from syncer.details.store import DetailsStore
from syncer.errors import SourceError, SyncerError, error_message
from syncer.events.apply import TIE, EventApplier, Outcome
from syncer.events.health import QueueHealth
from syncer.events.metrics import EventMetrics
from syncer.events.parse import DeleteCall, Dropped, Event, package_event, parse_message
from syncer.logging import get_logger
from syncer.models import in_scope
from syncer.settings import Settings
from syncer.warehouse.store import CONNECTION_ERRORS, Store

log = get_logger(__name__)

# A queue that fails is asked again after this, doubling up to the maximum.
RETRY_FIRST_SECONDS = 5.0
RETRY_MAX_SECONDS = 300.0
# A message whose apply failed is seen again after this, doubling per delivery.
REDELIVER_FIRST_SECONDS = 10
REDELIVER_MAX_SECONDS = 900
# Reasons that say something is wrong upstream (a rule, a sender), not a choice.
_WARN = frozenset({"too_large", "malformed", "unknown_detail_type"})

Sources = Callable[[], Mapping[tuple[str, str], RegistrySource]]


class EventConsumer:
    def __init__(
        self,
        queue: EventQueue,
        applier: EventApplier,
        health: QueueHealth,
        metrics: EventMetrics,
        *,
        sources: Sources,
        name_contains: str | None,
        include_unversioned: bool,
        stop: asyncio.Event,
    ) -> None:
        self._queue = queue
        self._applier = applier
        self.health = health
        self._metrics = metrics
        self._sources = sources  # the deployment's targets now (discovery may change them)
        self._name_contains = name_contains
        self._include_unversioned = include_unversioned
        self._stop = stop

    async def run(self) -> None:
        """Poll until the stop event. A bug is logged with its traceback and shown
        (state stopped, the gauge at 0); the cycles go on without events."""
        try:
            await self._poll()
        except Exception as exc:
            log.error("events.consumer_failed", error=error_message(exc), exc_info=exc)
            await self.health.stopped(error_message(exc))

    async def _poll(self) -> None:
        backoff = RETRY_FIRST_SECONDS
        while not self._stop.is_set():
            try:
                messages = await self._receive()
            except QueueError as exc:
                await self.health.failed(exc, retry_in=backoff)
                await self._pause(backoff * random.uniform(1.0, 1.2))
                backoff = min(backoff * 2, RETRY_MAX_SECONDS)
                continue
            if messages is None:  # stopping
                break
            backoff = RETRY_FIRST_SECONDS
            await self.health.answered()
            if messages:
                await self.handle(messages)
            await self.health.record()

    async def _receive(self) -> list[QueueMessage] | None:
        """The next batch; None when asked to stop first (the long poll is cut short:
        what it may have taken becomes visible again after the visibility timeout)."""
        receive = asyncio.ensure_future(self._queue.receive())
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({receive, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not receive.done():
            receive.cancel()
            with contextlib.suppress(asyncio.CancelledError, QueueError):
                await receive
            return None
        return receive.result()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stop.wait()

    async def handle(self, messages: list[QueueMessage]) -> None:
        """Apply a batch, then delete what is done (committed, or dropped)."""
        done = [m for m in messages if await self._handle(m)]
        if not done:
            return
        try:
            kept = await self._queue.delete(done)
        except QueueError as exc:  # they come back, and are duplicates then
            log.warning("events.delete_failed", count=len(done), error=str(exc))
            return
        if kept:
            log.warning("events.delete_failed", count=len(kept), message_ids=kept[:10])

    async def _handle(self, message: QueueMessage) -> bool:
        """One message; whether to delete it."""
        self._metrics.received.inc()
        self.health.received()
        try:
            event = parse_message(message.body)
            self._check(event)
            outcome = await self._apply(event)
        except Dropped as drop:
            self._dropped(message, drop)
            return True
        except Exception as exc:
            await self._failed(message, exc)
            return False
        self._counted(event, outcome, message)
        return True

    def _check(self, event: Event) -> None:
        where = (event.account_id, event.region)
        if where not in self._sources():
            raise Dropped(
                "foreign_target", f"{event.account_id}/{event.region} is not a target here"
            )
        if isinstance(event, DeleteCall):
            return  # it can only mark what the mirror has
        if not in_scope(event.group_name, self._name_contains, self._include_unversioned):
            group = event.group_name or "(unversioned)"
            raise Dropped("not_mirrored", f"{event.arn}: {group} is not mirrored")

    async def _apply(self, event: Event) -> Outcome:
        if isinstance(event, DeleteCall):
            return await self._applier.apply_delete(event)
        outcome = await self._applier.apply_package(event)
        if outcome is not TIE:
            return outcome
        # Two changes within one second: the event cannot say which came last,
        # the package's current record can.
        self._metrics.ties.inc()
        source = self._sources().get((event.account_id, event.region))
        if source is None:
            raise Dropped("foreign_target", f"{event.account_id}/{event.region} left the targets")
        try:
            record = await source.describe_package(event.arn)
        except SourceError as exc:
            if refusal(exc) is None:
                raise
            raise Dropped("unresolved_tie", f"{event.arn}: {exc}") from None
        record.pop("ResponseMetadata", None)
        current = package_event(record, event.event_id, event.time, whole=True)
        return await self._applier.apply_package(current)

    def _counted(self, event: Event, outcome: Outcome, message: QueueMessage) -> None:
        name = event.arn if not isinstance(event, DeleteCall) else f"{event.kind} {event.name}"
        if outcome.status != "applied":
            self._metrics.ignored.labels(outcome.kind).inc()
            log.debug(
                "events.ignored", reason=outcome.kind, subject=name, message_id=message.message_id
            )
            return
        self._metrics.applied.labels(outcome.kind).inc()
        lag = None
        if event.time is not None:
            lag = max(0.0, time.time() - event.time.timestamp())
            self._metrics.lag.observe(lag)
        if outcome.changed:
            self.health.applied()
        log.info(
            "events.applied",
            kind=outcome.kind,
            subject=name,
            changed=outcome.changed,
            lag_seconds=None if lag is None else round(lag, 3),
        )

    def _dropped(self, message: QueueMessage, drop: Dropped) -> None:
        self._metrics.dropped.labels(drop.reason).inc()
        level = log.warning if drop.reason in _WARN else log.info
        level(
            "events.dropped", reason=drop.reason, why=str(drop)[:300], message_id=message.message_id
        )

    async def _failed(self, message: QueueMessage, exc: Exception) -> None:
        """Logged and counted; the message comes back after a backoff."""
        self._metrics.failed.inc()
        delay = min(
            REDELIVER_FIRST_SECONDS * 2 ** (message.receive_count - 1), REDELIVER_MAX_SECONDS
        )
        known = isinstance(exc, (SyncerError, asyncpg.PostgresError, *CONNECTION_ERRORS))
        log.warning(
            "events.apply_failed",
            message_id=message.message_id,
            deliveries=message.receive_count,
            retry_in=delay,
            error=error_message(exc),
            exc_info=None if known else exc,
        )
        try:
            await self._queue.retry_after(message, delay)
        except QueueError as error:  # then the queue's visibility timeout applies
            log.info("events.retry_not_set", message_id=message.message_id, error=str(error))


def open_configured_queue(
    settings: Settings, static_credentials: tuple[str, str] | None = None
) -> contextlib.AbstractAsyncContextManager[EventQueue]:
    """A client for SYNCER_EVENTS_QUEUE_URL (in the first region, should the URL
    name none), as the consumer and `syncer check` open it."""
    url = settings.events_queue_url
    assert url is not None
    return open_queue(
        url,
        default_region=settings.region_list(os.environ)[0],
        max_attempts=settings.max_attempts,
        static_credentials=static_credentials,
    )


@contextlib.asynccontextmanager
async def open_events(
    settings: Settings,
    store: Store,
    metrics: EventMetrics,
    *,
    sources: Sources,
    stop: asyncio.Event,
    on_health_change: Callable[[], None],
    static_credentials: tuple[str, str] | None = None,
) -> AsyncIterator[EventConsumer]:
    """The consumer of SYNCER_EVENTS_QUEUE_URL, its client open for the block."""
    async with open_configured_queue(settings, static_credentials) as queue:
        health = QueueHealth(queue.url, store, metrics, on_change=on_health_change)
        identities = Identities.from_settings(settings)
        yield EventConsumer(
            queue,
            EventApplier(
                store,
                DetailsStore(store, identities) if settings.details else None,
                identities,
            ),
            health,
            metrics,
            sources=sources,
            name_contains=settings.group_name_contains,
            include_unversioned=settings.include_unversioned,
            stop=stop,
        )
