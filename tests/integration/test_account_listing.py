"""The account-wide listing: reconciles by creation-time windows, discovery between them.

A reconcile lists every package of an account and region with ListModelPackages
(a type, no group) in creation-time windows side by side; an incremental cycle
lists what was created since the packages cursor and then only the scopes it
found something new in. Each test reads the rows back from PostgreSQL.
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import pytest

from standin.mirror import (
    assert_same,
    mirror_groups,
    mirror_packages,
    source_groups,
    source_packages,
)
from standin.sagemaker import Faults, Registry, StandIn, serve_in_thread
from tests.conftest import Backend, boto_client, sync_once

T = round(time.time() - 7200, 3)  # two hours ago: outside any lookback


def listings(standin: StandIn) -> list[dict[str, Any]]:
    return [body for op, body in standin.requests if op == "ListModelPackages"]


def account_listings(standin: StandIn) -> list[dict[str, Any]]:
    return [
        b
        for b in listings(standin)
        if "ModelPackageGroupName" not in b and b.get("ModelPackageType") in ("Both", "Versioned")
    ]


async def watermarks(db: asyncpg.Connection) -> dict[tuple[str, str], Any]:
    rows = await db.fetch(
        "SELECT scope_kind, model_package_group_name, watermark FROM sagemaker.sync_state"
        " WHERE scope_kind IN ('group', 'unversioned', 'packages')"
    )
    return {(r[0], r[1]): r[2] for r in rows}


async def live(db: asyncpg.Connection) -> set[str]:
    rows = await db.fetch(
        "SELECT model_package_arn FROM sagemaker.model_packages WHERE deleted_at IS NULL"
    )
    return {r[0] for r in rows}


async def test_a_reconcile_mirrors_every_group_and_package_in_windows_side_by_side(
    database_url: str, db: asyncpg.Connection
) -> None:
    registry = Registry()
    for g in range(6):
        registry.create_group(f"g{g}", created=T + g)
        for v in range(120):
            registry.create_package(f"g{g}", created=T + 10 + g * 200 + v)
    registry.create_group("empty", created=T + 5)  # a group with no versions
    for u in range(3):
        registry.create_package(name=f"standalone-{u}", created=T + 2000 + u)
    standin = StandIn(registry, Faults(latency_seconds=0.02))
    with serve_in_thread(standin) as endpoint:
        # The first reconcile knows no creation time: one window, split as it goes.
        first = await sync_once(database_url, endpoint, full=True, concurrency=4, page_size=100)
        assert first.status == "succeeded", first.errors
        assert 1 < len(account_listings(standin)) <= 723 // 100 + 2 * 4
        # The next one starts from windows of whole pages, side by side.
        standin.requests.clear()
        again = await sync_once(database_url, endpoint, full=True, concurrency=4, page_size=100)
    assert again.status == "succeeded", again.errors
    windows = account_listings(standin)
    assert {b["ModelPackageType"] for b in windows} == {"Both"}
    assert sum("NextToken" not in b for b in windows) > 1  # several windows
    assert len(windows) <= 723 // 100 + 4  # about packages/100 calls
    assert again.totals.packages_listed >= 723
    assert (again.totals.packages_inserted, again.totals.packages_updated) == (0, 0)
    states = await db.fetch(
        "SELECT scope_kind, model_package_group_name, watermark IS NOT NULL AS has_mark,"
        " last_full_success_at IS NOT NULL AS full FROM sagemaker.sync_state"
        " WHERE scope_kind IN ('group', 'unversioned', 'packages')"
    )
    by_scope = {(r[0], r[1]): (r[2], r[3]) for r in states}
    assert by_scope[("group", "empty")] == (False, True)  # recorded, with nothing to mark
    assert by_scope[("group", "g5")] == (True, True)
    assert by_scope[("unversioned", "")] == (True, True)
    assert by_scope[("packages", "")] == (True, True)


async def test_packages_on_a_window_edge_are_neither_lost_nor_doubled(
    database_url: str, db: asyncpg.Connection
) -> None:
    """Windows begin at creation times the mirror knows; packages created in that same
    millisecond, on both sides of the edge, are all stored once."""
    registry = Registry()
    registry.create_group("edge", created=T)
    for v in range(500):
        registry.create_package("edge", created=T + 1 + v * 0.01)
    with serve_in_thread(StandIn(registry)) as endpoint:
        await sync_once(database_url, endpoint, full=True, concurrency=4)
        edges = await db.fetch(
            "SELECT creation_time FROM sagemaker.model_packages ORDER BY creation_time"
        )
        # More packages in the milliseconds where windows can begin, and between.
        for k in (100, 200, 300):
            at = edges[k][0].timestamp()
            for _ in range(3):
                registry.create_package("edge", created=round(at, 3))
        registry.create_package("edge", created=round(edges[150][0].timestamp() + 0.001, 3))
        result = await sync_once(database_url, endpoint, full=True, concurrency=4)
        source = source_packages(boto_client(endpoint))
    assert result.status == "succeeded", result.errors
    assert result.totals.packages_inserted == 10
    assert_same(await mirror_packages(db), source)
    assert (
        await db.fetchval(
            "SELECT count(*) FROM sagemaker.model_package_changes WHERE change_type = 'created'"
        )
        == 510
    )


async def test_a_deletion_is_found_by_the_account_wide_reconcile(
    backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    client = backend.client
    client.create_model_package_group(ModelPackageGroupName="churn")
    arns = [
        client.create_model_package(ModelPackageGroupName="churn")["ModelPackageArn"]
        for _ in range(3)
    ]
    standalone = client.create_model_package(ModelPackageName="standalone")["ModelPackageArn"]
    first = await sync_once(database_url, backend.endpoint, full=True, lookback_seconds=0)
    assert first.status == "succeeded", first.errors
    assert await live(db) == {*arns, standalone}
    if backend.standin is None:
        pytest.skip("moto cannot delete a model package")  # its API has no DeleteModelPackage
    backend.standin.registry.delete_package(arns[1])
    backend.standin.registry.delete_package(standalone)
    result = await sync_once(database_url, backend.endpoint, full=True, lookback_seconds=0)
    assert result.status == "succeeded", result.errors
    assert result.totals.packages_deleted == 2
    assert await live(db) == {arns[0], arns[2]}
    assert_same(await mirror_packages(db), source_packages(client))


async def test_a_failed_window_sweeps_nothing_and_moves_no_watermark(
    database_url: str, db: asyncpg.Connection
) -> None:
    registry = Registry()
    registry.create_group("g", created=T)
    arns = [registry.create_package("g", created=T + 1 + v) for v in range(400)]
    standin = StandIn(registry)
    with serve_in_thread(standin) as endpoint:
        await sync_once(database_url, endpoint, full=True, concurrency=4, lookback_seconds=0)
        marks = await watermarks(db)
        registry.delete_package(arns[0])
        newest = registry.create_package("g", created=T + 1000)
        # Every window fails after its first page; what they saw is stored.
        standin.faults = Faults(repeat_token_for={"(account)"})
        failed = await sync_once(
            database_url, endpoint, full=True, concurrency=4, page_size=50, lookback_seconds=0
        )
    assert failed.status in ("partial", "failed"), failed
    assert [e["scope"].rsplit("/", 1)[-1] for e in failed.errors] == ["(packages)"]
    assert arns[0] in await live(db)  # not swept on a failed listing
    assert await watermarks(db) == marks
    error = await db.fetchval(
        "SELECT last_error FROM sagemaker.sync_state WHERE scope_kind = 'packages'"
    )
    assert "NextToken repeated" in error
    assert newest not in await live(db)  # the windows' first pages came before it


async def test_a_quiet_incremental_cycle_costs_three_calls_at_any_size(
    database_url: str, db: asyncpg.Connection
) -> None:
    registry = Registry()
    for g in range(300):
        registry.create_group(f"g{g:03d}", created=T + g)
        registry.create_package(f"g{g:03d}", created=T + 1000 + g)
    registry.create_package(name="standalone", created=T + 2000)
    standin = StandIn(registry)
    with serve_in_thread(standin) as endpoint:
        # Before any reconcile too: the first cycle finds everything, the next nothing.
        await sync_once(database_url, endpoint, lookback_seconds=30, deployments=False)
        standin.reset_counters()
        quiet = await sync_once(database_url, endpoint, lookback_seconds=30, deployments=False)
        assert quiet.status == "succeeded", quiet.errors
        assert quiet.totals.api_calls == 3, standin.calls
        sagemaker = {op: n for op, n in standin.calls.items() if not op.startswith("sts:")}
        assert sagemaker == {"ListModelPackageGroups": 1, "ListModelPackages": 1, "Search": 1}

        # A new version, a new group with one, an unversioned package: the scopes
        # named are listed, each from its watermark, and nothing else.
        registry.create_package("g007", created=T + 3000)
        registry.create_group("fresh", created=T + 3001)
        registry.create_package("fresh", created=T + 3002)
        registry.create_package(name="standalone-2", created=T + 3003)
        standin.reset_counters()
        standin.requests.clear()
        busy = await sync_once(database_url, endpoint, lookback_seconds=30, deployments=False)
        sent = listings(standin)
        source = source_packages(boto_client(endpoint))
    assert busy.status == "succeeded", busy.errors
    assert busy.totals.packages_inserted == 3
    scoped = sorted(
        b.get("ModelPackageGroupName") or b["ModelPackageType"]
        for b in sent
        if b not in account_listings(standin)
    )
    assert scoped == ["Unversioned", "fresh", "g007"]
    # The group name goes with its type: without one the API lists unversioned packages.
    assert all(
        b.get("ModelPackageType") == "Versioned" for b in sent if "ModelPackageGroupName" in b
    )
    assert_same(await mirror_packages(db), source)


async def test_five_thousand_groups_cost_what_exists_over_a_hundred(
    database_url: str, db: asyncpg.Connection
) -> None:
    """Reconcile, first and quiet cycles of 5,000 groups x 2 versions + 10 unversioned,
    registered a minute apart over the last days (so that a lookback holds a few)."""
    start = round(time.time() - 6 * 86400, 3)
    registry = Registry()
    for g in range(5000):
        registry.create_group(f"g{g:04d}", created=start + g * 60)
        for v in range(2):
            registry.create_package(f"g{g:04d}", created=start + g * 60 + 1 + v)
    for u in range(10):
        registry.create_package(name=f"standalone-{u}", created=start + 300_000 + u)
    standin = StandIn(registry)
    calls: dict[str, int] = {}
    cycles = (
        ("first, incremental", False),
        ("unchanged, before any reconcile", False),
        ("first reconcile", True),
        ("reconcile", True),
        ("unchanged", False),
    )
    with serve_in_thread(standin) as endpoint:
        for name, full in cycles:
            result = await sync_once(database_url, endpoint, full=full, deployments=False)
            assert result.status == "succeeded", result.errors
            calls[name] = result.totals.api_calls
    # Groups, packages and their details: each about N/100 (50 + 101, 50 + 101).
    assert calls["reconcile"] <= 320, calls
    assert calls["unchanged, before any reconcile"] == calls["unchanged"] == 3, calls
    assert (
        await db.fetchval("SELECT count(*) FROM sagemaker.model_packages WHERE deleted_at IS NULL")
        == 10010
    )


async def test_the_name_filter_keeps_other_groups_out_of_the_account_listing(
    database_url: str, db: asyncpg.Connection
) -> None:
    registry = Registry()
    for name in ("teamA-churn", "teamB-fraud"):
        registry.create_group(name, created=T)
        registry.create_package(name, created=T + 1)
    registry.create_package(name="standalone", created=T + 2)
    with serve_in_thread(StandIn(registry)) as endpoint:
        for full in (False, True, False):
            result = await sync_once(
                database_url,
                endpoint,
                full=full,
                group_name_contains="teamA",
                include_unversioned=False,
            )
            assert result.status == "succeeded", result.errors
    groups = {
        r[0]
        for r in await db.fetch(
            "SELECT DISTINCT model_package_group_name FROM sagemaker.model_packages"
        )
    }
    assert groups == {"teamA-churn"}
    assert {
        r[0]
        for r in await db.fetch(
            "SELECT model_package_group_name FROM sagemaker.model_package_groups"
        )
    } == {"teamA-churn"}


async def test_moto_serves_the_account_wide_listing(
    moto_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    client = moto_backend.client
    for name in ("a", "b"):
        client.create_model_package_group(ModelPackageGroupName=name)
        for _ in range(2):
            client.create_model_package(ModelPackageGroupName=name)
    client.create_model_package(ModelPackageName="standalone")
    for full in (True, False):
        result = await sync_once(database_url, moto_backend.endpoint, full=full)
        assert result.status == "succeeded", result.errors
    assert_same(await mirror_packages(db), source_packages(client))
    assert_same(await mirror_groups(db), source_groups(client))
