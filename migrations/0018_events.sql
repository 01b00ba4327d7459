-- registry-sync schema, version 18: what applying SageMaker's EventBridge events
-- needs (syncer/events/, docs/operations/events.md).
--
-- Events arrive duplicated and in any order, so each package's newest
-- LastModifiedTime applied is kept, and an event that is not newer moves
-- nothing back. The change feed records it too, for the same reason: a
-- lagging search index must not undo what an event applied. Listings carry
-- no modification time, so they neither read nor write it.
--
-- The queue belongs to the deployment rather than to an account and region,
-- so its state has a table of its own instead of feature_availability.
--
-- Both tables are new: replicas of the previous release ignore them.

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

COMMENT ON COLUMN sagemaker.model_package_changes.run_id IS 'The sync run that observed it (see sync_runs); NULL for a change applied from an event.';
COMMENT ON COLUMN sagemaker.model_package_changes.last_modified_by_arn IS 'For an approval status change seen by the change feed or an event: LastModifiedBy.IamIdentity.Arn of the record as of that sync. That is the approver unless the package was modified again before the sync ran. NULL for other changes, for changes seen by a listing, and for events that carry no LastModifiedBy. Personal data: it identifies a person.';
COMMENT ON COLUMN sagemaker.model_package_changes.approval_description IS 'For an approval status change seen by the change feed or an event: the ApprovalDescription of the record as of that sync.';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_reader') THEN
        GRANT SELECT ON sagemaker.model_package_last_modified, sagemaker.event_queues
            TO sagemaker_reader;
    END IF;
END
$$;

-- What the name filter no longer covers is purged (migration 0017): the order
-- of those packages goes with them.
CREATE OR REPLACE FUNCTION sagemaker.purge_outside_filter(
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
