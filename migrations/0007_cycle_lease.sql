-- registry-sync schema, version 7: the cycle's leadership is a lease, a row per deployment.
--
-- One replica leads a cycle at a time. That was a session advisory lock, which
-- fails in two ways: through a transaction-mode pooler (PgBouncer, pooled
-- endpoints) every transaction may land on another server connection, so a
-- session lock is held by whichever connection took it, forever; and any login
-- that can reach the database, a sagemaker_reader user too, could take the same
-- lock and silently stall the mirror.
--
-- Now leadership is a row of sagemaker.cycle_leases: a holder and an expiry,
-- taken at the start of a cycle and renewed during it, released at its end.
-- Only the service's role (the owner) may change it: readers may SELECT it,
-- and a row lock (FOR UPDATE/SHARE) needs UPDATE. A leader that dies stops
-- renewing, and another replica takes the lease once it has expired.
--
-- The lease is per deployment: deployment_key hashes the settings that choose
-- the targets (syncer.lease.deployment_key), so deployments with disjoint
-- targets run side by side in one database while replicas of one take turns.
-- last_started_at also makes the deployment's schedule: a replica takes the
-- lease only once the interval since the last cycle (of any replica) has passed,
-- or at once when that cycle's leader died in it (it never released the lease).

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

ALTER TABLE sagemaker.sync_runs ADD COLUMN deployment_key text;
COMMENT ON COLUMN sagemaker.sync_runs.deployment_key IS
    'The deployment (sagemaker.cycle_leases) whose cycle this was; NULL for runs recorded before schema version 7.';

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

REVOKE EXECUTE ON FUNCTION sagemaker.take_cycle_lease(text, text, float8, float8),
    sagemaker.renew_cycle_lease(text, text, float8),
    sagemaker.release_cycle_lease(text, text, boolean) FROM PUBLIC;
REVOKE ALL ON sagemaker.cycle_leases FROM PUBLIC;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_reader') THEN
        GRANT SELECT ON sagemaker.cycle_leases TO sagemaker_reader;
    END IF;
END;
$$;
