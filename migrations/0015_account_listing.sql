-- registry-sync schema, version 15: the account's packages in one listing, and
-- scope locks that only the service can take.
--
-- A reconcile lists every package of an account and region with
-- ListModelPackages (ModelPackageType Both or Versioned, no group), in
-- creation-time windows side by side, instead of one listing per group:
-- about packages/100 calls however they are spread over groups. Its pages
-- span groups, so they are written by write_package_page, which upserts and
-- records history like a group's page but moves no watermark: the windows
-- finish out of order, and a watermark must never pass a package not yet
-- stored. Once every window has completed, close_package_listing marks what
-- the listing did not contain deleted and records every scope of the account
-- and region (each group's and the unversioned watermark from the rows now
-- stored, and the new 'packages' scope, whose watermark is where incremental
-- cycles look for new packages next).
--
-- lock_scope locked a scope with an advisory lock on a key any session can
-- compute from sync_state, so a reader could stall a scope by holding it. It
-- now locks the scope's sync_state row (FOR UPDATE needs the UPDATE privilege,
-- which readers do not have).

ALTER TABLE sagemaker.sync_state
    DROP CONSTRAINT sync_state_scope_kind_check,
    ADD CONSTRAINT sync_state_scope_kind_check
        CHECK (scope_kind IN ('groups', 'group', 'unversioned', 'changes', 'packages'));
COMMENT ON TABLE sagemaker.sync_state IS
    'Progress of each sync scope: the group listing of an account and region, the listing of all its packages, each group''s versions, its unversioned packages, and its change feed.';
COMMENT ON COLUMN sagemaker.sync_state.scope_kind IS
    'groups (the list of groups), packages (every package of the account and region, by creation time), group (one group''s versions), unversioned, or changes (the change feed: Search on LastModifiedTime).';
COMMENT ON COLUMN sagemaker.sync_state.watermark IS
    'Latest creation_time stored for the scope; the next incremental listing starts at this minus the lookback. For packages: where incremental cycles look for new packages of any group. For changes: the latest LastModifiedTime applied (the feed''s cursor). NULL for groups.';
COMMENT ON COLUMN sagemaker.sync_state.trust_directed IS 'Unused since schema version 15 (directed cycles are gone); dropped in a later release.';
COMMENT ON COLUMN sagemaker.sync_state.trust_reason IS 'Unused since schema version 15; dropped in a later release.';
COMMENT ON COLUMN sagemaker.sync_state.trust_detail IS 'Unused since schema version 15; dropped in a later release.';
COMMENT ON COLUMN sagemaker.sync_state.trust_changed_at IS 'Unused since schema version 15; dropped in a later release.';
COMMENT ON COLUMN sagemaker.sync_state.feed_since IS 'Unused since schema version 15; dropped in a later release.';
COMMENT ON COLUMN sagemaker.sync_state.creation_cursor IS 'Unused since schema version 15 (the packages row''s watermark took its place); dropped in a later release.';
COMMENT ON COLUMN sagemaker.sync_state.feed_misses IS 'Unused since schema version 15; dropped in a later release.';
COMMENT ON COLUMN sagemaker.sync_state.feed_last_miss IS 'Unused since schema version 15; dropped in a later release.';
COMMENT ON COLUMN sagemaker.sync_state.feed_last_miss_at IS 'Unused since schema version 15; dropped in a later release.';

-- The details' passes read creation-time windows side by side too.
COMMENT ON COLUMN sagemaker.details_state.pass_from IS 'The open pass reads packages created at or after this; NULL: all of them.';
COMMENT ON COLUMN sagemaker.details_state.pass_cursor IS 'The open pass has read every package created before this (its windows are read side by side); a pass cut short (by its budget of calls per cycle, or a restart) resumes here.';

-- ---------------------------------------------------------------- scope locks
CREATE OR REPLACE FUNCTION sagemaker.lock_scope(
    p_account text, p_region text, p_kind text, p_group text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO sagemaker.sync_state (account_id, region, scope_kind, model_package_group_name)
    VALUES (p_account, p_region, p_kind, p_group)
    ON CONFLICT DO NOTHING;
    PERFORM 1
       FROM sagemaker.sync_state
      WHERE account_id = p_account AND region = p_region
        AND scope_kind = p_kind AND model_package_group_name = p_group
        FOR UPDATE;
END
$$;
COMMENT ON FUNCTION sagemaker.lock_scope(text, text, text, text) IS
    'registry-sync internal: serialises writers of one sync scope until the end of the transaction (a lock on its sync_state row, which readers cannot take).';

-- ---------------------------------------------------------------- package pages
-- The upsert with change history that every page write runs, whatever its scope.
CREATE FUNCTION sagemaker.upsert_packages(
    p_arns text[], p_account_ids text[], p_regions text[], p_group_names text[],
    p_versions integer[], p_names text[], p_descriptions text[],
    p_creation_times timestamptz[], p_package_statuses text[], p_approval_statuses text[],
    p_stages text[], p_stage_statuses text[], p_stage_descriptions text[],
    p_registration_types text[], p_raws text[],
    p_run_id bigint,
    OUT inserted bigint, OUT updated bigint, OUT changes bigint)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    inserted := 0; updated := 0; changes := 0;
    IF cardinality(p_arns) = 0 THEN
        RETURN;
    END IF;
    -- `previous` reads the rows as they were before this statement, which
    -- is how the change history gets old and new values without a second query.
    WITH incoming AS (
        SELECT *
          FROM unnest(p_arns, p_account_ids, p_regions, p_group_names, p_versions,
                      p_names, p_descriptions, p_creation_times, p_package_statuses,
                      p_approval_statuses, p_stages, p_stage_statuses,
                      p_stage_descriptions, p_registration_types, p_raws)
            AS t(model_package_arn, account_id, region, model_package_group_name,
                 model_package_version, model_package_name, model_package_description,
                 creation_time, model_package_status, model_approval_status,
                 model_life_cycle_stage, model_life_cycle_stage_status,
                 model_life_cycle_stage_description, model_package_registration_type, raw)
    ),
    previous AS (
        SELECT p.model_package_arn, p.model_package_status, p.model_approval_status,
               p.model_life_cycle_stage, p.model_life_cycle_stage_status, p.deleted_at
          FROM sagemaker.model_packages p
          JOIN incoming i USING (model_package_arn)
    ),
    written AS (
        INSERT INTO sagemaker.model_packages AS p (
            model_package_arn, account_id, region, model_package_group_name,
            model_package_version, model_package_name, model_package_description,
            creation_time, model_package_status, model_approval_status,
            model_life_cycle_stage, model_life_cycle_stage_status,
            model_life_cycle_stage_description, model_package_registration_type, raw,
            first_seen_at, last_changed_at)
        SELECT i.model_package_arn, i.account_id, i.region, i.model_package_group_name,
               i.model_package_version, i.model_package_name, i.model_package_description,
               i.creation_time, i.model_package_status, i.model_approval_status,
               i.model_life_cycle_stage, i.model_life_cycle_stage_status,
               i.model_life_cycle_stage_description, i.model_package_registration_type,
               i.raw::jsonb, now(), now()
          FROM incoming i
        ON CONFLICT (model_package_arn) DO UPDATE SET
            account_id = excluded.account_id,
            region = excluded.region,
            model_package_group_name = excluded.model_package_group_name,
            model_package_version = excluded.model_package_version,
            model_package_name = excluded.model_package_name,
            model_package_description = excluded.model_package_description,
            creation_time = excluded.creation_time,
            model_package_status = excluded.model_package_status,
            model_approval_status = excluded.model_approval_status,
            model_life_cycle_stage = excluded.model_life_cycle_stage,
            model_life_cycle_stage_status = excluded.model_life_cycle_stage_status,
            model_life_cycle_stage_description = excluded.model_life_cycle_stage_description,
            model_package_registration_type = excluded.model_package_registration_type,
            raw = excluded.raw,
            last_changed_at = excluded.last_changed_at,
            deleted_at = NULL
        -- Every column derives from raw (plus the ARN), so raw equality is row equality.
        WHERE p.raw IS DISTINCT FROM excluded.raw OR p.deleted_at IS NOT NULL
        RETURNING p.model_package_arn, p.account_id, p.region, p.model_package_group_name,
                  p.model_package_version, p.model_package_status, p.model_approval_status,
                  p.model_life_cycle_stage, p.model_life_cycle_stage_status
    ),
    history AS (
        INSERT INTO sagemaker.model_package_changes (
            model_package_arn, account_id, region, model_package_group_name,
            model_package_version, change_type, old_value, new_value, observed_at, run_id)
        SELECT w.model_package_arn, w.account_id, w.region, w.model_package_group_name,
               w.model_package_version, c.change_type, c.old_value, c.new_value, now(),
               p_run_id
          FROM written w
          LEFT JOIN previous o USING (model_package_arn)
         CROSS JOIN LATERAL (VALUES
            ('created', NULL, w.model_approval_status,
                o.model_package_arn IS NULL),
            ('reappeared', NULL, NULL,
                o.deleted_at IS NOT NULL),
            ('model_approval_status', o.model_approval_status, w.model_approval_status,
                o.model_package_arn IS NOT NULL
                AND o.model_approval_status IS DISTINCT FROM w.model_approval_status),
            ('model_package_status', o.model_package_status, w.model_package_status,
                o.model_package_arn IS NOT NULL
                AND o.model_package_status IS DISTINCT FROM w.model_package_status),
            -- A package first seen in a stage enters it then: recorded, so that
            -- "when did it reach Production" has an answer from the history alone.
            ('model_life_cycle_stage', o.model_life_cycle_stage, w.model_life_cycle_stage,
                o.model_life_cycle_stage IS DISTINCT FROM w.model_life_cycle_stage),
            ('model_life_cycle_stage_status', o.model_life_cycle_stage_status,
                w.model_life_cycle_stage_status,
                o.model_life_cycle_stage_status
                    IS DISTINCT FROM w.model_life_cycle_stage_status)
         ) AS c(change_type, old_value, new_value, happened)
         WHERE c.happened
        RETURNING 1
    )
    SELECT count(*) FILTER (WHERE o.model_package_arn IS NULL),
           count(*) FILTER (WHERE o.model_package_arn IS NOT NULL),
           (SELECT count(*) FROM history)
      INTO inserted, updated, changes
      FROM written w
      LEFT JOIN previous o USING (model_package_arn);
END
$$;
COMMENT ON FUNCTION sagemaker.upsert_packages(
    text[], text[], text[], text[], integer[], text[], text[],
    timestamptz[], text[], text[], text[], text[], text[], text[], text[], bigint) IS
    'registry-sync internal: upserts listed package summaries and records what changed in model_package_changes.';
REVOKE EXECUTE ON FUNCTION sagemaker.upsert_packages(
    text[], text[], text[], text[], integer[], text[], text[],
    timestamptz[], text[], text[], text[], text[], text[], text[], text[], bigint) FROM PUBLIC;

-- A group's (or the unversioned) page, as before, its upsert now upsert_packages.
CREATE OR REPLACE FUNCTION sagemaker.store_listing_page(
    p_account text, p_region text, p_kind text, p_group text,
    p_arns text[], p_account_ids text[], p_regions text[], p_group_names text[],
    p_versions integer[], p_names text[], p_descriptions text[],
    p_creation_times timestamptz[], p_package_statuses text[], p_approval_statuses text[],
    p_stages text[], p_stage_statuses text[], p_stage_descriptions text[],
    p_registration_types text[], p_raws text[],
    p_run_id bigint, p_finish boolean, p_seen text[], p_absent_before timestamptz,
    OUT inserted bigint, OUT updated bigint, OUT changes bigint, OUT deleted bigint)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM sagemaker.lock_scope(p_account, p_region, p_kind, p_group);
    deleted := 0;
    SELECT u.inserted, u.updated, u.changes
      INTO inserted, updated, changes
      FROM sagemaker.upsert_packages(
            p_arns, p_account_ids, p_regions, p_group_names, p_versions, p_names,
            p_descriptions, p_creation_times, p_package_statuses, p_approval_statuses,
            p_stages, p_stage_statuses, p_stage_descriptions, p_registration_types, p_raws,
            p_run_id) AS u;
    IF cardinality(p_arns) > 0 THEN
        PERFORM sagemaker.advance_watermark(
            p_account, p_region, p_kind, p_group,
            (SELECT max(t) FROM unnest(p_creation_times) AS t));
    END IF;
    IF p_finish THEN
        IF p_seen IS NOT NULL THEN
            deleted := sagemaker.sweep_scope(
                p_account, p_region, p_group, p_seen, p_absent_before, p_run_id);
        END IF;
        PERFORM sagemaker.scope_succeeded(p_account, p_region, p_kind, p_group, p_seen IS NOT NULL);
    END IF;
END
$$;

-- A page of the account's listing: its rows span groups. No scope lock and no
-- watermark (close_package_listing records the scopes once every window is in);
-- rows arrive sorted by ARN, so that two writers lock them in the same order.
CREATE FUNCTION sagemaker.write_package_page(
    p_arns text[], p_account_ids text[], p_regions text[], p_group_names text[],
    p_versions integer[], p_names text[], p_descriptions text[],
    p_creation_times timestamptz[], p_package_statuses text[], p_approval_statuses text[],
    p_stages text[], p_stage_statuses text[], p_stage_descriptions text[],
    p_registration_types text[], p_raws text[],
    p_run_id bigint, p_lock_timeout_ms integer,
    OUT inserted bigint, OUT updated bigint, OUT changes bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout_ms::text, true);
    SELECT u.inserted, u.updated, u.changes
      INTO inserted, updated, changes
      FROM sagemaker.upsert_packages(
            p_arns, p_account_ids, p_regions, p_group_names, p_versions, p_names,
            p_descriptions, p_creation_times, p_package_statuses, p_approval_statuses,
            p_stages, p_stage_statuses, p_stage_descriptions, p_registration_types, p_raws,
            p_run_id) AS u;
END
$$;
COMMENT ON FUNCTION sagemaker.write_package_page(
    text[], text[], text[], text[], integer[], text[], text[],
    timestamptz[], text[], text[], text[], text[], text[], text[], text[], bigint, integer) IS
    'registry-sync internal: one page of an account''s package listing (upsert and change history; no watermark), its lock waits bounded by the caller''s timeout (ms).';
REVOKE EXECUTE ON FUNCTION sagemaker.write_package_page(
    text[], text[], text[], text[], integer[], text[], text[],
    timestamptz[], text[], text[], text[], text[], text[], text[], text[], bigint, integer) FROM PUBLIC;

-- After every window of an account's listing completed: what it did not contain
-- is gone, and every scope it covered is recorded, its watermark from the rows
-- stored (the listing was complete, so nothing older is missing).
CREATE FUNCTION sagemaker.close_package_listing(
    p_account text, p_region text, p_seen text[], p_absent_before timestamptz,
    p_name_filter text, p_unversioned boolean, p_run_id bigint, p_lock_timeout_ms integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_custom_plan
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE n bigint;
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout_ms::text, true);
    -- The account-wide lock, which the group sweep and the change feed take too.
    PERFORM sagemaker.lock_scope(p_account, p_region, 'groups', '');
    WITH gone AS (
        UPDATE sagemaker.model_packages p
           SET deleted_at = now(), last_changed_at = now()
         WHERE p.account_id = p_account
           AND p.region = p_region
           AND p.deleted_at IS NULL
           AND p.creation_time < p_absent_before
           AND CASE WHEN p.model_package_group_name IS NULL THEN p_unversioned
                    ELSE strpos(p.model_package_group_name, p_name_filter) > 0 END
           AND NOT (p.model_package_arn = ANY (p_seen))
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

    WITH newest AS (
        SELECT p.model_package_group_name AS name, max(p.creation_time) AS newest
          FROM sagemaker.model_packages p
         WHERE p.account_id = p_account AND p.region = p_region AND p.deleted_at IS NULL
         GROUP BY p.model_package_group_name
    ),
    scopes AS (
        SELECT 'group' AS kind, g.model_package_group_name AS name, n.newest
          FROM sagemaker.model_package_groups g
          LEFT JOIN newest n ON n.name = g.model_package_group_name
         WHERE g.account_id = p_account AND g.region = p_region AND g.deleted_at IS NULL
           AND strpos(g.model_package_group_name, p_name_filter) > 0
        UNION ALL
        SELECT 'unversioned', '', (SELECT n.newest FROM newest n WHERE n.name IS NULL)
         WHERE p_unversioned
        UNION ALL
        SELECT 'packages', '', (SELECT max(n.newest) FROM newest n)
    )
    INSERT INTO sagemaker.sync_state AS s
           (account_id, region, scope_kind, model_package_group_name, watermark,
            last_attempt_at, last_success_at, last_full_success_at)
    -- least() passes over a NULL: a scope with no package keeps no watermark.
    SELECT p_account, p_region, c.kind, c.name,
           CASE WHEN c.newest IS NOT NULL THEN least(c.newest, now()) END, now(), now(), now()
      FROM scopes c
    ON CONFLICT (account_id, region, scope_kind, model_package_group_name) DO UPDATE
       SET watermark = greatest(s.watermark, excluded.watermark),
           last_attempt_at = now(),
           last_success_at = now(),
           last_full_success_at = now(),
           last_error = NULL,
           last_error_at = NULL,
           consecutive_failures = 0;
    RETURN n;
END
$$;
COMMENT ON FUNCTION sagemaker.close_package_listing(
    text, text, text[], timestamptz, text, boolean, bigint, integer) IS
    'registry-sync internal: after a complete listing of an account''s packages, marks what it did not contain deleted and records each scope it covered; returns how many were marked.';
REVOKE EXECUTE ON FUNCTION sagemaker.close_package_listing(
    text, text, text[], timestamptz, text, boolean, bigint, integer) FROM PUBLIC;
