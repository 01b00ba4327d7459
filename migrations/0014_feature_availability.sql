-- registry-sync schema, version 14: one table says which of the optional reads
-- is switched off for an account and region, and why.
--
-- The change feed, the governance details and the deployments each read
-- SageMaker's Search; events read a queue. Each is an accelerator or an
-- addition, never the source of truth: when it is refused (the role may not
-- call it, or the resource is not served), it is switched off there for a
-- while with one warning, and the cycle still succeeds. This table replaces
-- change_feed_availability, whose rows it takes over; that table stays, unused,
-- while replicas of the previous release may still write it, and goes in a
-- later release.

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

INSERT INTO sagemaker.feature_availability (account_id, region, feature, off_since, off_until, reason)
SELECT account_id, region, 'change_feed', off_since, off_until, reason
  FROM sagemaker.change_feed_availability;

COMMENT ON TABLE sagemaker.change_feed_availability IS
    'Superseded by feature_availability (its rows were copied there); written only by replicas of the previous release during an upgrade, and dropped in a later release.';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_reader') THEN
        GRANT SELECT ON sagemaker.feature_availability TO sagemaker_reader;
    END IF;
END
$$;
