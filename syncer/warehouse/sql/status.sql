-- The reads behind `syncer status` and the per-scope gauges (syncer/warehouse/status.py).

-- name: scope_lags
-- Per-scope gauges for /metrics; times as unix seconds, so lag is computed at
-- scrape time. Groups marked deleted are left out (their state rows remain).
SELECT s.account_id, s.region,
       CASE s.scope_kind WHEN 'group' THEN s.model_package_group_name
                         ELSE '(' || s.scope_kind || ')' END AS scope,
       extract(epoch FROM s.watermark)::float8               AS watermark,
       extract(epoch FROM s.last_success_at)::float8         AS last_success,
       s.consecutive_failures
  FROM sagemaker.sync_state s
 WHERE s.scope_kind <> 'group'
    OR EXISTS (SELECT 1 FROM sagemaker.model_package_groups g
                WHERE g.account_id = s.account_id AND g.region = s.region
                  AND g.model_package_group_name = s.model_package_group_name
                  AND g.deleted_at IS NULL);

-- name: status_scopes
SELECT account_id, region, scope_kind, model_package_group_name, watermark,
       extract(epoch FROM now() - watermark)::float8 AS lag_seconds,
       last_attempt_at, last_success_at, last_full_success_at,
       last_error, last_error_at, consecutive_failures
  FROM sagemaker.sync_state
 ORDER BY account_id, region, scope_kind, model_package_group_name;

-- name: status_totals
SELECT (SELECT count(*) FROM sagemaker.model_package_groups WHERE deleted_at IS NULL) AS groups,
       (SELECT count(*) FROM sagemaker.model_package_groups WHERE deleted_at IS NOT NULL) AS groups_deleted,
       (SELECT count(*) FROM sagemaker.model_packages WHERE deleted_at IS NULL)        AS packages,
       (SELECT count(*) FROM sagemaker.model_packages WHERE deleted_at IS NOT NULL)    AS packages_deleted,
       (SELECT count(*) FROM sagemaker.model_package_changes)                          AS changes;

-- name: last_runs
SELECT run_id, mode, status, started_at, finished_at, scopes_total, scopes_failed,
       packages_inserted, packages_updated, packages_deleted, api_calls, api_throttled
  FROM sagemaker.sync_runs
 ORDER BY run_id DESC
 LIMIT $1;

-- name: status_event_queues
-- The events queues and how the replica that polled each last found it (syncer status).
SELECT queue_url, state, state_since, last_error, last_received_at, last_applied_at, checked_at,
       extract(epoch FROM now() - checked_at)::float8 AS checked_ago
  FROM sagemaker.event_queues
 ORDER BY queue_url;

-- name: status_quota
-- Per account and region: the API rates allowed at the end of the last cycle.
SELECT t.account_id, t.region,
       l.allowed_rate AS list_rate, s.allowed_rate AS search_rate,
       coalesce(l.ceiling, s.ceiling) AS ceiling,
       coalesce(l.throttles, 0) + coalesce(s.throttles, 0) AS throttles,
       greatest(l.updated_at, s.updated_at) AS rates_updated_at
  FROM (SELECT DISTINCT account_id, region FROM sagemaker.api_rates) t
  LEFT JOIN sagemaker.api_rates l
         ON l.account_id = t.account_id AND l.region = t.region AND l.operation_class = 'list'
  LEFT JOIN sagemaker.api_rates s
         ON s.account_id = t.account_id AND s.region = t.region AND s.operation_class = 'search'
 ORDER BY t.account_id, t.region;

-- name: status_switched_off
-- The optional reads switched off now, per account and region, and why.
SELECT account_id, region, feature, off_since, off_until, reason
  FROM sagemaker.feature_availability
 WHERE off_until IS NOT NULL
 ORDER BY account_id, region, feature;
