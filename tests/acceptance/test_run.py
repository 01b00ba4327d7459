"""`syncer run` as operators run it: the console script (the image's ENTRYPOINT) in
a subprocess against the SageMaker stand-in, probed over HTTP, stopped by signal.

Deadlines for "eventually" are generous (a loaded 2-core CI machine); the one
hard bound is the service's promise: SIGTERM ends the process, with exit code 0, in 10 s.
The last tests drive the health endpoints in process, for what a subprocess
cannot show on demand (a stuck loop, a dead loop, a schema from the future).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from standin.dsn import over_tcp, server_address
from standin.environment import service_env
from standin.mirror import assert_same, mirror_packages, source_packages
from standin.sagemaker import Faults, Registry, StandIn, serve_in_thread
from syncer.aws.clients import ApiStats
from syncer.cycle.lease import STALE_INTERVALS
from syncer.cycle.loop import Syncer
from syncer.cycle.metrics import Metrics
from syncer.http import (
    READY_CACHE_SECONDS,
    STUCK_FLOOR_SECONDS,
    build_app,
    listen,
    serve_http,
    stuck_after_seconds,
)
from syncer.warehouse.migrate import latest_version
from syncer.warehouse.store import Store
from tests.conftest import boto_client, hold_lease, make_settings
from tests.unit.test_deploy_static import healthcheck_command

T = TypeVar("T")
EVENTUALLY = 60.0  # seconds; generous on purpose
STOP_LIMIT = 10.0  # seconds; the promised bound for a graceful stop
BASE_TIME = 1_767_225_600.0  # 2026-01-01T00:00:00Z, creation times of seeded packages


def syncer_script() -> str:
    """The `syncer` console script of this environment, as the image runs it."""
    script = shutil.which("syncer", path=str(Path(sys.executable).parent))
    assert script, "the `syncer` console script is not installed next to this interpreter"
    return script


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def eventually(
    probe: Callable[[], Awaitable[T | None]], what: str, service: Service | None = None
) -> T:
    """Poll ``probe`` until it returns something other than None (or False)."""
    deadline = time.monotonic() + EVENTUALLY
    while True:
        if service is not None and service.process.poll() is not None:
            pytest.fail(
                f"syncer exited ({service.process.returncode}) while waiting for {what}:\n{service.log_tail()}"
            )
        value = await probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            tail = service.log_tail() if service else ""
            pytest.fail(f"timed out after {EVENTUALLY:.0f}s waiting for {what}\n{tail}")
        await asyncio.sleep(0.2)


async def exit_code(argv: list[str], env: dict[str, str]) -> int:
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    async with asyncio.timeout(30):
        return await process.wait()


# ---------------------------------------------------------------- the running service
@dataclass
class Service:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    async def get(self, path: str) -> tuple[int, str]:
        """Status and body; status 0 when nothing answers."""
        timeout = aiohttp.ClientTimeout(total=10)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(f"http://127.0.0.1:{self.port}{path}") as response,
            ):
                return response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError):
            return 0, ""

    async def wait_status(self, path: str, status: int) -> str:
        async def probe() -> str | None:
            code, body = await self.get(path)
            return body if code == status else None

        return await eventually(probe, f"GET {path} -> {status}", self)

    async def metrics(self) -> Samples:
        code, body = await self.get("/metrics")
        assert code == 200, body
        return Samples.parse(body)

    def events(self, name: str) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and event.get("event") == name:
                    found.append(event)
        return found

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, float]:
        """Send ``sig``; the exit code and how long the process took to end."""
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"syncer ignored {signal.Signals(sig).name} for 30s:\n{self.log_tail()}")
        return code, time.monotonic() - started


@contextlib.contextmanager
def running_service(
    database_url: str, endpoint: str, tmp_path: Path, **env: str
) -> Iterator[Service]:
    port = free_port()
    environment = service_env(
        database_url,
        endpoint,
        **{
            "SYNCER_HTTP_PORT": str(port),
            "SYNCER_INTERVAL_SECONDS": "1",
            "SYNCER_LOG_LEVEL": "INFO",
            **env,
        },
    )
    log = tmp_path / f"syncer-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [syncer_script(), "run"], env=environment, stdout=sink, stderr=subprocess.STDOUT
        )
    service = Service(process, port, log, environment)
    try:
        yield service
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@dataclass
class Samples:
    """Parsed /metrics: sum of the samples of a name whose labels include the given ones."""

    samples: list[tuple[str, dict[str, str], float]]

    @classmethod
    def parse(cls, text: str) -> Samples:
        return cls(
            [
                (s.name, dict(s.labels), s.value)
                for family in text_string_to_metric_families(text)
                for s in family.samples
            ]
        )

    def __call__(self, name: str, **labels: str) -> float:
        matches = [
            value
            for sample, have, value in self.samples
            if sample == name and labels.items() <= have.items()
        ]
        assert matches, f"no sample {name}{labels}"
        return sum(matches)

    def labelled(self, name: str, label: str) -> dict[str, float]:
        return {have[label]: value for sample, have, value in self.samples if sample == name}


def sagemaker_calls(standin: StandIn) -> int:
    return sum(n for op, n in standin.calls.items() if not op.startswith("sts:"))


# ---------------------------------------------------------------- run: the happy path
async def test_run_serves_probes_and_metrics_and_mirrors_new_packages(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    registry = Registry()
    for group, versions in (("churn", 3), ("fraud", 2)):
        registry.create_group(group)
        for _ in range(versions):
            registry.create_package(group, approval="Approved")
    registry.create_package(name="standalone")
    # Seed 14 throttles the very first SageMaker request (and few others): the
    # throttle counters have something to count.
    standin = StandIn(registry, Faults(throttle_rate=0.2, seed=14))
    started = time.time()

    with (
        serve_in_thread(standin) as endpoint,
        running_service(database_url, endpoint, tmp_path) as service,
    ):
        await service.wait_status("/healthz", 200)
        ready = json.loads(await service.wait_status("/readyz", 200))
        assert ready["status"] == "ready"

        m = await service.metrics()
        assert m("syncer_cycles_total", mode="full", status="succeeded") == 1
        assert (
            m("syncer_cycles_total", status="failed")
            == m("syncer_cycles_total", status="error")
            == 0
        )
        assert m("syncer_cycle_duration_seconds_count", mode="full") == 1
        assert 0 < m("syncer_cycle_duration_seconds_sum", mode="full") < EVENTUALLY
        # The groups, the account's packages, the change feed.
        assert m("syncer_scopes_total", outcome="succeeded") >= 3
        assert m("syncer_scopes_total", outcome="failed") == 0
        assert m("syncer_rows_total", action="inserted") == 6
        assert m("syncer_rows_total", action="deleted") == 0
        assert m("syncer_api_calls_total", operation="ListModelPackageGroups", outcome="ok") >= 1
        assert m("syncer_api_calls_total", operation="ListModelPackages", outcome="ok") >= 1
        throttles = m("syncer_api_throttles_total")
        assert throttles >= 1
        assert throttles == m("syncer_api_calls_total", outcome="throttled")
        assert m("syncer_api_calls_total") <= sagemaker_calls(standin)
        lags = m.labelled("syncer_watermark_lag_seconds", "scope")
        # Every package scope, the account's listing, and the change feed's cursor
        # once it has one.
        scopes = {"churn", "fraud", "(unversioned)", "(packages)"}
        assert scopes <= set(lags) <= scopes | {"(changes)"}
        assert all(0 <= lag < 600 for lag in lags.values()), lags
        successes = m.labelled("syncer_scope_last_success_timestamp_seconds", "scope")
        assert set(successes) == scopes | {"(groups)", "(changes)"}
        assert all(started - 1 <= t <= time.time() for t in successes.values()), successes
        assert m("syncer_scope_consecutive_failures") == 0
        assert started - 1 <= m("syncer_last_success_timestamp_seconds") <= time.time()
        assert m("syncer_database_up") == 1

        # The image's HEALTHCHECK command, run as the image would run it.
        check = healthcheck_command(sys.executable)
        assert await exit_code(check, service.env) == 0

        # A package registered while the service runs is mirrored on a later cycle.
        new_arn = registry.create_package("churn", approval="PendingManualApproval")

        async def mirrored() -> bool:
            return bool(
                await db.fetchval(
                    "SELECT count(*) FROM sagemaker.model_packages WHERE model_package_arn = $1",
                    new_arn,
                )
            )

        await eventually(mirrored, "the new package in the mirror", service)

        async def counted() -> bool:
            return (await service.metrics())("syncer_rows_total", action="inserted") == 7

        await eventually(counted, "the insert counted in syncer_rows_total", service)
        assert (await service.get("/healthz"))[0] == 200

        code, took = service.stop(signal.SIGTERM)
        assert code == 0, service.log_tail()
        assert took < STOP_LIMIT
        assert service.events("service.stopped")
        assert await exit_code(check, service.env) != 0

        calls, throttled = sagemaker_calls(standin), standin.outcomes["throttled"]
        assert_same(await mirror_packages(db), source_packages(boto_client(endpoint)))

    # Every cycle has its sync_runs row, finished, and the rows add up to what
    # the stand-in saw.
    runs = await db.fetch("SELECT * FROM sagemaker.sync_runs ORDER BY run_id")
    assert len(runs) >= 2
    assert runs[0]["mode"] == "full" and {r["mode"] for r in runs[1:]} == {"incremental"}
    assert all(r["finished_at"] is not None for r in runs)
    assert {r["status"] for r in runs[:-1]} == {"succeeded"}
    assert runs[-1]["status"] in ("succeeded", "interrupted")  # SIGTERM may land mid-cycle
    assert sum(r["packages_inserted"] for r in runs) == 7
    assert sum(r["api_calls"] for r in runs) == calls
    assert sum(r["api_throttled"] for r in runs) == throttled >= 1


# ---------------------------------------------------------------- graceful stop
async def test_sigterm_during_a_slow_cycle_exits_0_in_time_without_half_written_batches(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    page = 2
    registry = Registry()
    for g in range(6):
        registry.create_group(f"model-{g}")
        for v in range(6):
            registry.create_package(f"model-{g}", created=BASE_TIME + g * 100 + v)
    total = len(registry.packages)
    standin = StandIn(registry, Faults(latency_seconds=0.8))

    with (
        serve_in_thread(standin) as endpoint,
        running_service(
            database_url, endpoint, tmp_path, SYNCER_PAGE_SIZE=str(page), SYNCER_CONCURRENCY="2"
        ) as service,
    ):

        async def some_rows() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM sagemaker.model_packages"))

        await eventually(some_rows, "the first page stored", service)
        # Mid-cycle: alive, not ready yet.
        assert (await service.get("/healthz"))[0] == 200
        code, body = await service.get("/readyz")
        assert code == 503 and "no cycle completed yet" in json.loads(body)["reasons"]

        code, took = service.stop(signal.SIGTERM)
        assert code == 0, service.log_tail()
        assert took < STOP_LIMIT, f"took {took:.1f}s"

    runs = await db.fetch("SELECT status, finished_at FROM sagemaker.sync_runs")
    assert [r["status"] for r in runs] == ["interrupted"] and runs[0]["finished_at"] is not None

    # The first cycle is a reconcile: the account's listing, by windows side by
    # side. Each page is one transaction with its change history, and no
    # watermark moves before every window is in: nothing half-written, and no
    # scope claims a package it does not hold.
    stored = await db.fetchval("SELECT count(*) FROM sagemaker.model_packages")
    assert 0 < stored < total  # the stop did land mid-cycle
    assert stored == await db.fetchval(
        "SELECT count(*) FROM sagemaker.model_package_changes WHERE change_type = 'created'"
    )
    assert not await db.fetchval(
        "SELECT count(*) FROM sagemaker.sync_state"
        " WHERE scope_kind IN ('group', 'unversioned', 'packages') AND watermark IS NOT NULL"
    )


async def test_sigterm_during_the_group_listing_stops_it_at_a_page_boundary(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    registry = Registry()
    for g in range(24):  # 12 pages of 2, a second each: longer than the stop grace
        registry.create_group(f"model-{g:02d}", created=BASE_TIME + g)
    standin = StandIn(registry, Faults(latency_seconds=1.0))

    with (
        serve_in_thread(standin) as endpoint,
        running_service(database_url, endpoint, tmp_path, SYNCER_PAGE_SIZE="2") as service,
    ):

        async def some_groups() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM sagemaker.model_package_groups"))

        await eventually(some_groups, "the first group page stored", service)
        code, took = service.stop(signal.SIGTERM)
        assert code == 0 and took < STOP_LIMIT, service.log_tail()
        # It stopped between pages by itself; nothing had to be cancelled.
        assert not service.events("service.cancelling"), service.log_tail()
        assert any(e["scope"].endswith("(groups)") for e in service.events("sync.scope_stopped"))

    stored = await db.fetchval("SELECT count(*) FROM sagemaker.model_package_groups")
    assert 0 < stored < 24 and stored % 2 == 0
    # An incomplete group listing neither sweeps nor counts as a success.
    assert (
        await db.fetchval(
            "SELECT count(*) FROM sagemaker.model_package_groups WHERE deleted_at IS NOT NULL"
        )
        == 0
    )
    assert (
        await db.fetchval(
            "SELECT last_success_at FROM sagemaker.sync_state WHERE scope_kind = 'groups'"
        )
        is None
    )
    assert await db.fetchval("SELECT status FROM sagemaker.sync_runs") == "interrupted"


async def test_sigint_stops_as_cleanly_as_sigterm(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    registry = Registry()
    registry.create_group("churn")
    registry.create_package("churn")
    with (
        serve_in_thread(StandIn(registry)) as endpoint,
        running_service(database_url, endpoint, tmp_path) as service,
    ):
        await service.wait_status("/readyz", 200)
        code, took = service.stop(signal.SIGINT)
    assert code == 0 and took < STOP_LIMIT, service.log_tail()
    assert (
        await db.fetchval("SELECT count(*) FROM sagemaker.sync_runs WHERE finished_at IS NULL") == 0
    )


# ---------------------------------------------------------------- database outage
class TcpProxy:
    """Forwards a local port to PostgreSQL; ``cut()`` drops every connection and
    refuses new ones until ``restore()``: a database outage on demand."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._loop = asyncio.new_event_loop()
        self._down = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="pg-proxy", daemon=True)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        )
        self._server = future.result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()
        assert self._server is not None
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def dsn(self, dsn: str) -> str:
        return over_tcp(dsn, "127.0.0.1", self.port)

    def cut(self) -> None:
        def drop() -> None:
            self._down = True
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

        self._loop.call_soon_threadsafe(drop)

    def restore(self) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "_down", False)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._down:
            writer.transport.abort()
            return
        try:
            host, port = self._target
            if host.startswith("/"):  # a Unix-socket directory
                up_reader, up_writer = await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
            else:
                up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


async def test_run_survives_a_database_outage_with_backoff(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    registry = Registry()
    registry.create_group("churn")
    registry.create_package("churn")
    with (
        TcpProxy(*server_address(database_url)) as proxy,
        serve_in_thread(StandIn(registry)) as endpoint,
        running_service(proxy.dsn(database_url), endpoint, tmp_path) as service,
    ):
        await service.wait_status("/readyz", 200)
        proxy.cut()

        body = json.loads(await service.wait_status("/readyz", 503))
        assert any(r.startswith("database unreachable") for r in body["reasons"]), body

        async def failed_twice() -> bool:
            return len(service.events("cycle.failed")) >= 2

        await eventually(failed_twice, "two failed cycles in the log", service)
        # Liveness holds: restarting would not bring the database back.
        assert (await service.get("/healthz"))[0] == 200
        m = await service.metrics()
        assert m("syncer_database_up") == 0
        assert m("syncer_cycles_total", status="error") >= 2
        delays = [e["retry_in"] for e in service.events("cycle.failed")]
        assert all(0 < d <= 1.0 for d in delays), delays  # backoff capped at the interval

        new_arn = registry.create_package("churn", approval="Approved")
        proxy.restore()

        async def mirrored() -> bool:
            return bool(
                await db.fetchval(
                    "SELECT count(*) FROM sagemaker.model_packages WHERE model_package_arn = $1",
                    new_arn,
                )
            )

        await eventually(mirrored, "the package registered during the outage", service)
        await service.wait_status("/readyz", 200)

        async def database_up() -> bool:  # set when the recovering cycle has ended
            return (await service.metrics())("syncer_database_up") == 1

        await eventually(database_up, "syncer_database_up back to 1", service)

        code, took = service.stop(signal.SIGTERM)
        assert code == 0 and took < STOP_LIMIT, service.log_tail()

    # A cycle cut off by the outage was marked interrupted by the next one.
    assert (
        await db.fetchval("SELECT count(*) FROM sagemaker.sync_runs WHERE status = 'running'") == 0
    )
    assert await db.fetchval("SELECT count(*) FROM sagemaker.model_packages") == 2


# ---------------------------------------------------------------- health, in process
@contextlib.asynccontextmanager
async def health_app(
    database_url: str, clock: list[float], loop_task: asyncio.Task[None], stats: ApiStats
) -> AsyncIterator[tuple[Syncer, Callable[[str], Awaitable[tuple[int, dict[str, Any]]]]]]:
    settings = make_settings(database_url)
    listener = listen("127.0.0.1", 0)
    port = listener.getsockname()[1]
    async with Store.open(database_url, max_size=3) as store:
        syncer = Syncer(settings, store, [], stats, metrics=Metrics(), monotonic=lambda: clock[0])
        app = build_app(
            syncer,
            store,
            Metrics(),
            loop_task,
            stuck_after=STUCK_FLOOR_SECONDS,
            clock=lambda: clock[0],
        )
        async with serve_http(app, listener), aiohttp.ClientSession() as session:

            async def get(path: str) -> tuple[int, dict[str, Any]]:
                async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                    return response.status, await response.json()

            yield syncer, get


async def test_healthz_reports_a_stuck_or_dead_loop(database_url: str) -> None:
    clock = [1000.0]
    stats = ApiStats()
    forever = asyncio.create_task(asyncio.Event().wait(), name="loop-stand-in")
    async with health_app(database_url, clock, forever, stats) as (syncer, get):
        assert (await get("/healthz"))[0] == 200

        syncer.progress.idle = True  # sleeping between cycles is not being stuck
        clock[0] += 10 * STUCK_FLOOR_SECONDS
        assert (await get("/healthz"))[0] == 200

        syncer.progress.idle = False  # in a cycle, and nothing has moved for too long
        code, body = await get("/healthz")
        assert code == 503 and body["status"] == "stuck", body

        stats.record("ListModelPackages", "ok")  # any SageMaker attempt is progress
        assert (await get("/healthz"))[0] == 200
        clock[0] += STUCK_FLOOR_SECONDS - 1
        assert (await get("/healthz"))[0] == 200
        clock[0] += 2
        assert (await get("/healthz"))[0] == 503

        forever.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await forever
        code, body = await get("/healthz")
        assert code == 503 and body["status"] == "dead", body


async def test_readyz_needs_a_completed_cycle_and_the_current_schema(
    database_url: str, db: asyncpg.Connection
) -> None:
    forever = asyncio.create_task(asyncio.Event().wait(), name="loop-stand-in")
    try:
        clock = [0.0]
        async with health_app(database_url, clock, forever, ApiStats()) as (syncer, get):
            code, body = await get("/readyz")
            assert code == 503 and body["reasons"] == ["no cycle completed yet"]

            result = await syncer.run_cycle(full=True)
            assert result.status == "succeeded"
            assert await db.fetchval("SELECT status FROM sagemaker.sync_runs") == "succeeded"
            assert await get("/readyz") == (200, {"status": "ready", "last_cycle_ok": True})

            # A newer release migrated the database: this one is not ready for it.
            future = latest_version() + 1
            await db.execute(
                "INSERT INTO sagemaker.schema_migrations (version, name, checksum)"
                " VALUES ($1, 'from_the_future.sql', 'x')",
                future,
            )
            clock[0] += READY_CACHE_SECONDS  # the database's answer is kept that long
            code, body = await get("/readyz")
            assert code == 503
            assert body["reasons"] == [f"schema version {future}, expected {latest_version()}"]
    finally:
        forever.cancel()


async def test_a_standby_replica_is_ready_while_another_leads(
    database_url: str, db: asyncpg.Connection
) -> None:
    clock = [0.0]
    forever = asyncio.create_task(asyncio.Event().wait(), name="loop-stand-in")
    try:
        async with health_app(database_url, clock, forever, ApiStats()) as (syncer, get):
            # This connection plays the leading replica, whose last cycle completed a minute ago.
            await hold_lease(db, completed_ago=60)
            assert (await syncer.run_cycle(full=False)).status == "skipped"
            assert await get("/readyz") == (200, {"status": "ready", "last_cycle_ok": None})
            assert await db.fetchval("SELECT count(*) FROM sagemaker.sync_runs") == 0

            # Skipping for a few intervals is fine while the deployment's cycles complete.
            interval = make_settings(database_url).interval_seconds
            clock[0] += STALE_INTERVALS * interval + 1
            await hold_lease(db, completed_ago=60)
            assert (await syncer.run_cycle(full=False)).status == "skipped"
            assert (await get("/readyz"))[0] == 200

            # The leader holds on, but no cycle has completed for as long: not ready.
            await hold_lease(
                db, holder="stuck-replica", completed_ago=STALE_INTERVALS * interval + 60
            )
            assert (await syncer.run_cycle(full=False)).status == "skipped"
            code, body = await get("/readyz")
            assert code == 503, body
            [reason] = body["reasons"]
            assert reason.startswith(f"skipped cycles for {STALE_INTERVALS * interval + 1:.0f}s")
            assert "(stuck-replica)" in reason and "last completed" in reason, reason
    finally:
        forever.cancel()


def test_stuck_bound_follows_the_configured_timeouts() -> None:
    default = stuck_after_seconds(make_settings("postgresql://x@localhost/db"))
    assert default >= STUCK_FLOOR_SECONDS
    slow = stuck_after_seconds(
        make_settings(
            "postgresql://x@localhost/db", api_timeout_seconds=300, statement_timeout_seconds=600
        )
    )
    assert slow >= 3 * (300 + 600)
