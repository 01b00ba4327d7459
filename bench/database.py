"""Scratch databases on the local PostgreSQL: a migrated template, cloned per measurement.

The server is the tests' (standin/postgres.py): SYNCER_TEST_DATABASE_URL, else
the local server as user postgres.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg

from standin.postgres import admin_dsn, scratch_database
from syncer.warehouse.migrate import migrate

scratch = scratch_database


async def server_version() -> str:
    conn = await asyncpg.connect(admin_dsn())
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def migrated_template() -> AsyncIterator[str]:
    """A database with the schema applied, to clone; yields its name."""
    async with scratch() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        yield urlsplit(dsn).path.lstrip("/")
