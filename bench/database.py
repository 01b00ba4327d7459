"""Scratch databases on the local PostgreSQL: a migrated template, cloned per measurement.

The same helpers as the tests (tests/conftest.py): SYNCER_TEST_DATABASE_URL, else
the local server as user postgres.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg

from standin.postgres import admin_dsn, scratch_database
from syncer.warehouse.store import Store

scratch = scratch_database


async def server_setting(name: str) -> str:
    """A setting of the local server (``SHOW name``), e.g. its version or data directory."""
    conn = await asyncpg.connect(admin_dsn())
    try:
        return str(await conn.fetchval(f"SHOW {name}"))
    finally:
        await conn.close()


async def server_version() -> str:
    return await server_setting("server_version")


@contextlib.asynccontextmanager
async def migrated_template() -> AsyncIterator[str]:
    """A database with the schema applied, to clone; yields its name."""
    async with scratch() as dsn:
        async with Store.open(dsn, max_size=1) as store:
            await store.migrate()
        yield urlsplit(dsn).path.lstrip("/")
