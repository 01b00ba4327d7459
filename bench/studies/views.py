"""How fast the analyst views and the documented queries answer on a large mirror.

``python -m bench.studies.views`` loads a scratch database, migrated, with
200,000 packages (straight SQL, generate_series; no SageMaker involved),
their change history and 20,000 models on 5,000 endpoints, VACUUM ANALYZEs
it as autovacuum would, then runs each view and each query of
docs/querying.md several times and prints the median server time (EXPLAIN
ANALYZE) and client time (asyncpg, every row fetched).
The server is SYNCER_TEST_DATABASE_URL's (default: postgres on 127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import dataclass

import asyncpg

from bench.database import scratch
from standin.queries import documented_queries
from syncer.logging import configure_logging
from syncer.warehouse.migrate import migrate

# The documented examples name these groups; the biggest groups get them.
NAMED_GROUPS = ["customer-churn", "fraud-detection", "demand-forecast"]

# $1 groups, $2 the names of the first ones.
LOAD_GROUPS = """
INSERT INTO sagemaker.model_package_groups (
    model_package_group_arn, account_id, region, model_package_group_name,
    model_package_group_description, creation_time, model_package_group_status, raw,
    first_seen_at, last_changed_at)
SELECT 'arn:aws:sagemaker:' || region || ':123456789012:model-package-group/' || name,
       '123456789012', region, name, 'Models for ' || name,
       now() - interval '800 days', 'Completed',
       jsonb_build_object('ModelPackageGroupName', name), now(), now()
  FROM (SELECT g, coalesce(($2::text[])[g], 'model-' || lpad(g::text, 5, '0')) AS name,
               CASE WHEN g % 2 = 0 THEN 'eu-west-1' ELSE 'us-east-1' END AS region
          FROM generate_series(1, $1::int) g) s
"""

# $1 packages, $2 groups, $3 the named groups. Group sizes are skewed (a few
# groups hold thousands of versions, most a few dozen); 1% are unversioned.
LOAD_PACKAGES = """
WITH drawn AS (
    SELECT n,
           CASE WHEN n % 100 = 0 THEN NULL
                ELSE 1 + floor($2::int * power(random(), 2))::int END AS g,
           random() AS r_status, random() AS r_deleted, random() AS r_stage
      FROM generate_series(1, $1::int) n
),
shaped AS (
    SELECT d.*,
           coalesce(($3::text[])[d.g], 'model-' || lpad(d.g::text, 5, '0')) AS group_name,
           CASE WHEN d.g % 2 = 0 THEN 'eu-west-1' ELSE 'us-east-1' END AS region,
           row_number() OVER (PARTITION BY d.g ORDER BY d.n)::int AS version,
           now() - interval '730 days' * (1 - d.n::float8 / $1::int) AS created,
           CASE WHEN d.r_status < 0.10 THEN 'PendingManualApproval'
                WHEN d.r_status < 0.60 THEN 'Approved'
                ELSE 'Rejected' END AS approval
      FROM drawn d
)
INSERT INTO sagemaker.model_packages (
    model_package_arn, account_id, region, model_package_group_name, model_package_version,
    model_package_name, model_package_description, creation_time, model_package_status,
    model_approval_status, model_life_cycle_stage, model_life_cycle_stage_status,
    model_package_registration_type, raw, first_seen_at, last_changed_at, deleted_at)
SELECT arn, '123456789012', region, group_name, version, name, description, created,
       'Completed', approval, stage, stage_status, 'Registered',
       jsonb_strip_nulls(jsonb_build_object(
           'ModelPackageArn', arn, 'ModelPackageGroupName', group_name,
           'ModelPackageVersion', version, 'ModelPackageName', name,
           'ModelPackageDescription', description,
           'CreationTime', extract(epoch FROM created), 'ModelPackageStatus', 'Completed',
           'ModelApprovalStatus', approval,
           'ModelLifeCycle', CASE WHEN stage IS NOT NULL THEN jsonb_build_object(
               'Stage', stage, 'StageStatus', stage_status) END,
           'ModelPackageRegistrationType', 'Registered')),
       created, created,
       CASE WHEN r_deleted < 0.03 THEN least(created + interval '30 days', now()) END
  FROM (SELECT s.*,
               'arn:aws:sagemaker:' || region || ':123456789012:model-package/'
                   || CASE WHEN g IS NULL THEN 'standalone-' || n
                           ELSE group_name || '/' || version END AS arn,
               CASE WHEN g IS NULL THEN 'standalone-' || n END AS name,
               'Trained on snapshot ' || n AS description,
               CASE WHEN approval <> 'Approved' THEN NULL
                    WHEN r_stage < 0.05 THEN 'Production'
                    WHEN r_stage < 0.15 THEN 'Staging' END AS stage,
               CASE WHEN approval = 'Approved' AND r_stage < 0.15 THEN 'Approved' END
                   AS stage_status
          FROM shaped s) p
"""

# The history the syncer would have written: a created row per package; for
# most decided packages a later change from pending; some pending packages
# were approved first and sent back; deletions and stage changes.
LOAD_CHANGES = """
WITH p AS (
    SELECT model_package_arn, account_id, region, model_package_group_name,
           model_package_version, creation_time, model_approval_status, deleted_at,
           model_life_cycle_stage, hashtext(model_package_arn) AS h
      FROM sagemaker.model_packages
),
events AS (
    SELECT p.*, e.*
      FROM p
     CROSS JOIN LATERAL (VALUES
        ('created', NULL,
            CASE WHEN p.model_package_group_name IS NULL THEN NULL
                 WHEN p.model_approval_status <> 'PendingManualApproval' AND p.h % 10 <> 0
                   THEN 'PendingManualApproval'
                 WHEN p.model_approval_status = 'PendingManualApproval' AND p.h % 10 = 0
                   THEN 'Approved'
                 ELSE p.model_approval_status END,
            p.creation_time + interval '2 minutes', true),
        ('model_approval_status', 'PendingManualApproval', p.model_approval_status,
            p.creation_time + interval '1 minute' * (abs(p.h) % 4320),
            p.model_approval_status <> 'PendingManualApproval' AND p.h % 10 <> 0),
        ('model_approval_status', 'Approved', 'PendingManualApproval',
            p.creation_time + interval '1 hour' * (abs(p.h) % 48),
            p.model_approval_status = 'PendingManualApproval' AND p.h % 10 = 0),
        ('model_life_cycle_stage', NULL, p.model_life_cycle_stage,
            p.creation_time + interval '1 day',
            p.model_life_cycle_stage IS NOT NULL),
        ('deleted', p.model_approval_status, NULL, p.deleted_at,
            p.deleted_at IS NOT NULL)
     ) AS e(change_type, old_value, new_value, at, happened)
     WHERE e.happened
)
INSERT INTO sagemaker.model_package_changes (
    model_package_arn, account_id, region, model_package_group_name, model_package_version,
    change_type, old_value, new_value, observed_at)
SELECT model_package_arn, account_id, region, model_package_group_name, model_package_version,
       change_type, old_value, new_value, least(at, now())
  FROM events
 ORDER BY least(at, now())
"""

# What a syncing mirror also has: one state row per scope and a few runs.
LOAD_SYNC_STATE = """
INSERT INTO sagemaker.sync_state (
    account_id, region, scope_kind, model_package_group_name, watermark,
    last_attempt_at, last_success_at, last_full_success_at)
SELECT account_id, region, 'group', model_package_group_name,
       now() - interval '1 hour', now(), now(), now() - interval '30 minutes'
  FROM sagemaker.model_package_groups
UNION ALL
SELECT '123456789012', r, k, '', now() - interval '1 hour', now(), now(), now()
  FROM unnest(ARRAY['us-east-1', 'eu-west-1']) r, unnest(ARRAY['groups', 'unversioned']) k;
INSERT INTO sagemaker.sync_runs (mode, status, started_at, finished_at, scopes_total)
SELECT CASE WHEN i % 12 = 0 THEN 'full' ELSE 'incremental' END, 'succeeded',
       now() - interval '5 minutes' * i, now() - interval '5 minutes' * i + interval '20 s', 2000
  FROM generate_series(1, 288) i;
"""

# Models made from random versions (a tenth from a package of another account,
# unmirrored), endpoint n serving model n, a fifth of them moved there from
# model n + endpoints (an ended period). Each statement with what its $1 is.
LOAD_DEPLOYMENTS: list[tuple[str, str | None]] = [
    (
        """CREATE TEMP TABLE versions AS
SELECT row_number() OVER (ORDER BY model_package_arn)::int AS i, model_package_arn, region,
       creation_time
  FROM sagemaker.model_packages
 WHERE model_package_group_name IS NOT NULL AND deleted_at IS NULL""",
        None,
    ),
    (
        """CREATE TEMP TABLE drawn (
    n int, model_package_arn text, region text, creation_time timestamptz,
    foreign_package boolean)""",
        None,
    ),
    (
        """INSERT INTO drawn
SELECT n, v.model_package_arn, v.region, v.creation_time, random() < 0.1
  FROM (SELECT n, 1 + floor(random() * (SELECT count(*) FROM versions))::int AS i
          FROM generate_series(1, $1::int) n) d
  JOIN versions v USING (i)""",
        "models",
    ),
    (
        """INSERT INTO sagemaker.models (
    model_arn, account_id, region, model_name, creation_time, execution_role_arn, record)
SELECT 'arn:aws:sagemaker:' || region || ':123456789012:model/m-' || n, '123456789012',
       region, 'm-' || n, creation_time + interval '1 hour',
       'arn:aws:iam::123456789012:role/Exec', jsonb_build_object('ModelName', 'm-' || n)
  FROM drawn""",
        None,
    ),
    (
        """INSERT INTO sagemaker.model_containers (
    model_arn, container_position, account_id, region, image, model_package_name,
    model_package_arn, model_package_account_id)
SELECT 'arn:aws:sagemaker:' || region || ':123456789012:model/m-' || n, 0, '123456789012',
       region, 'image:1',
       CASE WHEN foreign_package
            THEN 'arn:aws:sagemaker:' || region || ':210987654321:model-package/shared/' || n
            ELSE model_package_arn END,
       CASE WHEN NOT foreign_package THEN model_package_arn END,
       CASE WHEN foreign_package THEN '210987654321' ELSE '123456789012' END
  FROM drawn""",
        None,
    ),
    (
        """INSERT INTO sagemaker.endpoints (
    endpoint_arn, account_id, region, endpoint_name, endpoint_config_name, endpoint_status,
    creation_time, last_modified_time, record)
SELECT 'arn:aws:sagemaker:' || region || ':123456789012:endpoint/e-' || n, '123456789012',
       region, 'e-' || n, 'e-' || n || '-config',
       CASE WHEN n % 50 = 0 THEN 'Failed' ELSE 'InService' END,
       creation_time + interval '2 hours', creation_time + interval '3 hours',
       jsonb_build_object('EndpointName', 'e-' || n)
  FROM drawn WHERE n <= $1::int""",
        "endpoints",
    ),
    (
        """INSERT INTO sagemaker.endpoint_models (
    account_id, region, endpoint_arn, endpoint_name, model_arn, model_name, deployed_since,
    first_seen_at, ended_at)
SELECT e.account_id, e.region, e.endpoint_arn, e.endpoint_name, m.model_arn, m.model_name,
       e.last_modified_time, e.last_modified_time,
       CASE WHEN m.model_name <> 'm-' || d.n THEN e.last_modified_time END
  FROM drawn d
  JOIN sagemaker.endpoints e ON e.endpoint_name = 'e-' || d.n
  JOIN sagemaker.models m
    ON m.model_name = 'm-' || d.n
       OR (d.n % 5 = 0 AND m.model_name = 'm-' || (d.n + $1::int) AND m.region = e.region)""",
        "endpoints",
    ),
    (
        """INSERT INTO sagemaker.deployments_state (account_id, region, last_full_read_at)
VALUES ('123456789012', 'us-east-1', now()), ('123456789012', 'eu-west-1', now())""",
        None,
    ),
]

VIEW_QUERIES: list[tuple[str, str]] = [
    ("latest_approved: all groups", "SELECT * FROM sagemaker.latest_approved_model_packages"),
    (
        "latest_approved: one group",
        "SELECT * FROM sagemaker.latest_approved_model_packages"
        " WHERE model_package_group_name = 'customer-churn'",
    ),
    ("pending_approvals: all", "SELECT * FROM sagemaker.pending_approvals"),
    (
        "pending_approvals: 50 longest waiting",
        "SELECT * FROM sagemaker.pending_approvals ORDER BY waiting_for DESC LIMIT 50",
    ),
    (
        "pending_approvals: one group",
        "SELECT * FROM sagemaker.pending_approvals"
        " WHERE model_package_group_name = 'customer-churn'",
    ),
    ("groups_overview: all groups", "SELECT * FROM sagemaker.model_package_groups_overview"),
    (
        "groups_overview: one group",
        "SELECT * FROM sagemaker.model_package_groups_overview"
        " WHERE model_package_group_name = 'customer-churn'",
    ),
    ("approval_history: newest 100", "SELECT * FROM sagemaker.approval_history LIMIT 100"),
    (
        "approval_history: last 7 days",
        "SELECT * FROM sagemaker.approval_history WHERE observed_at > now() - interval '7 days'",
    ),
    (
        "approval_history: one group, newest 100",
        "SELECT * FROM sagemaker.approval_history"
        " WHERE model_package_group_name = 'customer-churn' LIMIT 100",
    ),
    ("deployed_model_packages: all", "SELECT * FROM sagemaker.deployed_model_packages"),
    (
        "deployed_model_packages: one endpoint",
        "SELECT * FROM sagemaker.deployed_model_packages WHERE endpoint_name = 'e-42'",
    ),
    (
        "deployed_model_packages: one group",
        "SELECT * FROM sagemaker.deployed_model_packages"
        " WHERE model_package_group_name = 'customer-churn'",
    ),
    ("unapproved_deployments: all", "SELECT * FROM sagemaker.unapproved_deployments"),
    (
        "undeployed_approved_model_packages: all",
        "SELECT * FROM sagemaker.undeployed_approved_model_packages",
    ),
    ("cross_account_deployments: all", "SELECT * FROM sagemaker.cross_account_deployments"),
]


@dataclass(frozen=True)
class Timing:
    label: str
    rows: int
    server_ms: float
    client_ms: float


async def load(
    conn: asyncpg.Connection, packages: int, groups: int, models: int, endpoints: int
) -> dict[str, int]:
    """Fill the mirror's tables; returns row counts."""
    named = NAMED_GROUPS[:groups]
    await conn.execute("SELECT setseed(0.42)")
    await conn.execute(LOAD_GROUPS, groups, named)
    await conn.execute(LOAD_PACKAGES, packages, groups, named)
    await conn.execute(LOAD_CHANGES)
    await conn.execute(LOAD_SYNC_STATE)
    sizes = {"models": models, "endpoints": endpoints}
    for statement, size in LOAD_DEPLOYMENTS:
        await conn.execute(statement, *([sizes[size]] if size else []))
    # A mirror in steady state has been vacuumed and analyzed by autovacuum.
    await conn.execute("VACUUM ANALYZE")
    counts = {}
    for table in (
        "model_package_groups",
        "model_packages",
        "model_package_changes",
        "models",
        "endpoints",
        "endpoint_models",
    ):
        counts[table] = int(await conn.fetchval(f"SELECT count(*) FROM sagemaker.{table}"))
    return counts


async def server_ms(conn: asyncpg.Connection, sql: str) -> float:
    # TIMING OFF: per-node clocks would add their own overhead to the figure.
    plan = await conn.fetchval(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}")
    return float(json.loads(plan)[0]["Execution Time"])


async def measure(conn: asyncpg.Connection, label: str, sql: str, runs: int) -> Timing:
    rows = len(await conn.fetch(sql))  # warm the cache and the plan
    server, client = [], []
    for _ in range(runs):
        server.append(await server_ms(conn, sql))
        start = time.perf_counter()
        await conn.fetch(sql)
        client.append((time.perf_counter() - start) * 1000)
    return Timing(label, rows, statistics.median(server), statistics.median(client))


def table(timings: list[Timing]) -> str:
    lines = [
        "| query | rows | server ms (median) | client ms (median) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for t in timings:
        lines.append(f"| {t.label} | {t.rows} | {t.server_ms:.1f} | {t.client_ms:.1f} |")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> None:
    queries = list(VIEW_QUERIES)
    queries += [(f"docs: {q}", sql) for q, sql in documented_queries()]
    async with scratch() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
            start = time.perf_counter()
            counts = await load(conn, args.packages, args.groups, args.models, args.endpoints)
            loaded = time.perf_counter() - start
            version = await conn.fetchval("SHOW server_version")
            print(f"PostgreSQL {version}; loaded {counts} in {loaded:.0f} s\n")
            timings = [await measure(conn, label, sql, args.runs) for label, sql in queries]
        finally:
            await conn.close()
    print(table(timings))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packages", type=int, default=200_000)
    parser.add_argument("--groups", type=int, default=2_000)
    parser.add_argument("--models", type=int, default=20_000)
    parser.add_argument("--endpoints", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=7, help="timed runs per query")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    configure_logging("WARNING", "console")
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
