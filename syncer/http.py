"""/healthz, /readyz and /metrics on aiohttp (already a dependency of aiobotocore)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from syncer.metrics import Metrics
from syncer.migrate import latest_version
from syncer.scheduler import Syncer
from syncer.store import Store

READY_DB_TIMEOUT_SECONDS = 2.0


def build_app(
    syncer: Syncer, store: Store, metrics: Metrics, loop_task: asyncio.Task[None]
) -> web.Application:
    expected_schema = latest_version()

    async def healthz(_: web.Request) -> web.Response:
        # Answering at all shows the event loop turns; the loop task must be alive.
        if loop_task.done():
            return web.json_response({"status": "dead", "reason": "sync loop ended"}, status=503)
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        reasons = []
        try:
            async with asyncio.timeout(READY_DB_TIMEOUT_SECONDS):
                version = await store.schema_version()
            if version != expected_schema:
                reasons.append(f"schema version {version}, expected {expected_schema}")
        except Exception as exc:  # any failure to answer means not ready
            reasons.append(f"database unreachable: {type(exc).__name__}")
        if syncer.cycles_completed == 0:
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
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, shutdown_timeout=1.0)
        await site.start()
        yield
    finally:
        await runner.cleanup()
