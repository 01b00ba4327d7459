"""Several accounts through assumed roles, several regions: each lands under its own key."""

from __future__ import annotations

import re

import asyncpg
import pytest

from standin.sagemaker import REGION, Registry, StandIn, serve_in_thread
from syncer.aws.clients import session_name
from tests.conftest import Backend, boto_client, sync_once

ROLE = "arn:aws:iam::111111111111:role/registry-reader"


async def test_assumed_role_mirrors_that_account(
    moto_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    sts = boto_client(moto_backend.endpoint, "sts")
    creds = sts.assume_role(RoleArn=ROLE, RoleSessionName="seed")["Credentials"]
    import boto3

    other = boto3.client(
        "sagemaker",
        region_name=REGION,
        endpoint_url=moto_backend.endpoint,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    other.create_model_package_group(ModelPackageGroupName="cross-account")
    other.create_model_package(
        ModelPackageGroupName="cross-account",
        InferenceSpecification={"Containers": [{"Image": "x"}]},
    )

    result = await sync_once(database_url, moto_backend.endpoint, role_arns=[ROLE])

    assert result.status == "succeeded", result.errors
    rows = await db.fetch(
        "SELECT account_id, model_package_group_name FROM sagemaker.model_packages"
    )
    assert [tuple(r) for r in rows] == [("111111111111", "cross-account")]
    state = await db.fetch("SELECT DISTINCT account_id FROM sagemaker.sync_state")
    assert [r[0] for r in state] == ["111111111111"]


async def test_each_region_is_its_own_scope(
    moto_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    import boto3

    for region in ("us-east-1", "eu-west-1"):
        client = boto3.client(
            "sagemaker",
            region_name=region,
            endpoint_url=moto_backend.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_model_package_group(ModelPackageGroupName=f"model-{region}")

    result = await sync_once(
        database_url, moto_backend.endpoint, regions=["us-east-1", "eu-west-1"]
    )

    assert result.status == "succeeded", result.errors
    rows = await db.fetch(
        "SELECT region, model_package_group_name FROM sagemaker.model_package_groups ORDER BY 1"
    )
    assert [tuple(r) for r in rows] == [
        ("eu-west-1", "model-eu-west-1"),
        ("us-east-1", "model-us-east-1"),
    ]


async def test_assume_role_sends_the_external_id_and_a_session_name_naming_the_pod(
    database_url: str, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Member accounts' CloudTrail tells deployments and replicas apart by the session
    name; a member role that requires an ExternalId gets it."""
    registry = Registry()
    registry.create_group("churn")
    registry.create_package("churn")
    standin = StandIn(registry)
    monkeypatch.setenv("POD_NAME", "registry-sync-7d9f:c4 (eu)")
    role = f"arn:aws:iam::{registry.account_id}:role/RegistryReader"
    with serve_in_thread(standin) as endpoint:
        result = await sync_once(database_url, endpoint, role_arns=[role], external_id="ext-42")
    assert result.status == "succeeded", result.errors
    assert standin.assumed, "no sts:AssumeRole"
    for call in standin.assumed:
        assert (call["RoleArn"], call["ExternalId"]) == (role, "ext-42")
        assert call["RoleSessionName"] == "registry-sync@registry-sync-7d9f-c4--eu-"
    assert await db.fetchval("SELECT count(*) FROM sagemaker.model_packages") == 1


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "registry-sync"),
        ({"HOSTNAME": "syncer-6b7c9-x2x4z"}, "registry-sync@syncer-6b7c9-x2x4z"),
        ({"HOSTNAME": "h", "POD_NAME": "p/q"}, "registry-sync@p-q"),
        ({"POD_NAME": "x" * 100}, "registry-sync@" + "x" * 50),
    ],
)
def test_session_names_follow_iams_rules(environ: dict[str, str], expected: str) -> None:
    name = session_name(environ)
    assert name == expected
    assert re.fullmatch(r"[\w+=,.@-]{2,64}", name)
