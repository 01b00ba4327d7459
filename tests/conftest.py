"""Shared fixtures: a real PostgreSQL (template-cloned database per test), moto's
server and our SageMaker stand-in, and a way to run the service against them.

The database comes from SYNCER_TEST_DATABASE_URL (default: the local server as
user postgres). If it cannot be reached the session fails; it never skips.
"""

from __future__ import annotations

import contextlib
import os
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
import structlog

from standin.environment import boto_client
from standin.pgbouncer import POOLER_ENV, PgBouncer, running_pgbouncer
from standin.postgres import admin_dsn, admin_execute, dsn_for, scratch_database
from standin.sagemaker import CREDENTIALS, REGION, Faults, Registry, StandIn, serve_in_thread
from syncer.aws.clients import ApiStats, SourcePool
from syncer.aws.targets import TargetPlan, Targets
from syncer.cycle.lease import deployment_key
from syncer.cycle.loop import Syncer, utcnow
from syncer.cycle.runs import CycleResult
from syncer.logging import configure_logging
from syncer.service import open_store, source_options
from syncer.settings import Settings, load_settings
from syncer.warehouse.store import Store


# ---------------------------------------------------------------- environment
@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings are read from the environment: start every test from a known one."""
    for key in list(os.environ):
        if key.startswith(("SYNCER_", "AWS_")) and key != "SYNCER_TEST_DATABASE_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS[1])
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    structlog.reset_defaults()
    configure_logging("WARNING", "json")


# ---------------------------------------------------------------- postgres
@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    """One migrated database per session; each test clones it (cheap, isolated)."""
    import asyncio

    name = f"rs_template_{os.getpid()}"

    async def build() -> None:
        try:
            await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin_execute(f'CREATE DATABASE "{name}"')
        except OSError as exc:
            pytest.fail(f"PostgreSQL not reachable at {admin_dsn()}: {exc}", pytrace=False)
        async with Store.open(dsn_for(name), max_size=2) as store:
            await store.migrate()

    asyncio.run(build())
    yield name
    asyncio.run(admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def database_url(template_database: str) -> AsyncIterator[str]:
    async with scratch_database(template_database) as dsn:
        yield dsn


@pytest.fixture
async def empty_database_url() -> AsyncIterator[str]:
    """A database with no schema at all (for migration tests)."""
    async with scratch_database() as dsn:
        yield dsn


# ---------------------------------------------------------------- pgbouncer
@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode in front of the test server (standin/pgbouncer.py)."""
    try:
        bouncer = running_pgbouncer(admin_dsn())
        started = bouncer.__enter__()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield started
    finally:
        bouncer.__exit__(None, None, None)


@dataclass(frozen=True)
class Route:
    """How the service under test reaches its database: directly, or through PgBouncer."""

    name: str
    url: str
    env: dict[str, str]  # for a `syncer` process

    @property
    def settings(self) -> dict[str, Any]:
        """For make_settings / open_syncer / sync_once."""
        return {k.removeprefix("SYNCER_").lower(): v for k, v in self.env.items()}


@pytest.fixture(params=["direct", "pgbouncer"])
def route(request: pytest.FixtureRequest, database_url: str) -> Route:
    """The test's database (``database_url``), reached directly and through PgBouncer."""
    if request.param == "direct":
        return Route("direct", database_url, {})
    bouncer: PgBouncer = request.getfixturevalue("pgbouncer")
    name = urlsplit(database_url).path.lstrip("/")
    return Route("pgbouncer", bouncer.dsn(name), dict(POOLER_ENV))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


# ---------------------------------------------------------------- sagemaker
@dataclass
class Backend:
    """A SageMaker endpoint and a boto3 client to shape its registry."""

    kind: str  # "moto" or "standin"
    endpoint: str
    client: Any
    standin: StandIn | None = None

    @property
    def registry(self) -> Registry:
        assert self.standin is not None, "only the stand-in exposes its registry"
        return self.standin.registry


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture
def moto_backend(moto_endpoint: str) -> Iterator[Backend]:
    reset_moto(moto_endpoint)
    yield Backend("moto", moto_endpoint, boto_client(moto_endpoint))
    reset_moto(moto_endpoint)


@pytest.fixture
def sqs(moto_endpoint: str) -> Iterator[Any]:
    """moto's SQS (and EventBridge), reset around the test."""
    reset_moto(moto_endpoint)
    yield boto_client(moto_endpoint, "sqs")
    reset_moto(moto_endpoint)


@pytest.fixture
def standin_backend() -> Iterator[Backend]:
    standin = StandIn(Registry(), Faults())
    with serve_in_thread(standin) as endpoint:
        yield Backend("standin", endpoint, boto_client(endpoint), standin)


@pytest.fixture(params=["moto", "standin"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """The same listing tests run against moto and the stand-in (port conformance)."""
    return request.getfixturevalue(f"{request.param}_backend")  # type: ignore[no-any-return]


# ---------------------------------------------------------------- the service
def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "regions": [REGION],
        "http_port": 0,
        "max_requests_per_second": 1000,
        "max_attempts": 3,
        "api_timeout_seconds": 10,
    }
    values.update(overrides)
    return load_settings(**values)


@contextlib.asynccontextmanager
async def open_syncer(
    database_url: str,
    endpoint: str,
    *,
    now: Callable[[], datetime] | None = None,
    credentials: tuple[str, str] = CREDENTIALS,
    **overrides: Any,
) -> AsyncIterator[Syncer]:
    """The service against ``endpoint``; ``now`` replaces its clock (cadence tests).

    Its targets are resolved as the service resolves them, again at every cycle.
    """
    settings = make_settings(database_url, **overrides)
    stats = ApiStats()
    options = source_options(settings, endpoint_url=endpoint, static_credentials=credentials)
    async with open_store(settings) as store, SourcePool(options, stats) as pool:
        await store.migrate()
        targets = Targets(TargetPlan.from_settings(settings, {}), pool)
        sources = await targets.refresh()
        yield Syncer(settings, store, sources, stats, now=now or utcnow, targets=targets)


async def sync_once(
    database_url: str, endpoint: str, *, full: bool = False, **overrides: Any
) -> CycleResult:
    async with open_syncer(database_url, endpoint, **overrides) as syncer:
        return await syncer.run_cycle(full=full, wait=True)


async def hold_lease(
    db: asyncpg.Connection,
    *,
    seconds: float = 3600,
    holder: str = "another-replica",
    completed_ago: float | None = None,
    **overrides: Any,
) -> str:
    """Play a replica that leads the cycle of the deployment ``make_settings(**overrides)``
    describes (the tests' region; a `syncer` process with AWS_REGION alike) for
    ``seconds``; returns the deployment's key."""
    key = deployment_key(make_settings("postgresql://x@localhost/db", **overrides), [REGION])
    await db.execute(
        "INSERT INTO sagemaker.cycle_leases AS l (deployment_key, holder, expires_at,"
        "  acquired_at, last_started_at, last_completed_at)"
        " VALUES ($1, $2, now() + make_interval(secs => $3), now(), now(),"
        "         now() - make_interval(secs => $4))"
        " ON CONFLICT (deployment_key) DO UPDATE SET holder = excluded.holder,"
        "  expires_at = excluded.expires_at, acquired_at = excluded.acquired_at,"
        "  last_started_at = excluded.last_started_at,"
        "  last_completed_at = excluded.last_completed_at",
        key,
        holder,
        seconds,
        completed_ago,
    )
    return key


async def release_lease(db: asyncpg.Connection, key: str) -> None:
    await db.execute(
        "UPDATE sagemaker.cycle_leases SET expires_at = now(), released_at = now()"
        " WHERE deployment_key = $1",
        key,
    )
