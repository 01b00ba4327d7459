-- registry-sync schema, version 5: the sweep looks the seen ARNs up in a hash.
--
-- The sweep marks deleted the scope's live packages that a complete listing
-- did not return (p_seen). It was written as an anti-join of those rows with
-- unnest(p_seen), and the planner chose how to join them from the table's
-- statistics. Right after a first sync fills a big group, before anything has
-- analyzed the table, those say the group has about one row, and a nested
-- loop is cheapest for one row: it became 15,000 rows x 15,000 ARNs, 10^8
-- comparisons, 15 s for one group instead of a few milliseconds. Inside the
-- page write, which turns hash joins off (0004), it was a nested loop whatever
-- the statistics said.
--
-- `NOT (arn = ANY (p_seen))` needs no join: with the array known when the
-- statement is planned (a custom plan, which sweep_scope keeps), PostgreSQL
-- (14 and later) builds a hash table of its elements once and probes it per
-- row, at any size and with any statistics or join settings.
-- tests/integration/test_write_plans.py sweeps such a group within a
-- statement timeout.

CREATE OR REPLACE FUNCTION sagemaker.sweep_scope(
    p_account text, p_region text, p_group text, p_seen text[],
    p_absent_before timestamptz, p_run_id bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE n bigint;
BEGIN
    WITH gone AS (
        UPDATE sagemaker.model_packages p
           SET deleted_at = now(), last_changed_at = now()
         WHERE p.account_id = p_account
           AND p.region = p_region
           AND (p.model_package_group_name = p_group
                OR (p_group = '' AND p.model_package_group_name IS NULL))
           AND p.deleted_at IS NULL
           AND p.creation_time < p_absent_before
           AND NOT (p.model_package_arn = ANY (p_seen))
        RETURNING p.model_package_arn, p.account_id, p.region, p.model_package_group_name,
                  p.model_package_version, p.model_approval_status
    ),
    history AS (
        INSERT INTO sagemaker.model_package_changes (
            model_package_arn, account_id, region, model_package_group_name,
            model_package_version, change_type, old_value, new_value, observed_at, run_id)
        SELECT g.model_package_arn, g.account_id, g.region, g.model_package_group_name,
               g.model_package_version, 'deleted', g.model_approval_status, NULL, now(), p_run_id
          FROM gone g
    )
    SELECT count(*) INTO n FROM gone;
    RETURN n;
END
$$;
