-- Applying SageMaker's EventBridge events (syncer/events/). State changes go
-- through the change feed's apply_package_changes (feed.sql); these are what
-- the feed never does: read one package's row before deciding, store a package
-- first seen in an event, and mark what a CloudTrail delete call removed. Each
-- runs in the event's transaction, after the target's lock.

-- name: last_modified_of
-- The newest LastModifiedTime applied to each of these packages (those that have
-- one): the order the change feed and the events keep (syncer/cycle/feed/state.py).
SELECT model_package_arn, last_modified_time, whole_seconds, deleted
  FROM sagemaker.model_package_last_modified
 WHERE model_package_arn = ANY ($1::text[]);

-- name: event_package_row
-- The mirrored row of the package ($1), locked until the event is applied.
SELECT model_package_arn, deleted_at, model_package_status, model_approval_status,
       model_life_cycle_stage, model_life_cycle_stage_status,
       model_life_cycle_stage_description, raw::text AS raw
  FROM sagemaker.model_packages
 WHERE model_package_arn = $1
   FOR UPDATE;

-- name: event_group_is_live
-- Whether the mirror has the group ($3) of an account ($1) and region ($2), not deleted.
SELECT EXISTS (
    SELECT 1 FROM sagemaker.model_package_groups
     WHERE account_id = $1 AND region = $2 AND model_package_group_name = $3
       AND deleted_at IS NULL);

-- name: insert_event_package
-- A package the mirror lacks, from its event, as sagemaker.upsert_packages stores
-- a package a listing sees first: the row, a created change with its approval
-- status, and the stage it entered with. Not that function: should a listing
-- store the row meanwhile, this does nothing, where it would write a second
-- created change. Its scope's watermark does not move:
-- the listing still has to find what was created before it. $1-$15 the summary
-- as columns.
WITH written AS (
    INSERT INTO sagemaker.model_packages AS p (
        model_package_arn, account_id, region, model_package_group_name,
        model_package_version, model_package_name, model_package_description,
        creation_time, model_package_status, model_approval_status,
        model_life_cycle_stage, model_life_cycle_stage_status,
        model_life_cycle_stage_description, model_package_registration_type, raw,
        first_seen_at, last_changed_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, now(), now())
    ON CONFLICT (model_package_arn) DO NOTHING
    RETURNING p.model_package_arn, p.account_id, p.region, p.model_package_group_name,
              p.model_package_version, p.model_approval_status, p.model_life_cycle_stage,
              p.model_life_cycle_stage_status
),
history AS (
    INSERT INTO sagemaker.model_package_changes (
        model_package_arn, account_id, region, model_package_group_name,
        model_package_version, change_type, old_value, new_value, observed_at, run_id)
    SELECT w.model_package_arn, w.account_id, w.region, w.model_package_group_name,
           w.model_package_version, c.change_type, NULL, c.new_value, now(), NULL
      FROM written w
     CROSS JOIN LATERAL (VALUES
        ('created', w.model_approval_status, true),
        ('model_life_cycle_stage', w.model_life_cycle_stage,
            w.model_life_cycle_stage IS NOT NULL),
        ('model_life_cycle_stage_status', w.model_life_cycle_stage_status,
            w.model_life_cycle_stage_status IS NOT NULL)
     ) AS c(change_type, new_value, happened)
     WHERE c.happened
)
SELECT count(*) FROM written;

-- name: event_package_arn
-- The ARN a DeleteModelPackage call named: its ARN ($3), or the name of an
-- unversioned package of the account ($1) and region ($2); and whether it is
-- marked deleted already.
SELECT model_package_arn, deleted_at IS NOT NULL AS deleted
  FROM sagemaker.model_packages
 WHERE model_package_arn = $3
    OR (account_id = $1 AND region = $2 AND model_package_group_name IS NULL
        AND model_package_name = $3)
 ORDER BY deleted_at IS NULL DESC
 LIMIT 1;

-- name: event_delete_package
-- A DeleteModelPackage call ($2: when, to the second) marks the package ($1)
-- deleted as a reconcile would, if it was created before the call (not a
-- package re-created since under the same ARN).
WITH gone AS (
    UPDATE sagemaker.model_packages p
       SET deleted_at = now(), last_changed_at = now()
     WHERE p.model_package_arn = $1
       AND p.deleted_at IS NULL
       AND p.creation_time < $2::timestamptz + interval '1 second'
    RETURNING p.model_package_arn, p.account_id, p.region, p.model_package_group_name,
              p.model_package_version, p.model_approval_status
),
history AS (
    INSERT INTO sagemaker.model_package_changes (
        model_package_arn, account_id, region, model_package_group_name,
        model_package_version, change_type, old_value, new_value, observed_at, run_id)
    SELECT g.model_package_arn, g.account_id, g.region, g.model_package_group_name,
           g.model_package_version, 'deleted', g.model_approval_status, NULL, now(), NULL
      FROM gone g
)
SELECT count(*) FROM gone;

-- name: record_delete_call
-- What a delete call leaves in the package's order ($1, at $2): an older
-- registration event does not bring the package back.
INSERT INTO sagemaker.model_package_last_modified AS m (
    model_package_arn, last_modified_time, whole_seconds, deleted, applied_by, applied_at)
VALUES ($1, $2, true, true, 'delete_call', now())
ON CONFLICT (model_package_arn) DO UPDATE
   SET last_modified_time = excluded.last_modified_time, whole_seconds = true, deleted = true,
       applied_by = excluded.applied_by, applied_at = excluded.applied_at
 WHERE (m.last_modified_time, m.whole_seconds, m.deleted)
       IS DISTINCT FROM (excluded.last_modified_time, true, true);

-- name: event_delete_group
-- A DeleteModelPackageGroup call ($4: when, to the second) marks the group
-- (its name or ARN, $3) of an account ($1) and region ($2) deleted, if it was
-- created before the call; its packages follow (sweep_packages), as in the
-- reconcile's group sweep.
UPDATE sagemaker.model_package_groups g
   SET deleted_at = now(), last_changed_at = now()
 WHERE g.account_id = $1 AND g.region = $2 AND g.deleted_at IS NULL
   AND (g.model_package_group_name = $3 OR g.model_package_group_arn = $3)
   AND g.creation_time < $4::timestamptz + interval '1 second'
RETURNING g.model_package_group_name;

-- name: record_event_queue
-- The queue's state as this replica found it: state_since moves only when the
-- state does; the times only forward.
INSERT INTO sagemaker.event_queues AS q (
    queue_url, state, state_since, last_error, last_received_at, last_applied_at, checked_at)
VALUES ($1, $2, now(), $3, $4, $5, now())
ON CONFLICT (queue_url) DO UPDATE
   SET state_since = CASE WHEN q.state IS DISTINCT FROM excluded.state
                          THEN now() ELSE q.state_since END,
       state = excluded.state,
       last_error = excluded.last_error,
       last_received_at = greatest(q.last_received_at, excluded.last_received_at),
       last_applied_at = greatest(q.last_applied_at, excluded.last_applied_at),
       checked_at = now();
