"""What a scenario checks in PostgreSQL: the mirror against the source, and rows rewritten."""

from __future__ import annotations

import asyncio

import asyncpg

from bench.server import Server
from standin.mirror import assert_same, mirror_packages, source_packages

MIRROR_TABLES = ("model_packages", "model_package_groups", "model_package_changes")
# A row's physical version: an UPDATE gives it a new ctid and xmin, an unchanged row keeps both.
ROW_VERSIONS = "SELECT ctid::text || '/' || xmin::text FROM sagemaker.{table}"


async def row_versions(database_url: str) -> dict[str, set[str]]:
    conn = await asyncpg.connect(database_url)
    try:
        return {
            table: {row[0] for row in await conn.fetch(ROW_VERSIONS.format(table=table))}
            for table in MIRROR_TABLES
        }
    finally:
        await conn.close()


def rows_written(before: dict[str, set[str]], after: dict[str, set[str]]) -> int:
    """Row versions present after and not before: inserts and updates, in the mirror's tables."""
    return sum(len(after[table] - before[table]) for table in MIRROR_TABLES)


async def mirror_matches_source(server: Server, database_url: str) -> int:
    """Compare every live mirrored package to the source, field by field; returns the count.

    Faults are switched off first so that the comparison's own listing is complete.
    """
    server.set_faults()
    source = await asyncio.to_thread(source_packages, server.client())
    conn = await asyncpg.connect(database_url)
    try:
        mirror = await mirror_packages(conn)
    finally:
        await conn.close()
    assert_same(mirror, source)
    return len(mirror)


async def count_packages(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM sagemaker.model_packages WHERE deleted_at IS NULL"
            )
        )
    finally:
        await conn.close()
