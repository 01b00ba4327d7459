"""Where each version runs: models and endpoints read by real syncs from the stand-in, the
views that answer from them, what an incremental cycle costs and sees, and the way
deployments switch off against moto, which serves no Search on models.
"""

from __future__ import annotations

import json
import math
from typing import Any

import asyncpg
from structlog.testing import capture_logs

from standin.environment import service_env
from standin.sagemaker import Faults, Registry, StandIn
from syncer.logging import configure_logging
from tests.acceptance.cli import syncer
from tests.conftest import Backend, open_syncer, sync_once

OTHER_ACCOUNT = "210987654321"
SHARED = f"arn:aws:sagemaker:us-east-1:{OTHER_ACCOUNT}:model-package/fraud-detection/7"


def deployed(registry: Registry) -> dict[str, str]:
    """Versions of two groups, an unversioned package, and six endpoints: one version
    each, a model of two containers, one of a package of another account, one made
    from no package, one of a rejected version. Returns ARNs by a short name."""
    registry.create_group("churn")
    registry.create_group("fraud")
    arn = {
        "churn1": registry.create_package("churn", approval="Approved"),
        "churn2": registry.create_package("churn"),
        "churn3": registry.create_package("churn", approval="Approved"),
        "churn4": registry.create_package("churn", approval="Rejected"),
        "fraud1": registry.create_package("fraud", approval="Approved"),
        "legacy": registry.create_package(name="legacy-scorer"),
    }
    registry.create_model("churn-v1", [{"ModelPackageName": arn["churn1"]}])
    registry.create_model(
        "churn-pipeline",
        [
            {"Image": "preprocess:1", "ModelDataUrl": "s3://m/pre.tar.gz"},
            {"ModelPackageName": "churn/2"},  # group/version, in the model's account
        ],
    )
    registry.create_model("churn-v3", [{"ModelPackageName": arn["churn3"]}])
    registry.create_model("churn-v4", [{"ModelPackageName": arn["churn4"]}])
    registry.create_model("fraud-shared", [{"ModelPackageName": SHARED}])
    registry.create_model("legacy", [{"ModelPackageName": "legacy-scorer"}])
    registry.create_model("handmade", [{"Image": "custom:1", "ModelDataUrl": "s3://m/h"}])
    registry.deploy("churn-live", "churn-v1")
    registry.deploy("churn-batch", "churn-pipeline")
    registry.deploy("churn-canary", "churn-v4")
    registry.deploy("fraud-live", "fraud-shared")
    registry.deploy("legacy", "legacy")
    registry.deploy("experiments", "handmade")
    return arn


async def fetch(db: asyncpg.Connection, sql: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await db.fetch(sql)]


def deployment_searches(standin: StandIn) -> dict[str, int]:
    """The deployments' Search calls since the counters were reset, by resource."""
    found: dict[str, int] = {}
    for op, body in standin.requests:
        if op == "Search" and body.get("Resource") in ("Model", "Endpoint"):
            found[body["Resource"]] = found.get(body["Resource"], 0) + 1
    return found


async def test_the_views_say_which_version_runs_where(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry = standin_backend.registry
    arn = deployed(registry)
    first = await sync_once(database_url, standin_backend.endpoint)
    assert first.status == "succeeded", first.errors

    containers = await fetch(
        db,
        "SELECT m.model_name, c.container_position, c.model_package_name, c.model_package_arn,"
        "       c.model_package_account_id, c.image"
        "  FROM sagemaker.model_containers c JOIN sagemaker.models m USING (model_arn)"
        " ORDER BY 1, 2",
    )
    by_model = {(c["model_name"], c["container_position"]): c for c in containers}
    assert len(by_model) == 8  # seven models, one of two containers
    assert by_model[("churn-pipeline", 0)]["model_package_arn"] is None
    assert by_model[("churn-pipeline", 0)]["image"] == "preprocess:1"
    assert by_model[("churn-pipeline", 1)]["model_package_arn"] == arn["churn2"]
    assert by_model[("legacy", 0)]["model_package_arn"] == arn["legacy"]  # a plain name
    # Of another account, not mirrored: the reference is kept, the link left empty.
    shared = by_model[("fraud-shared", 0)]
    assert (shared["model_package_name"], shared["model_package_arn"]) == (SHARED, None)
    assert shared["model_package_account_id"] == OTHER_ACCOUNT
    assert by_model[("handmade", 0)]["model_package_name"] is None

    running = await fetch(
        db,
        "SELECT endpoint_name, endpoint_status, model_name, model_package_group_name,"
        "       model_package_version, model_approval_status, model_package_arn"
        "  FROM sagemaker.deployed_model_packages ORDER BY endpoint_name",
    )
    assert [tuple(r.values())[:6] for r in running] == [
        ("churn-batch", "InService", "churn-pipeline", "churn", 2, "PendingManualApproval"),
        ("churn-canary", "InService", "churn-v4", "churn", 4, "Rejected"),
        ("churn-live", "InService", "churn-v1", "churn", 1, "Approved"),
        ("fraud-live", "InService", "fraud-shared", None, None, None),
        ("legacy", "InService", "legacy", None, None, None),
    ]
    assert running[4]["model_package_arn"] == arn["legacy"]

    unapproved = await fetch(
        db,
        "SELECT endpoint_name, model_package_version, model_approval_status,"
        "       status_since IS NOT NULL AS known,"
        "       not_approved_since = greatest(deployed_since, status_since) AS since"
        "  FROM sagemaker.unapproved_deployments ORDER BY endpoint_name",
    )
    assert [tuple(r.values()) for r in unapproved] == [
        ("churn-batch", 2, "PendingManualApproval", True, True),
        ("churn-canary", 4, "Rejected", True, True),
    ]

    undeployed = await fetch(
        db,
        "SELECT model_package_group_name, model_package_version, deployed_versions"
        "  FROM sagemaker.undeployed_approved_model_packages ORDER BY 1",
    )
    assert [tuple(r.values()) for r in undeployed] == [
        ("churn", 3, [1, 2, 4]),
        ("fraud", 1, None),  # fraud-live runs the other account's package
    ]

    foreign = await fetch(
        db,
        "SELECT endpoint_name, model_package_account_id, model_package_reference"
        "  FROM sagemaker.cross_account_deployments",
    )
    assert foreign == [
        {
            "endpoint_name": "fraud-live",
            "model_package_account_id": OTHER_ACCOUNT,
            "model_package_reference": SHARED,
        }
    ]


async def test_a_switch_shows_in_one_incremental_cycle_and_deletions_at_the_reconcile(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry, standin = standin_backend.registry, standin_backend.standin
    assert standin is not None
    arn = deployed(registry)
    async with open_syncer(database_url, standin_backend.endpoint, lookback_seconds=0) as s:
        assert (await s.run_cycle(full=False, wait=True)).status == "succeeded"

        # Nothing changed: one call, the endpoints changed since the cursor (none).
        standin.reset_counters()
        assert (await s.run_cycle(full=False, wait=True)).status == "succeeded"
        assert deployment_searches(standin) == {"Endpoint": 1}

        # churn-live moves from version 1 to version 3: seen by the next incremental
        # cycle, with two calls (the endpoint, then the models that serve it).
        registry.deploy("churn-live", "churn-v3")
        switched_at = registry.endpoints["churn-live"].modified
        standin.reset_counters()
        assert (await s.run_cycle(full=False, wait=True)).status == "succeeded"
        assert deployment_searches(standin) == {"Endpoint": 1, "Model": 1}
        live = await fetch(
            db,
            "SELECT model_name, model_package_version, deployed_since"
            "  FROM sagemaker.deployed_model_packages WHERE endpoint_name = 'churn-live'",
        )
        assert [(r["model_name"], r["model_package_version"]) for r in live] == [("churn-v3", 3)]
        assert live[0]["deployed_since"].timestamp() == switched_at
        periods = await fetch(
            db,
            "SELECT model_name, ended_at IS NOT NULL AS ended FROM sagemaker.endpoint_models"
            " WHERE endpoint_name = 'churn-live' ORDER BY endpoint_model_id",
        )
        assert [tuple(p.values()) for p in periods] == [("churn-v1", True), ("churn-v3", False)]
        assert (
            await db.fetchval(
                "SELECT count(*) FROM sagemaker.undeployed_approved_model_packages"
                " WHERE model_package_version = 3"
            )
            == 0
        )

        # Version 3 is rejected after it went out: the change feed brings it.
        registry.update_package(arn["churn3"], approval="Rejected")
        assert (await s.run_cycle(full=False, wait=True)).status == "succeeded"
        assert (
            await db.fetchval(
                "SELECT model_approval_status FROM sagemaker.unapproved_deployments"
                " WHERE endpoint_name = 'churn-live'"
            )
            == "Rejected"
        )

        # A switch that only a reconcile reads: the old model's record lists the
        # endpoint no more.
        registry.deploy("churn-canary", "churn-v1")
        assert (await s.run_cycle(full=True, wait=True)).status == "succeeded"
        canary = await fetch(
            db,
            "SELECT model_name, ended_at IS NOT NULL AS ended FROM sagemaker.endpoint_models"
            " WHERE endpoint_name = 'churn-canary' ORDER BY endpoint_model_id",
        )
        assert [tuple(p.values()) for p in canary] == [("churn-v4", True), ("churn-v1", False)]

        # Deletions wait for the reconcile: an endpoint, and a model still running.
        registry.delete_endpoint("experiments")
        registry.delete_model("legacy")
        assert (await s.run_cycle(full=False, wait=True)).status == "succeeded"
        assert (
            await db.fetchval(
                "SELECT count(*) FROM sagemaker.endpoints WHERE deleted_at IS NOT NULL"
            )
            == 0
        )
        standin.reset_counters()
        assert (await s.run_cycle(full=True, wait=True)).status == "succeeded"
        # Seven models and six endpoints: one page of each.
        assert deployment_searches(standin) == {"Endpoint": 1, "Model": 1}
        gone = await fetch(
            db,
            "SELECT 'endpoint' AS kind, endpoint_name AS name FROM sagemaker.endpoints"
            " WHERE deleted_at IS NOT NULL"
            " UNION ALL SELECT 'model', model_name FROM sagemaker.models"
            " WHERE deleted_at IS NOT NULL ORDER BY 1",
        )
        assert [tuple(g.values()) for g in gone] == [
            ("endpoint", "experiments"),
            ("model", "legacy"),
        ]
        assert (
            await db.fetchval(
                "SELECT count(*) FROM sagemaker.endpoint_models"
                " WHERE endpoint_name IN ('experiments', 'legacy') AND ended_at IS NULL"
            )
            == 0
        )

        # An unchanged reconcile rewrites no row.
        before = await row_versions(db)
        assert (await s.run_cycle(full=True, wait=True)).status == "succeeded"
        assert await row_versions(db) == before

        # An endpoint that comes back under its name is live again.
        registry.deploy("experiments", "handmade")
        assert (await s.run_cycle(full=True, wait=True)).status == "succeeded"
        assert (
            await db.fetchval(
                "SELECT deleted_at FROM sagemaker.endpoints WHERE endpoint_name = 'experiments'"
            )
            is None
        )


DEPLOYMENT_TABLES = ("models", "model_containers", "endpoints", "endpoint_models")


async def row_versions(db: asyncpg.Connection) -> dict[str, set[str]]:
    return {
        table: {
            r[0] for r in await db.fetch(f"SELECT ctid::text || xmin::text FROM sagemaker.{table}")
        }
        for table in DEPLOYMENT_TABLES
    }


async def test_a_changed_endpoints_models_are_read_again_for_the_lookback_then_not(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    """The index of models may lag behind that of endpoints: a changed endpoint's models
    are read again while the change is younger than the lookback, not after, and not
    for what a full read stored."""
    registry, standin = standin_backend.registry, standin_backend.standin
    assert standin is not None
    deployed(registry)
    async with open_syncer(database_url, standin_backend.endpoint, lookback_seconds=300) as s:
        assert (await s.run_cycle(full=False, wait=True)).status == "succeeded"
        standin.reset_counters()
        assert (await s.run_cycle(full=False, wait=True)).status == "succeeded"
        assert deployment_searches(standin) == {"Endpoint": 1}

        registry.deploy("churn-live", "churn-v3")
        for _ in range(2):  # the cycle that sees the switch, and the next one
            standin.reset_counters()
            assert (await s.run_cycle(full=False, wait=True)).status == "succeeded"
            assert deployment_searches(standin) == {"Endpoint": 1, "Model": 1}
        await db.execute(
            "UPDATE sagemaker.endpoints SET last_changed_at = now() - interval '301 seconds'"
        )
        standin.reset_counters()
        assert (await s.run_cycle(full=False, wait=True)).status == "succeeded"
        assert deployment_searches(standin) == {"Endpoint": 1}


async def test_a_reconcile_costs_a_call_per_hundred_models_and_endpoints(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    registry, standin = standin_backend.registry, standin_backend.standin
    assert standin is not None
    registry.create_group("churn")
    version = registry.create_package("churn", approval="Approved")
    models, endpoints = 250, 101
    for m in range(models):
        registry.create_model(f"model-{m:03d}", [{"ModelPackageName": version}])
    for e in range(endpoints):
        registry.deploy(f"endpoint-{e:03d}", f"model-{e:03d}")
    bound = (models + endpoints) / 100 + 2
    async with open_syncer(database_url, standin_backend.endpoint, lookback_seconds=0) as s:
        for full in (False, True):  # the first read, then a reconcile
            standin.reset_counters()
            assert (await s.run_cycle(full=full, wait=True)).status == "succeeded"
            calls = deployment_searches(standin)
            expected = {"Endpoint": math.ceil(endpoints / 100), "Model": math.ceil(models / 100)}
            assert calls == expected
            assert sum(calls.values()) <= bound
    served = await db.fetchval("SELECT count(*) FROM sagemaker.deployed_model_packages")
    assert served == endpoints


async def test_refused_searches_switch_deployments_off_and_the_cycle_succeeds_on_moto(
    moto_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    """moto serves no Search on models: ValidationException. One warning, the gauge at
    0, `syncer status` says why, the cycle succeeds; the next incremental cycle does
    not ask, and a reconcile tries again without a second warning."""
    configure_logging("INFO", "json")  # the retries are info lines
    client = moto_backend.client
    client.create_model_package_group(ModelPackageGroupName="churn")
    client.create_model_package(ModelPackageGroupName="churn", ModelApprovalStatus="Approved")
    async with open_syncer(database_url, moto_backend.endpoint) as s:
        with capture_logs() as logs:
            first = await s.run_cycle(full=False, wait=True)
        assert first.status == "succeeded", first.errors
        [warning] = [e for e in logs if e["event"] == "availability.off"]
        assert (warning["feature"], warning["code"]) == ("deployments", "ValidationException")
        assert warning["log_level"] == "warning"
        gauge = s._metrics.registry.get_sample_value(
            "syncer_feature_up",
            {"account_id": "123456789012", "region": "us-east-1", "feature": "deployments"},
        )
        assert gauge == 0
        assert await db.fetchval("SELECT count(*) FROM sagemaker.model_packages") == 1

        with capture_logs() as logs:
            second = await s.run_cycle(full=False, wait=True)
            third = await s.run_cycle(full=True, wait=True)
        assert (second.status, third.status) == ("succeeded", "succeeded")
        events = [e["event"] for e in logs if e.get("feature") == "deployments"]
        assert events == ["availability.retry", "availability.still_off"]

    off = await db.fetchrow(
        "SELECT reason, off_until - off_since AS off_for FROM sagemaker.feature_availability"
        " WHERE feature = 'deployments' AND off_until IS NOT NULL"
    )
    assert off is not None and "ValidationException" in off["reason"]
    assert off["off_for"].total_seconds() >= 3599
    report = syncer("status", "--json", env=service_env(database_url, moto_backend.endpoint))
    assert report.returncode == 0, report.stderr
    [shown] = [
        r for r in json.loads(report.stdout)["switched_off"] if r["feature"] == "deployments"
    ]
    assert "ValidationException" in shown["reason"]


async def test_denied_on_models_only_switches_off_and_back_on_at_the_reconcile(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    standin = standin_backend.standin
    assert standin is not None
    deployed(standin_backend.registry)
    standin.faults = Faults(deny_operations={"Search:Model"})
    first = await sync_once(database_url, standin_backend.endpoint)
    assert first.status == "succeeded", first.errors
    reason = await db.fetchval(
        "SELECT reason FROM sagemaker.feature_availability WHERE feature = 'deployments'"
    )
    assert "AccessDeniedException" in reason
    # No full read completed: the views claim nothing about this account.
    assert await db.fetchval("SELECT count(*) FROM sagemaker.endpoint_models") == 0
    assert (
        await db.fetchval("SELECT count(*) FROM sagemaker.undeployed_approved_model_packages") == 0
    )

    standin.faults = Faults()
    again = await sync_once(database_url, standin_backend.endpoint, full=True)
    assert again.status == "succeeded"
    assert (
        await db.fetchval(
            "SELECT count(*) FROM sagemaker.feature_availability"
            " WHERE feature = 'deployments' AND off_until IS NOT NULL"
        )
        == 0
    )
    assert await db.fetchval("SELECT count(*) FROM sagemaker.deployed_model_packages") == 5


async def test_a_failure_that_is_no_refusal_is_kept_in_deployments_state_and_switches_nothing_off(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    standin = standin_backend.standin
    assert standin is not None
    deployed(standin_backend.registry)
    standin.faults = Faults(deny_operations={"Search:Endpoint"}, deny_code="ResourceLimitExceeded")
    with capture_logs() as logs:
        first = await sync_once(database_url, standin_backend.endpoint)
    assert first.status == "succeeded", first.errors
    [failed] = [e for e in logs if e["event"] == "deployments.failed"]
    assert "ResourceLimitExceeded" in failed["error"]
    error = await db.fetchval("SELECT last_error FROM sagemaker.deployments_state")
    assert "ResourceLimitExceeded" in error
    assert await db.fetchval("SELECT count(*) FROM sagemaker.feature_availability") == 0
    assert await db.fetchval("SELECT count(*) FROM sagemaker.endpoints") == 0

    standin.faults = Faults()
    again = await sync_once(database_url, standin_backend.endpoint, full=True)
    assert again.status == "succeeded"
    assert await db.fetchval("SELECT last_error FROM sagemaker.deployments_state") is None
    assert await db.fetchval("SELECT count(*) FROM sagemaker.deployed_model_packages") == 5
