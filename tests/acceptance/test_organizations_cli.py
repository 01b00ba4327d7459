"""`syncer check`, `once` and `status` with discovery, as a user runs them (moto's
Organizations and STS), and a misspelt variable named instead of ignored."""

from __future__ import annotations

import json

import asyncpg

from standin.environment import service_env
from tests.acceptance.cli import syncer
from tests.conftest import Backend
from tests.organization import MANAGEMENT, ROLE_NAME, Organization, register, role_arn


async def test_check_and_status_list_the_discovered_targets(
    moto_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    organization = Organization(moto_backend.endpoint)
    ml = organization.add_account("ml")
    risk = organization.add_account("risk")
    register(moto_backend.endpoint, ml, "churn")
    env = service_env(
        database_url,
        moto_backend.endpoint,
        SYNCER_ORGANIZATION_ROLE_NAME=ROLE_NAME,
        SYNCER_SKIP_ACCOUNTS=MANAGEMENT,
    )

    check = syncer("check", env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "ok    organization: 2 account(s) x 1 region(s) = 2 target(s)" in check.stdout
    assert f"ok    sagemaker {ml}/us-east-1 as {role_arn(ml)}: listed 1 group(s)" in check.stdout
    assert f"ok    sagemaker {risk}/us-east-1 as {role_arn(risk)}: listed 0 group(s)" in (
        check.stdout
    )

    assert syncer("once", env=env).returncode == 0
    status = syncer("status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    targets = json.loads(status.stdout)["targets"]
    assert targets["targets"] == [
        {"account_id": a, "region": "us-east-1", "role_arn": role_arn(a), "state": "ok"}
        for a in sorted([ml, risk])
    ]
    text = syncer("status", env=env).stdout
    assert [ml, "us-east-1", "ok", role_arn(ml)] in [line.split() for line in text.splitlines()]

    # The account leaves: the mirror keeps it, status says it is no longer a target.
    organization.client.remove_account_from_organization(AccountId=ml)
    targets = json.loads(syncer("status", "--json", env=env).stdout)["targets"]
    assert [t["account_id"] for t in targets["targets"]] == [risk]
    assert targets["not_targeted"] == [{"account_id": ml, "region": "us-east-1"}]
    assert await db.fetchval("SELECT count(*) FROM sagemaker.model_packages") == 1


def test_a_misspelt_variable_is_named_with_the_right_one(
    moto_backend: Backend, database_url: str
) -> None:
    env = service_env(database_url, moto_backend.endpoint, SYNCER_ORGANISATION_ROLE_NAME=ROLE_NAME)
    warning = (
        "SYNCER_ORGANISATION_ROLE_NAME is not a registry-sync setting and is ignored; "
        "did you mean SYNCER_ORGANIZATION_ROLE_NAME?"
    )

    check = syncer("check", env=env)
    assert f"WARN  {warning}" in check.stdout.splitlines()

    once = syncer("once", env=env)
    warnings = [json.loads(line) for line in once.stderr.splitlines() if "unknown_variable" in line]
    assert [(w["level"], w["message"]) for w in warnings] == [("warning", warning)]
