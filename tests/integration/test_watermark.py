"""The creation-time watermark at sub-second boundaries, beyond test_boundaries.py:
the exact bound on the wire for both kinds of scope, sub-millisecond creation
times, the edge of the lookback, a listing that fails inside a run of equal
timestamps, and a watermark that never moves back.

Packages are placed on exact instants through the stand-in's registry.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import asyncpg
import pytest

from standin.mirror import assert_same, mirror_packages, source_packages
from standin.sagemaker import Faults, Registry, StandIn
from tests.conftest import Backend, sync_once

T = round(time.time() - 3600, 3)  # a millisecond an hour ago
# Float spacing near 1.8e9 s is 0.24 us: two of them tell a microsecond apart.
ON_THE_WIRE = 5e-7


def standin_of(backend: Backend) -> StandIn:
    assert backend.standin is not None
    return backend.standin


async def watermark(db: asyncpg.Connection, scope_kind: str, group: str = "") -> datetime:
    value = await db.fetchval(
        "SELECT watermark FROM sagemaker.sync_state"
        " WHERE scope_kind = $1 AND model_package_group_name = $2",
        scope_kind,
        group,
    )
    assert isinstance(value, datetime)
    return value


def sent_bounds(standin: StandIn, group: str | None) -> list[float | None]:
    """CreationTimeAfter of each ListModelPackages request of a scope (None: the
    unversioned one, not the account's), as received."""
    return [
        body.get("CreationTimeAfter")
        for op, body in standin.requests
        if op == "ListModelPackages"
        and body.get("ModelPackageGroupName") == group
        and (group is not None or body.get("ModelPackageType") == "Unversioned")
    ]


def create(registry: Registry, group: str | None, created: float, name: str = "") -> str:
    if group is None:
        return registry.create_package(name=name, created=created)
    return registry.create_package(group, created=created)


@pytest.mark.parametrize("group", ["burst", None], ids=["group", "unversioned"])
@pytest.mark.parametrize("lookback", [0, 0.25, 30])
async def test_the_bound_sent_is_the_watermark_less_the_lookback_and_one_millisecond(
    standin_backend: Backend,
    database_url: str,
    db: asyncpg.Connection,
    group: str | None,
    lookback: float,
) -> None:
    registry, standin = standin_backend.registry, standin_of(standin_backend)
    if group:
        registry.create_group(group, created=T - 60)
    create(registry, group, T - 5, "a")
    create(registry, group, T, "b")
    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=lookback)
    kind = "group" if group else "unversioned"
    mark = await watermark(db, kind, group or "")
    assert mark.timestamp() == pytest.approx(T, abs=ON_THE_WIRE)

    # Two more in the watermark's millisecond (listed only now) and one after it.
    create(registry, group, T, "c")
    create(registry, group, T, "d")
    create(registry, group, round(T + 0.001, 3), "e")
    second = await sync_once(database_url, standin_backend.endpoint, lookback_seconds=lookback)

    assert second.totals.packages_inserted == 3
    bound = sent_bounds(standin, group)[1]
    assert bound is not None
    expected = mark - timedelta(seconds=lookback, milliseconds=1)
    assert bound == pytest.approx(expected.timestamp(), abs=ON_THE_WIRE)
    assert_same(await mirror_packages(db), source_packages(standin_backend.client))


async def test_sub_millisecond_creation_times_keep_their_microseconds(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    """Should the API ever answer in microseconds, the bound keeps them too."""
    registry, standin = standin_backend.registry, standin_of(standin_backend)
    registry.create_group("fine", created=T - 60)
    registry.create_package("fine", created=T + 0.0004)
    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0)
    mark = await watermark(db, "group", "fine")
    assert mark.microsecond % 1000 == 400

    registry.create_package("fine", created=T + 0.0004)  # the same microsecond
    registry.create_package("fine", created=T + 0.0009)
    second = await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0)

    assert second.totals.packages_inserted == 2
    assert sent_bounds(standin, "fine")[1] == pytest.approx(T - 0.0006, abs=ON_THE_WIRE)
    assert (await watermark(db, "group", "fine")).microsecond % 1000 == 900
    assert_same(await mirror_packages(db), source_packages(standin_backend.client))


async def test_late_packages_at_the_edge_of_the_lookback(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    """Visible late: at watermark - lookback it is re-read, one millisecond earlier it is not."""
    registry = standin_backend.registry
    registry.create_group("ec", created=T - 60)
    inside = registry.create_package("ec", created=round(T - 10, 3), visible_after=3600)
    outside = registry.create_package("ec", created=round(T - 10.001, 3), visible_after=3600)
    registry.create_package("ec", created=T)
    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=10)
    for arn in (inside, outside):
        registry.packages[arn].visible_at = 0  # listed from now on

    late = await sync_once(database_url, standin_backend.endpoint, lookback_seconds=10)
    mirrored = await mirror_packages(db)
    assert late.totals.packages_inserted == 1
    assert inside in mirrored and outside not in mirrored

    # The reconcile lists without a bound.
    full = await sync_once(database_url, standin_backend.endpoint, full=True, lookback_seconds=10)
    assert full.totals.packages_inserted == 1
    assert_same(await mirror_packages(db), source_packages(standin_backend.client))


async def test_a_listing_that_fails_inside_a_run_of_equal_timestamps_loses_nothing(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry, standin = standin_backend.registry, standin_of(standin_backend)
    registry.create_group("ties", created=T - 60)
    for _ in range(7):
        registry.create_package("ties", created=T)
    registry.create_package("ties", created=round(T + 0.001, 3))
    # Page 1 (three of the seven) is stored, then the token loops: the scope fails.
    standin.faults = Faults(repeat_token_for={"ties"})
    failed = await sync_once(
        database_url, standin_backend.endpoint, page_size=3, lookback_seconds=0
    )
    assert failed.totals.scopes_failed == 1
    assert len(await mirror_packages(db)) == 3
    assert (await watermark(db, "group", "ties")).timestamp() == pytest.approx(T, abs=ON_THE_WIRE)

    standin.faults = Faults()
    healed = await sync_once(
        database_url, standin_backend.endpoint, page_size=3, lookback_seconds=0
    )
    assert healed.status == "succeeded"
    assert (healed.totals.packages_inserted, healed.totals.packages_updated) == (5, 0)
    assert_same(await mirror_packages(db), source_packages(standin_backend.client))


async def test_the_watermark_never_moves_back(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry = standin_backend.registry
    registry.create_group("g", created=T - 60)
    registry.create_package("g", created=T - 2)
    newest = registry.create_package("g", created=T)
    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0)
    mark = await watermark(db, "group", "g")

    # A reconcile lists from the start, and the newest package is gone.
    registry.delete_package(newest)
    await sync_once(database_url, standin_backend.endpoint, full=True, lookback_seconds=0)
    assert await watermark(db, "group", "g") == mark

    # A package that shows up late, older than the watermark, does not pull it back.
    registry.create_package("g", created=T - 1)
    await sync_once(database_url, standin_backend.endpoint, full=True, lookback_seconds=0)
    assert await watermark(db, "group", "g") == mark
    assert_same(await mirror_packages(db), source_packages(standin_backend.client))
