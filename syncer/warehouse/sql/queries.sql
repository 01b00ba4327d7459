-- Named queries of the store (syncer/warehouse/store.py): listing pages, groups,
-- sweeps and scope state; loaded once at import.
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

-- name: scope_lock
-- Until the end of the transaction (sagemaker.lock_scope).
SELECT sagemaker.lock_scope($1, $2, $3, $4);

-- name: newest_group
SELECT max(creation_time)
  FROM sagemaker.model_package_groups
 WHERE account_id = $1 AND region = $2 AND deleted_at IS NULL;

-- name: live_among
-- Which of these packages the mirror has, not deleted, and when they were created.
SELECT model_package_arn, creation_time
  FROM sagemaker.model_packages
 WHERE model_package_arn = ANY ($1::text[]) AND deleted_at IS NULL;

-- name: write_package_page
-- One page of an account-wide listing, sent on its own like a scope's page:
-- $1-$15 the page as columns, $16 the run, $17 the lock timeout (ms).
SELECT inserted, updated, changes
  FROM sagemaker.write_package_page(
        $1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[],
        $8::timestamptz[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[],
        $14::text[], $15::text[],
        $16, $17);

-- name: close_package_listing
-- After every window of an account-wide listing, sent on its own: $3 the ARNs
-- it returned, $4 the sweep's cut-off, $5 the name filter ('' for none), $6
-- whether unversioned packages are mirrored, $7 the run, $8 the lock timeout (ms).
SELECT sagemaker.close_package_listing($1, $2, $3::text[], $4, $5, $6, $7, $8);

-- name: window_edges
-- Where windows of whole pages begin, about $3 of them and at least $4 packages
-- each: the creation time of every size-th live package of an account/region
-- (the size a multiple of 100), from the (size+1)-th on.
WITH live AS (
    SELECT creation_time,
           row_number() OVER (ORDER BY creation_time) AS n,
           count(*) OVER () AS total
      FROM sagemaker.model_packages
     WHERE account_id = $1 AND region = $2 AND deleted_at IS NULL
)
SELECT creation_time
  FROM live
 CROSS JOIN LATERAL (
       SELECT greatest($4::bigint, ceil(total::numeric / $3 / 100)::bigint * 100) AS size
       ) w
 WHERE n % w.size = 1 AND n > 1
 ORDER BY creation_time;
