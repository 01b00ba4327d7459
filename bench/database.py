"""Scratch databases on the local PostgreSQL: a migrated template, cloned per measurement."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from syncer.store import Store

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_dsn() -> str:
    return (
        os.environ.get("SYNCER_BENCH_DATABASE_URL")
        or os.environ.get("SYNCER_TEST_DATABASE_URL")
        or DEFAULT_DSN
    )


def dsn_for(database: str) -> str:
    return urlunsplit(urlsplit(admin_dsn())._replace(path=f"/{database}"))


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(admin_dsn())
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def server_version() -> str:
    conn = await asyncpg.connect(admin_dsn())
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def scratch(template: str | None = None) -> AsyncIterator[str]:
    """A new database (a clone of ``template``, or empty); its DSN; dropped afterwards."""
    name = f"rs_bench_{uuid.uuid4().hex[:12]}"
    clone = f' TEMPLATE "{template}"' if template else ""
    await _admin(f'CREATE DATABASE "{name}"{clone}')
    try:
        yield dsn_for(name)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.asynccontextmanager
async def migrated_template() -> AsyncIterator[str]:
    """A database with the schema applied, to clone; yields its name."""
    async with scratch() as dsn:
        async with Store.open(dsn, max_size=1) as store:
            await store.migrate()
        yield urlsplit(dsn).path.lstrip("/")
