"""A whole AWS Organization: accounts discovered with moto's Organizations, each
reached by assuming the member role through moto's STS, each registry written
through that account's own assumed-role client, rows read back from PostgreSQL.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import CREDENTIALS, Backend, boto_client, open_syncer
from tests.organization import (
    MANAGEMENT,
    ROLE_NAME,
    Organization,
    member_client,
    register,
    role_arn,
)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture
def organization(moto_backend: Backend) -> Organization:
    return Organization(moto_backend.endpoint)


async def mirrored(db: asyncpg.Connection) -> list[tuple[str, str, int]]:
    rows = await db.fetch(
        """SELECT account_id, model_package_group_name, count(*)::int
             FROM sagemaker.model_packages WHERE deleted_at IS NULL
            GROUP BY 1, 2 ORDER BY 1, 2"""
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_members_are_mirrored_under_their_own_account_ids(
    organization: Organization, database_url: str, db: asyncpg.Connection
) -> None:
    ml = organization.add_account("ml")
    risk = organization.add_account("risk")
    register(organization.endpoint, ml, "churn", versions=2)
    register(organization.endpoint, risk, "fraud", versions=3)

    async with open_syncer(
        database_url,
        organization.endpoint,
        organization_role_name=ROLE_NAME,
        skip_accounts=[MANAGEMENT],
    ) as syncer:
        result = await syncer.run_cycle(full=True, wait=True)

    assert result.status == "succeeded", result.errors
    assert await mirrored(db) == sorted([(ml, "churn", 2), (risk, "fraud", 3)])
    groups = await db.fetch(
        "SELECT account_id, model_package_group_arn FROM sagemaker.model_package_groups"
    )
    assert all(f":{r['account_id']}:" in r["model_package_group_arn"] for r in groups)
    state = await db.fetch(
        "SELECT DISTINCT account_id FROM sagemaker.sync_state WHERE last_success_at IS NOT NULL"
    )
    assert sorted(r[0] for r in state) == sorted([ml, risk])


async def test_skipped_account_is_not_mirrored(
    organization: Organization, database_url: str, db: asyncpg.Connection
) -> None:
    kept = organization.add_account("kept")
    skipped = organization.add_account("sandbox")
    register(organization.endpoint, kept, "kept-model")
    register(organization.endpoint, skipped, "sandbox-model")

    async with open_syncer(
        database_url,
        organization.endpoint,
        organization_role_name=ROLE_NAME,
        skip_accounts=[MANAGEMENT, skipped],
    ) as syncer:
        result = await syncer.run_cycle(full=True, wait=True)

    assert result.status == "succeeded", result.errors
    assert await mirrored(db) == [(kept, "kept-model", 1)]
    assert (
        await db.fetchval(
            "SELECT count(*) FROM sagemaker.sync_state WHERE account_id = $1", skipped
        )
        == 0
    )


async def test_only_accounts_under_the_units_nested_ones_included(
    organization: Organization, database_url: str, db: asyncpg.Connection
) -> None:
    prod = organization.add_unit("prod")
    team = organization.add_unit("team-a", parent=prod)
    dev = organization.add_unit("dev")
    direct = organization.add_account("prod-shared", parent=prod)
    nested = organization.add_account("team-a-prod", parent=team)
    elsewhere = organization.add_account("dev-1", parent=dev)
    at_root = organization.add_account("at-root")
    for account in (direct, nested, elsewhere, at_root):
        register(organization.endpoint, account, f"model-{account}")

    async with open_syncer(
        database_url,
        organization.endpoint,
        organization_role_name=ROLE_NAME,
        organization_units=[prod],
    ) as syncer:
        result = await syncer.run_cycle(full=True, wait=True)

    assert result.status == "succeeded", result.errors
    assert await mirrored(db) == sorted(
        [(direct, f"model-{direct}", 1), (nested, f"model-{nested}", 1)]
    )


async def test_account_added_between_cycles_is_mirrored_by_the_next(
    organization: Organization, database_url: str, db: asyncpg.Connection
) -> None:
    first = organization.add_account("first")
    register(organization.endpoint, first, "first-model")

    async with open_syncer(
        database_url,
        organization.endpoint,
        organization_role_name=ROLE_NAME,
        skip_accounts=[MANAGEMENT],
    ) as syncer:
        result = await syncer.run_cycle(full=True, wait=True)
        assert result.status == "succeeded", result.errors
        assert await mirrored(db) == [(first, "first-model", 1)]

        later = organization.add_account("later")
        register(organization.endpoint, later, "later-model", versions=2)
        result = await syncer.run_cycle(full=False, wait=True)

    assert result.status == "succeeded", result.errors
    assert await mirrored(db) == sorted([(first, "first-model", 1), (later, "later-model", 2)])


async def test_account_that_leaves_stops_being_synced_and_keeps_its_rows(
    organization: Organization, database_url: str, db: asyncpg.Connection
) -> None:
    staying = organization.add_account("staying")
    leaving = organization.add_account("leaving")
    register(organization.endpoint, staying, "stays")
    register(organization.endpoint, leaving, "leaves")

    async with open_syncer(
        database_url,
        organization.endpoint,
        organization_role_name=ROLE_NAME,
        skip_accounts=[MANAGEMENT],
    ) as syncer:
        assert (await syncer.run_cycle(full=True, wait=True)).status == "succeeded"
        organization.client.remove_account_from_organization(AccountId=leaving)
        result = await syncer.run_cycle(full=True, wait=True)
        assert syncer._targets is not None
        departed = syncer._targets.departed

    assert result.status == "succeeded", result.errors
    assert {t.account_id for t in departed} == {leaving}
    # Not marked deleted: leaving the organization says nothing about its models.
    assert await mirrored(db) == sorted([(staying, "stays", 1), (leaving, "leaves", 1)])
    last = await db.fetchrow(
        """SELECT max(last_success_at) FILTER (WHERE account_id = $1) AS leaving,
                  max(last_success_at) FILTER (WHERE account_id = $2) AS staying
             FROM sagemaker.sync_state""",
        leaving,
        staying,
    )
    assert last["leaving"] < last["staying"]  # the last sync recorded, not refreshed


# ---------------------------------------------------------------- a role that cannot be assumed
def _moto_auth(endpoint: str, count: str) -> None:
    """moto checks IAM policies on every request after ``count`` more (``inf``: never)."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},  # a form body would be parsed away
    )
    urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture
def enforced_iam(moto_backend: Backend) -> Iterator[str]:
    """moto enforcing IAM (it signs and authorizes every call) for the test's duration."""
    yield moto_backend.endpoint
    _moto_auth(moto_backend.endpoint, "inf")


def _deploy_policy(name: str) -> dict[str, Any]:
    return json.loads((DEPLOY / name).read_text())  # type: ignore[no-any-return]


def _grant_member_role(endpoint: str, account: str) -> None:
    """The member role with the read policy of deploy/, as the template creates it."""
    iam = member_client(endpoint, account, "iam")
    iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps({"Statement": []}))
    iam.put_role_policy(
        RoleName=ROLE_NAME,
        PolicyName="read",
        PolicyDocument=json.dumps(_deploy_policy("iam-policy.json")),
    )


def _syncer_identity(endpoint: str, policy: dict[str, Any]) -> tuple[str, str]:
    """An IAM user of the management account with ``policy``: the syncer's base credentials."""
    iam = boto_client(endpoint, "iam")
    iam.create_user(UserName="registry-sync")
    iam.put_user_policy(
        UserName="registry-sync", PolicyName="syncer", PolicyDocument=json.dumps(policy)
    )
    key = iam.create_access_key(UserName="registry-sync")["AccessKey"]
    assert (key["AccessKeyId"], key["SecretAccessKey"]) != CREDENTIALS
    return key["AccessKeyId"], key["SecretAccessKey"]


async def test_account_whose_role_cannot_be_assumed_fails_alone(
    organization: Organization, enforced_iam: str, database_url: str, db: asyncpg.Connection
) -> None:
    endpoint = organization.endpoint
    good = organization.add_account("good")
    locked = organization.add_account("locked")
    for account in (good, locked):
        register(endpoint, account, f"model-{account}")
        _grant_member_role(endpoint, account)
    # The syncer's own identity: deploy/'s syncer policy, and a Deny on one member's role.
    policy = _deploy_policy("syncer-policy.json")
    policy["Statement"].append(
        {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": role_arn(locked)}
    )
    credentials = _syncer_identity(endpoint, policy)
    _moto_auth(endpoint, "0")

    async with open_syncer(
        database_url,
        endpoint,
        credentials=credentials,
        organization_role_name=ROLE_NAME,
        skip_accounts=[MANAGEMENT],
        change_feed=False,
    ) as syncer:
        result = await syncer.run_cycle(full=True, wait=True)
        metrics = syncer._metrics

    assert result.status == "partial", result.errors
    assert await mirrored(db) == [(good, f"model-{good}", 1)]
    failed = await db.fetch(
        "SELECT account_id, scope_kind, last_error FROM sagemaker.sync_state "
        "WHERE last_error IS NOT NULL"
    )
    assert {r["account_id"] for r in failed} == {locked}
    assert all("AssumeRole" in r["last_error"] for r in failed), failed
    assert await db.fetchval(
        "SELECT last_success_at IS NOT NULL FROM sagemaker.sync_state "
        "WHERE account_id = $1 AND scope_kind = 'groups'",
        good,
    )
    assert metrics.registry.get_sample_value("syncer_targets", {"state": "failing"}) == 1
    assert metrics.registry.get_sample_value("syncer_targets", {"state": "ok"}) == 1


async def test_failed_discovery_keeps_the_last_targets_and_the_cycle_is_partial(
    organization: Organization, enforced_iam: str, database_url: str, db: asyncpg.Connection
) -> None:
    endpoint = organization.endpoint
    member = organization.add_account("member")
    register(endpoint, member, "first-model")
    _grant_member_role(endpoint, member)
    credentials = _syncer_identity(endpoint, _deploy_policy("syncer-policy.json"))
    _moto_auth(endpoint, "0")

    async with open_syncer(
        database_url,
        endpoint,
        credentials=credentials,
        organization_role_name=ROLE_NAME,
        skip_accounts=[MANAGEMENT],
        change_feed=False,
    ) as syncer:
        first = await syncer.run_cycle(full=True, wait=True)
        # Organizations now refuses the syncer; the member's role still works.
        _moto_auth(endpoint, "inf")
        boto_client(endpoint, "iam").delete_user_policy(
            UserName="registry-sync", PolicyName="syncer"
        )
        register(endpoint, member, "second-model")
        _moto_auth(endpoint, "0")
        second = await syncer.run_cycle(full=False, wait=True)

    assert first.status == "succeeded", first.errors
    assert second.status == "partial"
    [error] = second.errors
    assert error["scope"] == "(organization)"
    # moto's refusal of a JSON-protocol call is an XML body, so botocore sees only "403".
    assert error["error"].startswith("organizations:ListAccounts: "), error
    assert await mirrored(db) == [(member, "first-model", 1), (member, "second-model", 1)]
    run = await db.fetchrow(
        "SELECT status, scopes_failed, errors FROM sagemaker.sync_runs ORDER BY run_id DESC LIMIT 1"
    )
    assert run["status"] == "partial" and run["scopes_failed"] == 1
    assert "(organization)" in run["errors"]
