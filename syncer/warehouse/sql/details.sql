-- Governance details (syncer/details_store.py; the tables are migration 0010's).

-- name: upsert_package_details
-- A page of Search records. A row is written only when its record differs
-- from the stored one (a re-read of an unchanged registry writes nothing),
-- and never with a record older than the stored one: a pass's read must not
-- undo what the change feed stored after it. The list columns arrive as JSON
-- arrays (unnest cannot carry arrays of differing lengths). A row whose typed
-- lineage and status columns differ from what the record says (stored before
-- migration 0016 filled them, or by a replica of an earlier release) is
-- rewritten too.
WITH incoming AS (
    SELECT *
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                  $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::text[],
                  $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
                  $16::boolean[], $17::text[], $18::boolean[], $19::text[], $20::text[],
                  $21::text[], $22::text[], $23::text[], $24::text[], $25::text[],
                  $26::text[], $27::text[], $28::text[], $29::text[])
        AS t(model_package_arn, created_by_arn, created_by_user_profile,
             last_modified_by_arn, last_modified_by_user_profile, last_modified_time,
             approval_description, tags, customer_metadata, image_uris, model_data_urls,
             source_uri, domain, task, sample_payload_url, has_model_metrics,
             model_metrics_s3_uris, has_drift_check_baselines,
             drift_check_baselines_s3_uris, model_card_status, record,
             generated_by, project_id, commit_id, repository, validation_statuses,
             image_scan_statuses, additional_image_uris, additional_model_data_urls)
),
written AS (
    INSERT INTO sagemaker.model_package_details AS d (
        model_package_arn, created_by_arn, created_by_user_profile, last_modified_by_arn,
        last_modified_by_user_profile, last_modified_time, approval_description, tags,
        customer_metadata, image_uris, model_data_urls, source_uri, domain, task,
        sample_payload_url, has_model_metrics, model_metrics_s3_uris,
        has_drift_check_baselines, drift_check_baselines_s3_uris, model_card_status,
        record, fetched_at, generated_by, project_id, commit_id, repository,
        validation_statuses, image_scan_statuses, additional_image_uris,
        additional_model_data_urls)
    SELECT i.model_package_arn, i.created_by_arn, i.created_by_user_profile,
           i.last_modified_by_arn, i.last_modified_by_user_profile, i.last_modified_time,
           i.approval_description, i.tags::jsonb, i.customer_metadata::jsonb,
           ARRAY(SELECT jsonb_array_elements_text(i.image_uris::jsonb)),
           ARRAY(SELECT jsonb_array_elements_text(i.model_data_urls::jsonb)),
           i.source_uri, i.domain, i.task, i.sample_payload_url, i.has_model_metrics,
           ARRAY(SELECT jsonb_array_elements_text(i.model_metrics_s3_uris::jsonb)),
           i.has_drift_check_baselines,
           ARRAY(SELECT jsonb_array_elements_text(i.drift_check_baselines_s3_uris::jsonb)),
           i.model_card_status, i.record::jsonb, now(), i.generated_by, i.project_id,
           i.commit_id, i.repository, i.validation_statuses::jsonb,
           i.image_scan_statuses::jsonb,
           ARRAY(SELECT jsonb_array_elements_text(i.additional_image_uris::jsonb)),
           ARRAY(SELECT jsonb_array_elements_text(i.additional_model_data_urls::jsonb))
      FROM incoming i
    ON CONFLICT (model_package_arn) DO UPDATE
       SET created_by_arn = excluded.created_by_arn,
           created_by_user_profile = excluded.created_by_user_profile,
           last_modified_by_arn = excluded.last_modified_by_arn,
           last_modified_by_user_profile = excluded.last_modified_by_user_profile,
           last_modified_time = excluded.last_modified_time,
           approval_description = excluded.approval_description,
           tags = excluded.tags,
           customer_metadata = excluded.customer_metadata,
           image_uris = excluded.image_uris,
           model_data_urls = excluded.model_data_urls,
           source_uri = excluded.source_uri,
           domain = excluded.domain,
           task = excluded.task,
           sample_payload_url = excluded.sample_payload_url,
           has_model_metrics = excluded.has_model_metrics,
           model_metrics_s3_uris = excluded.model_metrics_s3_uris,
           has_drift_check_baselines = excluded.has_drift_check_baselines,
           drift_check_baselines_s3_uris = excluded.drift_check_baselines_s3_uris,
           model_card_status = excluded.model_card_status,
           record = excluded.record,
           fetched_at = excluded.fetched_at,
           generated_by = excluded.generated_by,
           project_id = excluded.project_id,
           commit_id = excluded.commit_id,
           repository = excluded.repository,
           validation_statuses = excluded.validation_statuses,
           image_scan_statuses = excluded.image_scan_statuses,
           additional_image_uris = excluded.additional_image_uris,
           additional_model_data_urls = excluded.additional_model_data_urls
     WHERE (d.record IS DISTINCT FROM excluded.record
            OR (d.generated_by, d.project_id, d.commit_id, d.repository,
                d.validation_statuses, d.image_scan_statuses, d.additional_image_uris,
                d.additional_model_data_urls)
               IS DISTINCT FROM
               (excluded.generated_by, excluded.project_id, excluded.commit_id,
                excluded.repository, excluded.validation_statuses,
                excluded.image_scan_statuses, excluded.additional_image_uris,
                excluded.additional_model_data_urls)
            -- identities change alone when SYNCER_IDENTITIES or its key does
            OR (d.created_by_arn, d.created_by_user_profile, d.last_modified_by_arn,
                d.last_modified_by_user_profile)
               IS DISTINCT FROM (excluded.created_by_arn, excluded.created_by_user_profile,
                                 excluded.last_modified_by_arn,
                                 excluded.last_modified_by_user_profile))
       AND (d.last_modified_time IS NULL OR excluded.last_modified_time IS NULL
            OR excluded.last_modified_time >= d.last_modified_time)
    RETURNING 1
)
SELECT count(*) FROM written;

-- name: upsert_group_details
WITH incoming AS (
    SELECT *
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
        AS t(model_package_group_arn, created_by_arn, created_by_user_profile, tags, record)
),
written AS (
    INSERT INTO sagemaker.model_package_group_details AS d (
        model_package_group_arn, created_by_arn, created_by_user_profile, tags, record,
        fetched_at)
    SELECT i.model_package_group_arn, i.created_by_arn, i.created_by_user_profile,
           i.tags::jsonb, i.record::jsonb, now()
      FROM incoming i
    ON CONFLICT (model_package_group_arn) DO UPDATE
       SET created_by_arn = excluded.created_by_arn,
           created_by_user_profile = excluded.created_by_user_profile,
           tags = excluded.tags,
           record = excluded.record,
           fetched_at = excluded.fetched_at
     WHERE (d.record, d.created_by_arn, d.created_by_user_profile)
           IS DISTINCT FROM (excluded.record, excluded.created_by_arn,
                             excluded.created_by_user_profile)
    RETURNING 1
)
SELECT count(*) FROM written;

-- name: get_details_state
SELECT pass_started_at, pass_from, pass_cursor, pass_full, looked_through,
       last_full_pass_started_at, last_error
  FROM sagemaker.details_state
 WHERE account_id = $1 AND region = $2;

-- name: details_missing
-- What no completed pass has looked for yet: the oldest creation time of the
-- live packages first seen since $3 (found through their 'created' change,
-- whose observed_at is indexed) that have no details, and whether such a
-- group exists. NULL $3: everything.
SELECT (SELECT min(p.creation_time)
          FROM sagemaker.model_package_changes c
          JOIN sagemaker.model_packages p USING (model_package_arn)
         WHERE c.change_type = 'created'
           AND c.observed_at >= coalesce($3::timestamptz, '-infinity')
           AND c.account_id = $1 AND c.region = $2
           AND p.deleted_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM sagemaker.model_package_details d
                            WHERE d.model_package_arn = p.model_package_arn)
       ) AS packages_since,
       EXISTS (SELECT 1
                 FROM sagemaker.model_package_groups g
                WHERE g.account_id = $1 AND g.region = $2
                  AND g.deleted_at IS NULL
                  AND g.first_seen_at >= coalesce($3::timestamptz, '-infinity')
                  AND NOT EXISTS (SELECT 1 FROM sagemaker.model_package_group_details d
                                   WHERE d.model_package_group_arn = g.model_package_group_arn)
       ) AS groups_missing;

-- name: open_details_pass
INSERT INTO sagemaker.details_state AS s
       (account_id, region, pass_started_at, pass_from, pass_cursor, pass_full)
VALUES ($1, $2, now(), $3, NULL, $4)
ON CONFLICT (account_id, region) DO UPDATE
   SET pass_started_at = now(), pass_from = $3, pass_cursor = NULL, pass_full = $4;

-- name: advance_details_pass
UPDATE sagemaker.details_state
   SET pass_cursor = greatest(pass_cursor, $3)
 WHERE account_id = $1 AND region = $2 AND pass_started_at IS NOT NULL;

-- name: close_details_pass
-- Packages first seen more than the lookback before the pass started were
-- in the search index when it read them (Search is eventually consistent).
UPDATE sagemaker.details_state
   SET looked_through = greatest(looked_through, pass_started_at - make_interval(secs => $3)),
       last_full_pass_started_at = CASE WHEN pass_full THEN pass_started_at
                                        ELSE last_full_pass_started_at END,
       last_pass_finished_at = now(),
       pass_started_at = NULL, pass_from = NULL, pass_cursor = NULL, pass_full = false,
       last_error = NULL, last_error_at = NULL, consecutive_failures = 0
 WHERE account_id = $1 AND region = $2 AND pass_started_at IS NOT NULL;

-- name: live_between
-- Whether an account/region has a live package created in [$3, $4).
SELECT EXISTS (SELECT 1 FROM sagemaker.model_packages
                WHERE account_id = $1 AND region = $2 AND deleted_at IS NULL
                  AND creation_time >= $3 AND creation_time < $4);

-- name: details_failed
INSERT INTO sagemaker.details_state AS s
       (account_id, region, last_error, last_error_at, consecutive_failures)
VALUES ($1, $2, $3, now(), 1)
ON CONFLICT (account_id, region) DO UPDATE
   SET last_error = $3, last_error_at = now(),
       consecutive_failures = s.consecutive_failures + 1;

-- name: status_details
-- Per account and region: how many live packages have details, the open pass,
-- the last completed re-read and the last error (syncer status).
SELECT s.account_id, s.region,
       (SELECT count(*) FROM sagemaker.model_packages p
         WHERE p.account_id = s.account_id AND p.region = s.region
           AND p.deleted_at IS NULL) AS packages,
       (SELECT count(*) FROM sagemaker.model_packages p
          JOIN sagemaker.model_package_details d USING (model_package_arn)
         WHERE p.account_id = s.account_id AND p.region = s.region
           AND p.deleted_at IS NULL) AS with_details,
       s.pass_started_at, s.pass_cursor, s.last_full_pass_started_at,
       s.last_pass_finished_at, s.last_error, s.last_error_at, s.consecutive_failures
  FROM sagemaker.details_state s
 ORDER BY s.account_id, s.region;

-- name: package_details_record
-- The stored record of a package's details ($1), locked while an event merges into it.
SELECT record::text
  FROM sagemaker.model_package_details
 WHERE model_package_arn = $1
   FOR UPDATE;
