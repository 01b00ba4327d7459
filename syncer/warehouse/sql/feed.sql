-- The change feed's queries (syncer/cycle/feed/): applying the changes Search
-- reports, and its cursor.

-- name: apply_package_changes
-- A page of the change feed (Search results): the mutable fields of packages
-- that are mirrored and live. Packages not in the mirror are left to the
-- listings, which store their summary. `raw` keeps the ListModelPackages
-- summary's shape: only the keys the fields come from ($8, as received) are
-- replaced, so the row is what a listing would store and the next listing
-- finds nothing to change. Rows that would not change are not touched. An
-- approval change keeps who last modified the record and its approval note
-- as of this read ($10..$12; NULL with SYNCER_DETAILS=false). Each live
-- package's LastModifiedTime ($13, to the second only where $14) is recorded
-- as the newest applied, by $15 (change_feed, event, describe), whether or not
-- its row changed: the caller has already left out what is older
-- (syncer/cycle/feed/state.py), and nothing older may move the row back later.
WITH incoming AS (
    SELECT *
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                  $7::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[],
                  $14::boolean[])
        AS t(model_package_arn, model_package_status, model_approval_status,
             model_life_cycle_stage, model_life_cycle_stage_status,
             model_life_cycle_stage_description, patch, last_modified_by_arn,
             last_modified_by_user_profile, approval_description, last_modified_time,
             whole_seconds)
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
stamped AS (
    INSERT INTO sagemaker.model_package_last_modified AS m (
        model_package_arn, last_modified_time, whole_seconds, deleted, applied_by, applied_at)
    SELECT i.model_package_arn, i.last_modified_time, i.whole_seconds, false, $15::text, now()
      FROM incoming i
      JOIN sagemaker.model_packages p USING (model_package_arn)
     WHERE p.deleted_at IS NULL
    ON CONFLICT (model_package_arn) DO UPDATE
       SET last_modified_time = excluded.last_modified_time,
           whole_seconds = excluded.whole_seconds,
           deleted = false,
           applied_by = excluded.applied_by,
           applied_at = excluded.applied_at
     -- Written only when it moves: a re-read of the same record writes nothing.
     WHERE (m.last_modified_time, m.whole_seconds, m.deleted)
           IS DISTINCT FROM (excluded.last_modified_time, excluded.whole_seconds, false)
    RETURNING 1
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
