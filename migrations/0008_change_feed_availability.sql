-- registry-sync schema, version 8: the change feed's availability, and the API
-- rates found, per account and region.
--
-- The change feed (Search) is an accelerator: when SageMaker refuses it for an
-- account and region (the role may not call Search, or the request is
-- rejected), the feed is switched off there for an hour or until the next
-- reconcile, with one warning, and the cycle still succeeds. The row says so
-- across restarts and to `syncer status`. (The feed's cursor stays in
-- sync_state, its 'changes' row.)
--
-- api_rates keeps what the adaptive rate limiter allowed itself at the end of
-- each cycle, for `syncer status`.

CREATE TABLE sagemaker.change_feed_availability (
    account_id  text        NOT NULL,
    region      text        NOT NULL,
    off_since   timestamptz NOT NULL,
    off_until   timestamptz NOT NULL,
    reason      text        NOT NULL,
    PRIMARY KEY (account_id, region)
);
COMMENT ON TABLE sagemaker.change_feed_availability IS
    'Accounts and regions whose change feed (Search) is switched off because SageMaker refused it (access denied, request rejected); no row: the feed is on. Cycles still succeed; approvals wait for the reconcile.';
COMMENT ON COLUMN sagemaker.change_feed_availability.account_id IS 'AWS account whose feed is off.';
COMMENT ON COLUMN sagemaker.change_feed_availability.region IS 'AWS region whose feed is off.';
COMMENT ON COLUMN sagemaker.change_feed_availability.off_since IS 'When the feed was first refused (kept while later retries are refused too).';
COMMENT ON COLUMN sagemaker.change_feed_availability.off_until IS 'The feed is tried again after this, or at the next full reconcile, whichever comes first.';
COMMENT ON COLUMN sagemaker.change_feed_availability.reason IS 'The error SageMaker answered, as one line (code and message).';

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

-- Default privileges (0001) only cover objects created by the role that set
-- them; this migration may run as another, so grant the new tables explicitly.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_reader') THEN
        GRANT SELECT ON sagemaker.change_feed_availability, sagemaker.api_rates
           TO sagemaker_reader;
    END IF;
END
$$;
