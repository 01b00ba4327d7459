"""Plans that must fit a table of any size, whatever its statistics say.

The page write keeps one plan per connection (0004). On a new mirror the plan
is made while model_packages is empty, and kept while the first sync fills it.
A plan that fits the empty table (hash all of it, or scan an index by creation
time) would make every later page read the whole table. PostgreSQL's
per-transaction table statistics show how the write read it (auto_explain
would show the plan, but the embedded test server has no contrib modules).

The sweeps check a scope's live rows against everything a listing returned.
Right after a first sync, statistics say the table is (nearly) empty, and a
join planned from them is a nested loop, quadratic in the scope; the sweeps
look the ARNs up by hash instead (0005), which the tests bound with a
statement timeout.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from standin.sagemaker import Registry
from syncer.cycle.runs import Runs
from syncer.models import PackageSummary, Scope, Target, parse_package
from syncer.warehouse.sql import QUERIES
from syncer.warehouse.store import Store, package_columns, scope_key

GROWN_TO = 5_000
BIG_SCOPE = 15_000
# Hashed, the sweep of BIG_SCOPE takes well under a second even on a busy machine.
SWEEP_TIMEOUT_SECONDS = 3


def _page(registry: Registry, group: str, count: int) -> list[PackageSummary]:
    registry.create_group(group)
    return [
        parse_package(registry.packages[registry.create_package(group)].summary(), group)
        for _ in range(count)
    ]


async def _write(conn: asyncpg.Connection, scope: Scope, page: list[PackageSummary]) -> None:
    """The page write on this connection, in its transaction (Store.store_page commits
    on a pooled connection of its own, and the test reads the transaction's statistics)."""
    await conn.fetchrow(
        QUERIES["store_listing_page"],
        *scope_key(scope),
        *package_columns(page),
        None,  # no run
        True,  # the listing's last page: the sweep runs too
        [p.arn for p in page],
        datetime.now(UTC),
        60_000,  # its lock timeout, ms
    )


async def _grow(conn: asyncpg.Connection, group: str, versions: int) -> list[str]:
    """Add ``versions`` live packages of ``group`` (account 1, region r) directly; their ARNs."""
    rows = await conn.fetch(
        "INSERT INTO sagemaker.model_packages (model_package_arn, account_id, region,"
        " model_package_group_name, model_package_version, creation_time, raw)"
        " SELECT 'arn:aws:sagemaker:r:1:model-package/' || $1 || '/' || v, '1', 'r', $1, v,"
        " now(), '{}' FROM generate_series(1, $2) AS v RETURNING model_package_arn",
        group,
        versions,
    )
    return [row[0] for row in rows]


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
        await _grow(conn, "grown", GROWN_TO)
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


async def test_sweeping_a_big_scope_inside_the_page_write_is_not_quadratic(
    database_url: str,
) -> None:
    """A complete listing of a big group, swept right after a first sync filled it.

    Nothing has analyzed the table, so its statistics say the group has about
    one row, and the page write turns hash joins off (0004). The scope's live
    rows must still be checked against the ARNs the listing returned through a
    hash (0005): as a nested loop, 15,000 rows against 15,000 ARNs are about
    10^8 comparisons, some 15 s here; hashed, a few milliseconds. The statement
    timeout turns the slow plan into a failure rather than a wait.
    """
    async with Store.open(
        database_url, max_size=2, statement_timeout_seconds=SWEEP_TIMEOUT_SECONDS
    ) as store:
        run_id = await Runs(store).start("full")
        async with store.pool.acquire() as conn:
            arns = await _grow(conn, "big", BIG_SCOPE)
        counts = await store.store_page(
            Scope(Target("1", "r"), "big"),
            [],  # an empty last page; the listing returned all but three
            run_id,
            last=True,
            seen_arns=arns[3:],
            absent_before=datetime.now(UTC) + timedelta(minutes=1),
        )
        async with store.pool.acquire() as conn:
            deleted = await conn.fetchval(
                "SELECT array_agg(model_package_arn ORDER BY model_package_arn)"
                " FROM sagemaker.model_packages WHERE deleted_at IS NOT NULL"
            )

    assert counts.deleted == 3
    assert deleted == sorted(arns[:3])


async def test_sweeping_the_groups_of_a_big_account_is_not_quadratic(database_url: str) -> None:
    """The group sweep's check against the listed ARNs is a hash lookup too, through
    the Store and its connection settings, on a table filled since it was analyzed."""
    async with Store.open(
        database_url, max_size=2, statement_timeout_seconds=SWEEP_TIMEOUT_SECONDS
    ) as store:
        run_id = await Runs(store).start("full")
        async with store.pool.acquire() as conn:
            rows = await conn.fetch(
                "INSERT INTO sagemaker.model_package_groups (model_package_group_arn,"
                " account_id, region, model_package_group_name, creation_time, raw)"
                " SELECT 'arn:aws:sagemaker:r:1:model-package-group/g' || v, '1', 'r',"
                " 'g' || v, now(), '{}' FROM generate_series(1, $1) AS v"
                " RETURNING model_package_group_arn, model_package_group_name",
                BIG_SCOPE,
            )
        gone, _ = await store.sweep_groups(
            Target("1", "r"), [row[0] for row in rows[3:]], None, run_id
        )

    assert sorted(gone) == sorted(row[1] for row in rows[:3])
