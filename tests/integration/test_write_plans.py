"""The page write keeps one plan per connection (0004); that plan must fit a table of any size.

On a new mirror the plan is made while model_packages is empty, and kept while
the first sync fills it. A plan that fits the empty table (hash all of it, or
scan an index by creation time) would make every later page read the whole
table. PostgreSQL's per-transaction table statistics show how the write read
it (auto_explain would show the plan, but the embedded test server has no
contrib modules).
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from syncer.models import PackageSummary, Scope, Target, parse_package
from syncer.sql import QUERIES
from syncer.store import _package_columns, scope_key
from tests.standin import Registry

GROWN_TO = 5_000


def _page(registry: Registry, group: str, count: int) -> list[PackageSummary]:
    registry.create_group(group)
    return [
        parse_package(registry.packages[registry.create_package(group)].summary(), group)
        for _ in range(count)
    ]


async def _write(conn: asyncpg.Connection, scope: Scope, page: list[PackageSummary]) -> None:
    await conn.fetchrow(
        QUERIES["store_listing_page"],
        *scope_key(scope),
        *_package_columns(page),
        None,  # no run
        True,  # the listing's last page: the sweep runs too
        [p.arn for p in page],
        datetime.now(UTC),
    )


async def test_a_page_write_planned_on_an_empty_mirror_probes_the_primary_key_when_it_is_big(
    database_url: str,
) -> None:
    registry = Registry()
    target = Target(registry.account_id, registry.region)
    conn = await asyncpg.connect(database_url)
    try:
        # The connection's first page, on the empty mirror: the plan is made now.
        await _write(conn, Scope(target, "first"), _page(registry, "first", 5))
        # The mirror grows (no ANALYZE: nothing tells the connection to re-plan).
        await conn.execute(
            "INSERT INTO sagemaker.model_packages (model_package_arn, account_id, region,"
            " model_package_group_name, model_package_version, creation_time, raw)"
            " SELECT 'arn:aws:sagemaker:r:1:model-package/grown/' || v, '1', 'r', 'grown', v,"
            " now(), '{}' FROM generate_series(1, $1) AS v",
            GROWN_TO,
        )
        later = _page(registry, "later", 5)
        async with conn.transaction():
            await _write(conn, Scope(target, "later"), later)
            reads = await conn.fetchrow(
                "SELECT seq_scan, seq_tup_read, idx_scan FROM pg_stat_xact_user_tables"
                " WHERE schemaname = 'sagemaker' AND relname = 'model_packages'"
            )
        stored = await conn.fetchval(
            "SELECT count(*) FROM sagemaker.model_packages WHERE model_package_group_name = $1",
            "later",
        )
    finally:
        await conn.close()

    assert stored == len(later)
    assert reads is not None
    # No row of the grown table read by scanning it; the rows looked up by index.
    assert (reads["seq_scan"], reads["seq_tup_read"]) == (0, 0), dict(reads)
    assert reads["idx_scan"] >= len(later), dict(reads)
