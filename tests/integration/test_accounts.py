"""Several accounts through assumed roles, several regions: each lands under its own key."""

from __future__ import annotations

import asyncpg

from standin.sagemaker import REGION
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
