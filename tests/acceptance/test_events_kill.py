"""SIGKILL a real `syncer run` while it applies an event: nothing is lost, nothing doubled.

Two moments, each made certain rather than hit by chance:

* between the commit and the delete: the service's SQS calls go through a
  proxy (to moto) that holds DeleteMessageBatch; the kill comes once the row
  has changed in PostgreSQL and the delete is held. The message comes back
  and is applied again, as a duplicate: one change in the history.
* between the receive and the commit: the test holds the target's lock, which
  the event's transaction takes first; the kill comes once the message is in
  flight and the service waits for the lock. Nothing was committed; the
  message comes back after its visibility timeout and is applied by the next
  process.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from standin.environment import service_env
from standin.events import new_queue, package_event, queue_counts, send
from standin.sagemaker import Registry, StandIn, serve_in_thread
from tests.conftest import sync_once

VISIBILITY_SECONDS = 2
LOCK_TARGET = "SELECT sagemaker.lock_scope('123456789012', 'us-east-1', 'groups', '')"


class HoldingProxy:
    """Forwards SQS calls to moto; holds DeleteMessageBatch while ``hold`` is set."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.hold = threading.Event()
        self.held = threading.Event()  # a delete is being held now
        self._release: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        target = request.headers.get("X-Amz-Target", "")
        if target.endswith("DeleteMessageBatch") and self.hold.is_set():
            assert self._release is not None
            self.held.set()
            await self._release.wait()
            return web.Response(status=503, text="released")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.upstream + request.path_qs, data=body, headers=headers) as answer,
        ):
            payload = await answer.read()
            return web.Response(
                status=answer.status,
                body=payload,
                headers={k: v for k, v in answer.headers.items() if k.lower().startswith("x-amz")},
                content_type=answer.content_type,
            )

    def release(self) -> None:
        assert self._loop is not None and self._release is not None
        self._loop.call_soon_threadsafe(self._release.set)

    @contextlib.contextmanager
    def serving(self) -> Iterator[str]:
        ready = threading.Event()
        state: dict[str, Any] = {}

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._release = asyncio.Event()
            app = web.Application()
            app.router.add_post("/{tail:.*}", self.handle)
            runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            state["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        thread = threading.Thread(target=main, name="sqs-proxy", daemon=True)
        thread.start()
        assert ready.wait(10)
        try:
            yield f"http://127.0.0.1:{state['port']}"
        finally:
            self.release()
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(10)


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "syncer", "run"], env=env, stdout=sink, stderr=subprocess.STDOUT
        )


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def eventually(check: Any, what: str, log: Path, within: float = 45) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"{what}: {tail(log)}"
        await asyncio.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(15)


async def approval(db: asyncpg.Connection, arn: str) -> str:
    return str(
        await db.fetchval(
            "SELECT model_approval_status FROM sagemaker.model_packages WHERE model_package_arn = $1",
            arn,
        )
    )


async def approval_changes(db: asyncpg.Connection, arn: str) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM sagemaker.model_package_changes"
            " WHERE model_package_arn = $1 AND change_type = 'model_approval_status'",
            arn,
        )
    )


@contextlib.contextmanager
def registry_served() -> Iterator[tuple[Registry, str]]:
    registry = Registry()
    registry.create_group("churn")
    registry.create_package("churn")
    with serve_in_thread(StandIn(registry)) as endpoint:
        yield registry, endpoint


async def first_cycle_done(db: asyncpg.Connection) -> bool:
    return bool(
        await db.fetchval("SELECT count(*) FROM sagemaker.sync_runs WHERE finished_at IS NOT NULL")
    )


async def test_a_kill_between_commit_and_delete_redelivers_a_harmless_duplicate(
    database_url: str, db: asyncpg.Connection, sqs: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    log = tmp_path / "run.log"
    queue = new_queue(sqs, "events", VisibilityTimeout=str(VISIBILITY_SECONDS))
    proxy = HoldingProxy(moto_endpoint)
    with registry_served() as (registry, endpoint), proxy.serving() as proxied:
        await sync_once(database_url, endpoint, full=True)
        [arn] = list(registry.packages)
        url = queue.replace(moto_endpoint, proxied)  # the service's calls go through the proxy
        env = service_env(database_url, endpoint, SYNCER_EVENTS_QUEUE_URL=url)
        proxy.hold.set()
        process = start(env, log)
        try:
            registry.update_package(arn, approval="Approved")
            send(sqs, queue, package_event(registry, arn))

            async def committed_and_held() -> bool:
                return await approval(db, arn) == "Approved" and proxy.held.is_set()

            await eventually(committed_and_held, "the commit, then the held delete", log)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        finally:
            if process.poll() is None:
                process.kill()
        proxy.hold.clear()
        proxy.release()
        assert sum(queue_counts(sqs, queue)) == 1  # committed, not deleted

        process = start(env, log)
        try:

            async def drained() -> bool:
                return queue_counts(sqs, queue) == (0, 0)

            await eventually(drained, "the redelivered message applied and deleted", log)
        finally:
            assert stop(process) == 0
    assert await approval(db, arn) == "Approved"
    assert await approval_changes(db, arn) == 1  # the duplicate changed nothing
    assert await db.fetchval("SELECT state FROM sagemaker.event_queues") == "healthy"


async def test_a_kill_between_receive_and_commit_loses_nothing(
    database_url: str, db: asyncpg.Connection, sqs: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    log = tmp_path / "run.log"
    url = new_queue(sqs, "events", VisibilityTimeout=str(VISIBILITY_SECONDS))
    with registry_served() as (registry, endpoint):
        await sync_once(database_url, endpoint, full=True)
        [arn] = list(registry.packages)
        env = service_env(database_url, endpoint, SYNCER_EVENTS_QUEUE_URL=url)
        process = start(env, log)
        locker = await asyncpg.connect(database_url)
        try:
            await eventually(lambda: first_cycle_done(db), "the first cycle", log)
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute(LOCK_TARGET)  # the event's transaction waits for it
            registry.update_package(arn, approval="Rejected")
            send(sqs, url, package_event(registry, arn))

            async def waiting_for_the_lock() -> bool:
                blocked = await db.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted")
                return bool(blocked) and queue_counts(sqs, url)[1] == 1

            await eventually(waiting_for_the_lock, "the received message, waiting", log)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            await transaction.rollback()
        finally:
            if process.poll() is None:
                process.kill()
            await locker.close()
        assert await approval(db, arn) == "PendingManualApproval"  # nothing committed

        process = start(env, log)
        try:

            async def applied() -> bool:
                return await approval(db, arn) == "Rejected" and queue_counts(sqs, url) == (0, 0)

            await eventually(applied, "the message back, applied and deleted", log)
        finally:
            assert stop(process) == 0
    assert await approval_changes(db, arn) == 1
