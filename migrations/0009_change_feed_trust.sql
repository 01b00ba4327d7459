-- Directed incremental cycles: whether each account/region's change feed is
-- trusted to say which groups changed, why, and what it missed. Kept on the
-- feed's own sync_state row (scope_kind 'changes'), so that it survives
-- restarts: `syncer once` runs from cron, and each run must know the mode the
-- last one left. NULL and false on every other row.
ALTER TABLE sagemaker.sync_state
    ADD COLUMN trust_directed     boolean     NOT NULL DEFAULT false,
    ADD COLUMN trust_reason       text,
    ADD COLUMN trust_detail       text,
    ADD COLUMN trust_changed_at   timestamptz,
    ADD COLUMN feed_since         timestamptz,
    ADD COLUMN creation_cursor    timestamptz,
    ADD COLUMN feed_misses        integer     NOT NULL DEFAULT 0,
    ADD COLUMN feed_last_miss     text,
    ADD COLUMN feed_last_miss_at  timestamptz;

COMMENT ON COLUMN sagemaker.sync_state.trust_directed IS
    'For changes: true when incremental cycles list only what the change feed names (directed mode); false: every group (all-groups mode). Earned at a reconcile, lost at any miss.';
COMMENT ON COLUMN sagemaker.sync_state.trust_reason IS
    'For changes: why the account/region is in its mode: feed_trusted, not_proven, proof_failed or feed_missed.';
COMMENT ON COLUMN sagemaker.sync_state.trust_detail IS
    'For changes: the reason in a sentence (which packages the proof found, or which one the feed missed).';
COMMENT ON COLUMN sagemaker.sync_state.trust_changed_at IS
    'For changes: when trust_directed or trust_reason last changed.';
COMMENT ON COLUMN sagemaker.sync_state.feed_since IS
    'For changes: the creation time from which the feed is checked: a package created after it and found first by a listing more than the lookback later is a miss.';
COMMENT ON COLUMN sagemaker.sync_state.creation_cursor IS
    'For changes: the newest CreationTime the feed''s creation query reported and the cycle then listed; its next query starts at this minus the lookback.';
COMMENT ON COLUMN sagemaker.sync_state.feed_misses IS
    'For changes: packages that a listing found and the feed should have reported, since the mirror began.';
COMMENT ON COLUMN sagemaker.sync_state.feed_last_miss IS
    'For changes: the ARN of the latest such package.';
COMMENT ON COLUMN sagemaker.sync_state.feed_last_miss_at IS
    'For changes: when it was found.';

-- Each cycle reads the packages its listings stored first (to find what the
-- feed missed): by run, 'created' only.
CREATE INDEX model_package_changes_created_run_idx
    ON sagemaker.model_package_changes (run_id) WHERE change_type = 'created';
