"""The analyst's side of the mirror: documented objects, views that answer right, the
common filters served by an index, and the dbt source definition matching the schema.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import yaml

from tests.conftest import Backend
from tests.integration.test_readme_queries import LINEAGE, seed_mirror

SOURCES_YML = Path(__file__).resolve().parents[2] / "deploy" / "dbt" / "models" / "sources.yml"
# The service's own bookkeeping: applied migrations, and which replica leads.
NOT_A_DBT_SOURCE = {"schema_migrations", "cycle_leases"}

RELATIONS = """
SELECT c.relname, c.relkind::text AS relkind, obj_description(c.oid, 'pg_class') AS comment
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'sagemaker' AND c.relkind IN ('r', 'p', 'v', 'm')
 ORDER BY c.relname
"""

COLUMNS = """
SELECT c.relname, a.attname, col_description(c.oid, a.attnum) AS comment
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = 'sagemaker' AND c.relkind IN ('r', 'p', 'v', 'm')
 ORDER BY c.relname, a.attnum
"""


# ---------------------------------------------------------------- documentation
async def test_every_table_view_and_column_has_a_comment(db: asyncpg.Connection) -> None:
    relations = await db.fetch(RELATIONS)
    kinds = {r["relname"]: r["relkind"] for r in relations}
    assert kinds["model_packages"] == "r"
    assert kinds["model_package_groups_overview"] == "v"
    assert kinds["approval_history"] == "v"
    bare = [r["relname"] for r in relations if not (r["comment"] or "").strip()]
    assert not bare, f"relations without COMMENT: {bare}"

    columns = await db.fetch(COLUMNS)
    assert len(columns) > 80
    bare = [f"{r['relname']}.{r['attname']}" for r in columns if not (r["comment"] or "").strip()]
    assert not bare, f"columns without COMMENT: {bare}"


# ---------------------------------------------------------------- view answers
async def rows(db: asyncpg.Connection, sql: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await db.fetch(sql)]


async def test_views_answer_from_a_synced_mirror(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    arn = await seed_mirror(standin_backend, database_url)

    latest = await rows(
        db,
        "SELECT model_package_group_name, model_package_version, model_package_arn"
        " FROM sagemaker.latest_approved_model_packages",
    )
    # churn 3 was approved between the syncs; fraud's only approved version was deleted.
    assert latest == [
        {
            "model_package_group_name": "customer-churn",
            "model_package_version": 3,
            "model_package_arn": arn["churn3"],
        }
    ]

    pending = await rows(
        db,
        "SELECT model_package_arn, pending_since = creation_time AS since_creation,"
        " waiting_for >= interval '0' AS waiting FROM sagemaker.pending_approvals",
    )
    assert {r["model_package_arn"]: r["since_creation"] for r in pending} == {
        arn["churn5"]: True,
        arn["fraud2"]: True,
        arn["demand1"]: True,
        arn["fraud1"]: False,  # sent back to pending: pending since that change
    }
    assert all(r["waiting"] for r in pending)

    overview = await rows(
        db,
        "SELECT model_package_group_name, versions, approved_versions, rejected_versions,"
        " pending_versions, latest_version, latest_approved_version"
        " FROM sagemaker.model_package_groups_overview ORDER BY model_package_group_name",
    )
    assert [tuple(r.values()) for r in overview] == [
        ("customer-churn", 5, 3, 1, 1, 5, 3),
        ("demand-forecast", 1, 0, 0, 1, 1, None),
        ("fraud-detection", 2, 0, 0, 2, 2, None),  # version 3 deleted; ranking deleted
    ]

    history = await rows(
        db,
        "SELECT model_package_arn, change_type, from_status, to_status, observed_at, change_id"
        " FROM sagemaker.approval_history",
    )
    decisions = [
        (r["model_package_arn"], r["from_status"], r["to_status"])
        for r in history
        if r["change_type"] == "model_approval_status"
    ]
    assert sorted(decisions) == sorted(
        [
            (arn["churn3"], "PendingManualApproval", "Approved"),
            (arn["churn4"], "PendingManualApproval", "Rejected"),
            (arn["fraud1"], "Rejected", "PendingManualApproval"),
        ]
    )
    # Every version with an approval status appears once as created; the
    # unversioned package has none and does not appear.
    created = {r["model_package_arn"] for r in history if r["change_type"] == "created"}
    assert created == {a for name, a in arn.items() if name != "legacy"}
    order = [(r["observed_at"], r["change_id"]) for r in history]
    assert order == sorted(order, reverse=True)


async def test_governance_views_answer_from_a_synced_mirror(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    """Who, why, what runs, and whose: the details a real sync stored, through the views."""
    arn = await seed_mirror(standin_backend, database_url)

    def person(name: str) -> str:
        return f"arn:aws:sts::123456789012:assumed-role/SageMakerUser/{name}"

    approvals = await rows(
        db,
        "SELECT model_package_arn, last_modified_by, approval_description"
        " FROM sagemaker.approval_history WHERE change_type = 'model_approval_status'"
        " AND to_status = 'Approved'",
    )
    assert approvals == [
        {
            "model_package_arn": arn["churn3"],
            "last_modified_by": person("maria"),
            "approval_description": "AUC 0.91 on May",
        }
    ]

    running = await rows(
        db,
        "SELECT l.model_package_arn, d.image_uris, d.model_data_urls"
        " FROM sagemaker.latest_approved_model_packages l"
        " JOIN sagemaker.model_package_details d USING (model_package_arn)",
    )
    assert running == [
        {
            "model_package_arn": arn["churn3"],
            "image_uris": ["123456789012.dkr.ecr.us-east-1.amazonaws.com/standin:latest"],
            "model_data_urls": ["s3://standin-models/customer-churn/3/model.tar.gz"],
        }
    ]

    unevaluated = await rows(
        db,
        "SELECT model_package_arn FROM sagemaker.model_package_governance"
        " WHERE model_approval_status = 'Approved' AND NOT has_model_metrics",
    )
    assert {r["model_package_arn"] for r in unevaluated} == {arn["churn2"], arn["churn3"]}

    teams = await rows(
        db,
        "SELECT model_package_group_name, tags ->> 'team' AS team"
        " FROM sagemaker.model_package_group_governance ORDER BY 1",
    )
    assert [tuple(r.values()) for r in teams] == [
        ("customer-churn", "growth"),
        ("demand-forecast", "supply"),
        ("fraud-detection", "risk"),
    ]

    creators = await rows(
        db,
        "SELECT created_by, count(*) AS versions FROM sagemaker.model_package_governance"
        " GROUP BY 1 ORDER BY 1",
    )
    # Live packages only: fraud 3 and the ranking version are deleted.
    assert [tuple(r.values()) for r in creators] == [(person("ana"), 2), (person("standin"), 7)]

    # What runs, where, and which pipeline run produced it (questions 1, 16, 17).
    produced = await rows(
        db,
        "SELECT d.endpoint_name, d.model_package_version, d.model_approval_status,"
        "       p.generated_by, p.commit_id, p.repository"
        "  FROM sagemaker.deployed_model_packages d"
        "  JOIN sagemaker.model_package_details p USING (model_package_arn)"
        " ORDER BY 1",
    )
    lineage = LINEAGE["MetadataProperties"]
    assert [tuple(r.values()) for r in produced] == [
        ("churn-canary", 4, "Rejected", None, None, None),
        (
            "churn-live",
            3,
            "Approved",
            lineage["GeneratedBy"],
            lineage["CommitId"],
            lineage["Repository"],
        ),
    ]


# ---------------------------------------------------------------- indexes
# A few thousand packages in 200 groups, a small share pending, two years of
# history: enough that the planner prefers an index for selective filters.
SEED_PACKAGES = """
INSERT INTO sagemaker.model_package_groups (
    model_package_group_arn, account_id, region, model_package_group_name, creation_time, raw)
SELECT 'arn:aws:sagemaker:us-east-1:123456789012:model-package-group/model-' || g,
       '123456789012', 'us-east-1', 'model-' || g, now() - interval '3 years', '{}'
  FROM generate_series(0, 199) g;

INSERT INTO sagemaker.model_packages (
    model_package_arn, account_id, region, model_package_group_name, model_package_version,
    model_package_description, creation_time, model_approval_status, model_life_cycle_stage,
    raw, deleted_at)
SELECT 'arn:aws:sagemaker:us-east-1:123456789012:model-package/model-' || n % 200 || '/' || n / 200,
       '123456789012', 'us-east-1', 'model-' || n % 200, n / 200 + 1,
       'A version with a description of realistic length, ' || n,
       now() - interval '2 years' + interval '1 hour' * n * 17520 / 20000,
       CASE WHEN n % 50 = 0 THEN 'PendingManualApproval'
            WHEN n % 3 = 0 THEN 'Rejected' ELSE 'Approved' END,
       CASE WHEN n % 97 = 0 THEN 'Production' END,
       jsonb_build_object('ModelPackageDescription', repeat('x', 300)),
       CASE WHEN n % 61 = 0 THEN now() - interval '1 day' * (n % 300) END
  FROM generate_series(0, 19999) n;

INSERT INTO sagemaker.model_package_changes (
    model_package_arn, account_id, region, model_package_group_name, model_package_version,
    change_type, old_value, new_value, observed_at)
SELECT model_package_arn, account_id, region, model_package_group_name, model_package_version,
       'model_approval_status', 'PendingManualApproval', model_approval_status,
       creation_time + interval '1 day'
  FROM sagemaker.model_packages;

ANALYZE sagemaker.model_packages, sagemaker.model_package_groups,
        sagemaker.model_package_changes;
"""

# The filters analysts use most, and the index each must be able to use.
INDEXED_FILTERS = {
    "packages by group name": (
        "SELECT * FROM sagemaker.model_packages WHERE model_package_group_name = 'model-42'",
        "model_packages_group_version_idx",
    ),
    "live packages by approval status": (
        "SELECT * FROM sagemaker.model_packages"
        " WHERE model_approval_status = 'PendingManualApproval' AND deleted_at IS NULL",
        "model_packages_approval_idx",
    ),
    "changes by time": (
        "SELECT * FROM sagemaker.model_package_changes"
        " WHERE observed_at > now() - interval '7 days'",
        "model_package_changes_observed_idx",
    ),
    "changes by group name": (
        "SELECT * FROM sagemaker.model_package_changes WHERE model_package_group_name = 'model-42'",
        "model_package_changes_group_idx",
    ),
    "live packages in a life-cycle stage": (
        "SELECT * FROM sagemaker.model_packages"
        " WHERE model_life_cycle_stage = 'Production' AND deleted_at IS NULL",
        "model_packages_life_cycle_stage_idx",
    ),
    "latest deletions": (
        "SELECT * FROM sagemaker.model_packages"
        " WHERE deleted_at IS NOT NULL ORDER BY deleted_at DESC LIMIT 20",
        "model_packages_deleted_idx",
    ),
    "latest approved versions": (
        "SELECT * FROM sagemaker.latest_approved_model_packages",
        "model_packages_latest_approved_idx",
    ),
    "pending approvals": (
        "SELECT * FROM sagemaker.pending_approvals",
        "model_packages_approval_idx",
    ),
    "one group's overview": (
        "SELECT * FROM sagemaker.model_package_groups_overview"
        " WHERE model_package_group_name = 'model-42'",
        "model_packages_group_version_idx",
    ),
    "newest approval history": (
        "SELECT * FROM sagemaker.approval_history LIMIT 50",
        "model_package_changes_observed_idx",
    ),
    "one group's approval history": (
        "SELECT * FROM sagemaker.approval_history WHERE model_package_group_name = 'model-42'",
        "model_package_changes_group_idx",
    ),
}


def indexes_used(plan: dict[str, Any]) -> set[str]:
    found = {plan["Index Name"]} if "Index Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= indexes_used(child)
    return found


async def test_common_filters_use_an_index(db: asyncpg.Connection) -> None:
    await db.execute(SEED_PACKAGES)
    missed = {}
    for label, (sql, index) in INDEXED_FILTERS.items():
        plan = json.loads(await db.fetchval(f"EXPLAIN (FORMAT JSON) {sql}"))[0]["Plan"]
        used = indexes_used(plan)
        if index not in used:
            missed[label] = sorted(used)
    assert not missed, f"filters whose plan does not use the expected index: {missed}"


# ---------------------------------------------------------------- dbt
def dbt_tables() -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(SOURCES_YML.read_text(encoding="utf-8"))
    (source,) = document["sources"]
    assert source["name"] == "sagemaker"
    assert source["schema"] == "sagemaker"
    return {t["name"]: t for t in source["tables"]}


async def test_dbt_sources_describe_the_migrated_schema(db: asyncpg.Connection) -> None:
    """Same relations, same columns, and the descriptions are the COMMENTs, so \\d+
    and dbt docs say the same thing."""
    tables = dbt_tables()
    relations = {r["relname"]: r["comment"] for r in await db.fetch(RELATIONS)}
    assert set(tables) == set(relations) - NOT_A_DBT_SOURCE

    columns: dict[str, dict[str, str]] = {}
    for r in await db.fetch(COLUMNS):
        columns.setdefault(r["relname"], {})[r["attname"]] = r["comment"]
    for name, table in tables.items():
        assert table["description"] == relations[name], name
        described = {c["name"]: c["description"] for c in table["columns"]}
        assert described == columns[name], name


def test_dbt_freshness_is_checked_on_the_group_listings() -> None:
    state = dbt_tables()["sync_state"]
    assert state["loaded_at_field"] == "last_success_at"
    freshness = state["freshness"]
    assert freshness["filter"] == "scope_kind = 'groups'"
    assert freshness["warn_after"]["period"] == freshness["error_after"]["period"] == "minute"
    assert freshness["warn_after"]["count"] < freshness["error_after"]["count"]
