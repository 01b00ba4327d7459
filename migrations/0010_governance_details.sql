-- registry-sync schema, version 10: governance details from Search beside the summaries.
--
-- Listing summaries say nothing of who registered or approved a version, what
-- they wrote, its tags, metadata, containers or metrics. Search(Resource=
-- "ModelPackage") returns whole records, 100 a call, and the change feed
-- already calls it; Search(Resource="ModelPackageGroup") gives the groups'
-- creators and tags.
--
-- The details live in side tables keyed by ARN, not in model_packages:
--   * the listing page write (store_listing_page) stays as it was: its rows
--     do not widen by a record of several kB, and a listing never rewrites
--     details (nor a details read a package row), so each keeps its own
--     "nothing changed, nothing written" test on its own record;
--   * a details row may arrive before the package's summary (the feed sees a
--     new version before its group is listed), and needs no foreign key to wait;
--   * a mirror without Search permission, or with SYNCER_DETAILS=false, has
--     empty details tables and an unchanged model_packages.
--
-- Identities (IAM ARNs, Studio user profile names) are personal data: they
-- name people. Model card content is not stored (it may be KMS-protected),
-- only its status; container environments are left out of the stored record
-- (they may hold credentials).

-- ---------------------------------------------------------------- packages
CREATE TABLE sagemaker.model_package_details (
    model_package_arn              text PRIMARY KEY,
    created_by_arn                 text,
    created_by_user_profile        text,
    last_modified_by_arn           text,
    last_modified_by_user_profile  text,
    last_modified_time             timestamptz,
    approval_description           text,
    tags                           jsonb,
    customer_metadata              jsonb,
    image_uris                     text[]      NOT NULL DEFAULT '{}',
    model_data_urls                text[]      NOT NULL DEFAULT '{}',
    source_uri                     text,
    domain                         text,
    task                           text,
    sample_payload_url             text,
    has_model_metrics              boolean     NOT NULL DEFAULT false,
    model_metrics_s3_uris          text[]      NOT NULL DEFAULT '{}',
    has_drift_check_baselines      boolean     NOT NULL DEFAULT false,
    drift_check_baselines_s3_uris  text[]      NOT NULL DEFAULT '{}',
    model_card_status              text,
    record                         jsonb       NOT NULL,
    fetched_at                     timestamptz NOT NULL DEFAULT now()
);
-- "Which models belong to team X": tags @> '{"team": "x"}'.
CREATE INDEX model_package_details_tags_idx
    ON sagemaker.model_package_details USING gin (tags jsonb_path_ops);

COMMENT ON TABLE sagemaker.model_package_details IS
    'Governance details of each package, from Search(Resource="ModelPackage"): who created and last modified it, the approval note, tags, metadata, containers, metrics. One row per package whose record was fetched; join model_packages on model_package_arn. Holds personal data (identities of people).';
COMMENT ON COLUMN sagemaker.model_package_details.model_package_arn IS 'ARN of the package (see model_packages).';
COMMENT ON COLUMN sagemaker.model_package_details.created_by_arn IS 'CreatedBy.IamIdentity.Arn: the IAM identity (role session or user) that registered the package. Personal data: it identifies a person.';
COMMENT ON COLUMN sagemaker.model_package_details.created_by_user_profile IS 'CreatedBy.UserProfileName: the SageMaker Studio user profile that registered the package, when that is what SageMaker records. Personal data: it identifies a person.';
COMMENT ON COLUMN sagemaker.model_package_details.last_modified_by_arn IS 'LastModifiedBy.IamIdentity.Arn: the IAM identity that last modified the package (approval, stage, metadata). Personal data: it identifies a person.';
COMMENT ON COLUMN sagemaker.model_package_details.last_modified_by_user_profile IS 'LastModifiedBy.UserProfileName: the Studio user profile that last modified the package, when given. Personal data: it identifies a person.';
COMMENT ON COLUMN sagemaker.model_package_details.last_modified_time IS 'LastModifiedTime of the record; NULL when SageMaker gave none (never modified).';
COMMENT ON COLUMN sagemaker.model_package_details.approval_description IS 'ApprovalDescription: the note written with the current approval status.';
COMMENT ON COLUMN sagemaker.model_package_details.tags IS 'Tags as a JSON object {key: value}; NULL when the record carried no Tags (some sources leave them out). Query with tags ->> ''team'' or tags @> ''{"team": "x"}''.';
COMMENT ON COLUMN sagemaker.model_package_details.customer_metadata IS 'CustomerMetadataProperties as a JSON object {key: value} (e.g. a git commit, a pipeline run); NULL when none.';
COMMENT ON COLUMN sagemaker.model_package_details.image_uris IS 'InferenceSpecification.Containers[].Image: the container images the package runs, in order.';
COMMENT ON COLUMN sagemaker.model_package_details.model_data_urls IS 'InferenceSpecification.Containers[].ModelDataUrl (or ModelDataSource.S3DataSource.S3Uri): the model artifacts, in order.';
COMMENT ON COLUMN sagemaker.model_package_details.source_uri IS 'SourceUri: where the model came from (e.g. a training job or a model registry elsewhere).';
COMMENT ON COLUMN sagemaker.model_package_details.domain IS 'Domain: the machine-learning domain (e.g. COMPUTER_VISION, NATURAL_LANGUAGE_PROCESSING).';
COMMENT ON COLUMN sagemaker.model_package_details.task IS 'Task: the machine-learning task (e.g. CLASSIFICATION, REGRESSION).';
COMMENT ON COLUMN sagemaker.model_package_details.sample_payload_url IS 'SamplePayloadUrl: S3 location of a sample payload.';
COMMENT ON COLUMN sagemaker.model_package_details.has_model_metrics IS 'Whether the record carries ModelMetrics (quality, data quality, bias or explainability reports).';
COMMENT ON COLUMN sagemaker.model_package_details.model_metrics_s3_uris IS 'Every S3Uri within ModelMetrics.';
COMMENT ON COLUMN sagemaker.model_package_details.has_drift_check_baselines IS 'Whether the record carries DriftCheckBaselines.';
COMMENT ON COLUMN sagemaker.model_package_details.drift_check_baselines_s3_uris IS 'Every S3Uri within DriftCheckBaselines.';
COMMENT ON COLUMN sagemaker.model_package_details.model_card_status IS 'ModelCard.ModelCardStatus (Draft, PendingReview, Approved, Archived). The card''s content is not stored: it may be KMS-protected.';
COMMENT ON COLUMN sagemaker.model_package_details.record IS 'The Search record as received (timestamps as epoch seconds), without ModelCard.ModelCardContent and without container Environment maps (they may hold credentials). Holds personal data (CreatedBy, LastModifiedBy).';
COMMENT ON COLUMN sagemaker.model_package_details.fetched_at IS 'When registry-sync fetched the record stored here. A later read that finds the same record writes nothing, so this is when the details last changed as seen by the mirror; details_state says when they were last all re-read.';

-- ---------------------------------------------------------------- groups
CREATE TABLE sagemaker.model_package_group_details (
    model_package_group_arn  text PRIMARY KEY,
    created_by_arn           text,
    created_by_user_profile  text,
    tags                     jsonb,
    record                   jsonb       NOT NULL,
    fetched_at               timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sagemaker.model_package_group_details IS
    'Governance details of each group (a "model"), from Search(Resource="ModelPackageGroup"): who created it and its tags. Join model_package_groups on model_package_group_arn. Holds personal data (identities of people).';
COMMENT ON COLUMN sagemaker.model_package_group_details.model_package_group_arn IS 'ARN of the group (see model_package_groups).';
COMMENT ON COLUMN sagemaker.model_package_group_details.created_by_arn IS 'CreatedBy.IamIdentity.Arn: the IAM identity that created the group. Personal data: it identifies a person.';
COMMENT ON COLUMN sagemaker.model_package_group_details.created_by_user_profile IS 'CreatedBy.UserProfileName: the Studio user profile that created the group, when given. Personal data: it identifies a person.';
COMMENT ON COLUMN sagemaker.model_package_group_details.tags IS 'Tags as a JSON object {key: value}; NULL when the record carried no Tags.';
COMMENT ON COLUMN sagemaker.model_package_group_details.record IS 'The Search record as received (timestamps as epoch seconds). Holds personal data (CreatedBy).';
COMMENT ON COLUMN sagemaker.model_package_group_details.fetched_at IS 'When registry-sync fetched the record stored here (a later read that finds the same record writes nothing).';

-- ---------------------------------------------------------------- progress
-- Where the details reads of each account and region stand. A table of its own
-- rather than sync_state rows, whose scope kinds other features extend.
CREATE TABLE sagemaker.details_state (
    account_id                 text        NOT NULL,
    region                     text        NOT NULL,
    pass_started_at            timestamptz,
    pass_from                  timestamptz,
    pass_cursor                timestamptz,
    pass_full                  boolean     NOT NULL DEFAULT false,
    looked_through             timestamptz,
    last_full_pass_started_at  timestamptz,
    last_pass_finished_at      timestamptz,
    last_error                 text,
    last_error_at              timestamptz,
    consecutive_failures       integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, region)
);
COMMENT ON TABLE sagemaker.details_state IS
    'Progress of the governance-details reads (Search pages sorted by CreationTime) per account and region: the open pass, if any, and what completed passes covered.';
COMMENT ON COLUMN sagemaker.details_state.account_id IS 'AWS account.';
COMMENT ON COLUMN sagemaker.details_state.region IS 'AWS region.';
COMMENT ON COLUMN sagemaker.details_state.pass_started_at IS 'When the open pass started; NULL when no pass is open.';
COMMENT ON COLUMN sagemaker.details_state.pass_from IS 'The open pass reads packages created after this; NULL: all of them.';
COMMENT ON COLUMN sagemaker.details_state.pass_cursor IS 'Newest CreationTime the open pass has stored; a pass cut short (by its budget of calls per cycle, or a restart) resumes here.';
COMMENT ON COLUMN sagemaker.details_state.pass_full IS 'Whether the open pass reads every package (a backfill or a re-read), not only recent ones.';
COMMENT ON COLUMN sagemaker.details_state.looked_through IS 'Packages and groups first seen by the mirror before this were looked for by a completed pass (its start minus the lookback).';
COMMENT ON COLUMN sagemaker.details_state.last_full_pass_started_at IS 'When the last completed full pass started.';
COMMENT ON COLUMN sagemaker.details_state.last_pass_finished_at IS 'When the last pass completed.';
COMMENT ON COLUMN sagemaker.details_state.last_error IS 'The last error of a details read (e.g. Search denied); NULL after a success.';
COMMENT ON COLUMN sagemaker.details_state.last_error_at IS 'When last_error happened.';
COMMENT ON COLUMN sagemaker.details_state.consecutive_failures IS 'Failed details reads since the last success.';

-- ---------------------------------------------------------------- history
ALTER TABLE sagemaker.model_package_changes
    ADD COLUMN last_modified_by_arn text,
    ADD COLUMN last_modified_by_user_profile text,
    ADD COLUMN approval_description text;
COMMENT ON COLUMN sagemaker.model_package_changes.last_modified_by_arn IS 'For an approval status change seen by the change feed: LastModifiedBy.IamIdentity.Arn of the record as of that sync. That is the approver unless the package was modified again before the sync ran. NULL for other changes and for changes seen by a listing. Personal data: it identifies a person.';
COMMENT ON COLUMN sagemaker.model_package_changes.last_modified_by_user_profile IS 'As last_modified_by_arn, the Studio user profile (LastModifiedBy.UserProfileName) when given. Personal data: it identifies a person.';
COMMENT ON COLUMN sagemaker.model_package_changes.approval_description IS 'For an approval status change seen by the change feed: the ApprovalDescription of the record as of that sync.';

-- ---------------------------------------------------------------- views
-- Same columns as in 0002, then who and why.
CREATE OR REPLACE VIEW sagemaker.approval_history AS
SELECT c.observed_at, c.account_id, c.region, c.model_package_group_name,
       c.model_package_version, c.model_package_arn, c.change_type,
       c.old_value AS from_status, c.new_value AS to_status, c.run_id, c.change_id,
       coalesce(c.last_modified_by_arn, c.last_modified_by_user_profile) AS last_modified_by,
       c.approval_description
  FROM sagemaker.model_package_changes c
 WHERE c.change_type = 'model_approval_status'
    OR (c.change_type = 'created' AND c.new_value IS NOT NULL)
 ORDER BY c.observed_at DESC, c.change_id DESC;
COMMENT ON COLUMN sagemaker.approval_history.last_modified_by IS 'For a change seen by the change feed: who last modified the package as of that sync (IAM ARN, else Studio user profile), which is the approver unless it was modified again before the sync. NULL when unknown. Personal data.';
COMMENT ON COLUMN sagemaker.approval_history.approval_description IS 'For a change seen by the change feed: the approval note as of that sync.';

CREATE VIEW sagemaker.model_package_governance AS
SELECT p.account_id, p.region, p.model_package_group_name, p.model_package_version,
       p.model_package_name, p.model_package_arn, p.creation_time, p.model_approval_status,
       p.model_life_cycle_stage,
       coalesce(d.created_by_arn, d.created_by_user_profile) AS created_by,
       coalesce(d.last_modified_by_arn, d.last_modified_by_user_profile) AS last_modified_by,
       d.last_modified_time, d.approval_description, d.tags, d.customer_metadata,
       d.image_uris, d.model_data_urls, d.source_uri, d.domain, d.task,
       d.has_model_metrics, d.model_metrics_s3_uris,
       d.has_drift_check_baselines, d.drift_check_baselines_s3_uris,
       d.model_card_status, d.fetched_at AS details_fetched_at
  FROM sagemaker.model_packages p
  LEFT JOIN sagemaker.model_package_details d USING (model_package_arn)
 WHERE p.deleted_at IS NULL;
COMMENT ON VIEW sagemaker.model_package_governance IS
    'One row per existing package with its governance details: who registered and last modified it, the approval note, tags, metadata, images, artifacts, metrics. Details columns are NULL until the record has been fetched. Holds personal data.';
COMMENT ON COLUMN sagemaker.model_package_governance.account_id IS 'AWS account of the package.';
COMMENT ON COLUMN sagemaker.model_package_governance.region IS 'AWS region of the package.';
COMMENT ON COLUMN sagemaker.model_package_governance.model_package_group_name IS 'Group of the package; NULL if unversioned.';
COMMENT ON COLUMN sagemaker.model_package_governance.model_package_version IS 'Version within the group.';
COMMENT ON COLUMN sagemaker.model_package_governance.model_package_name IS 'Name, for unversioned packages.';
COMMENT ON COLUMN sagemaker.model_package_governance.model_package_arn IS 'ARN of the package.';
COMMENT ON COLUMN sagemaker.model_package_governance.creation_time IS 'When the package was created.';
COMMENT ON COLUMN sagemaker.model_package_governance.model_approval_status IS 'Current approval status.';
COMMENT ON COLUMN sagemaker.model_package_governance.model_life_cycle_stage IS 'Current life-cycle stage, if set.';
COMMENT ON COLUMN sagemaker.model_package_governance.created_by IS 'Who registered it: IAM ARN, else Studio user profile. Personal data.';
COMMENT ON COLUMN sagemaker.model_package_governance.last_modified_by IS 'Who last modified it: IAM ARN, else Studio user profile. Personal data.';
COMMENT ON COLUMN sagemaker.model_package_governance.last_modified_time IS 'When it was last modified, per SageMaker.';
COMMENT ON COLUMN sagemaker.model_package_governance.approval_description IS 'The note written with the current approval status.';
COMMENT ON COLUMN sagemaker.model_package_governance.tags IS 'Tags as a JSON object.';
COMMENT ON COLUMN sagemaker.model_package_governance.customer_metadata IS 'CustomerMetadataProperties as a JSON object.';
COMMENT ON COLUMN sagemaker.model_package_governance.image_uris IS 'Container images.';
COMMENT ON COLUMN sagemaker.model_package_governance.model_data_urls IS 'Model artifacts.';
COMMENT ON COLUMN sagemaker.model_package_governance.source_uri IS 'Where the model came from.';
COMMENT ON COLUMN sagemaker.model_package_governance.domain IS 'Machine-learning domain.';
COMMENT ON COLUMN sagemaker.model_package_governance.task IS 'Machine-learning task.';
COMMENT ON COLUMN sagemaker.model_package_governance.has_model_metrics IS 'Whether model metrics are attached; NULL until the details are fetched.';
COMMENT ON COLUMN sagemaker.model_package_governance.model_metrics_s3_uris IS 'S3 URIs of the model metrics.';
COMMENT ON COLUMN sagemaker.model_package_governance.has_drift_check_baselines IS 'Whether drift-check baselines are attached; NULL until the details are fetched.';
COMMENT ON COLUMN sagemaker.model_package_governance.drift_check_baselines_s3_uris IS 'S3 URIs of the drift-check baselines.';
COMMENT ON COLUMN sagemaker.model_package_governance.model_card_status IS 'Status of the model card (its content is not stored).';
COMMENT ON COLUMN sagemaker.model_package_governance.details_fetched_at IS 'When the details shown were fetched; NULL: not yet.';

CREATE VIEW sagemaker.model_package_group_governance AS
SELECT g.account_id, g.region, g.model_package_group_name, g.model_package_group_arn,
       g.creation_time,
       coalesce(d.created_by_arn, d.created_by_user_profile) AS created_by,
       d.tags, d.fetched_at AS details_fetched_at
  FROM sagemaker.model_package_groups g
  LEFT JOIN sagemaker.model_package_group_details d USING (model_package_group_arn)
 WHERE g.deleted_at IS NULL;
COMMENT ON VIEW sagemaker.model_package_group_governance IS
    'One row per existing group (a "model") with who created it and its tags; NULL until its details have been fetched. Holds personal data.';
COMMENT ON COLUMN sagemaker.model_package_group_governance.account_id IS 'AWS account of the group.';
COMMENT ON COLUMN sagemaker.model_package_group_governance.region IS 'AWS region of the group.';
COMMENT ON COLUMN sagemaker.model_package_group_governance.model_package_group_name IS 'The group.';
COMMENT ON COLUMN sagemaker.model_package_group_governance.model_package_group_arn IS 'ARN of the group.';
COMMENT ON COLUMN sagemaker.model_package_group_governance.creation_time IS 'When the group was created.';
COMMENT ON COLUMN sagemaker.model_package_group_governance.created_by IS 'Who created it: IAM ARN, else Studio user profile. Personal data.';
COMMENT ON COLUMN sagemaker.model_package_group_governance.tags IS 'Tags as a JSON object.';
COMMENT ON COLUMN sagemaker.model_package_group_governance.details_fetched_at IS 'When the details shown were fetched; NULL: not yet.';

-- ---------------------------------------------------------------- reader role
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_reader') THEN
        GRANT SELECT ON sagemaker.model_package_details, sagemaker.model_package_group_details,
                        sagemaker.details_state, sagemaker.model_package_governance,
                        sagemaker.model_package_group_governance
           TO sagemaker_reader;
    END IF;
END
$$;
