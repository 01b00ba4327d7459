-- registry-sync: the whole current schema, in one file, for reading.
--
-- This is what a database looks like after every migration in this directory
-- has been applied: tables, indexes, views, functions, comments and grants, each
-- in its current form (a function here is its last migration's definition).
-- Nothing applies this file. Migrations (0001_init.sql onwards, run by
-- `syncer migrate`) stay the only way a database is created or changed.
--
-- A migration that changes the schema changes this file in the same commit.
-- tests/integration/test_schema_file.py builds one database from the
-- migrations and one from this file, and fails, naming what differs, until
-- the two dump the same (pg_dump --schema-only, and a catalog listing).

CREATE SCHEMA sagemaker;
COMMENT ON SCHEMA sagemaker IS
    'Mirror of the Amazon SageMaker Model Registry, maintained by registry-sync. Read-only for consumers (role sagemaker_reader).';

-- ---------------------------------------------------------------- migrations
-- Created by syncer/migrate.py before the first migration runs.
CREATE TABLE sagemaker.schema_migrations (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sagemaker.schema_migrations IS
    'Migrations applied by registry-sync (syncer migrate), with the checksum of each file.';
COMMENT ON COLUMN sagemaker.schema_migrations.version IS 'Number of the migration file.';
COMMENT ON COLUMN sagemaker.schema_migrations.name IS 'File name of the migration.';
COMMENT ON COLUMN sagemaker.schema_migrations.checksum IS 'SHA-256 of the file as applied.';
COMMENT ON COLUMN sagemaker.schema_migrations.applied_at IS 'When it was applied.';

-- ---------------------------------------------------------------- groups
CREATE TABLE sagemaker.model_package_groups (
    model_package_group_arn         text PRIMARY KEY,
    account_id                      text        NOT NULL,
    region                          text        NOT NULL,
    model_package_group_name        text        NOT NULL,
    model_package_group_description text,
    creation_time                   timestamptz NOT NULL,
    model_package_group_status      text,
    raw                             jsonb       NOT NULL,
    first_seen_at                   timestamptz NOT NULL DEFAULT now(),
    last_changed_at                 timestamptz NOT NULL DEFAULT now(),
    deleted_at                      timestamptz
);
CREATE INDEX model_package_groups_scope_idx
    ON sagemaker.model_package_groups (account_id, region, model_package_group_name);

COMMENT ON TABLE sagemaker.model_package_groups IS
    'One row per model package group (a "model" in the registry) ever seen. Deleted groups keep their row with deleted_at set.';
COMMENT ON COLUMN sagemaker.model_package_groups.model_package_group_arn IS 'ARN of the group; stable key.';
COMMENT ON COLUMN sagemaker.model_package_groups.account_id IS 'AWS account that owns the group.';
COMMENT ON COLUMN sagemaker.model_package_groups.region IS 'AWS region of the registry.';
COMMENT ON COLUMN sagemaker.model_package_groups.model_package_group_name IS 'Name of the group, unique per account and region.';
COMMENT ON COLUMN sagemaker.model_package_groups.model_package_group_description IS 'Free-text description given when the group was created.';
COMMENT ON COLUMN sagemaker.model_package_groups.creation_time IS 'When the group was created in SageMaker.';
COMMENT ON COLUMN sagemaker.model_package_groups.model_package_group_status IS 'SageMaker status: Pending, InProgress, Completed, Failed, Deleting or DeleteFailed.';
COMMENT ON COLUMN sagemaker.model_package_groups.raw IS 'The ListModelPackageGroups summary exactly as received (timestamps as epoch seconds).';
COMMENT ON COLUMN sagemaker.model_package_groups.first_seen_at IS 'When registry-sync first stored this group.';
COMMENT ON COLUMN sagemaker.model_package_groups.last_changed_at IS 'When registry-sync last stored a change to this row.';
COMMENT ON COLUMN sagemaker.model_package_groups.deleted_at IS 'When registry-sync saw the group gone from a complete listing; NULL while it exists.';

-- ---------------------------------------------------------------- packages
CREATE TABLE sagemaker.model_packages (
    model_package_arn                   text PRIMARY KEY,
    account_id                          text        NOT NULL,
    region                              text        NOT NULL,
    model_package_group_name            text,
    model_package_version               integer,
    model_package_name                  text,
    model_package_description           text,
    creation_time                       timestamptz NOT NULL,
    model_package_status                text,
    model_approval_status               text,
    model_life_cycle_stage              text,
    model_life_cycle_stage_status       text,
    model_life_cycle_stage_description  text,
    model_package_registration_type     text,
    raw                                 jsonb       NOT NULL,
    first_seen_at                       timestamptz NOT NULL DEFAULT now(),
    last_changed_at                     timestamptz NOT NULL DEFAULT now(),
    deleted_at                          timestamptz
);
-- A scope's rows (sweeps, watermarks) and "latest version per group"; name
-- first, so that analysts' filters on a group's name alone use it too.
CREATE INDEX model_packages_group_version_idx
    ON sagemaker.model_packages
       (model_package_group_name, account_id, region, model_package_version);
CREATE INDEX model_packages_creation_time_idx ON sagemaker.model_packages (creation_time);
CREATE INDEX model_packages_approval_idx
    ON sagemaker.model_packages (model_approval_status, creation_time)
    WHERE deleted_at IS NULL;

-- latest_approved_model_packages reads one row per group from here.
CREATE INDEX model_packages_latest_approved_idx
    ON sagemaker.model_packages
       (model_package_group_name, account_id, region, model_package_version DESC)
    WHERE model_approval_status = 'Approved'
      AND deleted_at IS NULL
      AND model_package_group_name IS NOT NULL;
-- "What is in Production?" and "what was deleted lately?"
CREATE INDEX model_packages_life_cycle_stage_idx
    ON sagemaker.model_packages (model_life_cycle_stage, model_package_group_name)
    WHERE model_life_cycle_stage IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX model_packages_deleted_idx
    ON sagemaker.model_packages (deleted_at)
    WHERE deleted_at IS NOT NULL;

COMMENT ON TABLE sagemaker.model_packages IS
    'One row per model package (a model version, or an unversioned package) ever seen, with its current state. Deleted packages keep their row with deleted_at set.';
COMMENT ON COLUMN sagemaker.model_packages.model_package_arn IS 'ARN of the package; the only stable key (versioned summaries carry no name).';
COMMENT ON COLUMN sagemaker.model_packages.account_id IS 'AWS account that owns the package.';
COMMENT ON COLUMN sagemaker.model_packages.region IS 'AWS region of the registry.';
COMMENT ON COLUMN sagemaker.model_packages.model_package_group_name IS 'Group the version belongs to; NULL for unversioned packages.';
COMMENT ON COLUMN sagemaker.model_packages.model_package_version IS 'Version number within the group (1, 2, ...); NULL for unversioned packages.';
COMMENT ON COLUMN sagemaker.model_packages.model_package_name IS 'Name of an unversioned package; NULL for versions, which have none in listings.';
COMMENT ON COLUMN sagemaker.model_packages.model_package_description IS 'Free-text description of the package.';
COMMENT ON COLUMN sagemaker.model_packages.creation_time IS 'When the package was created in SageMaker (millisecond precision).';
COMMENT ON COLUMN sagemaker.model_packages.model_package_status IS 'SageMaker status: Pending, InProgress, Completed, Failed or Deleting.';
COMMENT ON COLUMN sagemaker.model_packages.model_approval_status IS 'Approved, Rejected or PendingManualApproval.';
COMMENT ON COLUMN sagemaker.model_packages.model_life_cycle_stage IS 'Current life-cycle stage (e.g. Development, Staging, Production), if one is set.';
COMMENT ON COLUMN sagemaker.model_packages.model_life_cycle_stage_status IS 'Status within the life-cycle stage (e.g. Approved, PendingApproval).';
COMMENT ON COLUMN sagemaker.model_packages.model_life_cycle_stage_description IS 'Free-text note on the life-cycle stage.';
COMMENT ON COLUMN sagemaker.model_packages.model_package_registration_type IS 'Logged or Registered.';
COMMENT ON COLUMN sagemaker.model_packages.raw IS 'The ListModelPackages summary exactly as received (timestamps as epoch seconds).';
COMMENT ON COLUMN sagemaker.model_packages.first_seen_at IS 'When registry-sync first stored this package.';
COMMENT ON COLUMN sagemaker.model_packages.last_changed_at IS 'When registry-sync last stored a change to this row.';
COMMENT ON COLUMN sagemaker.model_packages.deleted_at IS 'When registry-sync saw the package gone from a complete listing; NULL while it exists.';

-- ---------------------------------------------------------------- history
CREATE TABLE sagemaker.model_package_changes (
    change_id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_package_arn         text        NOT NULL,
    account_id                text        NOT NULL,
    region                    text        NOT NULL,
    model_package_group_name  text,
    model_package_version     integer,
    change_type               text        NOT NULL CHECK (change_type IN (
        'created', 'model_approval_status', 'model_package_status',
        'model_life_cycle_stage', 'model_life_cycle_stage_status', 'deleted', 'reappeared')),
    old_value                 text,
    new_value                 text,
    observed_at               timestamptz NOT NULL,
    run_id                    bigint,
    last_modified_by_arn      text,
    last_modified_by_user_profile text,
    approval_description      text
);
CREATE INDEX model_package_changes_package_idx
    ON sagemaker.model_package_changes (model_package_arn, observed_at);
CREATE INDEX model_package_changes_observed_idx
    ON sagemaker.model_package_changes (observed_at);

-- A group's history, newest first (approval_history filtered by group).
CREATE INDEX model_package_changes_group_idx
    ON sagemaker.model_package_changes (model_package_group_name, observed_at);
-- pending_approvals joins the changes back to pending (rare: a tiny index).
CREATE INDEX model_package_changes_back_to_pending_idx
    ON sagemaker.model_package_changes (model_package_arn, observed_at)
    WHERE change_type = 'model_approval_status' AND new_value = 'PendingManualApproval';
-- What each run's listings stored first (0009: the feed's misses).
CREATE INDEX model_package_changes_created_run_idx
    ON sagemaker.model_package_changes (run_id) WHERE change_type = 'created';

COMMENT ON TABLE sagemaker.model_package_changes IS
    'One row per change registry-sync observed in a package. SageMaker keeps no such history; it starts when the mirror does, and changes that happen and revert between two syncs are not seen.';
COMMENT ON COLUMN sagemaker.model_package_changes.change_id IS 'Increasing id; orders changes observed at the same instant.';
COMMENT ON COLUMN sagemaker.model_package_changes.model_package_arn IS 'The package that changed (see model_packages).';
COMMENT ON COLUMN sagemaker.model_package_changes.account_id IS 'AWS account of the package.';
COMMENT ON COLUMN sagemaker.model_package_changes.region IS 'AWS region of the package.';
COMMENT ON COLUMN sagemaker.model_package_changes.model_package_group_name IS 'Group of the package; NULL for unversioned packages.';
COMMENT ON COLUMN sagemaker.model_package_changes.model_package_version IS 'Version of the package within its group.';
COMMENT ON COLUMN sagemaker.model_package_changes.change_type IS 'created, model_approval_status, model_package_status, model_life_cycle_stage, model_life_cycle_stage_status, deleted or reappeared.';
COMMENT ON COLUMN sagemaker.model_package_changes.old_value IS 'Value before the change (NULL for created).';
COMMENT ON COLUMN sagemaker.model_package_changes.new_value IS 'Value after the change; for created, the approval status at creation.';
COMMENT ON COLUMN sagemaker.model_package_changes.observed_at IS 'When registry-sync observed the change (not when it happened in SageMaker).';
COMMENT ON COLUMN sagemaker.model_package_changes.run_id IS 'The sync run that observed it (see sync_runs); NULL for a change applied from an event.';
COMMENT ON COLUMN sagemaker.model_package_changes.last_modified_by_arn IS 'For an approval status change seen by the change feed or an event: LastModifiedBy.IamIdentity.Arn of the record as of that sync. That is the approver unless the package was modified again before the sync ran. NULL for other changes, for changes seen by a listing, and for events that carry no LastModifiedBy. Personal data: it identifies a person.';
COMMENT ON COLUMN sagemaker.model_package_changes.last_modified_by_user_profile IS 'As last_modified_by_arn, the Studio user profile (LastModifiedBy.UserProfileName) when given. Personal data: it identifies a person.';
COMMENT ON COLUMN sagemaker.model_package_changes.approval_description IS 'For an approval status change seen by the change feed or an event: the ApprovalDescription of the record as of that sync.';

-- ---------------------------------------------------------------- governance details
-- Side tables (migration 0010): see there why not columns of model_packages.
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
    fetched_at                     timestamptz NOT NULL DEFAULT now(),
    generated_by                   text,
    project_id                     text,
    commit_id                      text,
    repository                     text,
    validation_statuses            jsonb,
    image_scan_statuses            jsonb,
    additional_image_uris          text[]      NOT NULL DEFAULT '{}',
    additional_model_data_urls     text[]      NOT NULL DEFAULT '{}'
);
-- "Which models belong to team X": tags @> '{"team": "x"}'.
CREATE INDEX model_package_details_tags_idx
    ON sagemaker.model_package_details USING gin (tags jsonb_path_ops);
-- "Which pipeline run produced this version", and the reverse.
CREATE INDEX model_package_details_generated_by_idx
    ON sagemaker.model_package_details (generated_by) WHERE generated_by IS NOT NULL;

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
COMMENT ON COLUMN sagemaker.model_package_details.generated_by IS 'MetadataProperties.GeneratedBy: what produced the version, usually the ARN of a SageMaker pipeline execution.';
COMMENT ON COLUMN sagemaker.model_package_details.project_id IS 'MetadataProperties.ProjectId: the SageMaker project.';
COMMENT ON COLUMN sagemaker.model_package_details.commit_id IS 'MetadataProperties.CommitId: the source commit.';
COMMENT ON COLUMN sagemaker.model_package_details.repository IS 'MetadataProperties.Repository: the source repository.';
COMMENT ON COLUMN sagemaker.model_package_details.validation_statuses IS 'ModelPackageStatusDetails.ValidationStatuses as a JSON object {name: status} (NotStarted, Pending, InProgress, Completed, Failed); NULL when the record has none. Failure reasons are in record.';
COMMENT ON COLUMN sagemaker.model_package_details.image_scan_statuses IS 'ModelPackageStatusDetails.ImageScanStatuses as a JSON object {name: status}; NULL when the record has none. Failure reasons are in record.';
COMMENT ON COLUMN sagemaker.model_package_details.additional_image_uris IS 'AdditionalInferenceSpecifications[].Containers[].Image: the images of the additional inference specifications, in order (image_uris holds the main one''s).';
COMMENT ON COLUMN sagemaker.model_package_details.additional_model_data_urls IS 'AdditionalInferenceSpecifications[].Containers[].ModelDataUrl (or ModelDataSource.S3DataSource.S3Uri), in order (model_data_urls holds the main one''s).';

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
COMMENT ON COLUMN sagemaker.details_state.pass_from IS 'The open pass reads packages created at or after this; NULL: all of them.';
COMMENT ON COLUMN sagemaker.details_state.pass_cursor IS 'The open pass has read every package created before this (its windows are read side by side); a pass cut short (by its budget of calls per cycle, or a restart) resumes here.';
COMMENT ON COLUMN sagemaker.details_state.pass_full IS 'Whether the open pass reads every package (a backfill or a re-read), not only recent ones.';
COMMENT ON COLUMN sagemaker.details_state.looked_through IS 'Packages and groups first seen by the mirror before this were looked for by a completed pass (its start minus the lookback).';
COMMENT ON COLUMN sagemaker.details_state.last_full_pass_started_at IS 'When the last completed full pass started.';
COMMENT ON COLUMN sagemaker.details_state.last_pass_finished_at IS 'When the last pass completed.';
COMMENT ON COLUMN sagemaker.details_state.last_error IS
    'The last error of a details read (e.g. Search denied), as stored for readers: its first line, IAM principal ARNs cut, at most 300 characters; NULL after a success.';
COMMENT ON COLUMN sagemaker.details_state.last_error_at IS 'When last_error happened.';
COMMENT ON COLUMN sagemaker.details_state.consecutive_failures IS 'Failed details reads since the last success.';

-- ---------------------------------------------------------------- deployments
-- Where each version runs (migration 0016): models, their containers, endpoints,
-- which models each endpoint serves since when, and the reads' progress.

-- ---------------------------------------------------------------- models
CREATE TABLE sagemaker.models (
    model_arn                 text PRIMARY KEY,
    account_id                text        NOT NULL,
    region                    text        NOT NULL,
    model_name                text        NOT NULL,
    creation_time             timestamptz NOT NULL,
    execution_role_arn        text,
    enable_network_isolation  boolean,
    inference_execution_mode  text,
    tags                      jsonb,
    record                    jsonb       NOT NULL,
    first_seen_at             timestamptz NOT NULL DEFAULT now(),
    last_changed_at           timestamptz NOT NULL DEFAULT now(),
    deleted_at                timestamptz
);
CREATE INDEX models_scope_idx ON sagemaker.models (account_id, region) WHERE deleted_at IS NULL;
CREATE INDEX models_name_idx ON sagemaker.models (model_name);
COMMENT ON TABLE sagemaker.models IS
    'SageMaker models (CreateModel), from Search(Resource="Model"): one row per model ever seen, with deleted_at once gone. Their containers are in model_containers, the endpoints that serve them in endpoint_models.';
COMMENT ON COLUMN sagemaker.models.model_arn IS 'ARN of the model.';
COMMENT ON COLUMN sagemaker.models.account_id IS 'AWS account of the model.';
COMMENT ON COLUMN sagemaker.models.region IS 'AWS region of the model.';
COMMENT ON COLUMN sagemaker.models.model_name IS 'Name of the model.';
COMMENT ON COLUMN sagemaker.models.creation_time IS 'When the model was created.';
COMMENT ON COLUMN sagemaker.models.execution_role_arn IS 'IAM role the model runs with.';
COMMENT ON COLUMN sagemaker.models.enable_network_isolation IS 'Whether its containers run without network access.';
COMMENT ON COLUMN sagemaker.models.inference_execution_mode IS 'InferenceExecutionConfig.Mode of an inference pipeline (Serial or Direct); NULL for one container.';
COMMENT ON COLUMN sagemaker.models.tags IS 'Tags as a JSON object {key: value}; NULL when the record carried no Tags.';
COMMENT ON COLUMN sagemaker.models.record IS 'The ModelDashboardModel record as received (timestamps as epoch seconds; container Environment maps left out, they may hold credentials): the model, the endpoints that host it, its monitoring schedules, last batch transform job and model card.';
COMMENT ON COLUMN sagemaker.models.first_seen_at IS 'When registry-sync first stored the model.';
COMMENT ON COLUMN sagemaker.models.last_changed_at IS 'When registry-sync last stored a changed record.';
COMMENT ON COLUMN sagemaker.models.deleted_at IS 'When a complete read of the account and region no longer found the model; NULL while it exists.';

-- ---------------------------------------------------------------- containers
CREATE TABLE sagemaker.model_containers (
    model_arn                     text        NOT NULL,
    container_position            integer     NOT NULL,
    account_id                    text        NOT NULL,
    region                        text        NOT NULL,
    container_hostname            text,
    image                         text,
    model_data_url                text,
    container_mode                text,
    model_package_name            text,
    inference_specification_name  text,
    model_package_arn             text,
    model_package_account_id      text,
    deleted_at                    timestamptz,
    PRIMARY KEY (model_arn, container_position)
);
CREATE INDEX model_containers_package_idx ON sagemaker.model_containers (model_package_arn);
CREATE INDEX model_containers_unresolved_idx ON sagemaker.model_containers (account_id, region)
    WHERE model_package_arn IS NULL AND model_package_name IS NOT NULL AND deleted_at IS NULL;
COMMENT ON TABLE sagemaker.model_containers IS
    'The containers of each model (PrimaryContainer, or the Containers of an inference pipeline), with the package each was made from, if any. Join models on model_arn, model_packages on model_package_arn.';
COMMENT ON COLUMN sagemaker.model_containers.model_arn IS 'ARN of the model (see models).';
COMMENT ON COLUMN sagemaker.model_containers.container_position IS 'Position of the container in the model: 0 for PrimaryContainer or the first of Containers, then 1, 2, ...';
COMMENT ON COLUMN sagemaker.model_containers.account_id IS 'AWS account of the model.';
COMMENT ON COLUMN sagemaker.model_containers.region IS 'AWS region of the model.';
COMMENT ON COLUMN sagemaker.model_containers.container_hostname IS 'ContainerHostname, when given.';
COMMENT ON COLUMN sagemaker.model_containers.image IS 'Image: the inference image, when given (a container made from a package may name only the package).';
COMMENT ON COLUMN sagemaker.model_containers.model_data_url IS 'ModelDataUrl (or ModelDataSource.S3DataSource.S3Uri): the model artifact, when given.';
COMMENT ON COLUMN sagemaker.model_containers.container_mode IS 'Mode: SingleModel or MultiModel.';
COMMENT ON COLUMN sagemaker.model_containers.model_package_name IS 'ModelPackageName as given to CreateModel: a package name, group/version, a versioned ARN, or an ARN of another account; NULL when the container was not made from a package.';
COMMENT ON COLUMN sagemaker.model_containers.inference_specification_name IS 'InferenceSpecificationName: which of the package''s additional inference specifications the container runs; NULL for its main one.';
COMMENT ON COLUMN sagemaker.model_containers.model_package_arn IS 'ARN of the mirrored package that model_package_name designates (a name is looked up in the model''s own account and region); NULL when the container names no package or no mirrored package matches (e.g. one of an account that is not mirrored). Join model_packages on it.';
COMMENT ON COLUMN sagemaker.model_containers.model_package_account_id IS 'AWS account of the package the container names: the ARN''s account, else the model''s own; NULL when it names none.';
COMMENT ON COLUMN sagemaker.model_containers.deleted_at IS 'When the model''s record no longer had this position (a model created again under its name with fewer containers); NULL while it does.';

-- ---------------------------------------------------------------- endpoints
CREATE TABLE sagemaker.endpoints (
    endpoint_arn          text PRIMARY KEY,
    account_id            text        NOT NULL,
    region                text        NOT NULL,
    endpoint_name         text        NOT NULL,
    endpoint_config_name  text,
    endpoint_status       text,
    failure_reason        text,
    creation_time         timestamptz NOT NULL,
    last_modified_time    timestamptz,
    tags                  jsonb,
    record                jsonb       NOT NULL,
    first_seen_at         timestamptz NOT NULL DEFAULT now(),
    last_changed_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at            timestamptz
);
CREATE INDEX endpoints_scope_idx ON sagemaker.endpoints (account_id, region) WHERE deleted_at IS NULL;
COMMENT ON TABLE sagemaker.endpoints IS
    'SageMaker endpoints, from Search(Resource="Endpoint"): one row per endpoint ever seen, with deleted_at once gone. Which models each one serves is in endpoint_models.';
COMMENT ON COLUMN sagemaker.endpoints.endpoint_arn IS 'ARN of the endpoint.';
COMMENT ON COLUMN sagemaker.endpoints.account_id IS 'AWS account of the endpoint.';
COMMENT ON COLUMN sagemaker.endpoints.region IS 'AWS region of the endpoint.';
COMMENT ON COLUMN sagemaker.endpoints.endpoint_name IS 'Name of the endpoint.';
COMMENT ON COLUMN sagemaker.endpoints.endpoint_config_name IS 'The endpoint configuration it runs.';
COMMENT ON COLUMN sagemaker.endpoints.endpoint_status IS 'EndpointStatus: InService, Creating, Updating, SystemUpdating, RollingBack, OutOfService, Deleting, Failed or UpdateRollbackFailed.';
COMMENT ON COLUMN sagemaker.endpoints.failure_reason IS 'FailureReason, when the endpoint failed.';
COMMENT ON COLUMN sagemaker.endpoints.creation_time IS 'When the endpoint was created.';
COMMENT ON COLUMN sagemaker.endpoints.last_modified_time IS 'When the endpoint was last modified (an update to another configuration moves it).';
COMMENT ON COLUMN sagemaker.endpoints.tags IS 'Tags as a JSON object {key: value}; NULL when the record carried no Tags.';
COMMENT ON COLUMN sagemaker.endpoints.record IS 'The Endpoint record as received (timestamps as epoch seconds). Its production variants name the images deployed, not the models: those come from the models'' records (endpoint_models).';
COMMENT ON COLUMN sagemaker.endpoints.first_seen_at IS 'When registry-sync first stored the endpoint.';
COMMENT ON COLUMN sagemaker.endpoints.last_changed_at IS 'When registry-sync last stored a changed record.';
COMMENT ON COLUMN sagemaker.endpoints.deleted_at IS 'When a complete read of the account and region no longer found the endpoint; NULL while it exists.';

-- ---------------------------------------------------------------- which models each endpoint serves
CREATE TABLE sagemaker.endpoint_models (
    endpoint_model_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id         text        NOT NULL,
    region             text        NOT NULL,
    endpoint_arn       text        NOT NULL,
    endpoint_name      text        NOT NULL,
    model_arn          text        NOT NULL,
    model_name         text        NOT NULL,
    deployed_since     timestamptz,
    first_seen_at      timestamptz NOT NULL DEFAULT now(),
    ended_at           timestamptz
);
CREATE UNIQUE INDEX endpoint_models_live_idx
    ON sagemaker.endpoint_models (endpoint_arn, model_arn) WHERE ended_at IS NULL;
CREATE INDEX endpoint_models_model_idx
    ON sagemaker.endpoint_models (model_arn) WHERE ended_at IS NULL;
CREATE INDEX endpoint_models_endpoint_name_idx
    ON sagemaker.endpoint_models (endpoint_name) WHERE ended_at IS NULL;
COMMENT ON TABLE sagemaker.endpoint_models IS
    'Which models each endpoint serves, from the models'' records (ModelDashboardModel.Endpoints): one row per period, ended_at NULL while it lasts. A model served again later gets a new row.';
COMMENT ON COLUMN sagemaker.endpoint_models.endpoint_model_id IS 'Row identifier.';
COMMENT ON COLUMN sagemaker.endpoint_models.account_id IS 'AWS account of the endpoint and the model.';
COMMENT ON COLUMN sagemaker.endpoint_models.region IS 'AWS region of the endpoint and the model.';
COMMENT ON COLUMN sagemaker.endpoint_models.endpoint_arn IS 'ARN of the endpoint (see endpoints).';
COMMENT ON COLUMN sagemaker.endpoint_models.endpoint_name IS 'Name of the endpoint.';
COMMENT ON COLUMN sagemaker.endpoint_models.model_arn IS 'ARN of the model it serves (see models).';
COMMENT ON COLUMN sagemaker.endpoint_models.model_name IS 'Name of that model.';
COMMENT ON COLUMN sagemaker.endpoint_models.deployed_since IS 'The endpoint''s LastModifiedTime in the first record that showed it serving the model: when it started to, if that happened while the mirror watched (an UpdateEndpoint moves it); for what the mirror found already running, no later than that.';
COMMENT ON COLUMN sagemaker.endpoint_models.first_seen_at IS 'When registry-sync first saw the endpoint serve the model.';
COMMENT ON COLUMN sagemaker.endpoint_models.ended_at IS 'When registry-sync saw it stop: the endpoint moved to other models, or the endpoint or the model is gone; NULL while it serves it.';

-- ---------------------------------------------------------------- progress
CREATE TABLE sagemaker.deployments_state (
    account_id                 text        NOT NULL,
    region                     text        NOT NULL,
    endpoints_cursor           timestamptz,
    last_full_read_started_at  timestamptz,
    last_full_read_at          timestamptz,
    last_read_at               timestamptz,
    last_error                 text,
    last_error_at              timestamptz,
    consecutive_failures       integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, region)
);
COMMENT ON TABLE sagemaker.deployments_state IS
    'Progress of the deployments reads per account and region: the full reads of models and endpoints, and the cursor of the endpoints changed since.';
COMMENT ON COLUMN sagemaker.deployments_state.account_id IS 'AWS account.';
COMMENT ON COLUMN sagemaker.deployments_state.region IS 'AWS region.';
COMMENT ON COLUMN sagemaker.deployments_state.endpoints_cursor IS 'Newest LastModifiedTime of an endpoint read: between full reads, endpoints modified after it (less the lookback) are read, and the models they serve.';
COMMENT ON COLUMN sagemaker.deployments_state.last_full_read_started_at IS 'When the last complete full read (every model and endpoint) started.';
COMMENT ON COLUMN sagemaker.deployments_state.last_full_read_at IS 'When the last complete full read finished; NULL until one has.';
COMMENT ON COLUMN sagemaker.deployments_state.last_read_at IS 'When the last read, full or of the changed endpoints, finished.';
COMMENT ON COLUMN sagemaker.deployments_state.last_error IS 'The last error of a deployments read other than a refusal (refusals are in feature_availability), as stored for readers: its first line, IAM principal ARNs cut, at most 300 characters; NULL after a success.';
COMMENT ON COLUMN sagemaker.deployments_state.last_error_at IS 'When last_error happened.';
COMMENT ON COLUMN sagemaker.deployments_state.consecutive_failures IS 'Failed deployments reads since the last success.';

-- ---------------------------------------------------------------- bookkeeping
CREATE TABLE sagemaker.sync_state (
    account_id               text        NOT NULL,
    region                   text        NOT NULL,
    scope_kind               text        NOT NULL CONSTRAINT sync_state_scope_kind_check
                             CHECK (scope_kind IN ('groups', 'group', 'unversioned', 'changes', 'packages')),
    model_package_group_name text        NOT NULL DEFAULT '',
    watermark                timestamptz,
    last_attempt_at          timestamptz,
    last_success_at          timestamptz,
    last_full_success_at     timestamptz,
    last_error               text,
    last_error_at            timestamptz,
    consecutive_failures     integer     NOT NULL DEFAULT 0,
    -- 0009: the change feed's trust (on the 'changes' row only)
    trust_directed           boolean     NOT NULL DEFAULT false,
    trust_reason             text,
    trust_detail             text,
    trust_changed_at         timestamptz,
    feed_since               timestamptz,
    creation_cursor          timestamptz,
    feed_misses              integer     NOT NULL DEFAULT 0,
    feed_last_miss           text,
    feed_last_miss_at        timestamptz,
    PRIMARY KEY (account_id, region, scope_kind, model_package_group_name)
);
COMMENT ON TABLE sagemaker.sync_state IS
    'Progress of each sync scope: the group listing of an account and region, the listing of all its packages, each group''s versions, its unversioned packages, and its change feed.';
COMMENT ON COLUMN sagemaker.sync_state.account_id IS 'AWS account of the scope.';
COMMENT ON COLUMN sagemaker.sync_state.region IS 'AWS region of the scope.';
COMMENT ON COLUMN sagemaker.sync_state.scope_kind IS
    'groups (the list of groups), packages (every package of the account and region, by creation time), group (one group''s versions), unversioned, or changes (the change feed: Search on LastModifiedTime).';
COMMENT ON COLUMN sagemaker.sync_state.model_package_group_name IS 'The group, for scope_kind = group; empty otherwise.';
COMMENT ON COLUMN sagemaker.sync_state.watermark IS
    'Latest creation_time stored for the scope; the next incremental listing starts at this minus the lookback. For packages: where incremental cycles look for new packages of any group. For changes: the latest LastModifiedTime applied (the feed''s cursor). NULL for groups.';
COMMENT ON COLUMN sagemaker.sync_state.last_attempt_at IS 'When the scope was last listed, successfully or not.';
COMMENT ON COLUMN sagemaker.sync_state.last_success_at IS 'When a listing of the scope last completed and was stored.';
COMMENT ON COLUMN sagemaker.sync_state.last_full_success_at IS 'When a complete (non-incremental) listing last completed; deletions are detected then.';
COMMENT ON COLUMN sagemaker.sync_state.last_error IS
    'The last error of the scope, as stored for readers: its first line, IAM and STS principal ARNs cut after the account (arn:aws:iam::123456789012:***), at most 300 characters (the log has the detail); NULL after a success.';
COMMENT ON COLUMN sagemaker.sync_state.last_error_at IS 'When last_error happened.';
COMMENT ON COLUMN sagemaker.sync_state.consecutive_failures IS 'Failed attempts since the last success.';
COMMENT ON COLUMN sagemaker.sync_state.trust_directed IS 'Unused since schema version 15 (directed cycles are gone); dropped in a later release.';
COMMENT ON COLUMN sagemaker.sync_state.trust_reason IS 'Unused since schema version 15; dropped in a later release.';
COMMENT ON COLUMN sagemaker.sync_state.trust_detail IS 'Unused since schema version 15; dropped in a later release.';
COMMENT ON COLUMN sagemaker.sync_state.trust_changed_at IS 'Unused since schema version 15; dropped in a later release.';
COMMENT ON COLUMN sagemaker.sync_state.feed_since IS 'Unused since schema version 15; dropped in a later release.';
COMMENT ON COLUMN sagemaker.sync_state.creation_cursor IS 'Unused since schema version 15 (the packages row''s watermark took its place); dropped in a later release.';
COMMENT ON COLUMN sagemaker.sync_state.feed_misses IS 'Unused since schema version 15; dropped in a later release.';
COMMENT ON COLUMN sagemaker.sync_state.feed_last_miss IS 'Unused since schema version 15; dropped in a later release.';
COMMENT ON COLUMN sagemaker.sync_state.feed_last_miss_at IS 'Unused since schema version 15; dropped in a later release.';

CREATE TABLE sagemaker.sync_runs (
    run_id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mode                text        NOT NULL CHECK (mode IN ('incremental', 'full')),
    status              text        NOT NULL DEFAULT 'running'
                        CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'interrupted')),
    started_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    host                text,
    scopes_total        integer     NOT NULL DEFAULT 0,
    scopes_failed       integer     NOT NULL DEFAULT 0,
    packages_listed     bigint      NOT NULL DEFAULT 0,
    packages_inserted   bigint      NOT NULL DEFAULT 0,
    packages_updated    bigint      NOT NULL DEFAULT 0,
    packages_deleted    bigint      NOT NULL DEFAULT 0,
    groups_listed       integer     NOT NULL DEFAULT 0,
    groups_changed      integer     NOT NULL DEFAULT 0,
    groups_deleted      integer     NOT NULL DEFAULT 0,
    items_skipped       integer     NOT NULL DEFAULT 0,
    api_calls           integer     NOT NULL DEFAULT 0,
    api_throttled       integer     NOT NULL DEFAULT 0,
    errors              jsonb       NOT NULL DEFAULT '[]',
    deployment_key      text
);
CREATE INDEX sync_runs_started_idx ON sagemaker.sync_runs (started_at);
COMMENT ON TABLE sagemaker.sync_runs IS 'One row per sync cycle.';
COMMENT ON COLUMN sagemaker.sync_runs.run_id IS 'Increasing id of the cycle.';
COMMENT ON COLUMN sagemaker.sync_runs.mode IS 'incremental (new packages since the watermark) or full (every scope re-listed: mutable fields and deletions).';
COMMENT ON COLUMN sagemaker.sync_runs.status IS 'running, succeeded, partial (some scopes failed), failed or interrupted (stopped or crashed).';
COMMENT ON COLUMN sagemaker.sync_runs.started_at IS 'When the cycle started.';
COMMENT ON COLUMN sagemaker.sync_runs.finished_at IS 'When the cycle ended; NULL while running or if the process died.';
COMMENT ON COLUMN sagemaker.sync_runs.host IS 'Host name of the replica that ran the cycle.';
COMMENT ON COLUMN sagemaker.sync_runs.scopes_total IS 'Scopes (groups and unversioned listings) attempted.';
COMMENT ON COLUMN sagemaker.sync_runs.scopes_failed IS 'Scopes whose listing or storing failed; retried next cycle.';
COMMENT ON COLUMN sagemaker.sync_runs.packages_listed IS 'Package summaries received from the API.';
COMMENT ON COLUMN sagemaker.sync_runs.packages_inserted IS 'Packages stored for the first time.';
COMMENT ON COLUMN sagemaker.sync_runs.packages_updated IS 'Packages whose stored row changed (fields, or un-deleted).';
COMMENT ON COLUMN sagemaker.sync_runs.packages_deleted IS 'Packages marked deleted.';
COMMENT ON COLUMN sagemaker.sync_runs.groups_listed IS 'Group summaries received from the API.';
COMMENT ON COLUMN sagemaker.sync_runs.groups_changed IS 'Groups inserted or updated.';
COMMENT ON COLUMN sagemaker.sync_runs.groups_deleted IS 'Groups marked deleted.';
COMMENT ON COLUMN sagemaker.sync_runs.items_skipped IS 'Listed items that could not be mirrored (logged with a reason).';
COMMENT ON COLUMN sagemaker.sync_runs.api_calls IS 'SageMaker HTTP requests made, retries included.';
COMMENT ON COLUMN sagemaker.sync_runs.api_throttled IS 'Requests answered with a throttling error.';
COMMENT ON COLUMN sagemaker.sync_runs.errors IS
    'Failed scopes and their errors, as a JSON array of {scope, error}; each error its first line, IAM principal ARNs cut, at most 300 characters.';
COMMENT ON COLUMN sagemaker.sync_runs.deployment_key IS
    'The deployment (sagemaker.cycle_leases) whose cycle this was; NULL for runs recorded before schema version 7.';

-- Which replica of each deployment leads the cycle (syncer/lease.py).
CREATE TABLE sagemaker.cycle_leases (
    deployment_key     text PRIMARY KEY,
    holder             text,
    expires_at         timestamptz NOT NULL DEFAULT '-infinity',
    acquired_at        timestamptz,
    released_at        timestamptz,
    last_started_at    timestamptz,
    last_completed_at  timestamptz
);
COMMENT ON TABLE sagemaker.cycle_leases IS
    'Which replica of each registry-sync deployment leads the sync cycle, until when (one row per deployment).';
COMMENT ON COLUMN sagemaker.cycle_leases.deployment_key IS
    'Hash of the settings that choose a deployment''s targets (regions, role ARNs, filters).';
COMMENT ON COLUMN sagemaker.cycle_leases.holder IS
    'The replica holding (or that last held) the lease: host, process id and a random suffix.';
COMMENT ON COLUMN sagemaker.cycle_leases.expires_at IS
    'The lease is free from this moment unless its holder renews it; set to the release time when a cycle ends.';
COMMENT ON COLUMN sagemaker.cycle_leases.acquired_at IS 'When the holder took the lease.';
COMMENT ON COLUMN sagemaker.cycle_leases.released_at IS
    'When the holder last released it; before acquired_at while a cycle runs, or when its holder died in one.';
COMMENT ON COLUMN sagemaker.cycle_leases.last_started_at IS
    'When the deployment''s last cycle started (by any replica).';
COMMENT ON COLUMN sagemaker.cycle_leases.last_completed_at IS
    'When a cycle of the deployment last completed (succeeded or partial).';

-- ---------------------------------------------------------------- change feed availability (superseded)
CREATE TABLE sagemaker.change_feed_availability (
    account_id  text        NOT NULL,
    region      text        NOT NULL,
    off_since   timestamptz,
    off_until   timestamptz,
    reason      text,
    PRIMARY KEY (account_id, region),
    CONSTRAINT change_feed_availability_off_whole
        CHECK ((off_since IS NULL) = (off_until IS NULL) AND (off_until IS NULL) = (reason IS NULL))
);
COMMENT ON TABLE sagemaker.change_feed_availability IS
    'Superseded by feature_availability (its rows were copied there); written only by replicas of the previous release during an upgrade, and dropped in a later release.';
COMMENT ON COLUMN sagemaker.change_feed_availability.account_id IS 'AWS account whose feed is off.';
COMMENT ON COLUMN sagemaker.change_feed_availability.region IS 'AWS region whose feed is off.';
COMMENT ON COLUMN sagemaker.change_feed_availability.off_since IS 'When the feed was first refused (kept while later retries are refused too); NULL while it is on.';
COMMENT ON COLUMN sagemaker.change_feed_availability.off_until IS 'The feed is tried again after this, or at the next full reconcile, whichever comes first; NULL while it is on.';
COMMENT ON COLUMN sagemaker.change_feed_availability.reason IS 'The error SageMaker answered, as one line (code and message); NULL while the feed is on.';

-- ---------------------------------------------------------------- optional reads switched off
CREATE TABLE sagemaker.feature_availability (
    account_id  text        NOT NULL,
    region      text        NOT NULL,
    feature     text        NOT NULL
                CHECK (feature IN ('change_feed', 'details', 'deployments', 'events')),
    off_since   timestamptz,
    off_until   timestamptz,
    reason      text,
    PRIMARY KEY (account_id, region, feature),
    CONSTRAINT feature_availability_off_whole
        CHECK ((off_since IS NULL) = (off_until IS NULL) AND (off_until IS NULL) = (reason IS NULL))
);
COMMENT ON TABLE sagemaker.feature_availability IS
    'Optional reads (change feed, governance details, deployments, events) switched off for an account and region because they were refused (access denied, not served); no row, or off_until NULL: on. Cycles still succeed without them.';
COMMENT ON COLUMN sagemaker.feature_availability.account_id IS 'AWS account.';
COMMENT ON COLUMN sagemaker.feature_availability.region IS 'AWS region.';
COMMENT ON COLUMN sagemaker.feature_availability.feature IS 'change_feed, details, deployments or events.';
COMMENT ON COLUMN sagemaker.feature_availability.off_since IS 'When it was first refused (kept while later retries are refused too); NULL while it is on.';
COMMENT ON COLUMN sagemaker.feature_availability.off_until IS 'It is tried again after this, or at the next full reconcile, whichever comes first; NULL while it is on.';
COMMENT ON COLUMN sagemaker.feature_availability.reason IS 'The error answered, as one line (code and message, principal ARNs cut); NULL while it is on.';

-- ---------------------------------------------------------------- events (0018)
-- Each package's newest LastModifiedTime applied: events and the change feed
-- move nothing back (syncer/events/, docs/operations/events.md).
CREATE TABLE sagemaker.model_package_last_modified (
    model_package_arn   text        PRIMARY KEY,
    last_modified_time  timestamptz NOT NULL,
    whole_seconds       boolean     NOT NULL,
    deleted             boolean     NOT NULL DEFAULT false,
    applied_by          text        NOT NULL
                        CHECK (applied_by IN ('change_feed', 'event', 'describe', 'delete_call')),
    applied_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sagemaker.model_package_last_modified IS
    'Per package, the newest LastModifiedTime that the change feed or an event applied to the mirror (or the time of a delete call): an event or search result that is not newer does not move the row back. Listings carry no modification time and leave it alone.';
COMMENT ON COLUMN sagemaker.model_package_last_modified.model_package_arn IS 'The package (see model_packages; a deleted package may have no row there).';
COMMENT ON COLUMN sagemaker.model_package_last_modified.last_modified_time IS 'The newest LastModifiedTime applied; for a delete call, when it was made.';
COMMENT ON COLUMN sagemaker.model_package_last_modified.whole_seconds IS 'True when that time came to the second only (events and CloudTrail give no fraction): the change happened within the second after it.';
COMMENT ON COLUMN sagemaker.model_package_last_modified.deleted IS 'True when a DeleteModelPackage call (from CloudTrail) was the last thing applied: an older registration event does not bring the package back.';
COMMENT ON COLUMN sagemaker.model_package_last_modified.applied_by IS 'What applied it: change_feed (Search), event (EventBridge), describe (DescribeModelPackage, to order two events of the same second) or delete_call (CloudTrail).';
COMMENT ON COLUMN sagemaker.model_package_last_modified.applied_at IS 'When it was applied.';

-- The deployment's queue of SageMaker events (SYNCER_EVENTS_QUEUE_URL).
CREATE TABLE sagemaker.event_queues (
    queue_url         text        PRIMARY KEY,
    state             text        NOT NULL
                      CHECK (state IN ('healthy', 'unreachable', 'refused', 'stopped')),
    state_since       timestamptz NOT NULL,
    last_error        text,
    last_received_at  timestamptz,
    last_applied_at   timestamptz,
    checked_at        timestamptz NOT NULL
);
COMMENT ON TABLE sagemaker.event_queues IS
    'The SQS queue (SYNCER_EVENTS_QUEUE_URL) from which the service applies SageMaker''s events, as the replica that polled it last found it. Written on every change of state and about once a minute.';
COMMENT ON COLUMN sagemaker.event_queues.queue_url IS 'The queue''s URL.';
COMMENT ON COLUMN sagemaker.event_queues.state IS 'healthy (the last long poll answered), unreachable (no answer: network, timeouts, server errors), refused (access denied, or no such queue) or stopped (the service stopped polling it).';
COMMENT ON COLUMN sagemaker.event_queues.state_since IS 'Since when the queue has been in that state.';
COMMENT ON COLUMN sagemaker.event_queues.last_error IS 'The error of the last failed poll, as one line (code and message, principal ARNs cut); NULL while healthy.';
COMMENT ON COLUMN sagemaker.event_queues.last_received_at IS 'When a message was last received from the queue.';
COMMENT ON COLUMN sagemaker.event_queues.last_applied_at IS 'When an event from the queue last changed the mirror.';
COMMENT ON COLUMN sagemaker.event_queues.checked_at IS 'When a replica last wrote this row: a poll that is no longer being made shows as an old time.';

-- ---------------------------------------------------------------- API rates
CREATE TABLE sagemaker.api_rates (
    account_id      text             NOT NULL,
    region          text             NOT NULL,
    operation_class text             NOT NULL CHECK (operation_class IN ('list', 'search')),
    allowed_rate    double precision NOT NULL,
    ceiling         double precision NOT NULL,
    throttles       bigint           NOT NULL,
    updated_at      timestamptz      NOT NULL,
    PRIMARY KEY (account_id, region, operation_class)
);
COMMENT ON TABLE sagemaker.api_rates IS
    'The SageMaker request rate the service allowed itself per account, region and operation class, as of the end of its last cycle there (the quota is found by backing off on throttling).';
COMMENT ON COLUMN sagemaker.api_rates.account_id IS 'AWS account.';
COMMENT ON COLUMN sagemaker.api_rates.region IS 'AWS region.';
COMMENT ON COLUMN sagemaker.api_rates.operation_class IS 'list (ListModelPackageGroups, ListModelPackages) or search (Search): AWS keeps a quota for each.';
COMMENT ON COLUMN sagemaker.api_rates.allowed_rate IS 'Requests per second allowed at the end of the cycle.';
COMMENT ON COLUMN sagemaker.api_rates.ceiling IS 'SYNCER_MAX_REQUESTS_PER_SECOND: the most ever allowed.';
COMMENT ON COLUMN sagemaker.api_rates.throttles IS 'Attempts answered with throttling in that cycle.';
COMMENT ON COLUMN sagemaker.api_rates.updated_at IS 'When a cycle last changed this row.';

-- ---------------------------------------------------------------- views
-- Per group, the highest approved version (one row per group, read from
-- model_packages_latest_approved_idx).
CREATE VIEW sagemaker.latest_approved_model_packages AS
SELECT g.account_id, g.region, g.model_package_group_name, p.model_package_version,
       p.model_package_arn, p.model_package_description, p.creation_time,
       p.model_life_cycle_stage, p.model_life_cycle_stage_status
  FROM sagemaker.model_package_groups g
 CROSS JOIN LATERAL (
        SELECT p.model_package_version, p.model_package_arn, p.model_package_description,
               p.creation_time, p.model_life_cycle_stage, p.model_life_cycle_stage_status
          FROM sagemaker.model_packages p
         WHERE p.model_package_group_name = g.model_package_group_name
           AND p.account_id = g.account_id
           AND p.region = g.region
           AND p.model_approval_status = 'Approved'
           AND p.deleted_at IS NULL
         ORDER BY p.model_package_version DESC
         LIMIT 1
       ) p
 WHERE g.deleted_at IS NULL;
COMMENT ON VIEW sagemaker.latest_approved_model_packages IS
    'Per existing group, its highest existing version whose approval status is Approved: what a deployment pipeline would pick. Groups with no approved version are absent.';
COMMENT ON COLUMN sagemaker.latest_approved_model_packages.account_id IS 'AWS account of the group.';
COMMENT ON COLUMN sagemaker.latest_approved_model_packages.region IS 'AWS region of the group.';
COMMENT ON COLUMN sagemaker.latest_approved_model_packages.model_package_group_name IS 'The group.';
COMMENT ON COLUMN sagemaker.latest_approved_model_packages.model_package_version IS 'Highest approved version.';
COMMENT ON COLUMN sagemaker.latest_approved_model_packages.model_package_arn IS 'ARN of that version.';
COMMENT ON COLUMN sagemaker.latest_approved_model_packages.model_package_description IS 'Its description.';
COMMENT ON COLUMN sagemaker.latest_approved_model_packages.creation_time IS 'When that version was created.';
COMMENT ON COLUMN sagemaker.latest_approved_model_packages.model_life_cycle_stage IS 'Its life-cycle stage, if set.';
COMMENT ON COLUMN sagemaker.latest_approved_model_packages.model_life_cycle_stage_status IS 'Its status within that stage.';

CREATE VIEW sagemaker.pending_approvals AS
SELECT p.account_id, p.region, p.model_package_group_name, p.model_package_version,
       p.model_package_name, p.model_package_arn, p.model_package_description,
       p.creation_time,
       coalesce(c.pending_since, p.creation_time) AS pending_since,
       now() - coalesce(c.pending_since, p.creation_time) AS waiting_for
  FROM sagemaker.model_packages p
  LEFT JOIN (
        SELECT ch.model_package_arn, max(ch.observed_at) AS pending_since
          FROM sagemaker.model_package_changes ch
         WHERE ch.change_type = 'model_approval_status'
           AND ch.new_value = 'PendingManualApproval'
         GROUP BY ch.model_package_arn
       ) c ON c.model_package_arn = p.model_package_arn
 WHERE p.model_approval_status = 'PendingManualApproval'
   AND p.deleted_at IS NULL;
COMMENT ON VIEW sagemaker.pending_approvals IS
    'Packages waiting for a manual approval decision, and for how long.';
COMMENT ON COLUMN sagemaker.pending_approvals.account_id IS 'AWS account of the package.';
COMMENT ON COLUMN sagemaker.pending_approvals.region IS 'AWS region of the package.';
COMMENT ON COLUMN sagemaker.pending_approvals.model_package_group_name IS 'Group of the package; NULL if unversioned.';
COMMENT ON COLUMN sagemaker.pending_approvals.model_package_version IS 'Version within the group.';
COMMENT ON COLUMN sagemaker.pending_approvals.model_package_name IS 'Name, for unversioned packages.';
COMMENT ON COLUMN sagemaker.pending_approvals.model_package_arn IS 'ARN of the package.';
COMMENT ON COLUMN sagemaker.pending_approvals.model_package_description IS 'Its description.';
COMMENT ON COLUMN sagemaker.pending_approvals.creation_time IS 'When the package was created.';
COMMENT ON COLUMN sagemaker.pending_approvals.pending_since IS 'When it became pending: its creation, or the last observed change back to PendingManualApproval.';
COMMENT ON COLUMN sagemaker.pending_approvals.waiting_for IS 'How long it has been pending, as of the query.';

CREATE VIEW sagemaker.model_package_groups_overview AS
SELECT g.account_id, g.region, g.model_package_group_name, g.model_package_group_arn,
       g.model_package_group_description, g.model_package_group_status, g.creation_time,
       coalesce(v.versions, 0) AS versions,
       coalesce(v.approved_versions, 0) AS approved_versions,
       coalesce(v.rejected_versions, 0) AS rejected_versions,
       coalesce(v.pending_versions, 0) AS pending_versions,
       v.latest_version, v.latest_version_created_at, v.latest_approved_version
  FROM sagemaker.model_package_groups g
  LEFT JOIN (
        SELECT p.account_id, p.region, p.model_package_group_name,
               count(*) AS versions,
               count(*) FILTER (WHERE p.model_approval_status = 'Approved') AS approved_versions,
               count(*) FILTER (WHERE p.model_approval_status = 'Rejected') AS rejected_versions,
               count(*) FILTER (WHERE p.model_approval_status = 'PendingManualApproval')
                   AS pending_versions,
               max(p.model_package_version) AS latest_version,
               max(p.creation_time) AS latest_version_created_at,
               max(p.model_package_version) FILTER (WHERE p.model_approval_status = 'Approved')
                   AS latest_approved_version
          FROM sagemaker.model_packages p
         WHERE p.deleted_at IS NULL
           AND p.model_package_group_name IS NOT NULL
         GROUP BY p.account_id, p.region, p.model_package_group_name
       ) v ON v.account_id = g.account_id
          AND v.region = g.region
          AND v.model_package_group_name = g.model_package_group_name
 WHERE g.deleted_at IS NULL;
COMMENT ON VIEW sagemaker.model_package_groups_overview IS
    'One row per existing group: how many versions it has (deleted ones not counted), how many are approved, rejected or pending, and its newest and newest approved version.';
COMMENT ON COLUMN sagemaker.model_package_groups_overview.account_id IS 'AWS account of the group.';
COMMENT ON COLUMN sagemaker.model_package_groups_overview.region IS 'AWS region of the group.';
COMMENT ON COLUMN sagemaker.model_package_groups_overview.model_package_group_name IS 'The group (a "model").';
COMMENT ON COLUMN sagemaker.model_package_groups_overview.model_package_group_arn IS 'ARN of the group.';
COMMENT ON COLUMN sagemaker.model_package_groups_overview.model_package_group_description IS 'Description of the group.';
COMMENT ON COLUMN sagemaker.model_package_groups_overview.model_package_group_status IS 'SageMaker status of the group (Completed once usable).';
COMMENT ON COLUMN sagemaker.model_package_groups_overview.creation_time IS 'When the group was created in SageMaker.';
COMMENT ON COLUMN sagemaker.model_package_groups_overview.versions IS 'Existing versions in the group (0 if none).';
COMMENT ON COLUMN sagemaker.model_package_groups_overview.approved_versions IS 'Existing versions with approval status Approved.';
COMMENT ON COLUMN sagemaker.model_package_groups_overview.rejected_versions IS 'Existing versions with approval status Rejected.';
COMMENT ON COLUMN sagemaker.model_package_groups_overview.pending_versions IS 'Existing versions waiting for approval (PendingManualApproval).';
COMMENT ON COLUMN sagemaker.model_package_groups_overview.latest_version IS 'Highest existing version number; NULL if the group has none.';
COMMENT ON COLUMN sagemaker.model_package_groups_overview.latest_version_created_at IS 'When the newest existing version was created; NULL if none.';
COMMENT ON COLUMN sagemaker.model_package_groups_overview.latest_approved_version IS 'Highest existing Approved version (see latest_approved_model_packages); NULL if none.';

CREATE VIEW sagemaker.approval_history AS
SELECT c.observed_at, c.account_id, c.region, c.model_package_group_name,
       c.model_package_version, c.model_package_arn, c.change_type,
       c.old_value AS from_status, c.new_value AS to_status, c.run_id, c.change_id,
       coalesce(c.last_modified_by_arn, c.last_modified_by_user_profile) AS last_modified_by,
       c.approval_description
  FROM sagemaker.model_package_changes c
 WHERE c.change_type = 'model_approval_status'
    OR (c.change_type = 'created' AND c.new_value IS NOT NULL)
 ORDER BY c.observed_at DESC, c.change_id DESC;
COMMENT ON VIEW sagemaker.approval_history IS
    'Approval decisions as registry-sync observed them, newest first: each change of a package''s approval status, and the status it had when first seen (change_type created). Times are when a sync observed the change: up to one reconcile interval (SYNCER_RECONCILE_INTERVAL_SECONDS) after it happened. Packages that existed before the mirror started appear as created, with their status at that time.';
COMMENT ON COLUMN sagemaker.approval_history.observed_at IS 'When registry-sync observed the change (not when it happened in SageMaker).';
COMMENT ON COLUMN sagemaker.approval_history.account_id IS 'AWS account of the package.';
COMMENT ON COLUMN sagemaker.approval_history.region IS 'AWS region of the package.';
COMMENT ON COLUMN sagemaker.approval_history.model_package_group_name IS 'Group of the package.';
COMMENT ON COLUMN sagemaker.approval_history.model_package_version IS 'Version of the package within its group.';
COMMENT ON COLUMN sagemaker.approval_history.model_package_arn IS 'ARN of the package (see model_packages).';
COMMENT ON COLUMN sagemaker.approval_history.change_type IS 'created (the status when first seen) or model_approval_status (a change of status).';
COMMENT ON COLUMN sagemaker.approval_history.from_status IS 'Approval status before the change; NULL for created.';
COMMENT ON COLUMN sagemaker.approval_history.to_status IS 'Approval status after the change: Approved, Rejected or PendingManualApproval.';
COMMENT ON COLUMN sagemaker.approval_history.run_id IS 'The sync run that observed it (see sync_runs).';
COMMENT ON COLUMN sagemaker.approval_history.change_id IS 'Id of the row in model_package_changes; orders changes observed at the same instant.';
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


CREATE VIEW sagemaker.deployed_model_packages AS
SELECT l.account_id, l.region, l.endpoint_name, l.endpoint_arn, e.endpoint_status,
       l.model_name, l.model_arn, c.container_position,
       c.model_package_name AS model_package_reference, c.model_package_arn,
       c.model_package_account_id, p.model_package_group_name, p.model_package_version,
       p.model_approval_status, p.model_life_cycle_stage,
       p.deleted_at AS model_package_deleted_at, l.deployed_since, l.first_seen_at
  FROM sagemaker.endpoint_models l
  JOIN sagemaker.model_containers c
    ON c.model_arn = l.model_arn AND c.deleted_at IS NULL AND c.model_package_name IS NOT NULL
  LEFT JOIN sagemaker.endpoints e ON e.endpoint_arn = l.endpoint_arn
  LEFT JOIN sagemaker.model_packages p ON p.model_package_arn = c.model_package_arn
 WHERE l.ended_at IS NULL;
COMMENT ON VIEW sagemaker.deployed_model_packages IS
    'What runs where: one row per package a container of a served model was made from, per endpoint serving that model (package version -> model -> endpoint), with the endpoint''s status, the version''s approval status and since when. Package columns are NULL when the package is not mirrored (e.g. of another account).';
COMMENT ON COLUMN sagemaker.deployed_model_packages.account_id IS 'AWS account of the endpoint.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.region IS 'AWS region of the endpoint.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.endpoint_name IS 'The endpoint.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.endpoint_arn IS 'ARN of the endpoint.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.endpoint_status IS 'Its status (InService, Updating, Failed, ...); NULL until its own record is read.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_name IS 'The model it serves.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_arn IS 'ARN of that model.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.container_position IS 'Which container of the model (0 for the first).';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_package_reference IS 'The container''s ModelPackageName as given.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_package_arn IS 'ARN of the mirrored package it designates; NULL when not mirrored.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_package_account_id IS 'AWS account of that package.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_package_group_name IS 'Group of the package; NULL if unversioned or not mirrored.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_package_version IS 'Version within the group.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_approval_status IS 'The version''s current approval status.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_life_cycle_stage IS 'The version''s current life-cycle stage, if set.';
COMMENT ON COLUMN sagemaker.deployed_model_packages.model_package_deleted_at IS 'When the package was deleted from the registry, if it was (an endpoint may still run it).';
COMMENT ON COLUMN sagemaker.deployed_model_packages.deployed_since IS 'Since when the endpoint serves the model (see endpoint_models.deployed_since).';
COMMENT ON COLUMN sagemaker.deployed_model_packages.first_seen_at IS 'When registry-sync first saw the endpoint serve the model.';

CREATE VIEW sagemaker.unapproved_deployments AS
SELECT d.account_id, d.region, d.endpoint_name, d.endpoint_arn, d.endpoint_status,
       d.model_name, d.model_arn, d.model_package_arn, d.model_package_group_name,
       d.model_package_version, d.model_approval_status, d.model_package_deleted_at,
       d.deployed_since, s.status_since,
       greatest(d.deployed_since, s.status_since) AS not_approved_since
  FROM sagemaker.deployed_model_packages d
  LEFT JOIN LATERAL (
        SELECT max(ch.observed_at) AS status_since
          FROM sagemaker.model_package_changes ch
         WHERE ch.model_package_arn = d.model_package_arn
           AND ch.change_type IN ('created', 'model_approval_status')
       ) s ON true
 WHERE d.model_package_group_name IS NOT NULL
   AND d.model_approval_status IS DISTINCT FROM 'Approved';
COMMENT ON VIEW sagemaker.unapproved_deployments IS
    'Endpoints serving a version that is not Approved (pending, rejected, or with no status), and since when. Only mirrored versions: a package of an account that is not mirrored has no known status.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.account_id IS 'AWS account of the endpoint.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.region IS 'AWS region of the endpoint.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.endpoint_name IS 'The endpoint.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.endpoint_arn IS 'ARN of the endpoint.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.endpoint_status IS 'Its status.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.model_name IS 'The model it serves.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.model_arn IS 'ARN of that model.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.model_package_arn IS 'ARN of the version the model was made from.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.model_package_group_name IS 'Its group.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.model_package_version IS 'Its version.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.model_approval_status IS 'Its approval status: PendingManualApproval, Rejected, or NULL.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.model_package_deleted_at IS 'When the version was deleted from the registry, if it was.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.deployed_since IS 'Since when the endpoint serves the model.';
COMMENT ON COLUMN sagemaker.unapproved_deployments.status_since IS 'When the mirror first saw the version with its current approval status (its last observed approval change, or when it was first seen).';
COMMENT ON COLUMN sagemaker.unapproved_deployments.not_approved_since IS 'Since when the endpoint serves the version while it is not approved: the later of deployed_since and status_since.';

CREATE VIEW sagemaker.undeployed_approved_model_packages AS
SELECT l.account_id, l.region, l.model_package_group_name, l.model_package_version,
       l.model_package_arn, l.creation_time, d.deployed_versions
  FROM sagemaker.latest_approved_model_packages l
  JOIN sagemaker.deployments_state s
    ON s.account_id = l.account_id AND s.region = l.region AND s.last_full_read_at IS NOT NULL
  -- Every group's served versions at once: one pass over what runs.
  LEFT JOIN (
        SELECT p.account_id, p.region, p.model_package_group_name,
               array_agg(DISTINCT p.model_package_version ORDER BY p.model_package_version)
                   AS deployed_versions
          FROM sagemaker.endpoint_models m
          JOIN sagemaker.model_containers c
            ON c.model_arn = m.model_arn AND c.deleted_at IS NULL
          JOIN sagemaker.model_packages p ON p.model_package_arn = c.model_package_arn
         WHERE m.ended_at IS NULL AND p.model_package_group_name IS NOT NULL
         GROUP BY p.account_id, p.region, p.model_package_group_name
       ) d ON d.account_id = l.account_id AND d.region = l.region
          AND d.model_package_group_name = l.model_package_group_name
 WHERE NOT EXISTS (SELECT 1 FROM sagemaker.model_containers c
                     JOIN sagemaker.endpoint_models m
                       ON m.model_arn = c.model_arn AND m.ended_at IS NULL
                    WHERE c.model_package_arn = l.model_package_arn AND c.deleted_at IS NULL);
COMMENT ON VIEW sagemaker.undeployed_approved_model_packages IS
    'The latest approved version of each group that no endpoint serves, with the versions of the group that endpoints serve instead. Only accounts and regions whose deployments have been read in full.';
COMMENT ON COLUMN sagemaker.undeployed_approved_model_packages.account_id IS 'AWS account of the group.';
COMMENT ON COLUMN sagemaker.undeployed_approved_model_packages.region IS 'AWS region of the group.';
COMMENT ON COLUMN sagemaker.undeployed_approved_model_packages.model_package_group_name IS 'The group.';
COMMENT ON COLUMN sagemaker.undeployed_approved_model_packages.model_package_version IS 'Its latest approved version.';
COMMENT ON COLUMN sagemaker.undeployed_approved_model_packages.model_package_arn IS 'ARN of that version.';
COMMENT ON COLUMN sagemaker.undeployed_approved_model_packages.creation_time IS 'When that version was created.';
COMMENT ON COLUMN sagemaker.undeployed_approved_model_packages.deployed_versions IS 'Versions of the same group that endpoints serve now; NULL when none does.';

CREATE VIEW sagemaker.cross_account_deployments AS
SELECT d.account_id, d.region, d.endpoint_name, d.endpoint_arn, d.endpoint_status,
       d.model_name, d.model_arn, d.model_package_reference, d.model_package_account_id,
       d.model_package_arn, d.model_package_group_name, d.model_package_version,
       d.model_approval_status, d.deployed_since
  FROM sagemaker.deployed_model_packages d
 WHERE d.model_package_account_id <> d.account_id;
COMMENT ON VIEW sagemaker.cross_account_deployments IS
    'Endpoints running a package of another account (a model made from a package ARN of that account). Status columns are NULL unless that account is mirrored too.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.account_id IS 'AWS account of the endpoint.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.region IS 'AWS region of the endpoint.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.endpoint_name IS 'The endpoint.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.endpoint_arn IS 'ARN of the endpoint.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.endpoint_status IS 'Its status.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.model_name IS 'The model it serves.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.model_arn IS 'ARN of that model.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.model_package_reference IS 'The container''s ModelPackageName as given (the other account''s package ARN).';
COMMENT ON COLUMN sagemaker.cross_account_deployments.model_package_account_id IS 'The account the package belongs to.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.model_package_arn IS 'ARN of the package if that account is mirrored; else NULL.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.model_package_group_name IS 'Its group, if mirrored.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.model_package_version IS 'Its version, if mirrored.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.model_approval_status IS 'Its approval status, if mirrored.';
COMMENT ON COLUMN sagemaker.cross_account_deployments.deployed_since IS 'Since when the endpoint serves the model.';

-- ---------------------------------------------------------------- functions
-- The page write and its pieces (see 0003_page_writes.sql and 0004_page_write_plans.sql
-- for why they are functions and why they keep or refuse cached plans). Each runs
-- with the caller's rights (SECURITY INVOKER); EXECUTE is not granted to PUBLIC.
-- Each resolves names with search_path = pg_catalog, pg_temp, so that nobody's
-- objects in public can stand in for a built-in (0006_function_search_path.sql);
-- our own objects are named with their schema.

-- The lock every writer of a scope takes first, for the rest of its transaction.
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

-- Moves forward only, never past the present.
CREATE OR REPLACE FUNCTION sagemaker.advance_watermark(
    p_account text, p_region text, p_kind text, p_group text, p_watermark timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO sagemaker.sync_state AS s
           (account_id, region, scope_kind, model_package_group_name, watermark)
    VALUES (p_account, p_region, p_kind, p_group, least(p_watermark, now()))
    ON CONFLICT (account_id, region, scope_kind, model_package_group_name) DO UPDATE
       SET watermark = greatest(s.watermark, excluded.watermark)
     WHERE s.watermark IS NULL OR s.watermark < excluded.watermark;
END
$$;
COMMENT ON FUNCTION sagemaker.advance_watermark(text, text, text, text, timestamptz) IS
    'registry-sync internal: moves a scope''s watermark (or the change feed''s cursor) forward, never past now().';

CREATE OR REPLACE FUNCTION sagemaker.scope_succeeded(
    p_account text, p_region text, p_kind text, p_group text, p_full boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
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
COMMENT ON FUNCTION sagemaker.scope_succeeded(text, text, text, text, boolean) IS
    'registry-sync internal: records a completed listing of a scope (p_full: a complete one).';

-- After a complete listing of a scope: rows it did not contain are gone.
CREATE OR REPLACE FUNCTION sagemaker.sweep_scope(
    p_account text, p_region text, p_group text, p_seen text[],
    p_absent_before timestamptz, p_run_id bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_custom_plan
SET search_path = pg_catalog, pg_temp
AS $$
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
    RETURN n;
END
$$;
COMMENT ON FUNCTION sagemaker.sweep_scope(text, text, text, text[], timestamptz, bigint) IS
    'registry-sync internal: marks a scope''s packages absent from a complete listing deleted.';

-- One page of a scope's listing in one call: scope lock, upsert with change
-- history, watermark and, for the last page, the sweep and the scope's success.
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

CREATE FUNCTION sagemaker.store_listing_page(
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
COMMENT ON FUNCTION sagemaker.store_listing_page(
    text, text, text, text, text[], text[], text[], text[], integer[], text[], text[],
    timestamptz[], text[], text[], text[], text[], text[], text[], text[], bigint, boolean,
    text[], timestamptz) IS
    'registry-sync internal: stores one page of a scope''s listing (upsert, change history, watermark) and, for its last page, sweeps and records the scope; one round trip.';

-- store_listing_page as the service calls it: a statement on its own (its own
-- transaction), which bounds its lock waits by the caller's timeout (0013).
CREATE FUNCTION sagemaker.write_listing_page(
    p_account text, p_region text, p_kind text, p_group text,
    p_arns text[], p_account_ids text[], p_regions text[], p_group_names text[],
    p_versions integer[], p_names text[], p_descriptions text[],
    p_creation_times timestamptz[], p_package_statuses text[], p_approval_statuses text[],
    p_stages text[], p_stage_statuses text[], p_stage_descriptions text[],
    p_registration_types text[], p_raws text[],
    p_run_id bigint, p_finish boolean, p_seen text[], p_absent_before timestamptz,
    p_lock_timeout_ms integer,
    OUT inserted bigint, OUT updated bigint, OUT changes bigint, OUT deleted bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout_ms::text, true);
    SELECT s.inserted, s.updated, s.changes, s.deleted
      INTO inserted, updated, changes, deleted
      FROM sagemaker.store_listing_page(
            p_account, p_region, p_kind, p_group,
            p_arns, p_account_ids, p_regions, p_group_names, p_versions, p_names,
            p_descriptions, p_creation_times, p_package_statuses, p_approval_statuses,
            p_stages, p_stage_statuses, p_stage_descriptions, p_registration_types, p_raws,
            p_run_id, p_finish, p_seen, p_absent_before) AS s;
END
$$;
COMMENT ON FUNCTION sagemaker.write_listing_page(
    text, text, text, text, text[], text[], text[], text[], integer[], text[], text[],
    timestamptz[], text[], text[], text[], text[], text[], text[], text[], bigint, boolean,
    text[], timestamptz, integer) IS
    'registry-sync internal: store_listing_page, its lock waits bounded by the caller''s timeout (ms), for a call that is its own transaction.';

-- Takes the lease when it is free (expired or released) and the deployment's
-- cycle is due: p_min_gap seconds after the last one started, or now if its
-- leader died before releasing the lease. Answers, by the
-- database's clock, whether it was granted and, if not, in how many seconds
-- to ask again, and how long ago a cycle of the deployment last completed.
CREATE FUNCTION sagemaker.take_cycle_lease(
    p_key text, p_holder text, p_seconds float8, p_min_gap float8)
RETURNS TABLE (granted boolean, holder text, expires_in float8, due_in float8,
               completed_ago float8)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    l sagemaker.cycle_leases;
    due boolean;
BEGIN
    INSERT INTO sagemaker.cycle_leases (deployment_key) VALUES (p_key)
    ON CONFLICT (deployment_key) DO NOTHING;
    SELECT * INTO l FROM sagemaker.cycle_leases c WHERE c.deployment_key = p_key FOR UPDATE;
    due := l.last_started_at IS NULL
        OR l.released_at IS NULL OR l.released_at < l.acquired_at
        OR l.last_started_at + make_interval(secs => p_min_gap) <= now();
    granted := (l.expires_at <= now() OR l.holder IS NOT DISTINCT FROM p_holder) AND due;
    IF granted THEN
        UPDATE sagemaker.cycle_leases c
           SET holder = p_holder,
               expires_at = now() + make_interval(secs => p_seconds),
               acquired_at = now(),
               last_started_at = now()
         WHERE c.deployment_key = p_key
        RETURNING * INTO l;
    END IF;
    holder := l.holder;
    expires_in := greatest(0, extract(epoch FROM l.expires_at - now()))::float8;
    due_in := CASE WHEN due THEN 0 ELSE greatest(0, extract(epoch FROM
                  l.last_started_at + make_interval(secs => p_min_gap) - now()))::float8 END;
    completed_ago := extract(epoch FROM now() - l.last_completed_at)::float8;
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION sagemaker.take_cycle_lease(text, text, float8, float8) IS
    'registry-sync internal: takes a deployment''s cycle lease if it is free and a cycle is due.';

-- Extends the holder's lease; false when another replica holds it now.
CREATE FUNCTION sagemaker.renew_cycle_lease(p_key text, p_holder text, p_seconds float8)
RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE sagemaker.cycle_leases c
       SET expires_at = now() + make_interval(secs => p_seconds)
     WHERE c.deployment_key = p_key AND c.holder = p_holder
    RETURNING true;
$$;
COMMENT ON FUNCTION sagemaker.renew_cycle_lease(text, text, float8) IS
    'registry-sync internal: extends the holder''s cycle lease; NULL when it is no longer the holder.';

-- Ends the holder's lease (frees it now), recording a completed cycle.
CREATE FUNCTION sagemaker.release_cycle_lease(p_key text, p_holder text, p_completed boolean)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE sagemaker.cycle_leases c
       SET expires_at = now(),
           released_at = now(),
           last_completed_at = CASE WHEN p_completed THEN now() ELSE c.last_completed_at END
     WHERE c.deployment_key = p_key AND c.holder = p_holder;
$$;
COMMENT ON FUNCTION sagemaker.release_cycle_lease(text, text, boolean) IS
    'registry-sync internal: frees the holder''s cycle lease, recording whether its cycle completed.';

-- What a model container's ModelPackageName designates (migration 0016).
CREATE FUNCTION sagemaker.model_package_arn_of(p_reference text, p_model_arn text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
             WHEN p_reference IS NULL THEN NULL
             WHEN p_reference LIKE 'arn:%' THEN lower(p_reference)
             -- A name (unversioned) or group/version, in the model's account and region.
             ELSE split_part(p_model_arn, ':model/', 1) || ':model-package/' || lower(p_reference)
           END
$$;
COMMENT ON FUNCTION sagemaker.model_package_arn_of(text, text) IS
    'registry-sync internal: the package ARN a container''s ModelPackageName designates (SageMaker''s package ARNs are lower case).';

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA sagemaker FROM PUBLIC;

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

-- Functions this role creates later are not executable by PUBLIC either. For the
-- whole database: a per-schema default cannot take away PUBLIC's EXECUTE.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- ---------------------------------------------------------------- reader role
-- Creating a role needs CREATEROLE; a service account without it still migrates,
-- and an administrator creates the role once (see README, Operations).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_reader') THEN
        IF EXISTS (SELECT 1 FROM pg_roles
                    WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
            CREATE ROLE sagemaker_reader NOLOGIN;
        ELSE
            RAISE NOTICE 'role sagemaker_reader not created: % lacks CREATEROLE', current_user;
        END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_reader') THEN
        GRANT USAGE ON SCHEMA sagemaker TO sagemaker_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA sagemaker TO sagemaker_reader;
        ALTER DEFAULT PRIVILEGES IN SCHEMA sagemaker GRANT SELECT ON TABLES TO sagemaker_reader;
    END IF;
END
$$;

-- ---------------------------------------------------------------- identity reader role
-- Identities (created_by*, last_modified_by*, the Search records) are readable by
-- sagemaker_identity_reader only; sagemaker_reader gets the other columns of
-- those relations, granted column by column from the catalog (migration 0017).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_identity_reader') THEN
        IF EXISTS (SELECT 1 FROM pg_roles
                    WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
            CREATE ROLE sagemaker_identity_reader NOLOGIN;
        ELSE
            RAISE NOTICE 'role sagemaker_identity_reader not created: % lacks CREATEROLE',
                current_user;
        END IF;
    END IF;
END
$$;

-- ---------------------------------------------------------------- the grants
DO $$
DECLARE
    rel text;
    cols text;
BEGIN
    FOREACH rel IN ARRAY ARRAY['model_package_details', 'model_package_group_details',
                               'model_package_changes', 'approval_history',
                               'model_package_governance', 'model_package_group_governance']
    LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_reader') THEN
            SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', '
                                         ORDER BY a.attnum)
              INTO cols
              FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = pg_catalog.to_regclass('sagemaker.' || rel)
               AND a.attnum > 0 AND NOT a.attisdropped
               AND a.attname !~ '^(created_by|last_modified_by|record$)';
            EXECUTE pg_catalog.format('REVOKE SELECT ON sagemaker.%I FROM sagemaker_reader', rel);
            EXECUTE pg_catalog.format('GRANT SELECT (%s) ON sagemaker.%I TO sagemaker_reader',
                                      cols, rel);
        END IF;
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_identity_reader') THEN
            EXECUTE pg_catalog.format('GRANT SELECT ON sagemaker.%I TO sagemaker_identity_reader',
                                      rel);
        END IF;
    END LOOP;
    -- Granting one role to another needs the admin option on it, which a role
    -- that did not create sagemaker_reader lacks: an administrator does it then.
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_identity_reader')
       AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_reader') THEN
        BEGIN
            GRANT sagemaker_reader TO sagemaker_identity_reader;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'sagemaker_reader not granted to sagemaker_identity_reader: % lacks the admin option',
                current_user;
        END;
    END IF;
END
$$;

-- ---------------------------------------------------------------- purges
-- The runtime role has no DELETE: these delete, with the owner's rights, what
-- a reconcile purges (syncer/cycle/privacy.py).
CREATE FUNCTION sagemaker.purge_outside_filter(
    p_account text, p_region text, p_name_contains text, p_include_unversioned boolean)
RETURNS TABLE (groups bigint, packages bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    gone_groups text[];
BEGIN
    SELECT coalesce(array_agg(g.model_package_group_name), '{}')
      INTO gone_groups
      FROM sagemaker.model_package_groups g
     WHERE g.account_id = p_account AND g.region = p_region
       AND strpos(g.model_package_group_name, coalesce(p_name_contains, '')) = 0;
    CREATE TEMPORARY TABLE IF NOT EXISTS purged_packages (arn text) ON COMMIT DROP;
    TRUNCATE purged_packages;
    INSERT INTO purged_packages
    SELECT p.model_package_arn
      FROM sagemaker.model_packages p
     WHERE p.account_id = p_account AND p.region = p_region
       AND (p.model_package_group_name = ANY (gone_groups)
            OR (p.model_package_group_name IS NULL AND NOT p_include_unversioned));
    DELETE FROM sagemaker.model_package_changes c
     USING purged_packages x WHERE c.model_package_arn = x.arn;
    DELETE FROM sagemaker.model_package_details d
     USING purged_packages x WHERE d.model_package_arn = x.arn;
    DELETE FROM sagemaker.model_package_last_modified m
     USING purged_packages x WHERE m.model_package_arn = x.arn;
    DELETE FROM sagemaker.model_packages p
     USING purged_packages x WHERE p.model_package_arn = x.arn;
    DELETE FROM sagemaker.model_package_group_details d
     USING sagemaker.model_package_groups g
     WHERE d.model_package_group_arn = g.model_package_group_arn
       AND g.account_id = p_account AND g.region = p_region
       AND g.model_package_group_name = ANY (gone_groups);
    DELETE FROM sagemaker.sync_state s
     WHERE s.account_id = p_account AND s.region = p_region
       AND ((s.scope_kind = 'group' AND s.model_package_group_name = ANY (gone_groups))
            OR (s.scope_kind = 'unversioned' AND NOT p_include_unversioned));
    DELETE FROM sagemaker.model_package_groups g
     WHERE g.account_id = p_account AND g.region = p_region
       AND g.model_package_group_name = ANY (gone_groups);
    RETURN QUERY SELECT cardinality(gone_groups)::bigint, (SELECT count(*) FROM purged_packages);
END
$$;
COMMENT ON FUNCTION sagemaker.purge_outside_filter(text, text, text, boolean) IS
    'registry-sync internal: deletes what an account and region''s mirror holds outside the deployment''s name filter (groups whose name lacks p_name_contains, with their packages, history, details and sync_state) and, unless p_include_unversioned, its unversioned packages; runs with the owner''s rights, the runtime role having no DELETE.';

CREATE FUNCTION sagemaker.purge_deleted_before(
    p_account text, p_region text, p_before timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    purged bigint;
BEGIN
    -- A bound of at least a day: whoever may call this cannot empty what was deleted now.
    IF p_before IS NULL OR p_before > now() - interval '1 day' THEN
        RAISE EXCEPTION 'purge_deleted_before: the bound must be a day or more in the past';
    END IF;
    WITH gone AS (
        SELECT p.model_package_arn
          FROM sagemaker.model_packages p
         WHERE p.account_id = p_account AND p.region = p_region
           AND p.deleted_at < p_before
    ),
    changes AS (
        DELETE FROM sagemaker.model_package_changes c USING gone
         WHERE c.model_package_arn = gone.model_package_arn
        RETURNING 1
    ),
    details AS (
        DELETE FROM sagemaker.model_package_details d USING gone
         WHERE d.model_package_arn = gone.model_package_arn
        RETURNING 1
    ),
    group_details AS (
        DELETE FROM sagemaker.model_package_group_details d
         USING sagemaker.model_package_groups g
         WHERE d.model_package_group_arn = g.model_package_group_arn
           AND g.account_id = p_account AND g.region = p_region
           AND g.deleted_at < p_before
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM changes) + (SELECT count(*) FROM details)
           + (SELECT count(*) FROM group_details)
      INTO purged;
    RETURN purged;
END
$$;
COMMENT ON FUNCTION sagemaker.purge_deleted_before(text, text, timestamptz) IS
    'registry-sync internal: deletes the history and the details of an account and region''s packages (and the details of its groups) marked deleted before p_before, at least a day ago; returns the rows deleted. Runs with the owner''s rights, the runtime role having no DELETE.';

REVOKE EXECUTE ON FUNCTION sagemaker.purge_outside_filter(text, text, text, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION sagemaker.purge_deleted_before(text, text, timestamptz) FROM PUBLIC;
