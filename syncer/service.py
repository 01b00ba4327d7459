"""The service: its store, SageMaker sources and scheduler opened together, and
`run`'s loop with its HTTP endpoints. `syncer run`, `once` and `demo` start it here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from syncer.aws.clients import ApiStats, SourceOptions, SourcePool, session_name
from syncer.aws.registry import RegistrySource
from syncer.aws.targets import TargetPlan, Targets
from syncer.cycle.loop import Syncer, run_until_stopped
from syncer.cycle.metrics import Metrics
from syncer.events.consumer import EventConsumer, open_events
from syncer.events.metrics import EventMetrics
from syncer.http import build_app, listen, serve_http, stuck_after_seconds
from syncer.logging import get_logger
from syncer.settings import Settings
from syncer.warehouse.store import Store, pool_size

log = get_logger("syncer.service")


def open_store(settings: Settings) -> contextlib.AbstractAsyncContextManager[Store]:
    return Store.open(
        settings.database_url.get_secret_value(),
        # Scopes waiting for a writer keep their listing slot: the database paces the API.
        max_size=pool_size(settings.database_connections),
        statement_timeout_seconds=settings.statement_timeout_seconds,
        pooler=settings.database_pooler,
    )


def source_options(settings: Settings, **extra: Any) -> SourceOptions:
    return SourceOptions(
        concurrency=settings.concurrency,
        max_requests_per_second=settings.max_requests_per_second,
        adaptive_rate=settings.adaptive_rate,
        page_size=settings.page_size,
        max_attempts=settings.max_attempts,
        api_timeout_seconds=settings.api_timeout_seconds,
        external_id=settings.external_id,
        session_name=session_name(),
        **extra,
    )


@dataclass
class Service:
    store: Store
    sources: list[RegistrySource]
    stats: ApiStats
    metrics: Metrics
    syncer: Syncer


@contextlib.asynccontextmanager
async def open_service(
    settings: Settings, stop: asyncio.Event | None = None, **source_extra: Any
) -> AsyncIterator[Service]:
    # Configuration is complete before anything is written; then the database,
    # whose schema must be current before any source is listed into it; then
    # the SageMaker clients, closed before the pool they write into.
    plan = TargetPlan.from_settings(settings, os.environ)
    async with open_store(settings) as store:
        if settings.migrate:
            await store.migrate()
        else:
            await store.require_current_schema()
        stats = ApiStats()
        async with SourcePool(source_options(settings, **source_extra), stats) as pool:
            targets = Targets(plan, pool)
            sources = await targets.refresh()
            metrics = Metrics(per_scope=settings.scope_metrics)
            syncer = Syncer(
                settings, store, sources, stats, metrics=metrics, stop_event=stop, targets=targets
            )
            yield Service(store, sources, stats, metrics, syncer)


def stop_on_signals() -> asyncio.Event:
    """An event that SIGTERM and SIGINT set; signals only ever set it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_service(
    settings: Settings, *, listener: socket.socket | None = None, **source_extra: Any
) -> int:
    """`syncer run`: migrate, then sync every interval, serving /healthz, /readyz
    and /metrics on ``listener`` (else on SYNCER_HTTP_HOST:SYNCER_HTTP_PORT,
    unless that port is 0), until SIGTERM or SIGINT. With SYNCER_EVENTS_QUEUE_URL,
    events are applied from the queue beside the loop."""
    stop = stop_on_signals()  # before startup: a SIGTERM while migrating still exits 0
    # The port first: a busy one is a configuration error, before anything is written.
    if listener is None and settings.http_port:
        listener = listen(settings.http_host, settings.http_port)
    with listener or contextlib.nullcontext():
        async with open_service(settings, stop, **source_extra) as service:
            loop_task = asyncio.create_task(service.syncer.run_forever(), name="sync-loop")
            work = [loop_task]
            async with contextlib.AsyncExitStack() as stack:
                if settings.events_queue_url:
                    consumer = await stack.enter_async_context(
                        events_beside(settings, service, stop, source_extra)
                    )
                    work.append(asyncio.create_task(consumer.run(), name="events-consumer"))
                if listener is not None:
                    app = build_app(
                        service.syncer,
                        service.store,
                        service.metrics,
                        loop_task,
                        stuck_after=stuck_after_seconds(settings),
                    )
                    await stack.enter_async_context(serve_http(app, listener))
                    host, port = listener.getsockname()[:2]
                    log.info("http.listening", host=host, port=port)
                await run_until_stopped(asyncio.gather(*work), stop)
    log.info("service.stopped")
    return 0


@contextlib.asynccontextmanager
async def events_beside(
    settings: Settings, service: Service, stop: asyncio.Event, source_extra: dict[str, Any]
) -> AsyncIterator[EventConsumer]:
    """The events consumer, wired to the loop: the targets it accepts events for are
    the loop's, and the loop's interval follows the queue's health."""
    syncer = service.syncer

    def sources() -> dict[tuple[str, str], RegistrySource]:
        return {(s.target.account_id, s.target.region): s for s in syncer.sources}

    async with open_events(
        settings,
        service.store,
        EventMetrics(service.metrics.registry),
        sources=sources,
        stop=stop,
        on_health_change=syncer.cadence_changed.set,
        static_credentials=source_extra.get("static_credentials"),
    ) as consumer:
        syncer.events_healthy = lambda: consumer.health.healthy
        try:
            yield consumer
        finally:
            syncer.events_healthy = None
