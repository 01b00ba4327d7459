-- What a reconcile purges or rewrites so that the mirror holds what the settings
-- allow, per account and region (syncer/cycle/privacy.py). The deletes run in
-- functions of migration 0017, with the owner's rights: the runtime role has
-- no DELETE. The details tables have no account or region column: their ARNs
-- carry both (arn:partition:sagemaker:region:account:...).

-- name: purge_outside_filter
SELECT groups, packages FROM sagemaker.purge_outside_filter($1, $2, $3, $4);

-- name: purge_deleted_before
SELECT sagemaker.purge_deleted_before($1, $2, now() - make_interval(days => $3));

-- name: strip_identity_records
-- The Search records without CreatedBy and LastModifiedBy (SYNCER_IDENTITIES
-- other than keep); returns the rows rewritten.
WITH packages AS (
    UPDATE sagemaker.model_package_details d
       SET record = d.record - 'CreatedBy' - 'LastModifiedBy'
     WHERE split_part(d.model_package_arn, ':', 5) = $1
       AND split_part(d.model_package_arn, ':', 4) = $2
       AND (d.record ? 'CreatedBy' OR d.record ? 'LastModifiedBy')
    RETURNING 1
),
groups AS (
    UPDATE sagemaker.model_package_group_details d
       SET record = d.record - 'CreatedBy'
     WHERE split_part(d.model_package_group_arn, ':', 5) = $1
       AND split_part(d.model_package_group_arn, ':', 4) = $2
       AND d.record ? 'CreatedBy'
    RETURNING 1
)
SELECT (SELECT count(*) FROM packages) + (SELECT count(*) FROM groups);

-- name: stored_identities
-- The identities stored for an account and region that are not hashed yet
-- (SYNCER_IDENTITIES=hash hashes them in place).
SELECT DISTINCT v
  FROM (SELECT unnest(ARRAY[d.created_by_arn, d.created_by_user_profile,
                            d.last_modified_by_arn, d.last_modified_by_user_profile]) AS v
          FROM sagemaker.model_package_details d
         WHERE split_part(d.model_package_arn, ':', 5) = $1
           AND split_part(d.model_package_arn, ':', 4) = $2
        UNION ALL
        SELECT unnest(ARRAY[g.created_by_arn, g.created_by_user_profile])
          FROM sagemaker.model_package_group_details g
         WHERE split_part(g.model_package_group_arn, ':', 5) = $1
           AND split_part(g.model_package_group_arn, ':', 4) = $2
        UNION ALL
        SELECT unnest(ARRAY[c.last_modified_by_arn, c.last_modified_by_user_profile])
          FROM sagemaker.model_package_changes c
         WHERE c.account_id = $1 AND c.region = $2
           AND (c.last_modified_by_arn IS NOT NULL OR c.last_modified_by_user_profile IS NOT NULL)
       ) found
 WHERE v IS NOT NULL AND v NOT LIKE 'hmac:%';

-- name: replace_identities
-- Each identity of an account and region found in $3 replaced by its
-- counterpart in $4 (its hash); $5: every identity dropped instead.
-- Returns the rows rewritten.
WITH m AS (
    SELECT * FROM unnest($3::text[], $4::text[]) AS m(raw, stored)
),
packages AS (
    UPDATE sagemaker.model_package_details d
       SET created_by_arn = CASE WHEN $5 THEN NULL ELSE coalesce(
               (SELECT m.stored FROM m WHERE m.raw = d.created_by_arn), d.created_by_arn) END,
           created_by_user_profile = CASE WHEN $5 THEN NULL ELSE coalesce(
               (SELECT m.stored FROM m WHERE m.raw = d.created_by_user_profile),
               d.created_by_user_profile) END,
           last_modified_by_arn = CASE WHEN $5 THEN NULL ELSE coalesce(
               (SELECT m.stored FROM m WHERE m.raw = d.last_modified_by_arn),
               d.last_modified_by_arn) END,
           last_modified_by_user_profile = CASE WHEN $5 THEN NULL ELSE coalesce(
               (SELECT m.stored FROM m WHERE m.raw = d.last_modified_by_user_profile),
               d.last_modified_by_user_profile) END
     WHERE split_part(d.model_package_arn, ':', 5) = $1
       AND split_part(d.model_package_arn, ':', 4) = $2
       AND CASE WHEN $5
                THEN num_nonnulls(d.created_by_arn, d.created_by_user_profile,
                                  d.last_modified_by_arn, d.last_modified_by_user_profile) > 0
                ELSE ARRAY[d.created_by_arn, d.created_by_user_profile, d.last_modified_by_arn,
                           d.last_modified_by_user_profile] && $3::text[] END
    RETURNING 1
),
groups AS (
    UPDATE sagemaker.model_package_group_details g
       SET created_by_arn = CASE WHEN $5 THEN NULL ELSE coalesce(
               (SELECT m.stored FROM m WHERE m.raw = g.created_by_arn), g.created_by_arn) END,
           created_by_user_profile = CASE WHEN $5 THEN NULL ELSE coalesce(
               (SELECT m.stored FROM m WHERE m.raw = g.created_by_user_profile),
               g.created_by_user_profile) END
     WHERE split_part(g.model_package_group_arn, ':', 5) = $1
       AND split_part(g.model_package_group_arn, ':', 4) = $2
       AND CASE WHEN $5
                THEN num_nonnulls(g.created_by_arn, g.created_by_user_profile) > 0
                ELSE ARRAY[g.created_by_arn, g.created_by_user_profile] && $3::text[] END
    RETURNING 1
),
changes AS (
    UPDATE sagemaker.model_package_changes c
       SET last_modified_by_arn = CASE WHEN $5 THEN NULL ELSE coalesce(
               (SELECT m.stored FROM m WHERE m.raw = c.last_modified_by_arn),
               c.last_modified_by_arn) END,
           last_modified_by_user_profile = CASE WHEN $5 THEN NULL ELSE coalesce(
               (SELECT m.stored FROM m WHERE m.raw = c.last_modified_by_user_profile),
               c.last_modified_by_user_profile) END
     WHERE c.account_id = $1 AND c.region = $2
       AND CASE WHEN $5
                THEN num_nonnulls(c.last_modified_by_arn, c.last_modified_by_user_profile) > 0
                ELSE ARRAY[c.last_modified_by_arn, c.last_modified_by_user_profile]
                     && $3::text[] END
    RETURNING 1
)
SELECT (SELECT count(*) FROM packages) + (SELECT count(*) FROM groups)
       + (SELECT count(*) FROM changes);
