"""What someone who controls the registry, or the endpoint, can make the service do.

- Anyone who may create a group chooses label values of /metrics (its name)
  and their number: SYNCER_SCOPE_METRICS=false keeps one series per account
  and region for all its groups.
- An endpoint answers for one target with records of another account or
  region: they are dropped, with one line, wherever they are parsed.
- Size bombs: a response body is not read past its cap, a record over its
  cap (or with too many tags) is skipped with its ARN, the reason and a metric.
"""

from __future__ import annotations

import io
import json

import asyncpg
from prometheus_client import generate_latest

from standin.sagemaker import Regions, Registry, StandIn, serve_in_thread
from syncer.aws.responses import MAX_RESPONSE_BYTES
from syncer.cycle.metrics import ALL_GROUPS
from syncer.logging import configure_logging
from syncer.models import MAX_RECORD_BYTES, MAX_TAGS, OVERSIZED
from tests.conftest import open_syncer, sync_once

T0 = 1_767_225_600.0  # 2026-01-01, far outside any lookback


async def test_without_scope_metrics_no_group_name_is_a_label_and_the_aggregates_stay(
    database_url: str,
) -> None:
    registry = Registry()
    names = [f"attacker-chosen-{i}" for i in range(30)]
    for name in names:
        registry.create_group(name)
        registry.create_package(name)
    scraped = {}
    with serve_in_thread(StandIn(registry)) as endpoint:
        for per_scope in (True, False):
            async with open_syncer(database_url, endpoint, scope_metrics=per_scope) as syncer:
                result = await syncer.run_cycle(full=True, wait=True)
                assert result.status == "succeeded", result.errors
                scraped[per_scope] = generate_latest(syncer._metrics.registry).decode()

    assert all(f'scope="{name}"' in scraped[True] for name in names)
    aggregated = scraped[False]
    assert not any(name in aggregated for name in names)
    for family in (
        "syncer_watermark_lag_seconds",
        "syncer_scope_last_success_timestamp_seconds",
        "syncer_scope_consecutive_failures",
    ):
        series = [line for line in aggregated.splitlines() if line.startswith(family + "{")]
        assert any(f'scope="{ALL_GROUPS}"' in line for line in series), (family, series)
        # At most (groups), (packages), (unversioned), (changes) and (all groups).
        assert len(series) <= 5, series


# ---------------------------------------------------------------- records tied to their target
async def test_a_record_of_another_region_is_dropped_by_the_listings_the_feed_and_the_details(
    database_url: str, db: asyncpg.Connection
) -> None:
    """Two regions behind one endpoint; us-east-1's answers carry eu-west-1's package,
    which it then reports Rejected by a forged modifier."""
    real = Registry(region="eu-west-1")
    real.create_group("churn", created=T0)
    arn = real.create_package("churn", created=T0 + 1, created_by="ana")
    forged = Registry(region="eu-west-1")  # served as us-east-1
    forged.create_group("churn", created=T0)
    assert forged.create_package("churn", created=T0 + 1, created_by="mallory") == arn
    regions = Regions({"us-east-1": StandIn(forged), "eu-west-1": StandIn(real)})
    log = io.StringIO()
    configure_logging("INFO", "json", stream=log)
    settings = {"regions": ["us-east-1", "eu-west-1"], "lookback_seconds": 0}
    with serve_in_thread(regions) as endpoint:
        first = await sync_once(database_url, endpoint, full=True, **settings)
        forged.update_package(arn, approval="Rejected", by="mallory", approval_description="x")
        second = await sync_once(database_url, endpoint, **settings)
    assert first.status == second.status == "succeeded", (first.errors, second.errors)

    rows = await db.fetch("SELECT region, model_approval_status FROM sagemaker.model_packages")
    assert [tuple(r) for r in rows] == [("eu-west-1", "PendingManualApproval")]
    groups = await db.fetch("SELECT region FROM sagemaker.model_package_groups")
    assert [r[0] for r in groups] == ["eu-west-1"]
    history = await db.fetch(
        "SELECT change_type, region FROM sagemaker.model_package_changes ORDER BY change_id"
    )
    assert [tuple(h) for h in history] == [("created", "eu-west-1")]
    details = await db.fetchrow(
        "SELECT created_by_user_profile, last_modified_by_user_profile"
        " FROM sagemaker.model_package_details WHERE model_package_arn = $1",
        arn,
    )
    assert details is not None and "mallory" not in str(tuple(details))
    group_details = await db.fetch("SELECT record::text FROM sagemaker.model_package_group_details")
    assert group_details and all("mallory" not in r[0] for r in group_details)
    # One line per page that dropped some, naming the ARN and why.
    skipped = [
        json.loads(line)
        for line in log.getvalue().splitlines()
        if '"source.items_skipped"' in line and "us-east-1" in line
    ]
    assert skipped and all("not of the target" in s["reason"] for s in skipped)
    assert any(s["sample_arn"] == arn for s in skipped)


# ---------------------------------------------------------------- size bombs
async def test_records_too_large_are_skipped_by_name_and_a_huge_response_is_not_read(
    database_url: str, db: asyncpg.Connection
) -> None:
    """A 1 MB description, 300 tags, then 10 MB of customer metadata: what AWS's own
    field limits rule out, and a buggy or hostile endpoint can still send."""
    registry = Registry()
    registry.create_group("churn", created=T0)
    fine = registry.create_package("churn", created=T0 + 1)
    long = registry.create_package("churn", created=T0 + 2, description="d" * 1_000_000)
    tagged = registry.create_package(
        "churn", created=T0 + 3, tags={f"k{i}": "v" for i in range(MAX_TAGS + 100)}
    )
    before = dict(OVERSIZED)
    log = io.StringIO()
    configure_logging("INFO", "json", stream=log)
    standin = StandIn(registry)
    with serve_in_thread(standin) as endpoint:
        first = await sync_once(
            database_url, endpoint, full=True, change_feed=False, deployments=False
        )
        bomb = registry.create_package(
            "churn",
            created=T0 + 4,
            governance={"CustomerMetadataProperties": {"blob": "x" * 10_000_000}},
        )
        standin.reset_counters()
        second = await sync_once(
            database_url, endpoint, full=True, change_feed=False, deployments=False
        )
    assert first.status == second.status == "succeeded", (first.errors, second.errors)
    # The groups' page, and the packages' page over the cap: not retried, it would
    # be the same again (and retried, such bodies added up in memory).
    assert standin.calls["Search"] == 2

    listed = {
        r[0] for r in await db.fetch("SELECT model_package_arn FROM sagemaker.model_packages")
    }
    assert listed == {fine, tagged, bomb}  # the long summary skipped, the others stored
    largest = await db.fetchval("SELECT max(pg_column_size(raw)) FROM sagemaker.model_packages")
    assert largest < MAX_RECORD_BYTES
    details = {
        r[0]
        for r in await db.fetch("SELECT model_package_arn FROM sagemaker.model_package_details")
    }
    assert details == {fine}  # long: its record; tagged: its tags; bomb: the response
    error = await db.fetchval("SELECT last_error FROM sagemaker.details_state")
    assert f"over the {MAX_RESPONSE_BYTES}-byte limit" in error, error

    skipped = [
        json.loads(line) for line in log.getvalue().splitlines() if '"source.items_skipped"' in line
    ]
    reasons = {(e[0], e[1].split(",")[0]) for s in skipped for e in s["examples"]}
    assert any(arn == long and "bytes" in why for arn, why in reasons), reasons
    assert any(arn == tagged and f"{MAX_TAGS + 100} tags" in why for arn, why in reasons)
    assert OVERSIZED["record"] >= before.get("record", 0) + 2  # the summary, the record
    assert OVERSIZED["tags"] >= before.get("tags", 0) + 1
