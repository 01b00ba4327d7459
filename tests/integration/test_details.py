"""Governance details from Search records: backfill, the change feed, reconciles, who and why.

Against the stand-in (details only in Search and Describe records, never in
list summaries) and moto (Search gives CreatedBy, no Tags, and no
LastModifiedBy until a package is first updated). Every test reads the rows
back from PostgreSQL.
"""

from __future__ import annotations

import io
import json
from typing import Any

import asyncpg
import pytest

from standin.sagemaker import Faults, Registry, StandIn
from syncer.cli import _print_switched_off
from syncer.details.sync import DETAILS_WINDOWS
from syncer.logging import configure_logging
from syncer.warehouse.status import read_status
from syncer.warehouse.store import Store
from tests.conftest import Backend, sync_once

T0 = 1_767_225_600.0  # 2026-01-01, far outside any lookback

METRICS = {
    "ModelQuality": {
        "Statistics": {"ContentType": "application/json", "S3Uri": "s3://m/quality.json"}
    },
    "Bias": {"Report": {"ContentType": "application/json", "S3Uri": "s3://m/bias.json"}},
}
BASELINES = {
    "ModelQuality": {
        "Constraints": {"ContentType": "application/json", "S3Uri": "s3://m/constraints.json"}
    }
}


def standin_of(backend: Backend) -> StandIn:
    assert backend.standin is not None
    return backend.standin


def package_searches(standin: StandIn) -> int:
    """Search calls on packages (the feed's and the details'), not the deployments'."""
    return sum(
        1
        for op, body in standin.requests
        if op == "Search" and body.get("Resource") == "ModelPackage"
    )


def search_calls(standin: StandIn, resource: str = "ModelPackage") -> list[dict[str, Any]]:
    """The details reads (Search by CreationTime), not the change feed's."""
    return [
        body
        for op, body in standin.requests
        if op == "Search"
        and body.get("Resource") == resource
        and body.get("SortBy") == "CreationTime"
    ]


def fill(registry: Registry, groups: int, versions: int) -> list[str]:
    arns = []
    for g in range(groups):
        name = f"team-{g}"
        registry.create_group(name, created=T0 + g, tags={"team": f"t{g % 2}"}, created_by="ana")
        for v in range(versions):
            arns.append(
                registry.create_package(
                    name, created=round(T0 + 100 + g * 1000 + v, 3), created_by=f"dev{v % 3}"
                )
            )
    return arns


async def details_rows(db: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    rows = await db.fetch("SELECT * FROM sagemaker.model_package_details")
    return {r["model_package_arn"]: r for r in rows}


# ---------------------------------------------------------------- backfill
async def test_a_first_sync_fills_every_package_and_group_in_about_n_over_100_calls(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry, standin = standin_backend.registry, standin_of(standin_backend)
    arns = fill(registry, groups=3, versions=110)
    special = registry.create_package(
        "team-0",
        created=T0 + 50_000,
        tags={"team": "t0", "cost-center": "42"},
        governance={
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": "img:1",
                        "ModelDataUrl": "s3://a/model.tar.gz",
                        "Environment": {"API_KEY": "secret-value"},
                    },
                    {"Image": "img:2", "ModelDataSource": {"S3DataSource": {"S3Uri": "s3://b/"}}},
                ]
            },
            "CustomerMetadataProperties": {"git_commit": "abc123"},
            "ModelMetrics": METRICS,
            "DriftCheckBaselines": BASELINES,
            "SourceUri": "s3://source",
            "Domain": "MACHINE_LEARNING",
            "Task": "CLASSIFICATION",
            "ModelCard": {"ModelCardStatus": "Draft", "ModelCardContent": '{"secret": "kms"}'},
        },
    )

    result = await sync_once(database_url, standin_backend.endpoint)

    assert result.status == "succeeded", result.errors
    # 331 packages: 4 pages, read in windows halved as they go (a first sync knows
    # no creation time to split at), each of which may end on a partly filled page;
    # the groups: 1 page.
    assert 4 <= len(search_calls(standin)) <= 4 + DETAILS_WINDOWS - 1
    assert len(search_calls(standin, "ModelPackageGroup")) == 1
    rows = await details_rows(db)
    assert set(rows) == {*arns, special}
    first = rows[arns[0]]
    assert first["created_by_user_profile"] == "dev0"
    assert first["created_by_arn"].endswith(":assumed-role/SageMakerUser/dev0")
    assert first["model_data_urls"] == ["s3://standin-models/team-0/1/model.tar.gz"]
    assert (first["has_model_metrics"], first["tags"]) == (False, "{}")

    s = rows[special]
    assert s["image_uris"] == ["img:1", "img:2"]
    assert s["model_data_urls"] == ["s3://a/model.tar.gz", "s3://b/"]
    assert json.loads(s["tags"]) == {"team": "t0", "cost-center": "42"}
    assert json.loads(s["customer_metadata"]) == {"git_commit": "abc123"}
    assert (s["has_model_metrics"], sorted(s["model_metrics_s3_uris"])) == (
        True,
        ["s3://m/bias.json", "s3://m/quality.json"],
    )
    assert (s["has_drift_check_baselines"], s["drift_check_baselines_s3_uris"]) == (
        True,
        ["s3://m/constraints.json"],
    )
    assert (s["source_uri"], s["domain"], s["task"]) == (
        "s3://source",
        "MACHINE_LEARNING",
        "CLASSIFICATION",
    )
    assert s["model_card_status"] == "Draft"
    # Neither the card's content nor container environments are stored.
    assert "secret" not in s["record"] and "ModelCardContent" not in s["record"]
    assert "Environment" not in s["record"]
    # The summaries stay as listed: no details in raw.
    raw = await db.fetchval(
        "SELECT raw::text FROM sagemaker.model_packages WHERE model_package_arn = $1", special
    )
    assert "CreatedBy" not in raw and "Tags" not in raw

    groups = await db.fetch(
        "SELECT model_package_group_name, created_by, tags->>'team' AS team"
        " FROM sagemaker.model_package_group_governance ORDER BY 1"
    )
    assert [tuple(g) for g in groups] == [
        ("team-0", "arn:aws:sts::123456789012:assumed-role/SageMakerUser/ana", "t0"),
        ("team-1", "arn:aws:sts::123456789012:assumed-role/SageMakerUser/ana", "t1"),
        ("team-2", "arn:aws:sts::123456789012:assumed-role/SageMakerUser/ana", "t0"),
    ]

    # Everything filled, no reconcile due: no details call, and no row written.
    standin.reset_counters()
    quiet = await sync_once(database_url, standin_backend.endpoint)
    assert quiet.status == "succeeded"
    assert search_calls(standin) == [] and search_calls(standin, "ModelPackageGroup") == []
    assert package_searches(standin) == 1  # the change feed's own call


async def test_a_backfill_is_spread_over_cycles_and_resumes_where_it_stopped(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    """One page a cycle (10 requests/s x 1 s x 10 %): each `once` is a new process."""
    registry, standin = standin_backend.registry, standin_of(standin_backend)
    arns = fill(registry, groups=1, versions=250)
    # Without the feed, which would bring the newest packages' details (at no call).
    budget = {"max_requests_per_second": 10, "interval_seconds": 1, "change_feed": False}

    counts = []
    for _ in range(4):
        standin.reset_counters()
        result = await sync_once(database_url, standin_backend.endpoint, **budget)
        assert result.status == "succeeded", result.errors
        counts.append((len(search_calls(standin)), len(await details_rows(db))))
    # A resumed read starts at the stored cursor's second (re-reading its last
    # record), not at the beginning; then nothing is left to read.
    assert counts == [(1, 100), (1, 199), (1, 250), (0, 250)]
    assert set(await details_rows(db)) == set(arns)


@pytest.mark.parametrize("ranges", ["applied", "ignored"])
async def test_a_reconcile_rereads_details_in_windows_side_by_side(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection, ranges: str
) -> None:
    """Windows where the mirror's packages are, in whole seconds; a Search that ignores
    range filters (moto's) is found out by an empty window, and read in one go."""
    registry, standin = standin_backend.registry, standin_of(standin_backend)
    arns = fill(registry, groups=2, versions=700)
    await sync_once(database_url, standin_backend.endpoint, concurrency=4)
    assert set(await details_rows(db)) == set(arns)
    standin.faults = Faults(search_blind=ranges == "ignored")
    standin.reset_counters()
    await db.execute("DELETE FROM sagemaker.model_package_details")

    result = await sync_once(database_url, standin_backend.endpoint, full=True, concurrency=4)

    assert result.status == "succeeded", result.errors
    assert set(await details_rows(db)) == set(arns)
    calls = search_calls(standin)
    windows = [c for c in calls if c.get("SearchExpression") and "NextToken" not in c]
    unbounded = [c for c in calls if not c.get("SearchExpression")]
    if ranges == "applied":
        # 1,400 packages in windows of whole pages: about 14 calls, none unbounded.
        assert len(windows) >= 3 and not unbounded
        assert len(calls) <= 1400 // 100 + len(windows)
    else:
        # Empty windows where the mirror has packages, then one read from the start.
        assert len(unbounded) == 1400 // 100
        assert len(calls) <= 2 * (1400 // 100) + len(windows)


# ---------------------------------------------------------------- kept current
async def test_the_feed_keeps_details_current_and_records_who_approved_and_why(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry, standin = standin_backend.registry, standin_of(standin_backend)
    v1, v2 = fill(registry, groups=1, versions=2)
    await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0)

    registry.update_package(
        v1, approval="Approved", by="maria", approval_description="passed the fairness review"
    )
    new = registry.create_package("team-0", created_by="dev9")
    standin.reset_counters()
    result = await sync_once(database_url, standin_backend.endpoint, lookback_seconds=0)

    assert result.status == "succeeded"
    assert search_calls(standin) == [] and package_searches(standin) == 1  # the feed alone
    rows = await details_rows(db)
    assert rows[v1]["approval_description"] == "passed the fairness review"
    assert rows[v1]["last_modified_by_user_profile"] == "maria"
    assert rows[new]["created_by_user_profile"] == "dev9"
    history = await db.fetch(
        "SELECT model_package_arn, to_status, last_modified_by, approval_description"
        " FROM sagemaker.approval_history WHERE change_type = 'model_approval_status'"
    )
    assert [tuple(h) for h in history] == [
        (
            v1,
            "Approved",
            "arn:aws:sts::123456789012:assumed-role/SageMakerUser/maria",
            "passed the fairness review",
        )
    ]
    assert rows[v2]["approval_description"] is None


async def test_tag_edits_that_do_not_move_last_modified_time_converge_at_the_reconcile(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry, standin = standin_backend.registry, standin_of(standin_backend)
    arns = fill(registry, groups=2, versions=3)
    await sync_once(database_url, standin_backend.endpoint)
    registry.tag_package(arns[0], {"team": "payments"})

    await sync_once(database_url, standin_backend.endpoint)
    rows = await details_rows(db)
    assert json.loads(rows[arns[0]]["tags"]) == {}  # the feed cannot see it

    standin.reset_counters()
    full = await sync_once(database_url, standin_backend.endpoint, full=True)
    assert full.status == "succeeded"
    assert len(search_calls(standin)) == 1  # 6 packages: one page
    assert len(search_calls(standin, "ModelPackageGroup")) == 1
    rows = await details_rows(db)
    assert json.loads(rows[arns[0]]["tags"]) == {"team": "payments"}
    changed = await db.fetch(
        "SELECT model_package_arn FROM sagemaker.model_package_details"
        " WHERE fetched_at > (SELECT max(started_at) FROM sagemaker.sync_runs)"
    )
    assert [r[0] for r in changed] == [arns[0]]  # the others were not rewritten


# ---------------------------------------------------------------- switched off, denied
async def test_details_off_makes_no_call_stores_nothing_and_records_no_identity(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry, standin = standin_backend.registry, standin_of(standin_backend)
    v1, _ = fill(registry, groups=1, versions=2)
    await sync_once(database_url, standin_backend.endpoint, details=False, lookback_seconds=0)
    registry.update_package(v1, approval="Approved", by="maria", approval_description="ok")
    await sync_once(database_url, standin_backend.endpoint, details=False, lookback_seconds=0)

    assert search_calls(standin) == [] and search_calls(standin, "ModelPackageGroup") == []
    assert await db.fetchval("SELECT count(*) FROM sagemaker.model_package_details") == 0
    assert await db.fetchval("SELECT count(*) FROM sagemaker.model_package_group_details") == 0
    who = await db.fetch(
        "SELECT last_modified_by, approval_description FROM sagemaker.approval_history"
        " WHERE change_type = 'model_approval_status'"
    )
    assert [tuple(w) for w in who] == [(None, None)]


@pytest.mark.parametrize("refused", ["deny", "reject"])
async def test_a_refused_search_switches_details_off_for_a_while_as_the_feed_is(
    standin_backend: Backend,
    database_url: str,
    db: asyncpg.Connection,
    capsys: pytest.CaptureFixture[str],
    refused: str,
) -> None:
    """AccessDenied (the role) or ValidationException (a Search resource not served):
    one warning, off until the reconcile, shown by `syncer status`; the rest of the
    cycle as without details."""
    registry, standin = standin_backend.registry, standin_of(standin_backend)
    fill(registry, groups=2, versions=3)
    standin.faults = Faults(**{f"{refused}_operations": {"Search"}})
    code = "AccessDeniedException" if refused == "deny" else "ValidationException"
    log = io.StringIO()
    configure_logging("INFO", "json", stream=log)

    result = await sync_once(
        database_url, standin_backend.endpoint, change_feed=False, deployments=False
    )

    assert result.status == "succeeded" and result.totals.packages_inserted == 6
    assert result.errors == []
    assert await db.fetchval("SELECT count(*) FROM sagemaker.model_package_details") == 0
    off = await db.fetchrow(
        "SELECT reason, off_until - off_since AS span FROM sagemaker.feature_availability"
        " WHERE feature = 'details' AND off_until IS NOT NULL"
    )
    assert off is not None and code in off["reason"] and off["span"].total_seconds() >= 3599
    assert await db.fetchval("SELECT count(*) FROM sagemaker.details_state") == 0

    # `syncer status` says so.
    async with Store.open(database_url, max_size=2) as store:
        report = await read_status(store)
    _print_switched_off(report["switched_off"])
    shown = capsys.readouterr().out
    assert "details" in shown and code in shown

    # Off for a while: the next cycles make no details call and warn no more.
    standin.reset_counters()
    for _ in range(2):
        await sync_once(
            database_url, standin_backend.endpoint, change_feed=False, deployments=False
        )
    assert standin.calls["Search"] == 0
    warnings = [json.loads(line) for line in log.getvalue().splitlines()]
    off_events = [w for w in warnings if w.get("event") == "availability.off"]
    assert [w["feature"] for w in off_events] == ["details"]
    assert not [w for w in warnings if w.get("event") == "details.failed"]

    # The reconcile tries again; answered, it is on and the details filled.
    standin.faults = Faults()
    await sync_once(
        database_url, standin_backend.endpoint, change_feed=False, deployments=False, full=True
    )
    assert await db.fetchval("SELECT count(*) FROM sagemaker.model_package_details") == 6
    assert (
        await db.fetchval(
            "SELECT count(*) FROM sagemaker.feature_availability WHERE off_until IS NOT NULL"
        )
        == 0
    )


# ---------------------------------------------------------------- moto
async def test_moto_search_records_fill_creators_without_tags_and_modifiers_after_an_update(
    moto_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    client = moto_backend.client
    client.create_model_package_group(ModelPackageGroupName="churn")
    arns = [
        client.create_model_package(
            ModelPackageGroupName="churn",
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": "img:1", "ModelDataUrl": "s3://bucket/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            CustomerMetadataProperties={"git_commit": "abc"},
        )["ModelPackageArn"]
        for _ in range(2)
    ]
    first = await sync_once(database_url, moto_backend.endpoint)
    assert first.status == "succeeded", first.errors
    rows = await details_rows(db)
    assert set(rows) == set(arns)
    for arn in arns:
        row = rows[arn]
        assert row["tags"] is None  # moto's Search leaves Tags out
        assert row["last_modified_by_arn"] is None and row["last_modified_time"] is None
        assert row["image_uris"] == ["img:1"]
        assert row["model_data_urls"] == ["s3://bucket/model.tar.gz"]
        assert json.loads(row["customer_metadata"]) == {"git_commit": "abc"}
    assert all("CreatedBy" in json.loads(rows[a]["record"]) for a in arns)  # moto sends one

    client.update_model_package(
        ModelPackageArn=arns[0], ModelApprovalStatus="Approved", ApprovalDescription="ok"
    )
    # moto's Search cannot filter on LastModifiedTime: the reconcile's re-read brings it.
    full = await sync_once(database_url, moto_backend.endpoint, full=True)
    assert full.status == "succeeded", full.errors
    row = (await details_rows(db))[arns[0]]
    assert row["approval_description"] == "ok"
    assert row["last_modified_time"] is not None
