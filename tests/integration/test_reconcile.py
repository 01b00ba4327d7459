"""Convergence: after a full cycle, mutable fields equal the source, vanished rows carry
deleted_at (never removed), rows that come back are un-deleted, and every observed
change is in sagemaker.model_package_changes.
"""

from __future__ import annotations

import asyncpg

from standin.mirror import (
    assert_same,
    mirror_groups,
    mirror_packages,
    source_groups,
    source_packages,
)
from standin.sagemaker import Faults
from tests.conftest import Backend, sync_once


async def changes(db: asyncpg.Connection) -> list[tuple[str, str | None, str | None]]:
    rows = await db.fetch(
        "SELECT model_package_arn, change_type, old_value, new_value"
        " FROM sagemaker.model_package_changes WHERE change_type <> 'created' ORDER BY change_id"
    )
    return [(r["change_type"], r["old_value"], r["new_value"]) for r in rows]


async def test_approval_changes_converge_on_full_cycle_against_moto_and_standin(
    backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    client = backend.client
    client.create_model_package_group(ModelPackageGroupName="churn")
    arns = [
        client.create_model_package(
            ModelPackageGroupName="churn",
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={"Containers": [{"Image": "x"}]},
        )["ModelPackageArn"]
        for _ in range(3)
    ]
    await sync_once(database_url, backend.endpoint)

    client.update_model_package(ModelPackageArn=arns[0], ModelApprovalStatus="Approved")
    client.update_model_package(ModelPackageArn=arns[1], ModelApprovalStatus="Rejected")
    result = await sync_once(database_url, backend.endpoint, full=True)

    assert result.status == "succeeded"
    assert result.totals.packages_updated == 2
    assert_same(await mirror_packages(db), source_packages(client))
    assert await changes(db) == [
        ("model_approval_status", "PendingManualApproval", "Approved"),
        ("model_approval_status", "PendingManualApproval", "Rejected"),
    ]
    latest = await db.fetchval(
        "SELECT model_package_version FROM sagemaker.latest_approved_model_packages"
    )
    assert latest == 1


async def test_revoked_approval_and_life_cycle_stage_converge(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry = standin_backend.registry
    registry.create_group("fraud")
    v1 = registry.create_package("fraud", approval="Approved")
    v2 = registry.create_package("fraud", approval="Approved", registration_type="Registered")
    await sync_once(database_url, standin_backend.endpoint)
    assert (
        await db.fetchval(
            "SELECT model_package_version FROM sagemaker.latest_approved_model_packages"
        )
        == 2
    )

    registry.update_package(v2, approval="Rejected")
    registry.update_package(v1, life_cycle={"Stage": "Production", "StageStatus": "Approved"})
    await sync_once(database_url, standin_backend.endpoint, full=True)

    assert_same(await mirror_packages(db), source_packages(standin_backend.client))
    assert (
        await db.fetchval(
            "SELECT model_package_version FROM sagemaker.latest_approved_model_packages"
        )
        == 1
    )
    assert sorted(await changes(db), key=str) == sorted(
        [
            ("model_approval_status", "Approved", "Rejected"),
            ("model_life_cycle_stage", None, "Production"),
            ("model_life_cycle_stage_status", None, "Approved"),
        ],
        key=str,
    )


async def test_deleted_packages_are_marked_then_unmarked_when_they_return(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry = standin_backend.registry
    registry.create_group("churn")
    arns = [registry.create_package("churn", approval="Approved") for _ in range(4)]
    standalone = registry.create_package(name="legacy")
    await sync_once(database_url, standin_backend.endpoint)

    registry.delete_package(arns[3])
    registry.delete_package(standalone)
    incremental = await sync_once(database_url, standin_backend.endpoint)
    assert incremental.totals.packages_deleted == 0  # an incremental listing proves nothing
    # Packages created within the lookback are spared (see the next test); these are older.
    full = await sync_once(database_url, standin_backend.endpoint, full=True, lookback_seconds=0)
    assert full.totals.packages_deleted == 2

    rows = await db.fetch(
        "SELECT model_package_arn FROM sagemaker.model_packages WHERE deleted_at IS NOT NULL"
    )
    assert {r[0] for r in rows} == {arns[3], standalone}
    assert await db.fetchval("SELECT count(*) FROM sagemaker.model_packages") == 5  # kept
    assert (
        await db.fetchval(
            "SELECT model_package_version FROM sagemaker.latest_approved_model_packages"
        )
        == 3
    )

    # Re-registering version 4 under the same ARN is a reappearance.
    registry.groups["churn"].next_version = 4
    assert registry.create_package("churn", approval="Approved") == arns[3]
    await sync_once(database_url, standin_backend.endpoint)
    assert (
        await db.fetchval(
            "SELECT deleted_at FROM sagemaker.model_packages WHERE model_package_arn = $1", arns[3]
        )
        is None
    )
    kinds = [c[0] for c in await changes(db)]
    assert kinds.count("deleted") == 2 and kinds.count("reappeared") == 1


async def test_a_vanished_group_is_marked_with_its_packages(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry = standin_backend.registry
    for name in ("keep", "drop"):
        registry.create_group(name)
        for _ in range(2):
            registry.create_package(name)
    await sync_once(database_url, standin_backend.endpoint)

    for arn in [a for a, p in registry.packages.items() if p.group == "drop"]:
        registry.delete_package(arn)
    registry.delete_group("drop")
    # A reconcile lists the groups in full: the one gone goes with its packages.
    result = await sync_once(database_url, standin_backend.endpoint, full=True)

    assert result.totals.groups_deleted == 1
    assert_same(await mirror_groups(db), source_groups(standin_backend.client))
    assert_same(await mirror_packages(db), source_packages(standin_backend.client))
    assert (
        await db.fetchval(
            "SELECT count(*) FROM sagemaker.model_packages"
            " WHERE model_package_group_name = 'drop' AND deleted_at IS NOT NULL"
        )
        == 2
    )

    # Re-created under the same name: its new version 1 (the ARN of the old one)
    # is found new by an incremental cycle, listed, and un-deleted.
    registry.create_group("drop")
    registry.create_package("drop")
    await sync_once(database_url, standin_backend.endpoint)
    live = await db.fetch(
        "SELECT model_package_version FROM sagemaker.model_packages"
        " WHERE model_package_group_name = 'drop' AND deleted_at IS NULL"
    )
    assert [r[0] for r in live] == [1]
    assert (
        await db.fetchval(
            "SELECT deleted_at FROM sagemaker.model_package_groups WHERE model_package_group_name = 'drop'"
        )
        is None
    )


async def test_a_group_re_created_with_a_new_arn_is_swept_before_it_is_listed(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    """A group that replaces a live one of the same name: the reconcile's group sweep
    retires the old versions before its listing stores the new ones (same ARNs)."""
    registry = standin_backend.registry
    for name in ("a", "b", "c"):
        registry.create_group(name)
        for _ in range(2):
            registry.create_package(name)
    await sync_once(database_url, standin_backend.endpoint, page_size=1)

    for arn in [a for a, p in registry.packages.items() if p.group == "b"]:
        registry.delete_package(arn)
    registry.delete_group("b")
    registry.create_group("b")
    registry.groups["b"].arn += "-2"  # a registry whose group ARNs are not the name alone
    again = registry.create_package("b")
    for name in ("d", "e", "f"):  # group pages after b's
        registry.create_group(name)
    assert standin_backend.standin is not None
    standin_backend.standin.faults = Faults(latency_seconds=0.2)
    result = await sync_once(
        database_url, standin_backend.endpoint, full=True, page_size=1, change_feed=False
    )

    assert result.status == "succeeded", result.errors
    assert_same(await mirror_groups(db), source_groups(standin_backend.client))
    assert_same(await mirror_packages(db), source_packages(standin_backend.client))
    history = await db.fetch(
        "SELECT change_type FROM sagemaker.model_package_changes"
        " WHERE model_package_arn = $1 ORDER BY change_id",
        again,
    )
    assert [r[0] for r in history] == ["created", "deleted", "reappeared"]


async def test_a_failed_listing_marks_nothing_deleted(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry = standin_backend.registry
    registry.create_group("flaky")
    arns = [registry.create_package("flaky") for _ in range(5)]
    await sync_once(database_url, standin_backend.endpoint)

    registry.delete_package(arns[0])
    # The account's listing breaks after its first page: what it saw is stored,
    # nothing is swept.
    assert standin_backend.standin is not None
    standin_backend.standin.faults = Faults(repeat_token_for={"(account)"})
    result = await sync_once(database_url, standin_backend.endpoint, full=True, page_size=2)

    assert result.status == "failed" or result.totals.scopes_failed == 1
    assert (
        await db.fetchval(
            "SELECT count(*) FROM sagemaker.model_packages WHERE deleted_at IS NOT NULL"
        )
        == 0
    )
    error = await db.fetchval(
        "SELECT last_error FROM sagemaker.sync_state WHERE scope_kind = 'packages'"
    )
    assert "NextToken repeated" in error

    standin_backend.standin.faults = Faults()
    healed = await sync_once(database_url, standin_backend.endpoint, full=True, lookback_seconds=0)
    assert healed.status == "succeeded"
    assert_same(await mirror_packages(db), source_packages(standin_backend.client))


async def test_group_listing_failure_sweeps_no_group(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry = standin_backend.registry
    for name in ("a", "b"):
        registry.create_group(name)
        registry.create_package(name)
    await sync_once(database_url, standin_backend.endpoint)
    registry.delete_package(next(a for a, p in registry.packages.items() if p.group == "b"))
    registry.delete_group("b")

    assert standin_backend.standin is not None
    standin_backend.standin.faults = Faults(repeat_token_for={"(groups)"})
    result = await sync_once(database_url, standin_backend.endpoint, page_size=1)

    assert result.totals.scopes_failed == 1
    assert (
        await db.fetchval(
            "SELECT count(*) FROM sagemaker.model_package_groups WHERE deleted_at IS NOT NULL"
        )
        == 0
    )


async def test_recently_created_packages_absent_from_a_listing_are_not_yet_deleted(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    """The list API is eventually consistent: absence within the lookback proves nothing."""
    import time

    registry = standin_backend.registry
    registry.create_group("g")
    old = registry.create_package("g", created=round(time.time() - 3600, 3))
    new = registry.create_package("g")
    await sync_once(database_url, standin_backend.endpoint)
    registry.delete_package(old)
    registry.delete_package(new)

    await sync_once(database_url, standin_backend.endpoint, full=True, lookback_seconds=600)

    deleted = await db.fetch(
        "SELECT model_package_arn FROM sagemaker.model_packages WHERE deleted_at IS NOT NULL"
    )
    assert [r[0] for r in deleted] == [old]
