"""The HTTP port as users meet it: a busy port, the bound address, /readyz under
a flood, and idle keep-alive connections."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from standin.environment import service_env
from standin.sagemaker import Registry, StandIn, serve_in_thread
from syncer.aws.clients import ApiStats
from syncer.cycle.loop import Syncer
from syncer.cycle.metrics import Metrics
from syncer.http import (
    KEEPALIVE_TIMEOUT_SECONDS,
    READY_CACHE_SECONDS,
    build_app,
    listen,
    serve_http,
)
from syncer.warehouse.store import Store
from tests.acceptance.cli import syncer
from tests.acceptance.test_run import running_service
from tests.conftest import make_settings


@pytest.fixture
def endpoint() -> Iterator[str]:
    registry = Registry()
    registry.create_group("churn")
    registry.create_package("churn", approval="Approved")
    with serve_in_thread(StandIn(registry)) as url:
        yield url


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port`` (Linux's /proc/net/tcp)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


async def test_a_busy_port_is_one_line_and_exit_2_with_nothing_written(
    empty_database_url: str, endpoint: str
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = service_env(
            empty_database_url, endpoint, SYNCER_HTTP_PORT=str(port), SYNCER_HTTP_HOST="127.0.0.1"
        )
        done = syncer("run", env=env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "SYNCER_HTTP_PORT" in lines[0] and f"127.0.0.1:{port}" in lines[0], lines[0]
    assert "already in use" in lines[0]
    conn = await asyncpg.connect(empty_database_url)
    try:
        assert await conn.fetchval("SELECT to_regnamespace('sagemaker')") is None
    finally:
        await conn.close()


async def test_the_service_listens_on_SYNCER_HTTP_HOST(
    database_url: str, endpoint: str, tmp_path: Path
) -> None:
    with running_service(database_url, endpoint, tmp_path, SYNCER_HTTP_HOST="127.0.0.1") as service:
        await service.wait_status("/healthz", 200)
        assert listening_addresses(service.port) == {"0100007F"}  # 127.0.0.1 only


def test_the_default_host_is_every_interface() -> None:
    assert make_settings("postgresql://x@localhost/db").http_host == "0.0.0.0"


class CountingStore(Store):
    """The real store; counts the schema-version checks that /readyz makes."""

    checks = 0

    async def schema_version(self) -> int:
        type(self).checks += 1
        return await super().schema_version()


async def test_a_flood_of_readyz_costs_one_database_check_a_second(database_url: str) -> None:
    clock = [0.0]
    forever = asyncio.create_task(asyncio.Event().wait(), name="loop-stand-in")
    CountingStore.checks = 0
    try:
        async with Store.open(database_url, max_size=3) as opened:
            store = CountingStore(opened.pool)
            syncer_ = Syncer(make_settings(database_url), store, [], ApiStats(), metrics=Metrics())
            app = build_app(syncer_, store, Metrics(), forever, clock=lambda: clock[0])
            listener = listen("127.0.0.1", 0)
            url = f"http://127.0.0.1:{listener.getsockname()[1]}/readyz"
            async with serve_http(app, listener), aiohttp.ClientSession() as session:

                async def readyz() -> int:
                    async with session.get(url) as response:
                        return response.status

                statuses = await asyncio.gather(*(readyz() for _ in range(100)))
                assert set(statuses) == {503}  # no cycle yet; the database answered
                assert CountingStore.checks == 1

                clock[0] += READY_CACHE_SECONDS
                await asyncio.gather(*(readyz() for _ in range(20)))
                assert CountingStore.checks == 2
    finally:
        forever.cancel()


async def test_an_idle_keep_alive_connection_is_closed(database_url: str) -> None:
    forever = asyncio.create_task(asyncio.Event().wait(), name="loop-stand-in")
    try:
        async with Store.open(database_url, max_size=3) as store:
            syncer_ = Syncer(make_settings(database_url), store, [], ApiStats(), metrics=Metrics())
            app = build_app(syncer_, store, Metrics(), forever)
            listener = listen("127.0.0.1", 0)
            port = listener.getsockname()[1]
            async with serve_http(app, listener):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200"), head
                # The server ends the idle connection itself: EOF, well before the
                # bound below (aiohttp's default would keep it for an hour).
                async with asyncio.timeout(KEEPALIVE_TIMEOUT_SECONDS + 25):
                    while await reader.read(4096):
                        pass
                writer.close()
    finally:
        forever.cancel()
