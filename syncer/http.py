"""/healthz, /readyz and /metrics on aiohttp (already a dependency of aiobotocore).

/healthz is liveness: the event loop answers, the sync loop task is alive and
not stuck. Restarting cures a stuck or dead loop, not an unreachable database,
so the database is left to /readyz: reachable, schema current, and at least
one cycle completed (succeeded or partial), or another replica found leading.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from syncer.metrics import Metrics
from syncer.migrate import latest_version
from syncer.scheduler import Syncer
from syncer.settings import Settings
from syncer.store import Store

READY_DB_TIMEOUT_SECONDS = 2.0
STUCK_FLOOR_SECONDS = 300.0
# botocore's standard retry mode sleeps at most this long between two attempts.
MAX_RETRY_BACKOFF_SECONDS = 20.0


def stuck_after_seconds(settings: Settings) -> float:
    """How long the loop may go without progress before /healthz calls it stuck.

    Within a cycle every step is a SageMaker attempt (bounded by the read
    timeout, after a retry backoff) or a statement (bounded by
    statement_timeout). Three worst-case steps in a row with nothing to show,
    and never less than five minutes, is stuck, not slow.
    """
    step = (
        settings.api_timeout_seconds
        + MAX_RETRY_BACKOFF_SECONDS
        + settings.statement_timeout_seconds
        + 1.0 / settings.max_requests_per_second
    )
    return max(STUCK_FLOOR_SECONDS, 3 * step)


def build_app(
    syncer: Syncer,
    store: Store,
    metrics: Metrics,
    loop_task: asyncio.Task[None],
    *,
    stuck_after: float = STUCK_FLOOR_SECONDS,
) -> web.Application:
    expected_schema = latest_version()

    async def healthz(_: web.Request) -> web.Response:
        # Answering at all shows the event loop turns; the loop task must be alive.
        if loop_task.done():
            return web.json_response({"status": "dead", "reason": "sync loop ended"}, status=503)
        quiet = syncer.seconds_since_progress()
        body = {"status": "ok", "seconds_since_progress": round(quiet, 1)}
        if quiet > stuck_after:
            body.update(
                status="stuck", reason=f"no progress for {quiet:.0f}s (> {stuck_after:.0f}s)"
            )
            return web.json_response(body, status=503)
        return web.json_response(body)

    async def readyz(_: web.Request) -> web.Response:
        reasons = []
        try:
            async with asyncio.timeout(READY_DB_TIMEOUT_SECONDS):
                version = await store.schema_version()
            if version != expected_schema:
                reasons.append(f"schema version {version}, expected {expected_schema}")
        except Exception as exc:  # any failure to answer means not ready
            reasons.append(f"database unreachable: {type(exc).__name__}")
        if not syncer.ready:
            reasons.append("no cycle completed yet")
        if reasons:
            return web.json_response({"status": "not ready", "reasons": reasons}, status=503)
        return web.json_response({"status": "ready", "last_cycle_ok": syncer.last_cycle_ok})

    async def metrics_view(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    return app


@contextlib.asynccontextmanager
async def serve_http(app: web.Application, port: int, host: str = "0.0.0.0") -> AsyncIterator[None]:  # noqa: S104 - a container listens on all interfaces
    # A short shutdown: probes and scrapes are quick, and the stop has a 10 s budget.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        yield
    finally:
        await runner.cleanup()
