-- The error columns readers see hold a shortened, masked form of the error
-- (issue 19: first line only, IAM principal ARNs cut, at most 300
-- characters; the service's log keeps the detail). Their comments say so.
COMMENT ON COLUMN sagemaker.sync_state.last_error IS
    'The last error of the scope, as stored for readers: its first line, IAM and STS principal ARNs cut after the account (arn:aws:iam::123456789012:***), at most 300 characters (the log has the detail); NULL after a success.';
COMMENT ON COLUMN sagemaker.details_state.last_error IS
    'The last error of a details read (e.g. Search denied), as stored for readers: its first line, IAM principal ARNs cut, at most 300 characters; NULL after a success.';
COMMENT ON COLUMN sagemaker.sync_runs.errors IS
    'Failed scopes and their errors, as a JSON array of {scope, error}; each error its first line, IAM principal ARNs cut, at most 300 characters.';
