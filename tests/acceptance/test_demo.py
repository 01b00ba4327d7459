"""`syncer demo` run twice in a row, as `make demo` runs it: the second run shows
its own registry only, on a port it chose and printed, bound to 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from syncer.demo import EMBEDDED_DATABASE
from tests.acceptance.test_http_surface import listening_addresses
from tests.acceptance.test_run import STOP_LIMIT, Service, eventually, syncer_script

pytestmark = pytest.mark.slow

HEALTH = re.compile(r"^Health:\s+http://127\.0\.0\.1:(\d+)/readyz", re.MULTILINE)


def demo_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCER_", "AWS_"))}
    env.update(
        XDG_DATA_HOME=str(home),
        SYNCER_INTERVAL_SECONDS="1",
        SYNCER_LOG_FORMAT="json",
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


@dataclass
class Demo:
    service: Service
    started_at: datetime


def start_demo(env: dict[str, str], log: Path) -> Service:
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [syncer_script(), "demo"], env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    return Service(process, 0, log, env)


def printed_port(log: Path) -> int | None:
    found = HEALTH.search(log.read_text(errors="replace"))
    return int(found[1]) if found else None


@contextlib.asynccontextmanager
async def running_demo(env: dict[str, str], log: Path) -> AsyncIterator[Demo]:
    started_at = datetime.now(UTC)
    service = start_demo(env, log)
    process = service.process
    try:

        async def banner() -> int | None:
            return printed_port(log)

        service.port = await eventually(banner, "the demo's banner with its port", service)
        await service.wait_status("/readyz", 200)
        yield Demo(service, started_at)
        code, took = service.stop(signal.SIGTERM)
        assert code == 0 and took < STOP_LIMIT, service.log_tail()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def nightly_builds(db: asyncpg.Connection, at_least: int) -> bool:
    count = await db.fetchval(
        "SELECT count(*) FROM sagemaker.model_packages"
        " WHERE model_package_description LIKE '%nightly build'"
    )
    return bool(count >= at_least)


async def test_the_demo_shows_only_this_runs_registry_in_the_embedded_database(
    tmp_path: Path,
) -> None:
    env = demo_env(tmp_path)
    dsn = f"postgresql://postgres@/{EMBEDDED_DATABASE}?host={tmp_path / 'registry-sync' / 'pgdata'}"
    async with running_demo(env, tmp_path / "demo-1.log") as first:
        assert listening_addresses(first.service.port) == {"0100007F"}  # 127.0.0.1 only
        db = await asyncpg.connect(dsn)
        try:
            await eventually(lambda: nightly_builds(db, 3), "the registry to change", first.service)
        finally:
            await db.close()

    async with running_demo(env, tmp_path / "demo-2.log") as second:
        db = await asyncpg.connect(dsn)
        try:
            older = await db.fetchval(
                "SELECT count(*) FROM sagemaker.model_packages WHERE creation_time < $1",
                second.started_at,
            )
            runs = await db.fetchval(
                "SELECT count(*) FROM sagemaker.sync_runs WHERE started_at < $1",
                second.started_at,
            )
        finally:
            await db.close()
    assert (older, runs) == (0, 0), "the first run's packages or runs are in the second's database"


async def test_the_demo_reconciles_a_configured_database_and_never_empties_it(
    empty_database_url: str, tmp_path: Path
) -> None:
    env = demo_env(tmp_path, SYNCER_DATABASE_URL=empty_database_url)
    db = await asyncpg.connect(empty_database_url)
    try:
        async with running_demo(env, tmp_path / "demo-1.log") as first:
            await eventually(lambda: nightly_builds(db, 5), "the registry to change", first.service)
        first_runs = await db.fetchval("SELECT count(*) FROM sagemaker.sync_runs")

        async with running_demo(env, tmp_path / "demo-2.log") as second:
            stale = await db.fetch(
                "SELECT model_package_arn, creation_time FROM sagemaker.pending_approvals"
                " WHERE creation_time < $1",
                second.started_at,
            )
            assert stale == [], "pending_approvals lists the previous run's registry"
            # Nothing was dropped or emptied: the first run's history is all there.
            assert (
                await db.fetchval(
                    "SELECT count(*) FROM sagemaker.sync_runs WHERE started_at < $1",
                    second.started_at,
                )
                == first_runs
            )
            assert await db.fetchval(
                "SELECT count(*) FROM sagemaker.model_packages WHERE deleted_at IS NOT NULL"
            )
    finally:
        await db.close()
