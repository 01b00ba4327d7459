-- registry-sync schema, version 4: the page write keeps its plans.
--
-- A page write was planned from scratch on every call. The small functions were
-- SQL functions, which PostgreSQL 15 parses and plans on each call. The upsert
-- in store_listing_page got a custom plan each time as well: that is the plan
-- cache's choice, because the page arrays are parameters. Replaying a
-- 500-group full sync, planning was about a fifth of the database's CPU time
-- (docs/benchmarks.md).
--
-- A cached plan must fit the table at any size. On a new mirror the plan is
-- made while model_packages is empty, and a plan that fits an empty table
-- (hash the whole table, or scan an index by creation_time) would be kept
-- while the table grows to hundreds of thousands of rows. So a cached plan is
-- only allowed where it cannot depend on the table's size:
--   * lock_scope, advance_watermark and scope_succeeded become PL/pgSQL, which
--     keeps their plans per connection. Their statements probe a primary key
--     (INSERT ... ON CONFLICT) and have no other plan.
--   * store_listing_page always uses its generic plan, and within it joins
--     and scans are by index only. The one lookup it makes, each incoming
--     row's previous state, is then a probe of the primary key per row, the
--     plan that is right at every size. The other joins are between the
--     page's own rows (at most 100).
--   * sweep_scope becomes PL/pgSQL too, which keeps its parsed statement, but
--     it is still planned on every call (force_custom_plan): which index suits
--     it depends on the sizes of the group and of the table, and a plan made
--     on the empty table (an index scan by creation_time) would read all of it.

CREATE OR REPLACE FUNCTION sagemaker.lock_scope(
    p_account text, p_region text, p_kind text, p_group text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(
        1397181779, hashtext(concat_ws('/', p_account, p_region, p_kind, p_group)));
END
$$;

CREATE OR REPLACE FUNCTION sagemaker.advance_watermark(
    p_account text, p_region text, p_kind text, p_group text, p_watermark timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO sagemaker.sync_state AS s
           (account_id, region, scope_kind, model_package_group_name, watermark)
    VALUES (p_account, p_region, p_kind, p_group, least(p_watermark, now()))
    ON CONFLICT (account_id, region, scope_kind, model_package_group_name) DO UPDATE
       SET watermark = greatest(s.watermark, excluded.watermark)
     WHERE s.watermark IS NULL OR s.watermark < excluded.watermark;
END
$$;

CREATE OR REPLACE FUNCTION sagemaker.scope_succeeded(
    p_account text, p_region text, p_kind text, p_group text, p_full boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO sagemaker.sync_state AS s
           (account_id, region, scope_kind, model_package_group_name,
            last_attempt_at, last_success_at, last_full_success_at)
    VALUES (p_account, p_region, p_kind, p_group, now(), now(), CASE WHEN p_full THEN now() END)
    ON CONFLICT (account_id, region, scope_kind, model_package_group_name) DO UPDATE
       SET last_attempt_at = now(),
           last_success_at = now(),
           last_full_success_at = coalesce(excluded.last_full_success_at, s.last_full_success_at),
           last_error = NULL,
           last_error_at = NULL,
           consecutive_failures = 0;
END
$$;

CREATE OR REPLACE FUNCTION sagemaker.sweep_scope(
    p_account text, p_region text, p_group text, p_seen text[],
    p_absent_before timestamptz, p_run_id bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE n bigint;
BEGIN
    WITH gone AS (
        UPDATE sagemaker.model_packages p
           SET deleted_at = now(), last_changed_at = now()
         WHERE p.account_id = p_account
           AND p.region = p_region
           AND (p.model_package_group_name = p_group
                OR (p_group = '' AND p.model_package_group_name IS NULL))
           AND p.deleted_at IS NULL
           AND p.creation_time < p_absent_before
           AND NOT EXISTS (SELECT 1 FROM unnest(p_seen) AS seen(arn)
                            WHERE seen.arn = p.model_package_arn)
        RETURNING p.model_package_arn, p.account_id, p.region, p.model_package_group_name,
                  p.model_package_version, p.model_approval_status
    ),
    history AS (
        INSERT INTO sagemaker.model_package_changes (
            model_package_arn, account_id, region, model_package_group_name,
            model_package_version, change_type, old_value, new_value, observed_at, run_id)
        SELECT g.model_package_arn, g.account_id, g.region, g.model_package_group_name,
               g.model_package_version, 'deleted', g.model_approval_status, NULL, now(), p_run_id
          FROM gone g
    )
    SELECT count(*) INTO n FROM gone;
    RETURN n;
END
$$;
ALTER FUNCTION sagemaker.sweep_scope(text, text, text, text[], timestamptz, bigint)
    SET plan_cache_mode = force_custom_plan;

-- The settings hold while the function runs, for every statement it plans
-- (sweep_scope's too, which read by index anyway). They rule out the plans
-- that fit only a small table: with enable_seqscan off a table is read
-- through an index where one applies, and without hash and merge joins a
-- join probes that index per row.
ALTER FUNCTION sagemaker.store_listing_page(
    text, text, text, text, text[], text[], text[], text[], integer[], text[], text[],
    timestamptz[], text[], text[], text[], text[], text[], text[], text[], bigint, boolean,
    text[], timestamptz)
    SET plan_cache_mode = force_generic_plan
    SET enable_seqscan = off
    SET enable_hashjoin = off
    SET enable_mergejoin = off;
