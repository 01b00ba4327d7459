-- Named queries used by syncer/store.py; loaded once at import.
-- Every value is a bind parameter; arrays carry a whole page in one round trip.

-- name: transaction_settings
-- First in every transaction the service opens, instead of session settings or
-- startup parameters (a transaction-mode pooler has neither): the search_path
-- that keeps other users' objects out of name resolution, statement_timeout
-- ($1, ms), idle_in_transaction_session_timeout ($2, ms), custom plans.
-- Qualified, because this statement itself resolves with the session's path.
SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true),
       pg_catalog.set_config('statement_timeout', $1, true),
       pg_catalog.set_config('idle_in_transaction_session_timeout', $2, true),
       pg_catalog.set_config('plan_cache_mode', 'force_custom_plan', true);

-- name: store_listing_page
-- A page of a scope's listing in one round trip, sent on its own (not in a
-- transaction block, so not after transaction_settings): lock, upsert with
-- change history, watermark, and for the last page the sweep and the scope's
-- success (migrations 0003 and 0013). $1-$4 the scope, $5-$19 the page as
-- columns, $20 the run, $21 last page, $22 the ARNs of a complete listing (or
-- NULL), $23 the sweep's cut-off, $24 the lock timeout (ms). The function
-- brings its own search_path; nothing here resolves through the session's.
SELECT inserted, updated, changes, deleted
  FROM sagemaker.write_listing_page(
        $1, $2, $3, $4,
        $5::text[], $6::text[], $7::text[], $8::text[], $9::int[], $10::text[], $11::text[],
        $12::timestamptz[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[],
        $18::text[], $19::text[],
        $20, $21, $22::text[], $23, $24);

-- name: sweep_packages
-- After a complete listing of a scope ($3: the group, '' for unversioned
-- packages): rows it did not contain are gone, unless created after $5.
SELECT sagemaker.sweep_scope($1, $2, $3, $4::text[], $5, $6);

-- name: apply_package_changes
-- A page of the change feed (Search results): the mutable fields of packages
-- that are mirrored and live. Packages not in the mirror are left to the
-- listings, which store their summary. `raw` keeps the ListModelPackages
-- summary's shape: only the keys the fields come from ($8, as received) are
-- replaced, so the row is what a listing would store and the next listing
-- finds nothing to change. Rows that would not change are not touched. An
-- approval change keeps who last modified the record and its approval note
-- as of this read ($10..$12; NULL with SYNCER_DETAILS=false).
WITH incoming AS (
    SELECT *
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                  $7::text[], $10::text[], $11::text[], $12::text[])
        AS t(model_package_arn, model_package_status, model_approval_status,
             model_life_cycle_stage, model_life_cycle_stage_status,
             model_life_cycle_stage_description, patch, last_modified_by_arn,
             last_modified_by_user_profile, approval_description)
),
changed AS (
    SELECT i.*, (p.raw - $8::text[]) || kept.nulls || i.patch::jsonb AS raw,
           p.model_package_status AS old_package_status,
           p.model_approval_status AS old_approval_status,
           p.model_life_cycle_stage AS old_life_cycle_stage,
           p.model_life_cycle_stage_status AS old_life_cycle_stage_status
      FROM sagemaker.model_packages p
      JOIN incoming i USING (model_package_arn)
      -- Search's records leave out null members that the listing's summary
      -- carries: they stay, or every change would drop them from raw.
      -- pg_catalog named: a one-array unnest, or an aggregate over "any", is
      -- what an object in public with exact types could stand in for.
     CROSS JOIN LATERAL (
           SELECT coalesce(pg_catalog.jsonb_object_agg(k, 'null'::jsonb),
                           pg_catalog.jsonb_build_object()) AS nulls
             FROM pg_catalog.unnest($8::text[]) AS k
            WHERE p.raw -> k = 'null'::jsonb
           ) kept
     WHERE p.deleted_at IS NULL
       AND p.raw IS DISTINCT FROM (p.raw - $8::text[]) || kept.nulls || i.patch::jsonb
),
written AS (
    UPDATE sagemaker.model_packages p
       SET model_package_status = c.model_package_status,
           model_approval_status = c.model_approval_status,
           model_life_cycle_stage = c.model_life_cycle_stage,
           model_life_cycle_stage_status = c.model_life_cycle_stage_status,
           model_life_cycle_stage_description = c.model_life_cycle_stage_description,
           raw = c.raw,
           last_changed_at = now()
      FROM changed c
     WHERE p.model_package_arn = c.model_package_arn
    RETURNING p.model_package_arn, p.account_id, p.region, p.model_package_group_name,
              p.model_package_version
),
history AS (
    INSERT INTO sagemaker.model_package_changes (
        model_package_arn, account_id, region, model_package_group_name,
        model_package_version, change_type, old_value, new_value, observed_at, run_id,
        last_modified_by_arn, last_modified_by_user_profile, approval_description)
    SELECT w.model_package_arn, w.account_id, w.region, w.model_package_group_name,
           w.model_package_version, v.change_type, v.old_value, v.new_value, now(), $9,
           v.who_arn, v.who_profile, v.why
      FROM written w
      JOIN changed c USING (model_package_arn)
     CROSS JOIN LATERAL (VALUES
        ('model_approval_status', c.old_approval_status, c.model_approval_status,
            c.last_modified_by_arn, c.last_modified_by_user_profile, c.approval_description),
        ('model_package_status', c.old_package_status, c.model_package_status,
            NULL, NULL, NULL),
        ('model_life_cycle_stage', c.old_life_cycle_stage, c.model_life_cycle_stage,
            NULL, NULL, NULL),
        ('model_life_cycle_stage_status', c.old_life_cycle_stage_status,
            c.model_life_cycle_stage_status, NULL, NULL, NULL)
     ) AS v(change_type, old_value, new_value, who_arn, who_profile, why)
     WHERE v.old_value IS DISTINCT FROM v.new_value
    RETURNING 1
)
SELECT (SELECT count(*) FROM written) AS updated,
       (SELECT count(*) FROM history) AS changes;

-- name: upsert_groups
WITH incoming AS (
    SELECT *
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                  $6::timestamptz[], $7::text[], $8::text[])
        AS t(model_package_group_arn, account_id, region, model_package_group_name,
             model_package_group_description, creation_time, model_package_group_status, raw)
),
written AS (
    INSERT INTO sagemaker.model_package_groups AS g (
        model_package_group_arn, account_id, region, model_package_group_name,
        model_package_group_description, creation_time, model_package_group_status, raw,
        first_seen_at, last_changed_at)
    SELECT i.model_package_group_arn, i.account_id, i.region, i.model_package_group_name,
           i.model_package_group_description, i.creation_time, i.model_package_group_status,
           i.raw::jsonb, now(), now()
      FROM incoming i
    ON CONFLICT (model_package_group_arn) DO UPDATE SET
        account_id = excluded.account_id,
        region = excluded.region,
        model_package_group_name = excluded.model_package_group_name,
        model_package_group_description = excluded.model_package_group_description,
        creation_time = excluded.creation_time,
        model_package_group_status = excluded.model_package_group_status,
        raw = excluded.raw,
        last_changed_at = excluded.last_changed_at,
        deleted_at = NULL
    WHERE g.raw IS DISTINCT FROM excluded.raw OR g.deleted_at IS NOT NULL
    RETURNING 1
)
SELECT count(*) FROM written;

-- name: live_groups
SELECT model_package_group_name, model_package_group_arn
  FROM sagemaker.model_package_groups
 WHERE account_id = $1 AND region = $2 AND deleted_at IS NULL;

-- name: sweep_groups
-- After a complete group listing of an account/region: groups it did not
-- contain are gone. Only groups the name filter ($4, '' for none) covers.
-- NOT (arn = ANY (listed ARNs)), not an anti-join: the connection's custom plan
-- has the array as a constant, which PostgreSQL looks rows up in by hash. A
-- join's method would follow the statistics, which right after a first sync
-- say the table is empty: a nested loop, quadratic in the number of groups
-- (as migration 0005 explains for the packages' sweep).
UPDATE sagemaker.model_package_groups g
   SET deleted_at = now(), last_changed_at = now()
 WHERE g.account_id = $1
   AND g.region = $2
   AND g.deleted_at IS NULL
   AND strpos(g.model_package_group_name, $4) > 0
   AND NOT (g.model_package_group_arn = ANY ($3::text[]))
RETURNING g.model_package_group_name;

-- name: forget_watermark
-- A deleted group may be re-created under the same name, with versions
-- numbered (and ARNs) from 1 again: list it from the start next time.
UPDATE sagemaker.sync_state
   SET watermark = NULL
 WHERE account_id = $1 AND region = $2 AND scope_kind = 'group'
   AND model_package_group_name = $3 AND watermark IS NOT NULL;

-- name: get_watermark
SELECT watermark
  FROM sagemaker.sync_state
 WHERE account_id = $1 AND region = $2 AND scope_kind = $3 AND model_package_group_name = $4;

-- name: get_watermarks
-- Every scope's watermark in an account/region, read once per cycle.
SELECT scope_kind, model_package_group_name, watermark
  FROM sagemaker.sync_state
 WHERE account_id = $1 AND region = $2 AND watermark IS NOT NULL;

-- name: advance_watermark
-- Forward only, never past now() (sagemaker.advance_watermark).
SELECT sagemaker.advance_watermark($1, $2, $3, $4, $5);

-- name: scope_succeeded
SELECT sagemaker.scope_succeeded($1, $2, $3, $4, $5);

-- name: scope_failed
INSERT INTO sagemaker.sync_state AS s
       (account_id, region, scope_kind, model_package_group_name,
        last_attempt_at, last_error, last_error_at, consecutive_failures)
VALUES ($1, $2, $3, $4, now(), $5, now(), 1)
ON CONFLICT (account_id, region, scope_kind, model_package_group_name) DO UPDATE
   SET last_attempt_at = now(),
       last_error = excluded.last_error,
       last_error_at = now(),
       consecutive_failures = s.consecutive_failures + 1;

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

-- name: scope_lock
-- Until the end of the transaction (sagemaker.lock_scope).
SELECT sagemaker.lock_scope($1, $2, $3, $4);

-- name: take_cycle_lease
-- The deployment's cycle lease (migrations/0007_cycle_lease.sql).
SELECT granted, holder, expires_in, due_in, completed_ago
  FROM sagemaker.take_cycle_lease($1, $2, $3, $4);

-- name: renew_cycle_lease
SELECT sagemaker.renew_cycle_lease($1, $2, $3);

-- name: release_cycle_lease
SELECT sagemaker.release_cycle_lease($1, $2, $3);

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

-- name: change_feed_off
-- Whether the change feed of an account and region is switched off, and why.
SELECT off_since, off_until, reason
  FROM sagemaker.change_feed_availability
 WHERE account_id = $1 AND region = $2 AND off_until IS NOT NULL;

-- name: switch_change_feed_off
-- Off until $4; off_since stays that of the first refusal. Returns whether the
-- feed was on before (so that only that transition is warned about).
WITH previous AS (
    SELECT 1 FROM sagemaker.change_feed_availability
     WHERE account_id = $1 AND region = $2 AND off_until IS NOT NULL
)
INSERT INTO sagemaker.change_feed_availability AS a (account_id, region, off_since, off_until, reason)
VALUES ($1, $2, now(), $4, $3)
ON CONFLICT (account_id, region) DO UPDATE
   SET off_since = coalesce(a.off_since, excluded.off_since),
       off_until = excluded.off_until, reason = excluded.reason
RETURNING NOT EXISTS (SELECT 1 FROM previous) AS was_on;

-- name: switch_change_feed_on
-- Clears the row rather than deleting it: the runtime role needs no DELETE.
-- Writes nothing while the feed is on; returns since when it was off.
UPDATE sagemaker.change_feed_availability AS a
   SET off_since = NULL, off_until = NULL, reason = NULL
  FROM (SELECT account_id, region, off_since
          FROM sagemaker.change_feed_availability
         WHERE account_id = $1 AND region = $2 AND off_until IS NOT NULL
           FOR UPDATE) AS was
 WHERE a.account_id = was.account_id AND a.region = was.region
RETURNING was.off_since;

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

-- name: status_quota
-- Per account and region: the change feed's availability and the API rates.
SELECT t.account_id, t.region,
       a.off_since AS change_feed_off_since, a.off_until AS change_feed_off_until,
       a.reason AS change_feed_off_reason,
       l.allowed_rate AS list_rate, s.allowed_rate AS search_rate,
       coalesce(l.ceiling, s.ceiling) AS ceiling,
       coalesce(l.throttles, 0) + coalesce(s.throttles, 0) AS throttles,
       greatest(l.updated_at, s.updated_at) AS rates_updated_at
  FROM (SELECT account_id, region FROM sagemaker.api_rates
        UNION SELECT account_id, region FROM sagemaker.change_feed_availability) t
  LEFT JOIN sagemaker.change_feed_availability a USING (account_id, region)
  LEFT JOIN sagemaker.api_rates l
         ON l.account_id = t.account_id AND l.region = t.region AND l.operation_class = 'list'
  LEFT JOIN sagemaker.api_rates s
         ON s.account_id = t.account_id AND s.region = t.region AND s.operation_class = 'search'
 ORDER BY t.account_id, t.region;


-- name: get_trust
SELECT trust_directed, trust_reason, trust_detail, feed_misses, feed_last_miss,
       feed_since, creation_cursor
  FROM sagemaker.sync_state
 WHERE account_id = $1 AND region = $2 AND scope_kind = 'changes' AND model_package_group_name = '';

-- name: save_trust
INSERT INTO sagemaker.sync_state AS s
       (account_id, region, scope_kind, model_package_group_name, trust_directed, trust_reason,
        trust_detail, trust_changed_at, feed_misses, feed_last_miss, feed_last_miss_at,
        feed_since, creation_cursor)
VALUES ($1, $2, 'changes', '', $3, $4, $5, now(), $6, $7, CASE WHEN $8 THEN now() END, $9, $10)
ON CONFLICT (account_id, region, scope_kind, model_package_group_name) DO UPDATE
   SET trust_changed_at = CASE WHEN (s.trust_directed, s.trust_reason)
                                    IS DISTINCT FROM (excluded.trust_directed, excluded.trust_reason)
                               THEN now() ELSE s.trust_changed_at END,
       trust_directed = excluded.trust_directed,
       trust_reason = excluded.trust_reason,
       trust_detail = excluded.trust_detail,
       feed_misses = excluded.feed_misses,
       feed_last_miss = excluded.feed_last_miss,
       feed_last_miss_at = coalesce(excluded.feed_last_miss_at, s.feed_last_miss_at),
       feed_since = excluded.feed_since,
       creation_cursor = excluded.creation_cursor;

-- name: live_among
-- Which of these packages the mirror has, not deleted, and when they were created.
SELECT model_package_arn, creation_time
  FROM sagemaker.model_packages
 WHERE model_package_arn = ANY ($1::text[]) AND deleted_at IS NULL;

-- name: created_in_run
-- Packages of an account/region that a run stored for the first time.
SELECT p.model_package_arn, p.creation_time
  FROM sagemaker.model_package_changes ch
  JOIN sagemaker.model_packages p USING (model_package_arn)
 WHERE ch.run_id = $3 AND ch.change_type = 'created'
   AND ch.account_id = $1 AND ch.region = $2
   AND p.creation_time > $4 AND p.creation_time < $5;

-- name: newest_package
-- The newest live package of an account/region, by creation time.
SELECT model_package_arn, creation_time
  FROM sagemaker.model_packages
 WHERE account_id = $1 AND region = $2 AND deleted_at IS NULL
 ORDER BY creation_time DESC
 LIMIT 1;

-- name: newest_group
SELECT max(creation_time)
  FROM sagemaker.model_package_groups
 WHERE account_id = $1 AND region = $2 AND deleted_at IS NULL;

-- name: status_feeds
-- Per account/region: the mode of its incremental cycles and why (syncer status).
SELECT account_id, region,
       CASE WHEN trust_directed THEN 'directed' ELSE 'all-groups' END AS mode,
       coalesce(trust_reason, 'not_proven') AS reason, trust_detail, trust_changed_at,
       feed_misses, feed_last_miss, feed_last_miss_at
  FROM sagemaker.sync_state
 WHERE scope_kind = 'changes'
 ORDER BY account_id, region;
