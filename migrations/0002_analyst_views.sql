-- registry-sync schema, version 2: views for the questions analysts ask, and the
-- indexes that keep them fast on a registry of a few hundred thousand packages
-- (bench/views.py measures them; docs/benchmarks-views.md has the figures).

-- ---------------------------------------------------------------- indexes
-- Analysts filter on a group's name without its account and region, which the
-- 0001 index (account_id, region, name, version) cannot serve. Name first
-- serves both: the syncer's scope queries constrain all three by equality.
DROP INDEX sagemaker.model_packages_group_version_idx;
CREATE INDEX model_packages_group_version_idx
    ON sagemaker.model_packages
       (model_package_group_name, account_id, region, model_package_version);

-- latest_approved_model_packages reads one row per group from here.
CREATE INDEX model_packages_latest_approved_idx
    ON sagemaker.model_packages
       (model_package_group_name, account_id, region, model_package_version DESC)
    WHERE model_approval_status = 'Approved'
      AND deleted_at IS NULL
      AND model_package_group_name IS NOT NULL;

-- A group's history, newest first (approval_history filtered by group).
CREATE INDEX model_package_changes_group_idx
    ON sagemaker.model_package_changes (model_package_group_name, observed_at);

-- pending_approvals joins the changes back to pending; they are rare, so this
-- index is tiny and reading all of it is cheaper than a probe per package.
CREATE INDEX model_package_changes_back_to_pending_idx
    ON sagemaker.model_package_changes (model_package_arn, observed_at)
    WHERE change_type = 'model_approval_status' AND new_value = 'PendingManualApproval';

-- "What is in Production?" and "what was deleted lately?": few rows each,
-- so these partial indexes stay small and cost the syncer's writes little.
CREATE INDEX model_packages_life_cycle_stage_idx
    ON sagemaker.model_packages (model_life_cycle_stage, model_package_group_name)
    WHERE model_life_cycle_stage IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX model_packages_deleted_idx
    ON sagemaker.model_packages (deleted_at)
    WHERE deleted_at IS NOT NULL;

-- ---------------------------------------------------------------- views
-- Same columns as in 0001; one row per group read from the partial index
-- above instead of sorting every approved version.
CREATE OR REPLACE VIEW sagemaker.latest_approved_model_packages AS
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

-- Same columns as in 0001. A join instead of a lateral probe per package: the
-- probes' estimated cost pushed the whole query past jit_above_cost, and JIT
-- compilation took longer than the query (see docs/benchmarks-views.md).
CREATE OR REPLACE VIEW sagemaker.pending_approvals AS
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

-- One aggregate over the live packages, joined to the groups: a parallel scan
-- beats an index probe per group when every group is asked for, and a filter
-- on the group's name is pushed into the aggregate (an index scan).
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

CREATE VIEW sagemaker.approval_history AS
SELECT c.observed_at, c.account_id, c.region, c.model_package_group_name,
       c.model_package_version, c.model_package_arn, c.change_type,
       c.old_value AS from_status, c.new_value AS to_status, c.run_id, c.change_id
  FROM sagemaker.model_package_changes c
 WHERE c.change_type = 'model_approval_status'
    OR (c.change_type = 'created' AND c.new_value IS NOT NULL)
 ORDER BY c.observed_at DESC, c.change_id DESC;

-- ---------------------------------------------------------------- comments
COMMENT ON VIEW sagemaker.latest_approved_model_packages IS
    'Per existing group, its highest existing version whose approval status is Approved: what a deployment pipeline would pick. Groups with no approved version are absent.';

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

-- ---------------------------------------------------------------- reader role
-- Default privileges (0001) only cover objects created by the role that set
-- them; this migration may run as another, so grant the new views explicitly.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_reader') THEN
        GRANT SELECT ON sagemaker.model_package_groups_overview, sagemaker.approval_history
           TO sagemaker_reader;
    END IF;
END
$$;
