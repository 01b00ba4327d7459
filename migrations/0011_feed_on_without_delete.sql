-- The change feed is switched back on by an UPDATE that clears the row, not a
-- DELETE: the runtime role needs no DELETE (it has USAGE, SELECT, INSERT,
-- UPDATE and EXECUTE; see tests/integration/test_runtime_role.py).
ALTER TABLE sagemaker.change_feed_availability
    ALTER COLUMN off_since DROP NOT NULL,
    ALTER COLUMN off_until DROP NOT NULL,
    ALTER COLUMN reason DROP NOT NULL,
    ADD CONSTRAINT change_feed_availability_off_whole
        CHECK ((off_since IS NULL) = (off_until IS NULL) AND (off_until IS NULL) = (reason IS NULL));

COMMENT ON TABLE sagemaker.change_feed_availability IS
    'Accounts and regions whose change feed (Search) is switched off because SageMaker refused it (access denied, request rejected); no row, or off_until NULL: the feed is on. Cycles still succeed; approvals wait for the reconcile.';
COMMENT ON COLUMN sagemaker.change_feed_availability.off_since IS 'When the feed was first refused (kept while later retries are refused too); NULL while it is on.';
COMMENT ON COLUMN sagemaker.change_feed_availability.off_until IS 'The feed is tried again after this, or at the next full reconcile, whichever comes first; NULL while it is on.';
COMMENT ON COLUMN sagemaker.change_feed_availability.reason IS 'The error SageMaker answered, as one line (code and message); NULL while the feed is on.';
