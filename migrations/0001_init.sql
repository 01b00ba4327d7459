-- registry-sync schema, version 1: the mirror, its change history and sync bookkeeping.
-- Applied by `syncer migrate` in one transaction, under an advisory lock.

CREATE SCHEMA IF NOT EXISTS sagemaker;
COMMENT ON SCHEMA sagemaker IS
    'Mirror of the Amazon SageMaker Model Registry, maintained by registry-sync. Read-only for consumers (role sagemaker_reader).';

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
-- A scope's rows (sweeps, watermarks) and "latest version per group".
CREATE INDEX model_packages_group_version_idx
    ON sagemaker.model_packages (account_id, region, model_package_group_name, model_package_version);
CREATE INDEX model_packages_creation_time_idx ON sagemaker.model_packages (creation_time);
CREATE INDEX model_packages_approval_idx
    ON sagemaker.model_packages (model_approval_status, creation_time)
    WHERE deleted_at IS NULL;

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
    run_id                    bigint
);
CREATE INDEX model_package_changes_package_idx
    ON sagemaker.model_package_changes (model_package_arn, observed_at);
CREATE INDEX model_package_changes_observed_idx
    ON sagemaker.model_package_changes (observed_at);

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
COMMENT ON COLUMN sagemaker.model_package_changes.run_id IS 'The sync run that observed it (see sync_runs).';

-- ---------------------------------------------------------------- bookkeeping
CREATE TABLE sagemaker.sync_state (
    account_id               text        NOT NULL,
    region                   text        NOT NULL,
    scope_kind               text        NOT NULL CHECK (scope_kind IN ('groups', 'group', 'unversioned')),
    model_package_group_name text        NOT NULL DEFAULT '',
    watermark                timestamptz,
    last_attempt_at          timestamptz,
    last_success_at          timestamptz,
    last_full_success_at     timestamptz,
    last_error               text,
    last_error_at            timestamptz,
    consecutive_failures     integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, region, scope_kind, model_package_group_name)
);
COMMENT ON TABLE sagemaker.sync_state IS
    'Progress of each sync scope: the group listing of an account and region, each group''s versions, and its unversioned packages.';
COMMENT ON COLUMN sagemaker.sync_state.account_id IS 'AWS account of the scope.';
COMMENT ON COLUMN sagemaker.sync_state.region IS 'AWS region of the scope.';
COMMENT ON COLUMN sagemaker.sync_state.scope_kind IS 'groups (the list of groups), group (one group''s versions) or unversioned.';
COMMENT ON COLUMN sagemaker.sync_state.model_package_group_name IS 'The group, for scope_kind = group; empty otherwise.';
COMMENT ON COLUMN sagemaker.sync_state.watermark IS 'Latest creation_time stored for the scope; the next incremental listing starts at this minus the lookback.';
COMMENT ON COLUMN sagemaker.sync_state.last_attempt_at IS 'When the scope was last listed, successfully or not.';
COMMENT ON COLUMN sagemaker.sync_state.last_success_at IS 'When a listing of the scope last completed and was stored.';
COMMENT ON COLUMN sagemaker.sync_state.last_full_success_at IS 'When a complete (non-incremental) listing last completed; deletions are detected then.';
COMMENT ON COLUMN sagemaker.sync_state.last_error IS 'The last error of the scope; NULL after a success.';
COMMENT ON COLUMN sagemaker.sync_state.last_error_at IS 'When last_error happened.';
COMMENT ON COLUMN sagemaker.sync_state.consecutive_failures IS 'Failed attempts since the last success.';

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
    errors              jsonb       NOT NULL DEFAULT '[]'
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
COMMENT ON COLUMN sagemaker.sync_runs.errors IS 'Failed scopes and their errors, as a JSON array of {scope, error}.';

-- ---------------------------------------------------------------- views
CREATE VIEW sagemaker.latest_approved_model_packages AS
SELECT DISTINCT ON (p.account_id, p.region, p.model_package_group_name)
       p.account_id, p.region, p.model_package_group_name, p.model_package_version,
       p.model_package_arn, p.model_package_description, p.creation_time,
       p.model_life_cycle_stage, p.model_life_cycle_stage_status
  FROM sagemaker.model_packages p
 WHERE p.model_approval_status = 'Approved'
   AND p.deleted_at IS NULL
   AND p.model_package_group_name IS NOT NULL
 ORDER BY p.account_id, p.region, p.model_package_group_name, p.model_package_version DESC;
COMMENT ON VIEW sagemaker.latest_approved_model_packages IS
    'Per group, the highest version that exists and is Approved: what a deployment pipeline would pick.';
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
  LEFT JOIN LATERAL (
        SELECT max(ch.observed_at) AS pending_since
          FROM sagemaker.model_package_changes ch
         WHERE ch.model_package_arn = p.model_package_arn
           AND ch.change_type = 'model_approval_status'
           AND ch.new_value = 'PendingManualApproval'
       ) c ON true
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
