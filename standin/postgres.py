"""Scratch PostgreSQL databases for the tests and the benchmarks.

The server comes from SYNCER_TEST_DATABASE_URL (default: the local server as
user postgres); each caller gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg

DEFAULT_TEST_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_dsn() -> str:
    return os.environ.get("SYNCER_TEST_DATABASE_URL", DEFAULT_TEST_DSN)


def dsn_for(database: str) -> str:
    parts = urlsplit(admin_dsn())
    return urlunsplit(parts._replace(path=f"/{database}"))


async def admin_execute(sql: str) -> None:
    conn = await asyncpg.connect(admin_dsn())
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def scratch_database(template: str | None = None) -> AsyncIterator[str]:
    """A new database (a clone of ``template``, or empty), dropped afterwards."""
    name = f"rs_test_{uuid.uuid4().hex[:12]}"
    clone = f' TEMPLATE "{template}"' if template else ""
    await admin_execute(f'CREATE DATABASE "{name}"{clone}')
    try:
        yield dsn_for(name)
    finally:
        await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
