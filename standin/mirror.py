"""Read the source (through boto3) and the mirror (through SQL) into comparable rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from standin.sagemaker import Registry

PACKAGE_COLUMNS = (
    "model_package_arn",
    "account_id",
    "region",
    "model_package_group_name",
    "model_package_version",
    "model_package_name",
    "model_package_description",
    "creation_time",
    "model_package_status",
    "model_approval_status",
    "model_life_cycle_stage",
    "model_life_cycle_stage_status",
    "model_life_cycle_stage_description",
    "model_package_registration_type",
)


def _paginate(client: Any, method: str, key: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        call = dict(params, MaxResults=100)
        if token:
            call["NextToken"] = token
        response = getattr(client, method)(**call)
        items.extend(response[key])
        token = response.get("NextToken")
        if not token:
            return items


def source_packages(client: Any, include_unversioned: bool = True) -> dict[str, dict[str, Any]]:
    """Every package the source lists, as expected mirror rows keyed by ARN."""
    rows: dict[str, dict[str, Any]] = {}
    groups = _paginate(client, "list_model_package_groups", "ModelPackageGroupSummaryList")
    summaries = []
    for group in groups:
        summaries += _paginate(
            client,
            "list_model_packages",
            "ModelPackageSummaryList",
            ModelPackageGroupName=group["ModelPackageGroupName"],
        )
    if include_unversioned:
        summaries += _paginate(
            client, "list_model_packages", "ModelPackageSummaryList", ModelPackageType="Unversioned"
        )
    for s in summaries:
        arn = s["ModelPackageArn"]
        life = s.get("ModelLifeCycle") or {}
        rows[arn] = {
            "model_package_arn": arn,
            "account_id": arn.split(":")[4],
            "region": arn.split(":")[3],
            "model_package_group_name": s.get("ModelPackageGroupName"),
            "model_package_version": s.get("ModelPackageVersion"),
            "model_package_name": s.get("ModelPackageName"),
            "model_package_description": s.get("ModelPackageDescription"),
            "creation_time": s["CreationTime"],
            "model_package_status": s.get("ModelPackageStatus"),
            "model_approval_status": s.get("ModelApprovalStatus"),
            "model_life_cycle_stage": life.get("Stage"),
            "model_life_cycle_stage_status": life.get("StageStatus"),
            "model_life_cycle_stage_description": life.get("StageDescription"),
            "model_package_registration_type": s.get("ModelPackageRegistrationType"),
        }
    return rows


def source_groups(client: Any) -> dict[str, dict[str, Any]]:
    groups = _paginate(client, "list_model_package_groups", "ModelPackageGroupSummaryList")
    return {
        g["ModelPackageGroupArn"]: {
            "model_package_group_arn": g["ModelPackageGroupArn"],
            "model_package_group_name": g["ModelPackageGroupName"],
            "model_package_group_description": g.get("ModelPackageGroupDescription"),
            "creation_time": g["CreationTime"],
            "model_package_group_status": g.get("ModelPackageGroupStatus"),
        }
        for g in groups
    }


async def mirror_packages(
    conn: asyncpg.Connection, live_only: bool = True
) -> dict[str, dict[str, Any]]:
    where = "WHERE deleted_at IS NULL" if live_only else ""
    rows = await conn.fetch(
        f"SELECT {', '.join(PACKAGE_COLUMNS)} FROM sagemaker.model_packages {where}"
    )
    return {r["model_package_arn"]: dict(r) for r in rows}


async def mirror_groups(
    conn: asyncpg.Connection, live_only: bool = True
) -> dict[str, dict[str, Any]]:
    where = "WHERE deleted_at IS NULL" if live_only else ""
    rows = await conn.fetch(
        "SELECT model_package_group_arn, model_package_group_name, model_package_group_description,"
        f" creation_time, model_package_group_status FROM sagemaker.model_package_groups {where}"
    )
    return {r["model_package_group_arn"]: dict(r) for r in rows}


def assert_same(mirror: dict[str, dict[str, Any]], source: dict[str, dict[str, Any]]) -> None:
    """Equal key sets and, per row, equal fields.

    Timestamps agree to the microsecond, give or take the one microsecond that
    boto3 can lose turning an epoch float into a datetime.
    """
    missing = sorted(set(source) - set(mirror))
    extra = sorted(set(mirror) - set(source))
    assert not missing, f"{len(missing)} rows missing from the mirror, e.g. {missing[:3]}"
    assert not extra, f"{len(extra)} rows in the mirror but not the source, e.g. {extra[:3]}"
    for key, expected in source.items():
        got = mirror[key]
        for column, value in expected.items():
            actual = got[column]
            if isinstance(value, datetime):
                assert abs((actual - value).total_seconds()) <= 2e-6, (key, column, actual, value)
            else:
                assert actual == value, (key, column, actual, value)


# Each scope's watermark beside the newest creation_time it holds: a watermark
# must never run ahead of the rows stored with it.
WATERMARKS = """
SELECT s.scope_kind, s.model_package_group_name, s.watermark,
       (SELECT max(p.creation_time) FROM sagemaker.model_packages p
         WHERE p.account_id = s.account_id AND p.region = s.region
           AND p.model_package_group_name IS NOT DISTINCT FROM
               nullif(s.model_package_group_name, '')) AS newest
  FROM sagemaker.sync_state s
 WHERE s.scope_kind IN ('group', 'unversioned')
"""


async def stored_prefix(
    db: asyncpg.Connection, registry: Registry, group: str, page: int | None = None
) -> int:
    """The group's rows are its oldest versions (whole pages of ``page``, or all of
    them), and its watermark is the newest of them (or none): what a listing that
    stopped between pages leaves. Returns how many are stored."""
    source = sorted(
        (p for p in registry.packages.values() if p.group == group), key=lambda p: p.created
    )
    rows = await db.fetch(
        "SELECT model_package_arn, creation_time FROM sagemaker.model_packages"
        " WHERE model_package_group_name = $1 ORDER BY creation_time",
        group,
    )
    assert [r["model_package_arn"] for r in rows] == [p.arn for p in source[: len(rows)]]
    if page is not None:
        assert len(rows) % page == 0 or len(rows) == len(source), (group, len(rows))
    watermark = await db.fetchval(
        "SELECT watermark FROM sagemaker.sync_state"
        " WHERE scope_kind = 'group' AND model_package_group_name = $1",
        group,
    )
    assert watermark == (rows[-1]["creation_time"] if rows else None), group
    return len(rows)
