"""The documented questions (docs/querying.md) run against a mirror filled by real syncs.

The registry below has what the questions ask about: approvals decided between
two syncs (one with a note, by someone else than the creator), a version sent
back to pending, life-cycle stages, a deleted version and a deleted group, an
unversioned package, team tags on groups, a version with metrics and a commit,
endpoints (one moved to the newly approved version, which a pipeline run
produced; one serving a version rejected after it went out). Every query must
run and return rows, so the documentation cannot drift from the schema.
"""

from __future__ import annotations

import time

import asyncpg

from standin.queries import documented_queries
from standin.sagemaker import Registry, default_governance
from tests.conftest import Backend, sync_once

DAY = 86_400.0
PRODUCTION = {"Stage": "Production", "StageStatus": "Approved"}
# A version registered by a pipeline with its evaluation and its commit.
EVALUATED = {
    "ModelMetrics": {
        "ModelQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": "s3://eval/churn/1.json"}
        }
    },
    "CustomerMetadataProperties": {"git_commit": "9f2c1ab"},
}
STAGING = {"Stage": "Staging", "StageStatus": "Approved"}
# What a SageMaker pipeline records on the version it registers.
LINEAGE = {
    "MetadataProperties": {
        "GeneratedBy": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/churn/execution/7f3a",
        "CommitId": "9f2c1ab",
        "Repository": "https://git.example.com/churn",
    }
}


def ago(days: float) -> float:
    """An epoch timestamp `days` back, at the registry's millisecond precision."""
    return round(time.time() - days * DAY, 3)


def seed_registry(registry: Registry) -> dict[str, str]:
    """The first state of the registry; returns ARNs by a short name."""
    arn = seed_packages(registry)
    registry.create_model("churn-v1", [{"ModelPackageName": arn["churn1"]}])
    registry.create_model("churn-v4", [{"ModelPackageName": arn["churn4"]}])
    registry.deploy("churn-live", "churn-v1")
    registry.deploy("churn-canary", "churn-v4")
    return arn


def seed_packages(registry: Registry) -> dict[str, str]:
    registry.create_group(
        "customer-churn", "Churn propensity, retrained monthly", ago(90), tags={"team": "growth"}
    )
    registry.create_group("fraud-detection", "Card fraud scores", ago(90), tags={"team": "risk"})
    registry.create_group(
        "demand-forecast", "Weekly demand per store", ago(30), tags={"team": "supply"}
    )
    registry.create_group("ranking-experiment", "Abandoned experiment", ago(60))
    return {
        "churn1": registry.create_package(
            "customer-churn",
            approval="Approved",
            created=ago(60),
            life_cycle=PRODUCTION,
            created_by="ana",
            governance={**default_governance("churn/1"), **EVALUATED},
        ),
        "churn2": registry.create_package(
            "customer-churn", approval="Approved", created=ago(40), created_by="ana"
        ),
        "churn3": registry.create_package("customer-churn", created=ago(10)),
        "churn4": registry.create_package("customer-churn", created=ago(3)),
        "churn5": registry.create_package("customer-churn", created=ago(1)),
        "fraud1": registry.create_package("fraud-detection", approval="Rejected", created=ago(50)),
        "fraud2": registry.create_package("fraud-detection", created=ago(20)),
        "fraud3": registry.create_package("fraud-detection", approval="Approved", created=ago(15)),
        "demand1": registry.create_package("demand-forecast", created=ago(5)),
        "ranking1": registry.create_package("ranking-experiment", created=ago(55)),
        "legacy": registry.create_package(name="legacy-scorer", created=ago(200)),
    }


def change_registry(registry: Registry, arn: dict[str, str]) -> None:
    """What happens between the two syncs: decisions, a stage change, deletions."""
    registry.update_package(
        arn["churn3"],
        approval="Approved",
        by="maria",
        approval_description="AUC 0.91 on May",
        governance=LINEAGE,
    )
    registry.update_package(arn["churn4"], approval="Rejected")  # after it went out
    registry.create_model("churn-v3", [{"ModelPackageName": arn["churn3"]}])
    registry.deploy("churn-live", "churn-v3")
    registry.update_package(arn["churn2"], life_cycle=STAGING)
    registry.update_package(arn["fraud1"], approval="PendingManualApproval")
    registry.delete_package(arn["fraud3"])
    registry.delete_package(arn["ranking1"])
    registry.delete_group("ranking-experiment")


async def seed_mirror(backend: Backend, database_url: str) -> dict[str, str]:
    """Two syncs with changes in between; the second a full reconcile."""
    arn = seed_registry(backend.registry)
    first = await sync_once(database_url, backend.endpoint)
    change_registry(backend.registry, arn)
    second = await sync_once(database_url, backend.endpoint, full=True)
    assert (first.status, second.status) == ("succeeded", "succeeded"), second.errors
    return arn


def test_the_section_has_seventeen_questions_each_with_its_query() -> None:
    queries = documented_queries()
    assert len(queries) == 17, [q for q, _ in queries]
    assert all(sql.lstrip().upper().startswith("SELECT") for _, sql in queries)


async def test_every_readme_query_returns_rows_on_a_synced_mirror(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    await seed_mirror(standin_backend, database_url)

    empty = []
    for question, sql in documented_queries():
        rows = await db.fetch(sql)
        if not rows:
            empty.append(question)
    assert not empty, f"documented queries that return nothing on the seeded mirror: {empty}"
