"""Whether the events queue works, said once when that changes: a log line, the
gauge syncer_events_queue_up, and a row of sagemaker.event_queues (syncer status).

Healthy means the last long poll answered, recently. While it is, incremental
cycles may run less often (Syncer.interval_seconds); when it stops being
healthy the loop is told at once, and the cycles take over at their usual
interval. SQL in syncer/warehouse/sql/events.sql.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg

from syncer.aws.queue import WAIT_SECONDS, QueueError
from syncer.errors import error_message
from syncer.events.metrics import EventMetrics
from syncer.logging import get_logger, stored_error
from syncer.warehouse.sql import QUERIES
from syncer.warehouse.store import CONNECTION_ERRORS, Store

log = get_logger(__name__)

# A queue whose last answer is older than this is no longer taken as healthy
# (a long poll answers within WAIT_SECONDS).
HEALTHY_WITHIN_SECONDS = 3 * WAIT_SECONDS
# The queue's row is written on every change of state, and at most this often besides.
RECORD_EVERY_SECONDS = 60.0
EFFECT = "changes wait for the cycles, at SYNCER_INTERVAL_SECONDS"


class QueueHealth:
    def __init__(
        self,
        url: str,
        store: Store,
        metrics: EventMetrics,
        *,
        on_change: Callable[[], None] = lambda: None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._store = store
        self._metrics = metrics
        self._on_change = on_change
        self._monotonic = monotonic
        self.state = "starting"
        self.error: str | None = None
        self._answered_at: float | None = None
        self._recorded_at: float | None = None
        self.received_at: datetime | None = None
        self.applied_at: datetime | None = None

    @property
    def healthy(self) -> bool:
        return (
            self.state == "healthy"
            and self._answered_at is not None
            and self._monotonic() - self._answered_at <= HEALTHY_WITHIN_SECONDS
        )

    def received(self) -> None:
        self.received_at = datetime.now(UTC)

    def applied(self) -> None:
        self.applied_at = datetime.now(UTC)

    async def answered(self) -> None:
        """A long poll answered."""
        self._answered_at = self._monotonic()
        self._metrics.queue_up.set(1)
        if self.state == "healthy":
            return
        if self.state != "starting":
            log.info("events.queue_available", queue=self.url, was=self.state)
        else:
            log.info("events.queue_polled", queue=self.url)
        await self._became("healthy", None)

    async def failed(self, exc: QueueError, *, retry_in: float) -> None:
        """A long poll failed: said once when the queue stops working, then quietly."""
        state = "refused" if exc.refused else "unreachable"
        self._metrics.queue_up.set(0)
        error = stored_error(str(exc))
        if state == self.state:
            log.info("events.queue_still_unavailable", state=state, retry_in=round(retry_in, 1))
            await self.record()
            return
        log.warning(
            "events.queue_unavailable",
            queue=self.url,
            state=state,
            error=error,
            retry_in=round(retry_in, 1),
            effect=EFFECT,
        )
        await self._became(state, error)

    async def stopped(self, error: str) -> None:
        """The consumer ended on an error of its own."""
        self._metrics.queue_up.set(0)
        await self._became("stopped", stored_error(error))

    async def _became(self, state: str, error: str | None) -> None:
        was_healthy = self.healthy
        self.state, self.error = state, error
        if was_healthy != self.healthy:
            self._on_change()
        await self.record(force=True)

    async def record(self, *, force: bool = False) -> None:
        """Write the queue's row on a change of state, or once a minute; a database
        that does not answer only delays it (the cycles say that it is down)."""
        now = self._monotonic()
        recent = self._recorded_at is not None and now - self._recorded_at < RECORD_EVERY_SECONDS
        if recent and not force:
            return
        try:
            async with self._store.transaction() as conn:
                await conn.execute(
                    QUERIES["record_event_queue"],
                    self.url,
                    self.state,
                    self.error,
                    self.received_at,
                    self.applied_at,
                )
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            log.info("events.queue_not_recorded", error=error_message(exc))
            return
        self._recorded_at = now
