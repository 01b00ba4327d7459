"""Watermark boundaries at sub-second precision.

CreationTimeAfter is strict, timestamps have millisecond precision, several
packages share a millisecond, and the list API is eventually consistent. These
place packages on exact milliseconds through the stand-in's registry.
"""

from __future__ import annotations

import time

import asyncpg

from standin.mirror import assert_same, mirror_packages, source_packages
from tests.conftest import Backend, sync_once

T = round(time.time() - 60, 3)  # a millisecond a minute ago


async def watermark(db: asyncpg.Connection, group: str) -> float:
    value = await db.fetchval(
        "SELECT extract(epoch FROM watermark)::numeric FROM sagemaker.sync_state"
        " WHERE model_package_group_name = $1",
        group,
    )
    return float(value)


def list_bounds(backend: Backend, group: str) -> list[float | None]:
    assert backend.standin is not None
    return [
        body.get("CreationTimeAfter")
        for op, body in backend.standin.requests
        if op == "ListModelPackages" and body.get("ModelPackageGroupName") == group
    ]


def account_bounds(backend: Backend) -> list[float | None]:
    """The bounds of the account-wide listings (a type, no group)."""
    assert backend.standin is not None
    return [
        body.get("CreationTimeAfter")
        for op, body in backend.standin.requests
        if op == "ListModelPackages"
        and "ModelPackageGroupName" not in body
        and body.get("ModelPackageType") in ("Both", "Versioned")
    ]


async def test_packages_sharing_the_watermark_millisecond_are_not_lost(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry = standin_backend.registry
    registry.create_group("burst")
    registry.create_package("burst", created=T)
    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0)
    assert await watermark(db, "burst") == T

    # A burst in the watermark's own millisecond, listed only now, and the next one.
    for _ in range(3):
        registry.create_package("burst", created=T)
    registry.create_package("burst", created=round(T + 0.001, 3))
    second = await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0)

    assert second.totals.packages_inserted == 4
    assert_same(await mirror_packages(db), source_packages(standin_backend.client))
    assert await watermark(db, "burst") == round(T + 0.001, 3)
    # The request carried the bound to the millisecond: botocore's timestamp
    # serialisation is part of the contract (whole seconds would re-read more,
    # rounding up would lose packages).
    bounds = list_bounds(standin_backend, "burst")
    assert bounds[0] is None
    assert abs(bounds[1] - (T - 0.001)) < 1e-6


async def test_lookback_is_subtracted_from_the_watermark(
    standin_backend: Backend, database_url: str
) -> None:
    registry = standin_backend.registry
    registry.create_group("g")
    registry.create_package("g", created=T)
    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=30)
    registry.create_package("g", created=round(T + 1, 3))
    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=30)
    # Both listings of the second cycle start the lookback and a millisecond before
    # what is stored: the account's from the packages cursor, then the group it
    # found something new in, from the group's watermark.
    assert abs(account_bounds(standin_backend)[1] - (T - 30.001)) < 1e-6
    assert abs(list_bounds(standin_backend, "g")[1] - (T - 30.001)) < 1e-6


async def test_a_package_visible_late_within_the_lookback_is_picked_up(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry = standin_backend.registry
    registry.create_group("ec")
    registry.create_package("ec", created=T - 5)
    late = registry.create_package("ec", created=T - 2, visible_after=3600)  # not yet listed
    registry.create_package("ec", created=T)  # created later, listed first
    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=10)
    assert await watermark(db, "ec") == T
    assert late not in await mirror_packages(db)

    registry.packages[late].visible_at = 0  # it shows up in listings now
    result = await sync_once(database_url, standin_backend.endpoint, lookback_seconds=10)

    assert result.totals.packages_inserted == 1
    assert late in await mirror_packages(db)


async def test_without_lookback_a_late_package_waits_for_the_reconcile(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    """Why the lookback exists: a bare max-creation-time watermark skips the late one."""
    registry = standin_backend.registry
    registry.create_group("ec")
    late = registry.create_package("ec", created=T - 2, visible_after=3600)
    registry.create_package("ec", created=T)
    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0)
    registry.packages[late].visible_at = 0

    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0)
    assert late not in await mirror_packages(db)
    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0, full=True)
    assert late in await mirror_packages(db)


async def test_pages_that_end_inside_a_run_of_equal_timestamps(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry = standin_backend.registry
    registry.create_group("ties")
    for _ in range(7):
        registry.create_package("ties", created=T)
    registry.create_package("ties", created=round(T + 0.001, 3))

    first = await sync_once(database_url, standin_backend.endpoint, page_size=3, lookback_seconds=0)
    assert first.totals.packages_inserted == 8

    for _ in range(2):
        registry.create_package("ties", created=round(T + 0.001, 3))
    second = await sync_once(
        database_url, standin_backend.endpoint, page_size=3, lookback_seconds=0
    )
    assert second.totals.packages_inserted == 2
    assert second.totals.packages_updated == 0
    assert_same(await mirror_packages(db), source_packages(standin_backend.client))
