"""/healthz, /readyz and /metrics on aiohttp (already a dependency of aiobotocore).

/healthz is liveness: the event loop answers, the sync loop task is alive and
not stuck. Restarting cures a stuck or dead loop, not an unreachable database,
so the database is left to /readyz: reachable, schema current, and at least
one cycle completed (succeeded or partial), or another replica found leading,
and not skipping cycles for a few intervals while none of its deployment completed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from syncer.cycle.loop import Syncer
from syncer.cycle.metrics import Metrics
from syncer.errors import ConfigError
from syncer.settings import Settings
from syncer.warehouse.migrate import latest_version
from syncer.warehouse.store import Store

READY_DB_TIMEOUT_SECONDS = 2.0
# /readyz asks the database at most this often; the answer is shared meanwhile.
READY_CACHE_SECONDS = 1.0
# Idle keep-alive connections close after this (aiohttp's default is an hour).
KEEPALIVE_TIMEOUT_SECONDS = 5.0
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


class SchemaCheck:
    """The database half of /readyz: reachable, and at which schema version.

    One check at a time, its answer reused for ``ttl`` seconds: /readyz is
    unauthenticated, and a flood of it then costs the database one query a
    second and holds at most one of the pool's connections (pool_size keeps
    one beyond the writers' for it), never one a writer waits for.
    """

    def __init__(
        self,
        version: Callable[[], Awaitable[int]],
        *,
        ttl: float = READY_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._version = version
        self._ttl = ttl
        self._clock = clock
        self._lock = asyncio.Lock()
        self._answer: tuple[int | None, str | None] = (None, None)
        self._checked_at: float | None = None

    async def __call__(self) -> tuple[int | None, str | None]:
        """(schema version, None), or (None, why the database could not answer)."""
        async with self._lock:
            if self._checked_at is None or self._clock() - self._checked_at >= self._ttl:
                try:
                    async with asyncio.timeout(READY_DB_TIMEOUT_SECONDS):
                        self._answer = (await self._version(), None)
                except Exception as exc:  # any failure to answer means not ready
                    self._answer = (None, f"database unreachable: {type(exc).__name__}")
                self._checked_at = self._clock()
            return self._answer


def build_app(
    syncer: Syncer,
    store: Store,
    metrics: Metrics,
    loop_task: asyncio.Task[None],
    *,
    stuck_after: float = STUCK_FLOOR_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> web.Application:
    expected_schema = latest_version()
    schema_check = SchemaCheck(lambda: store.schema_version(), clock=clock)

    async def healthz(_: web.Request) -> web.Response:
        # Answering at all shows the event loop turns; the loop task must be alive.
        if loop_task.done():
            return web.json_response({"status": "dead", "reason": "sync loop ended"}, status=503)
        quiet = syncer.progress.seconds_since_progress()
        body = {"status": "ok", "seconds_since_progress": round(quiet, 1)}
        if quiet > stuck_after:
            body.update(
                status="stuck", reason=f"no progress for {quiet:.0f}s (> {stuck_after:.0f}s)"
            )
            return web.json_response(body, status=503)
        return web.json_response(body)

    async def readyz(_: web.Request) -> web.Response:
        reasons = []
        version, unreachable = await schema_check()
        if unreachable:
            reasons.append(unreachable)
        elif version != expected_schema:
            reasons.append(f"schema version {version}, expected {expected_schema}")
        if not syncer.ready:
            reasons.append("no cycle completed yet")
        stale = syncer.standby.stale_reason()
        if stale:
            reasons.append(stale)
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


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on host:port, or a ConfigError naming the settings.

    The service binds before it opens the database, so a busy port stops it
    with one line and exit 2, before anything is written.
    """
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            reason = "the address is already in use; set SYNCER_HTTP_PORT to a free port"
        else:
            reason = exc.strerror or str(exc)
        raise ConfigError(
            f"SYNCER_HTTP_PORT={port}: cannot listen on {where} (SYNCER_HTTP_HOST={host}): {reason}"
        ) from None


@contextlib.asynccontextmanager
async def serve_http(app: web.Application, listener: socket.socket) -> AsyncIterator[None]:
    """Serve ``app`` on ``listener`` (see listen) until the block ends."""
    # A short shutdown: probes and scrapes are quick, and the stop has a 10 s budget.
    runner = web.AppRunner(
        app, access_log=None, shutdown_timeout=1.0, keepalive_timeout=KEEPALIVE_TIMEOUT_SECONDS
    )
    await runner.setup()
    try:
        await web.SockSite(runner, listener).start()
        yield
    finally:
        await runner.cleanup()
