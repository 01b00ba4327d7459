"""Completeness: after `once`, the mirror equals what the source lists, field by field.

Every test here runs against moto's server and against our stand-in; the
first and second syncs also through PgBouncer in transaction mode.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import asyncpg
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from standin.mirror import (
    assert_same,
    mirror_groups,
    mirror_packages,
    source_groups,
    source_packages,
)
from standin.sagemaker import JSON_11, REGION
from syncer.service import open_store
from tests.conftest import CREDENTIALS, Backend, Route, make_settings, sync_once

# Page boundaries at 100: empty, one, one short, exact, one over, several pages.
GROUP_SIZES = {
    "empty": 0,
    "one": 1,
    "page-minus-one": 99,
    "page": 100,
    "page-plus-one": 101,
    "pages": 250,
}
INFERENCE = {"Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1"}]}


def seed(client, sizes: dict[str, int], unversioned: int = 3) -> None:
    statuses = ["Approved", "Rejected", "PendingManualApproval"]
    for name, count in sizes.items():
        client.create_model_package_group(
            ModelPackageGroupName=name, ModelPackageGroupDescription=f"{name} group"
        )
        for i in range(count):
            client.create_model_package(
                ModelPackageGroupName=name,
                ModelPackageDescription=f"{name} v{i + 1}",
                ModelApprovalStatus=statuses[i % 3],
                InferenceSpecification=INFERENCE,
            )
    for i in range(unversioned):
        client.create_model_package(
            ModelPackageName=f"standalone-{i}",
            ModelPackageDescription="unversioned",
            InferenceSpecification=INFERENCE,
        )


async def test_first_sync_mirrors_every_package_and_group(
    backend: Backend, route: Route, db: asyncpg.Connection
) -> None:
    seed(backend.client, GROUP_SIZES)

    result = await sync_once(route.url, backend.endpoint, **route.settings)

    assert result.status == "succeeded", result.errors
    source = source_packages(backend.client)
    assert len(source) == sum(GROUP_SIZES.values()) + 3
    assert_same(await mirror_packages(db), source)
    assert_same(await mirror_groups(db), source_groups(backend.client))
    assert result.totals.packages_inserted == len(source)


@pytest.mark.parametrize("writers", [1, 5])
async def test_any_number_of_database_writers_mirrors_everything(
    writers: int, backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    """SYNCER_DATABASE_CONNECTIONS sizes the pool (writers + cycle lock + the rest)
    apart from the listing concurrency; scopes queue for a writer and lose nothing."""
    seed(backend.client, {"one": 1, "pages": 250, "page": 100})
    settings = make_settings(database_url, database_connections=writers)
    async with open_store(settings) as store:
        assert store.pool.get_max_size() == writers + 2

    result = await sync_once(
        database_url, backend.endpoint, database_connections=writers, concurrency=8
    )

    assert result.status == "succeeded", result.errors
    assert_same(await mirror_packages(db), source_packages(backend.client))


def _on_the_wire(endpoint: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """A response body as the server sent it: a signed request (moto routes by the
    signature's service), with no SDK parsing the answer."""
    request = AWSRequest(
        "POST",
        endpoint,
        data=json.dumps(body).encode(),
        headers={"X-Amz-Target": f"SageMaker.{operation}", "Content-Type": JSON_11},
    )
    SigV4Auth(Credentials(*CREDENTIALS), "sagemaker", REGION).add_auth(request)
    prepared = request.prepare()
    sent = urllib.request.Request(
        prepared.url, data=prepared.body, headers=dict(prepared.headers), method="POST"
    )
    with urllib.request.urlopen(sent, timeout=30) as response:
        return json.load(response)  # type: ignore[no-any-return]


async def test_raw_is_each_summary_exactly_as_the_wire_carried_it(
    backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    """Every key the server sent, those botocore's model does not know included,
    with its value as sent (timestamps as epoch seconds)."""
    seed(backend.client, {"one": 2}, unversioned=1)
    if backend.kind == "standin":
        package = next(iter(backend.registry.packages.values()))
        package.extra["ModelPackageFieldAddedLater"] = {"Nested": [1, "two"]}
    await sync_once(database_url, backend.endpoint)

    listed = [
        *_on_the_wire(backend.endpoint, "ListModelPackages", {"ModelPackageGroupName": "one"})[
            "ModelPackageSummaryList"
        ],
        *_on_the_wire(backend.endpoint, "ListModelPackages", {"ModelPackageType": "Unversioned"})[
            "ModelPackageSummaryList"
        ],
    ]
    groups = _on_the_wire(backend.endpoint, "ListModelPackageGroups", {})[
        "ModelPackageGroupSummaryList"
    ]
    packages = await db.fetch("SELECT model_package_arn, raw FROM sagemaker.model_packages")
    stored_groups = await db.fetch(
        "SELECT model_package_group_arn, raw FROM sagemaker.model_package_groups"
    )
    assert {r["model_package_arn"]: json.loads(r["raw"]) for r in packages} == {
        item["ModelPackageArn"]: item for item in listed
    }
    assert {r["model_package_group_arn"]: json.loads(r["raw"]) for r in stored_groups} == {
        item["ModelPackageGroupArn"]: item for item in groups
    }
    if backend.kind == "standin":
        assert any("ModelPackageFieldAddedLater" in item for item in listed)


async def test_second_sync_picks_up_exactly_the_new_packages(
    backend: Backend, route: Route, db: asyncpg.Connection
) -> None:
    seed(backend.client, {"alpha": 120, "beta": 5}, unversioned=2)
    first = await sync_once(route.url, backend.endpoint, **route.settings)
    assert first.totals.packages_inserted == 127

    for _ in range(3):
        backend.client.create_model_package(
            ModelPackageGroupName="alpha", InferenceSpecification=INFERENCE
        )
    backend.client.create_model_package_group(ModelPackageGroupName="gamma")
    backend.client.create_model_package(
        ModelPackageGroupName="gamma", InferenceSpecification=INFERENCE
    )
    backend.client.create_model_package(
        ModelPackageName="late-standalone", InferenceSpecification=INFERENCE
    )

    second = await sync_once(route.url, backend.endpoint, **route.settings)

    assert second.status == "succeeded"
    assert second.totals.packages_inserted == 5
    assert second.totals.packages_updated == 0
    assert_same(await mirror_packages(db), source_packages(backend.client))
    created = await db.fetchval(
        "SELECT count(*) FROM sagemaker.model_package_changes WHERE change_type = 'created'"
    )
    assert created == 132


async def test_unchanged_cycle_rewrites_no_row(
    backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    seed(backend.client, {"alpha": 150, "beta": 3})
    await sync_once(database_url, backend.endpoint)
    tables = ("model_packages", "model_package_groups", "model_package_changes")

    async def versions() -> dict[str, list[tuple[str, str]]]:
        return {
            t: [
                tuple(r)
                for r in await db.fetch(
                    f"SELECT ctid::text, xmin::text FROM sagemaker.{t} ORDER BY 1"
                )
            ]
            for t in tables
        }

    before = await versions()
    incremental = await sync_once(database_url, backend.endpoint)
    full = await sync_once(database_url, backend.endpoint, full=True)

    assert await versions() == before
    for result in (incremental, full):
        assert result.status == "succeeded"
        assert result.totals.packages_inserted == result.totals.packages_updated == 0
        assert result.totals.packages_deleted == 0


async def test_group_name_filter_limits_the_mirror(
    backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    seed(backend.client, {"team-a-churn": 2, "team-b-fraud": 3}, unversioned=1)
    await sync_once(
        database_url, backend.endpoint, group_name_contains="team-a", include_unversioned=False
    )
    names = await db.fetch("SELECT DISTINCT model_package_group_name FROM sagemaker.model_packages")
    assert [r[0] for r in names] == ["team-a-churn"]
    assert await db.fetchval("SELECT count(*) FROM sagemaker.model_packages") == 2


@pytest.mark.parametrize("page_size", [1, 7])
async def test_small_pages_follow_next_token_to_the_end(
    backend: Backend, database_url: str, db: asyncpg.Connection, page_size: int
) -> None:
    seed(backend.client, {"alpha": 15}, unversioned=2)
    result = await sync_once(database_url, backend.endpoint, page_size=page_size)
    assert result.status == "succeeded"
    assert_same(await mirror_packages(db), source_packages(backend.client))
