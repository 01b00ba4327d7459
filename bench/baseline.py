"""What a user would write instead: a boto3 loop over the groups, one upsert per row.

Deliberately plain and sequential, with boto3's default retries and paginators,
psycopg (v3) committing once per group, into the same table the service
fills, so that the database cost is compared like for like.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import boto3
import psycopg

from standin.sagemaker import REGION

# Inline, as such a script would have it; every value is a bind parameter.
UPSERT = """
INSERT INTO sagemaker.model_packages (
    model_package_arn, account_id, region, model_package_group_name, model_package_version,
    model_package_name, model_package_description, creation_time, model_package_status,
    model_approval_status, model_life_cycle_stage, model_life_cycle_stage_status,
    model_life_cycle_stage_description, model_package_registration_type, raw)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (model_package_arn) DO UPDATE SET
    model_package_status = excluded.model_package_status,
    model_approval_status = excluded.model_approval_status,
    model_life_cycle_stage = excluded.model_life_cycle_stage,
    model_life_cycle_stage_status = excluded.model_life_cycle_stage_status,
    model_life_cycle_stage_description = excluded.model_life_cycle_stage_description,
    raw = excluded.raw,
    last_changed_at = now()
"""


@dataclass(frozen=True)
class BaselineRun:
    seconds: float
    rows_written: int
    database_seconds: float


def _row(summary: dict[str, Any]) -> tuple[Any, ...]:
    arn = summary["ModelPackageArn"]
    _, _, _, region, account, _ = arn.split(":", 5)
    life = summary.get("ModelLifeCycle") or {}
    return (
        arn,
        account,
        region,
        summary.get("ModelPackageGroupName"),
        summary.get("ModelPackageVersion"),
        summary.get("ModelPackageName"),
        summary.get("ModelPackageDescription"),
        summary["CreationTime"],
        summary.get("ModelPackageStatus"),
        summary.get("ModelApprovalStatus"),
        life.get("Stage"),
        life.get("StageStatus"),
        life.get("StageDescription"),
        summary.get("ModelPackageRegistrationType"),
        json.dumps(summary, default=str),
    )


class _Writer:
    """Row-by-row upserts, one commit per group; counts rows and the time spent in the database."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.rows = 0
        self.seconds = 0.0

    def group(self, pages: Iterable[dict[str, Any]]) -> None:
        for page in pages:
            began = time.perf_counter()
            for summary in page["ModelPackageSummaryList"]:
                self.conn.execute(UPSERT, _row(summary))
                self.rows += 1
            self.seconds += time.perf_counter() - began
        began = time.perf_counter()
        self.conn.commit()
        self.seconds += time.perf_counter() - began


def run_baseline(database_url: str, endpoint: str, credentials: tuple[str, str]) -> BaselineRun:
    """List every group's versions and the unversioned packages; upsert each row."""
    client = boto3.client(
        "sagemaker",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=credentials[0],
        aws_secret_access_key=credentials[1],
    )
    groups = client.get_paginator("list_model_package_groups")
    packages = client.get_paginator("list_model_packages")
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn:
        writer = _Writer(conn)
        for page in groups.paginate():
            for group in page["ModelPackageGroupSummaryList"]:
                writer.group(
                    packages.paginate(ModelPackageGroupName=group["ModelPackageGroupName"])
                )
        writer.group(packages.paginate(ModelPackageType="Unversioned"))
    return BaselineRun(time.perf_counter() - started, writer.rows, writer.seconds)


def store_only(database_url: str, scopes: Iterable[list[dict[str, Any]]]) -> BaselineRun:
    """The database half alone: each scope's summaries upserted row by row, one commit each."""
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn:
        writer = _Writer(conn)
        for summaries in scopes:
            writer.group([{"ModelPackageSummaryList": summaries}])
    return BaselineRun(time.perf_counter() - started, writer.rows, writer.seconds)
