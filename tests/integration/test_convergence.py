"""Convergence rules, one test each: the change feed (Search on LastModifiedTime)
between reconciles, the reconcile cadence, deletions and reappearances, and a
change history written in the transaction of the change it records.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from standin.mirror import assert_same, mirror_packages, source_packages
from standin.sagemaker import Package, Registry, StandIn
from syncer.cycle.runs import CycleResult
from tests.conftest import Backend, open_syncer, sync_once

# Creation times an hour ago, a second apart: outside any lookback, so that an
# incremental listing re-reads only the newest package of a group.
T0 = round(time.time() - 3600, 3)
PRODUCTION = {"Stage": "Production", "StageStatus": "Approved", "StageDescription": "live"}


def standin_of(backend: Backend) -> StandIn:
    assert backend.standin is not None
    return backend.standin


async def run_changes(db: asyncpg.Connection, run_id: int | None) -> set[tuple[Any, ...]]:
    rows = await db.fetch(
        "SELECT model_package_arn, change_type, old_value, new_value"
        " FROM sagemaker.model_package_changes WHERE run_id = $1",
        run_id,
    )
    return {tuple(r) for r in rows}


async def row_versions(db: asyncpg.Connection) -> dict[str, str]:
    """Each package row's xmin: it changes exactly when the row is written."""
    rows = await db.fetch("SELECT model_package_arn, xmin::text FROM sagemaker.model_packages")
    return {r[0]: r[1] for r in rows}


async def stored_raw(db: asyncpg.Connection, arn: str) -> Any:
    raw = await db.fetchval(
        "SELECT raw FROM sagemaker.model_packages WHERE model_package_arn = $1", arn
    )
    return json.loads(raw)


def listed_summary(registry: Registry, arn: str) -> Any:
    """The package as ListModelPackages returns it, through JSON like the wire."""
    return json.loads(json.dumps(registry.packages[arn].summary()))


def old_group(registry: Registry, name: str, versions: int, start: float = T0) -> list[str]:
    registry.create_group(name, created=start - 10)
    return [registry.create_package(name, created=round(start + i, 3)) for i in range(versions)]


# ---------------------------------------------------------------- the change feed
async def test_the_change_feed_brings_approvals_stages_and_statuses_before_the_reconcile(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry, standin = standin_backend.registry, standin_of(standin_backend)
    v1, v2, v3, newest = old_group(registry, "churn", 4)
    registry.update_package(v2, approval="Approved")
    registry.update_package(v3, status="InProgress")
    legacy = registry.create_package(name="legacy", created=T0)
    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0)
    before = await row_versions(db)

    registry.update_package(v1, approval="Approved")
    registry.update_package(v2, approval="Rejected")  # a revoked approval
    registry.update_package(v3, status="Completed", life_cycle=PRODUCTION)
    registry.update_package(legacy, status="Failed")
    standin.reset_counters()
    second = await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0)

    assert second.status == "succeeded"
    assert (second.totals.packages_updated, second.totals.packages_inserted) == (4, 0)
    # One on LastModifiedTime: the feed (the details had nothing new to read),
    # beside the deployments' own (models and endpoints).
    assert searches_on(standin) == 1
    assert searches_on(standin, "LastModifiedTime") == 1
    assert_same(await mirror_packages(db), source_packages(standin_backend.client))
    assert await run_changes(db, second.run_id) == {
        (v1, "model_approval_status", "PendingManualApproval", "Approved"),
        (v2, "model_approval_status", "Approved", "Rejected"),
        (v3, "model_package_status", "InProgress", "Completed"),
        (v3, "model_life_cycle_stage", None, "Production"),
        (v3, "model_life_cycle_stage_status", None, "Approved"),
        (legacy, "model_package_status", "Completed", "Failed"),
    }
    assert (await row_versions(db))[newest] == before[newest]  # not written
    latest = await db.fetchval(
        "SELECT model_package_version FROM sagemaker.latest_approved_model_packages"
    )
    assert latest == 1
    # Search returns whole packages; raw stays the summary a listing returns.
    for arn in (v1, v2, v3, legacy):
        assert await stored_raw(db, arn) == listed_summary(registry, arn)

    # So the reconcile that follows finds nothing left to change.
    full = await sync_once(database_url, standin_backend.endpoint, full=True, lookback_seconds=0)
    assert full.status == "succeeded"
    assert (full.totals.packages_updated, full.totals.packages_deleted) == (0, 0)
    assert await run_changes(db, full.run_id) == set()


async def test_rows_the_change_feed_must_not_write(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    """Unchanged rows stay untouched, other groups stay out, deleted rows stay deleted."""
    registry = standin_backend.registry
    kept = old_group(registry, "keep", 3)
    [outside] = old_group(registry, "other", 1)
    settings: dict[str, Any] = {"lookback_seconds": 0, "group_name_contains": "keep"}
    await sync_once(database_url, standin_backend.endpoint, **settings)
    registry.delete_package(kept[0])
    await sync_once(database_url, standin_backend.endpoint, full=True, **settings)
    before = await row_versions(db)

    registry.update_package(kept[1], approval="PendingManualApproval")  # modified, not changed
    registry.update_package(outside, approval="Approved")
    # The deleted package comes back with its old creation time: a listing from
    # the watermark does not see it, Search does (it was modified just now).
    registry.packages[kept[0]] = Package(
        kept[0], "keep", 1, None, T0, approval="Approved", modified=registry.clock()
    )
    result = await sync_once(database_url, standin_backend.endpoint, **settings)

    assert result.status == "succeeded"
    assert await row_versions(db) == before
    assert await run_changes(db, result.run_id) == set()
    assert outside not in await mirror_packages(db, live_only=False)
    # Reappearance is the listings' to record, with the summary as raw.
    full = await sync_once(database_url, standin_backend.endpoint, full=True, **settings)
    assert await run_changes(db, full.run_id) == {
        (kept[0], "reappeared", None, None),
        (kept[0], "model_approval_status", "PendingManualApproval", "Approved"),
    }


async def test_the_change_feed_cursor_and_the_bound_it_sends(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry, standin = standin_backend.registry, standin_of(standin_backend)
    clock = [T0 + 100]
    registry.clock = lambda: clock[0]
    first, _ = old_group(registry, "g", 2)

    async def cursor() -> datetime:
        value = await db.fetchval(
            "SELECT watermark FROM sagemaker.sync_state WHERE scope_kind = 'changes'"
        )
        assert isinstance(value, datetime)
        return value

    bounds: list[Any] = []

    async def sync() -> None:
        """One cycle; the bound its change feed sent (its first Search on LastModifiedTime)."""
        standin.reset_counters()
        await sync_once(database_url, standin_backend.endpoint, lookback_seconds=2)
        bounds.append(
            next(
                body.get("SearchExpression", {}).get("Filters", [{}])[0].get("Value")
                for op, body in standin.requests
                if op == "Search" and body.get("SortBy") == "LastModifiedTime"
            )
        )

    def bound(cursor: datetime) -> str:
        """cursor - lookback - 1 ms, in whole seconds rounded down, as the botocore model
        and the API reference document a timestamp filter: YYYY-mm-dd'T'HH:MM:SS (UTC)."""
        moment = cursor - timedelta(seconds=2, milliseconds=1)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")

    def epoch(value: datetime) -> float:
        return round(value.timestamp(), 3)

    # The first cycle starts the feed at the newest change, without a filter.
    await sync()
    started = await cursor()
    assert epoch(started) == round(T0 + 1, 3)
    assert bounds == [None]

    clock[0] = round(T0 + 10.5, 3)
    registry.update_package(first, approval="Approved")
    await sync()
    assert bounds[1] == bound(started)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", bounds[1])
    moved = await cursor()
    assert epoch(moved) == round(T0 + 10.5, 3)

    await sync()
    assert bounds[2] == bound(moved)
    assert await cursor() == moved  # nothing newer: it stays


async def test_the_change_feed_pages_through_a_burst_of_changes(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry, standin = standin_backend.registry, standin_of(standin_backend)
    arns = old_group(registry, "burst", 6)
    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0, page_size=2)
    for arn in arns[:5]:
        registry.update_package(arn, approval="Rejected")
    standin.reset_counters()

    result = await sync_once(
        database_url, standin_backend.endpoint, lookback_seconds=0, page_size=2
    )

    assert result.totals.packages_updated == 5
    # 5 changes (and the cursor's own) at 2 a page
    assert searches_on(standin, "LastModifiedTime") == 3
    assert_same(await mirror_packages(db), source_packages(standin_backend.client))


async def test_a_search_result_that_cannot_be_applied_is_skipped_with_the_page_kept(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry = standin_backend.registry
    good, odd, _ = old_group(registry, "g", 3)
    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0)

    registry.update_package(good, approval="Approved")
    # A value a listing would refuse too (its index entry could not hold it).
    registry.packages[odd].extra = {"ModelApprovalStatus": "x" * 300}
    registry.update_package(odd, status="Completed")  # only to move LastModifiedTime
    result = await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0)

    assert result.status == "succeeded"
    assert (result.totals.packages_updated, result.totals.items_skipped) == (1, 1)
    mirrored = await mirror_packages(db)
    assert mirrored[good]["model_approval_status"] == "Approved"
    assert mirrored[odd]["model_approval_status"] == "PendingManualApproval"


def searches_on(standin: StandIn, time_property: str | None = None) -> int:
    """Search calls for packages sorted on a time property (the feeds' queries, not
    the proof's); any package search when no property is named."""
    return sum(
        1
        for op, body in standin.requests
        if op == "Search"
        and body.get("Resource") == "ModelPackage"
        and (
            time_property is None
            or (body.get("SortBy") == time_property and body.get("SearchExpression"))
        )
    )


# ---------------------------------------------------------------- the reconcile
async def test_without_the_feed_changes_wait_for_the_reconcile(
    backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    client = backend.client
    client.create_model_package_group(ModelPackageGroupName="churn")
    arns = []
    for _ in range(3):
        arns.append(
            client.create_model_package(
                ModelPackageGroupName="churn",
                ModelApprovalStatus="PendingManualApproval",
                InferenceSpecification={"Containers": [{"Image": "x"}]},
            )["ModelPackageArn"]
        )
        await asyncio.sleep(0.01)  # distinct milliseconds: only the newest is re-read
    settings: dict[str, Any] = {"lookback_seconds": 0, "change_feed": False}
    await sync_once(database_url, backend.endpoint, **settings)

    client.update_model_package(ModelPackageArn=arns[0], ModelApprovalStatus="Approved")
    client.update_model_package(ModelPackageArn=arns[1], ModelApprovalStatus="Rejected")
    incremental = await sync_once(database_url, backend.endpoint, **settings)
    assert incremental.totals.packages_updated == 0
    assert (await mirror_packages(db))[arns[0]]["model_approval_status"] == "PendingManualApproval"

    full = await sync_once(database_url, backend.endpoint, full=True, **settings)
    assert full.totals.packages_updated == 2
    assert_same(await mirror_packages(db), source_packages(client))
    assert await run_changes(db, full.run_id) == {
        (arns[0], "model_approval_status", "PendingManualApproval", "Approved"),
        (arns[1], "model_approval_status", "PendingManualApproval", "Rejected"),
    }


async def test_a_reconcile_without_the_feed_updates_stages_and_statuses(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry = standin_backend.registry
    arns = old_group(registry, "g", 3)
    registry.update_package(arns[0], status="InProgress")
    settings: dict[str, Any] = {"lookback_seconds": 0, "change_feed": False}
    await sync_once(database_url, standin_backend.endpoint, **settings)

    registry.update_package(arns[0], status="Completed")
    registry.update_package(arns[1], life_cycle=PRODUCTION)
    full = await sync_once(database_url, standin_backend.endpoint, full=True, **settings)

    assert_same(await mirror_packages(db), source_packages(standin_backend.client))
    assert await run_changes(db, full.run_id) == {
        (arns[0], "model_package_status", "InProgress", "Completed"),
        (arns[1], "model_life_cycle_stage", None, "Production"),
        (arns[1], "model_life_cycle_stage_status", None, "Approved"),
    }


async def test_the_service_reconciles_every_reconcile_interval(
    standin_backend: Backend,
    database_url: str,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cycles 100 s apart on the service's clock, a reconcile every 250 s."""
    registry = standin_backend.registry
    arns = old_group(registry, "g", 3)
    start = datetime.now(UTC)
    results: list[CycleResult] = []

    def clock() -> datetime:
        return start + timedelta(seconds=100 * len(results))

    async with open_syncer(
        database_url,
        standin_backend.endpoint,
        now=clock,
        interval_seconds=0.01,
        reconcile_interval_seconds=250,
        lookback_seconds=0,
    ) as syncer:
        run_cycle = syncer.run_cycle

        async def counted(*, full: bool, wait: bool = False) -> CycleResult:
            if len(results) == 1:  # between the first and the second cycle
                registry.delete_package(arns[0])
                registry.update_package(arns[1], approval="Approved")
            results.append(await run_cycle(full=full, wait=wait))
            if len(results) == 7:
                syncer.stop_event.set()
            return results[-1]

        monkeypatch.setattr(syncer, "run_cycle", counted)
        async with asyncio.timeout(60):
            await syncer.run_forever()

    modes = [r[0] for r in await db.fetch("SELECT mode FROM sagemaker.sync_runs ORDER BY run_id")]
    assert modes == [
        "full",
        "incremental",
        "incremental",
        "full",
        "incremental",
        "incremental",
        "full",
    ]
    assert [r.totals.packages_deleted for r in results] == [0, 0, 0, 1, 0, 0, 0]
    assert [r.totals.packages_updated for r in results] == [0, 1, 0, 0, 0, 0, 0]  # the feed


# ---------------------------------------------------------------- deletions
async def test_unversioned_packages_are_marked_deleted_and_reappear(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry = standin_backend.registry
    legacy = registry.create_package(name="legacy", created=T0)
    registry.create_package(name="current", created=T0 + 1)
    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0)

    registry.delete_package(legacy)
    assert (await sync_once(database_url, standin_backend.endpoint)).totals.packages_deleted == 0
    full = await sync_once(database_url, standin_backend.endpoint, full=True, lookback_seconds=0)
    assert full.totals.packages_deleted == 1
    assert await db.fetchval("SELECT count(*) FROM sagemaker.model_packages") == 2  # kept

    assert registry.create_package(name="legacy", created=T0 + 2) == legacy
    back = await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0)
    assert back.totals.packages_updated == 1
    history = await db.fetch(
        "SELECT change_type FROM sagemaker.model_package_changes"
        " WHERE model_package_arn = $1 ORDER BY change_id",
        legacy,
    )
    assert [r[0] for r in history] == ["created", "deleted", "reappeared"]
    assert_same(await mirror_packages(db), source_packages(standin_backend.client))


async def test_a_listed_item_that_cannot_be_parsed_is_not_marked_deleted(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry = standin_backend.registry
    arns = old_group(registry, "g", 2)
    await sync_once(database_url, standin_backend.endpoint)
    registry.packages[arns[0]].extra = {"CreationTime": "not a time"}

    full = await sync_once(database_url, standin_backend.endpoint, full=True, lookback_seconds=0)

    assert full.totals.items_skipped == 1
    assert full.totals.packages_deleted == 0
    assert len(await mirror_packages(db)) == 2


async def test_changes_are_written_in_the_transaction_of_the_change(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    """now() is the transaction's start: a change and its row carry the same instant."""
    registry = standin_backend.registry
    kept = old_group(registry, "keep", 3)
    dropped = old_group(registry, "drop", 2)
    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0)
    registry.update_package(kept[0], approval="Approved")  # by the feed
    registry.delete_package(kept[1])  # by the reconcile's sweep
    for arn in dropped:  # by the group sweep
        registry.delete_package(arn)
    registry.delete_group("drop")
    await sync_once(database_url, standin_backend.endpoint, full=True, lookback_seconds=0)

    rows = await db.fetch(
        "SELECT c.change_type, c.observed_at, p.first_seen_at, p.last_changed_at, p.deleted_at,"
        "       g.deleted_at AS group_deleted_at"
        "  FROM sagemaker.model_package_changes c"
        "  JOIN sagemaker.model_packages p USING (model_package_arn)"
        "  JOIN sagemaker.model_package_groups g"
        "    ON g.model_package_group_name = p.model_package_group_name"
    )
    kinds = sorted(r["change_type"] for r in rows)
    assert kinds == ["created"] * 5 + ["deleted"] * 3 + ["model_approval_status"]
    for r in rows:
        if r["change_type"] == "created":
            assert r["observed_at"] == r["first_seen_at"]
        else:
            assert r["observed_at"] == r["last_changed_at"]
        if r["change_type"] == "deleted":
            assert r["observed_at"] == r["deleted_at"]
        if r["group_deleted_at"] is not None:  # a group and its packages go together
            assert r["observed_at"] in (r["first_seen_at"], r["group_deleted_at"])
