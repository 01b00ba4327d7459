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
-- counterpart in $4 (its hash). Returns the rows rewritten.
WITH m AS (
    SELECT * FROM unnest($3::text[], $4::text[]) AS m(raw, stored)
),
packages AS (
    UPDATE sagemaker.model_package_details d
       SET created_by_arn = coalesce(
               (SELECT m.stored FROM m WHERE m.raw = d.created_by_arn), d.created_by_arn),
           created_by_user_profile = coalesce(
               (SELECT m.stored FROM m WHERE m.raw = d.created_by_user_profile),
               d.created_by_user_profile),
           last_modified_by_arn = coalesce(
               (SELECT m.stored FROM m WHERE m.raw = d.last_modified_by_arn),
               d.last_modified_by_arn),
           last_modified_by_user_profile = coalesce(
               (SELECT m.stored FROM m WHERE m.raw = d.last_modified_by_user_profile),
               d.last_modified_by_user_profile)
     WHERE split_part(d.model_package_arn, ':', 5) = $1
       AND split_part(d.model_package_arn, ':', 4) = $2
       AND ARRAY[d.created_by_arn, d.created_by_user_profile, d.last_modified_by_arn,
                 d.last_modified_by_user_profile] && $3::text[]
    RETURNING 1
),
groups AS (
    UPDATE sagemaker.model_package_group_details g
       SET created_by_arn = coalesce(
               (SELECT m.stored FROM m WHERE m.raw = g.created_by_arn), g.created_by_arn),
           created_by_user_profile = coalesce(
               (SELECT m.stored FROM m WHERE m.raw = g.created_by_user_profile),
               g.created_by_user_profile)
     WHERE split_part(g.model_package_group_arn, ':', 5) = $1
       AND split_part(g.model_package_group_arn, ':', 4) = $2
       AND ARRAY[g.created_by_arn, g.created_by_user_profile] && $3::text[]
    RETURNING 1
),
changes AS (
    UPDATE sagemaker.model_package_changes c
       SET last_modified_by_arn = coalesce(
               (SELECT m.stored FROM m WHERE m.raw = c.last_modified_by_arn),
               c.last_modified_by_arn),
           last_modified_by_user_profile = coalesce(
               (SELECT m.stored FROM m WHERE m.raw = c.last_modified_by_user_profile),
               c.last_modified_by_user_profile)
     WHERE c.account_id = $1 AND c.region = $2
       AND ARRAY[c.last_modified_by_arn, c.last_modified_by_user_profile] && $3::text[]
    RETURNING 1
)
SELECT (SELECT count(*) FROM packages) + (SELECT count(*) FROM groups)
       + (SELECT count(*) FROM changes);

-- name: drop_identities
-- Every identity of an account and region dropped. Returns the rows rewritten.
WITH packages AS (
    UPDATE sagemaker.model_package_details d
       SET created_by_arn = NULL, created_by_user_profile = NULL,
           last_modified_by_arn = NULL, last_modified_by_user_profile = NULL
     WHERE split_part(d.model_package_arn, ':', 5) = $1
       AND split_part(d.model_package_arn, ':', 4) = $2
       AND num_nonnulls(d.created_by_arn, d.created_by_user_profile,
                        d.last_modified_by_arn, d.last_modified_by_user_profile) > 0
    RETURNING 1
),
groups AS (
    UPDATE sagemaker.model_package_group_details g
       SET created_by_arn = NULL, created_by_user_profile = NULL
     WHERE split_part(g.model_package_group_arn, ':', 5) = $1
       AND split_part(g.model_package_group_arn, ':', 4) = $2
       AND num_nonnulls(g.created_by_arn, g.created_by_user_profile) > 0
    RETURNING 1
),
changes AS (
    UPDATE sagemaker.model_package_changes c
       SET last_modified_by_arn = NULL, last_modified_by_user_profile = NULL
     WHERE c.account_id = $1 AND c.region = $2
       AND num_nonnulls(c.last_modified_by_arn, c.last_modified_by_user_profile) > 0
    RETURNING 1
)
SELECT (SELECT count(*) FROM packages) + (SELECT count(*) FROM groups)
       + (SELECT count(*) FROM changes);
