-- The cycle's own records: runs (syncer/cycle/runs.py), the cycle lease
-- (syncer/cycle/lease.py), the API rates found (syncer/cycle/rates.py) and the
-- optional reads switched off (syncer/cycle/availability.py).

-- name: start_run
INSERT INTO sagemaker.sync_runs (mode, host, deployment_key) VALUES ($1, $2, $3) RETURNING run_id;

-- name: finish_run
UPDATE sagemaker.sync_runs
   SET status = $2, finished_at = now(),
       scopes_total = $3, scopes_failed = $4,
       packages_listed = $5, packages_inserted = $6, packages_updated = $7,
       packages_deleted = $8, groups_listed = $9, groups_changed = $10,
       groups_deleted = $11, items_skipped = $12, api_calls = $13, api_throttled = $14,
       errors = $15::jsonb
 WHERE run_id = $1;

-- name: abandon_stale_runs
-- Runs of the deployment ($2) left 'running' by a process that died: the
-- caller holds the deployment's lease now. Runs recorded before the lease
-- (no deployment) count as everyone's.
UPDATE sagemaker.sync_runs
   SET status = 'interrupted'
 WHERE status = 'running' AND run_id <> $1
   AND (deployment_key IS NOT DISTINCT FROM $2::text OR deployment_key IS NULL);

-- name: last_full_run_started
-- The deployment's ($1) last completed reconcile (runs from before the lease count).
SELECT max(started_at)
  FROM sagemaker.sync_runs
 WHERE mode = 'full' AND status IN ('succeeded', 'partial')
   AND (deployment_key IS NOT DISTINCT FROM $1::text OR deployment_key IS NULL);

-- name: take_cycle_lease
-- The deployment's cycle lease (migrations/0007_cycle_lease.sql).
SELECT granted, holder, expires_in, due_in, completed_ago
  FROM sagemaker.take_cycle_lease($1, $2, $3, $4);

-- name: renew_cycle_lease
SELECT sagemaker.renew_cycle_lease($1, $2, $3);

-- name: release_cycle_lease
SELECT sagemaker.release_cycle_lease($1, $2, $3);

-- name: record_api_rates
-- Written only when a value changed (an unchanged cycle leaves no dead tuple).
INSERT INTO sagemaker.api_rates AS r
       (account_id, region, operation_class, allowed_rate, ceiling, throttles, updated_at)
SELECT $1, $2, c, a, $5, t, now()
  FROM unnest($3::text[], $4::float8[], $6::bigint[]) AS u(c, a, t)
ON CONFLICT (account_id, region, operation_class) DO UPDATE
   SET allowed_rate = excluded.allowed_rate, ceiling = excluded.ceiling,
       throttles = excluded.throttles, updated_at = excluded.updated_at
 WHERE (r.allowed_rate, r.ceiling, r.throttles)
       IS DISTINCT FROM (excluded.allowed_rate, excluded.ceiling, excluded.throttles);

-- name: get_api_rates
SELECT operation_class, allowed_rate, ceiling
  FROM sagemaker.api_rates
 WHERE account_id = $1 AND region = $2;

-- name: feature_off
-- Whether an optional read of an account and region is switched off, and why.
SELECT off_since, off_until, reason
  FROM sagemaker.feature_availability
 WHERE account_id = $1 AND region = $2 AND feature = $3 AND off_until IS NOT NULL;

-- name: switch_feature_off
-- Off until $5; off_since stays that of the first refusal. Returns whether it
-- was on before (so that only that transition is warned about).
WITH previous AS (
    SELECT 1 FROM sagemaker.feature_availability
     WHERE account_id = $1 AND region = $2 AND feature = $3 AND off_until IS NOT NULL
)
INSERT INTO sagemaker.feature_availability AS a
       (account_id, region, feature, off_since, off_until, reason)
VALUES ($1, $2, $3, now(), $5, $4)
ON CONFLICT (account_id, region, feature) DO UPDATE
   SET off_since = coalesce(a.off_since, excluded.off_since),
       off_until = excluded.off_until, reason = excluded.reason
RETURNING NOT EXISTS (SELECT 1 FROM previous) AS was_on;

-- name: switch_feature_on
-- Clears the row rather than deleting it: the runtime role needs no DELETE.
-- Writes nothing while it is on; returns since when it was off.
UPDATE sagemaker.feature_availability AS a
   SET off_since = NULL, off_until = NULL, reason = NULL
  FROM (SELECT account_id, region, feature, off_since
          FROM sagemaker.feature_availability
         WHERE account_id = $1 AND region = $2 AND feature = $3 AND off_until IS NOT NULL
           FOR UPDATE) AS was
 WHERE a.account_id = was.account_id AND a.region = was.region AND a.feature = was.feature
RETURNING was.off_since;
