"""`syncer status [--json]` as a user runs it: what it reports is what the database holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from standin.environment import service_env
from standin.sagemaker import ACCOUNT, REGION, Faults, Registry, StandIn, serve_in_thread
from tests.acceptance.cli import syncer

BASE_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.fixture
def registry() -> Registry:
    # Created long ago: a full listing may then mark a vanished one deleted (the
    # newest, within the lookback, are spared for eventual consistency).
    r = Registry()
    created = iter(range(BASE_TIME, BASE_TIME + 100))
    for name, versions in (("churn", 3), ("fraud", 2), ("broken", 1)):
        r.create_group(name, created=next(created))
        for _ in range(versions):
            r.create_package(name, approval="Approved", created=next(created))
    r.create_package(name="standalone", created=next(created))
    return r


@pytest.fixture
def endpoint(registry: Registry) -> Iterator[str]:
    with serve_in_thread(StandIn(registry, Faults(fail_groups={"broken"}))) as url:
        yield url


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


async def test_status_json_matches_the_database(
    database_url: str, endpoint: str, registry: Registry, db: asyncpg.Connection
) -> None:
    env = service_env(database_url, endpoint, SYNCER_MAX_ATTEMPTS="1")
    assert syncer("once", env=env).returncode == 1  # listing "broken" fails
    fraud_v1 = next(p.arn for p in registry.packages.values() if p.group == "fraud")
    registry.delete_package(fraud_v1)
    # The reconcile lists every group's packages at once: "broken" too.
    assert syncer("once", "--full", env=env).returncode == 0
    registry.create_package("broken", approval="Approved")
    assert syncer("once", env=env).returncode == 1  # new in "broken": listing it fails

    done = syncer("status", "--json", env=env)
    lag_now = {
        (r["scope_kind"], r["model_package_group_name"]): r["lag"]
        for r in await db.fetch(
            "SELECT scope_kind, model_package_group_name,"
            " extract(epoch FROM now() - watermark)::float8 AS lag FROM sagemaker.sync_state"
        )
    }
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)

    state = await db.fetch("SELECT * FROM sagemaker.sync_state")
    by_key = {(r["scope_kind"], r["model_package_group_name"]): r for r in state}
    assert (
        {(s["scope_kind"], s["model_package_group_name"]) for s in report["scopes"]}
        == set(by_key)
        == {
            ("groups", ""),
            ("changes", ""),
            ("packages", ""),
            ("group", "churn"),
            ("group", "fraud"),
            ("group", "broken"),
            ("unversioned", ""),
        }
    )
    for scope in report["scopes"]:
        key = (scope["scope_kind"], scope["model_package_group_name"])
        row = by_key[key]
        assert (scope["account_id"], scope["region"]) == (ACCOUNT, REGION)
        for column in ("watermark", "last_success_at", "last_full_success_at", "last_error_at"):
            assert when(scope[column]) == row[column], (key, column)
        assert scope["last_error"] == row["last_error"]
        assert scope["consecutive_failures"] == row["consecutive_failures"]
        if row["watermark"] is None:
            assert scope["lag_seconds"] is None
        else:  # computed by the database when status ran, a moment before lag_now
            assert 0 <= lag_now[key] - scope["lag_seconds"] < 30, key

    broken = next(s for s in report["scopes"] if s["model_package_group_name"] == "broken")
    assert "InternalFailure" in broken["last_error"] and broken["consecutive_failures"] == 1
    assert broken["watermark"] is not None and broken["last_success_at"] is not None

    totals = await db.fetchrow(
        "SELECT"
        " (SELECT count(*) FROM sagemaker.model_package_groups WHERE deleted_at IS NULL) AS groups,"
        " (SELECT count(*) FROM sagemaker.model_package_groups WHERE deleted_at IS NOT NULL) AS groups_deleted,"
        " (SELECT count(*) FROM sagemaker.model_packages WHERE deleted_at IS NULL) AS packages,"
        " (SELECT count(*) FROM sagemaker.model_packages WHERE deleted_at IS NOT NULL) AS packages_deleted,"
        " (SELECT count(*) FROM sagemaker.model_package_changes) AS changes"
    )
    assert report["totals"] == dict(totals)
    assert report["totals"]["packages"] == 6 and report["totals"]["packages_deleted"] == 1

    runs = await db.fetch("SELECT * FROM sagemaker.sync_runs ORDER BY run_id DESC")
    assert (
        [(r["run_id"], r["mode"], r["status"]) for r in report["runs"]]
        == [(r["run_id"], r["mode"], r["status"]) for r in runs]
        == [(3, "incremental", "partial"), (2, "full", "succeeded"), (1, "incremental", "partial")]
    )
    for shown, row in zip(report["runs"], runs, strict=True):
        assert when(shown["finished_at"]) == row["finished_at"]
        for column in ("packages_inserted", "packages_deleted", "api_calls", "scopes_failed"):
            assert shown[column] == row[column], column


async def test_status_text_shows_each_scope_totals_and_runs(
    database_url: str, endpoint: str, db: asyncpg.Connection
) -> None:
    env = service_env(database_url, endpoint, SYNCER_MAX_ATTEMPTS="1")
    assert syncer("once", env=env).returncode == 1

    done = syncer("status", env=env)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "groups 3 (+0 deleted), packages 6 (+0 deleted), changes 6"
    scope_lines = {line.split()[0]: line for line in lines if line.startswith(f"{ACCOUNT}/")}
    assert set(scope_lines) == {
        f"{ACCOUNT}/{REGION}/{name}"
        for name in ("(groups)", "(changes)", "churn", "fraud", "broken", "(unversioned)")
    }
    assert "InternalFailure" in scope_lines[f"{ACCOUNT}/{REGION}/broken"]
    watermark = await db.fetchval(
        "SELECT watermark FROM sagemaker.sync_state WHERE model_package_group_name = 'churn'"
    )
    assert watermark.isoformat(timespec="seconds") in scope_lines[f"{ACCOUNT}/{REGION}/churn"]
    [run] = [line for line in lines if line.split()[:1] == ["1"]]
    assert run.split()[1:3] == ["incremental", "partial"]
    assert "+6 ~0 -0" in run and "failed 1" in run


async def test_status_on_a_database_without_the_schema_is_one_line_exit_2(
    empty_database_url: str, endpoint: str
) -> None:
    done = syncer("status", env=service_env(empty_database_url, endpoint))

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "has no registry-sync schema yet; run `syncer migrate`" in done.stderr
    conn = await asyncpg.connect(empty_database_url)
    try:  # status writes nothing, not even the migrations table
        assert await conn.fetchval("SELECT to_regnamespace('sagemaker')") is None
    finally:
        await conn.close()
