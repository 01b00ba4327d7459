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
--   * sweep_scope stays a SQL function and is planned on every call: which
--     index suits it depends on the group's size.

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

-- The settings hold while the function runs, for the statements it plans
-- (and for sweep_scope's, which by index is what its plan is anyway). They
-- rule out the plans that fit only a small table: with enable_seqscan off a
-- table is read through an index where one applies, and without hash and
-- merge joins a join probes that index per row.
ALTER FUNCTION sagemaker.store_listing_page(
    text, text, text, text, text[], text[], text[], text[], integer[], text[], text[],
    timestamptz[], text[], text[], text[], text[], text[], text[], text[], bigint, boolean,
    text[], timestamptz)
    SET plan_cache_mode = force_generic_plan
    SET enable_seqscan = off
    SET enable_hashjoin = off
    SET enable_mergejoin = off;
