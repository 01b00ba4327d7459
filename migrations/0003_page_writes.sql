-- registry-sync schema, version 3: a listing page is written in one round trip,
-- and the change feed gets a sync_state row of its own.
--
-- A page used to take ten statements from the service (BEGIN, scope lock,
-- upsert, watermark, COMMIT, then the same again to sweep and record the
-- scope): most of a small scope's database time, and most of the service's
-- own time, went to those round trips. store_listing_page does the same work
-- in one call, and for the last page of a listing (for most groups, the only
-- one) it also sweeps and records the scope, so a group costs one round trip
-- and one commit. The pieces are functions of their own because the change
-- feed and the group sweep use them too (syncer/sql/queries.sql).
--
-- Every function runs with the caller's rights (SECURITY INVOKER), so the
-- service's table privileges still decide what it may do; EXECUTE is not left
-- to PUBLIC.

-- ---------------------------------------------------------------- scope lock
-- The lock every writer of a scope takes first, for the rest of its transaction:
-- (class, hashtext('account/region/kind/group')), the same key the service
-- used before this migration, so replicas of either version exclude each other.
-- The class is syncer.migrate.LOCK_CLASS + 1.
CREATE FUNCTION sagemaker.lock_scope(
    p_account text, p_region text, p_kind text, p_group text) RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT pg_advisory_xact_lock(1397181779, hashtext(concat_ws('/', p_account, p_region, p_kind, p_group)));
$$;
COMMENT ON FUNCTION sagemaker.lock_scope(text, text, text, text) IS
    'registry-sync internal: serialises writers of one sync scope until the end of the transaction.';

-- ---------------------------------------------------------------- watermark
-- Moves forward only, and only in the transaction that stored the rows it covers.
-- Never past the present: one package stamped in the future would otherwise
-- hide every package created before that moment from incremental listings.
CREATE FUNCTION sagemaker.advance_watermark(
    p_account text, p_region text, p_kind text, p_group text, p_watermark timestamptz)
RETURNS void
LANGUAGE sql VOLATILE AS $$
    INSERT INTO sagemaker.sync_state AS s
           (account_id, region, scope_kind, model_package_group_name, watermark)
    VALUES (p_account, p_region, p_kind, p_group, least(p_watermark, now()))
    ON CONFLICT (account_id, region, scope_kind, model_package_group_name) DO UPDATE
       SET watermark = greatest(s.watermark, excluded.watermark)
     WHERE s.watermark IS NULL OR s.watermark < excluded.watermark;
$$;
COMMENT ON FUNCTION sagemaker.advance_watermark(text, text, text, text, timestamptz) IS
    'registry-sync internal: moves a scope''s watermark (or the change feed''s cursor) forward, never past now().';

-- ---------------------------------------------------------------- scope done
CREATE FUNCTION sagemaker.scope_succeeded(
    p_account text, p_region text, p_kind text, p_group text, p_full boolean)
RETURNS void
LANGUAGE sql VOLATILE AS $$
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
$$;
COMMENT ON FUNCTION sagemaker.scope_succeeded(text, text, text, text, boolean) IS
    'registry-sync internal: records a completed listing of a scope (p_full: a complete one).';

-- ---------------------------------------------------------------- sweep
-- After a complete listing of a scope: rows it did not contain are gone.
-- p_group is the group, or '' for the unversioned packages of the account/region.
-- p_absent_before spares packages created too recently to be trusted absent
-- (the list API is eventually consistent). Returns how many were marked.
CREATE FUNCTION sagemaker.sweep_scope(
    p_account text, p_region text, p_group text, p_seen text[],
    p_absent_before timestamptz, p_run_id bigint)
RETURNS bigint
LANGUAGE sql VOLATILE AS $$
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
    SELECT count(*) FROM gone;
$$;
COMMENT ON FUNCTION sagemaker.sweep_scope(text, text, text, text[], timestamptz, bigint) IS
    'registry-sync internal: marks a scope''s packages absent from a complete listing deleted.';

-- ---------------------------------------------------------------- one page
-- A page of ListModelPackages summaries for one scope, in the caller's
-- transaction (one statement: its own, when the service calls it):
--   1. the scope lock, so that what the upsert reads as "previous" is current;
--   2. the upsert, which writes only rows whose raw summary differs and records
--      each change in model_package_changes from the rows as they were;
--   3. the scope's watermark, over this page's creation times;
--   4. with p_finish (the listing's last page): the sweep, when p_seen holds
--      everything a complete listing returned (NULL for an incremental one),
--      and the scope's success.
-- PL/pgSQL because each step must see the previous one's effects: every
-- statement of a VOLATILE function takes a new snapshot, after the lock.
CREATE FUNCTION sagemaker.store_listing_page(
    p_account text, p_region text, p_kind text, p_group text,
    p_arns text[], p_account_ids text[], p_regions text[], p_group_names text[],
    p_versions integer[], p_names text[], p_descriptions text[],
    p_creation_times timestamptz[], p_package_statuses text[], p_approval_statuses text[],
    p_stages text[], p_stage_statuses text[], p_stage_descriptions text[],
    p_registration_types text[], p_raws text[],
    p_run_id bigint, p_finish boolean, p_seen text[], p_absent_before timestamptz,
    OUT inserted bigint, OUT updated bigint, OUT changes bigint, OUT deleted bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM sagemaker.lock_scope(p_account, p_region, p_kind, p_group);
    inserted := 0; updated := 0; changes := 0; deleted := 0;

    IF cardinality(p_arns) > 0 THEN
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
COMMENT ON FUNCTION sagemaker.store_listing_page(
    text, text, text, text, text[], text[], text[], text[], integer[], text[], text[],
    timestamptz[], text[], text[], text[], text[], text[], text[], text[], bigint, boolean,
    text[], timestamptz) IS
    'registry-sync internal: stores one page of a scope''s listing (upsert, change history, watermark) and, for its last page, sweeps and records the scope; one round trip.';

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA sagemaker FROM PUBLIC;

-- ---------------------------------------------------------------- change feed row
-- The change feed kept its cursor, and recorded its errors, on the row of the
-- group listing: the group listing now runs after the feed and would clear the
-- feed's error. Its own row ('changes') keeps both apart and says what it is.
ALTER TABLE sagemaker.sync_state DROP CONSTRAINT sync_state_scope_kind_check;
ALTER TABLE sagemaker.sync_state ADD CONSTRAINT sync_state_scope_kind_check
    CHECK (scope_kind IN ('groups', 'group', 'unversioned', 'changes'));
INSERT INTO sagemaker.sync_state (account_id, region, scope_kind, model_package_group_name, watermark)
SELECT account_id, region, 'changes', '', watermark
  FROM sagemaker.sync_state
 WHERE scope_kind = 'groups' AND watermark IS NOT NULL;
UPDATE sagemaker.sync_state SET watermark = NULL WHERE scope_kind = 'groups';

COMMENT ON TABLE sagemaker.sync_state IS
    'Progress of each sync scope: the group listing of an account and region, each group''s versions, its unversioned packages, and its change feed.';
COMMENT ON COLUMN sagemaker.sync_state.scope_kind IS
    'groups (the list of groups), group (one group''s versions), unversioned, or changes (the change feed: Search on LastModifiedTime).';
COMMENT ON COLUMN sagemaker.sync_state.watermark IS
    'Latest creation_time stored for the scope; the next incremental listing starts at this minus the lookback. For changes: the latest LastModifiedTime applied (the feed''s cursor). NULL for groups.';
