-- registry-sync schema, version 13: a listing page is one statement again, outside a transaction block.
--
-- Through schema version 5 a page write was one round trip: the page function,
-- called on its own, its settings start-up parameters of the session. A
-- transaction-mode pooler keeps no session settings, so since version 7 every
-- page ran in a transaction that set them first: BEGIN, the settings, the
-- page, COMMIT, four round trips where one did, for the write that a full
-- sync makes once per scope (docs/benchmarks.md, scenario 1).
--
-- The page function already carries what it needs but one: its search_path
-- (0006) and plan settings (0004) are its own. What the transaction added was
-- statement_timeout, so that a row or scope lock held by someone else fails
-- the page within the service's timeout instead of stalling its scope.
-- write_listing_page sets that bound itself, as lock_timeout from the caller's
-- statement timeout: a lock wait is the one way a page write waits on others,
-- and lock_timeout, unlike statement_timeout, takes effect for the statement
-- that sets it. The client's command timeout (the statement timeout plus 5 s,
-- syncer/store.py) bounds the rest and cancels the statement.
--
-- Called alone, the statement is its own transaction: the setting ends with
-- it, and nothing is left on the server connection for a pooler to hand on.

CREATE FUNCTION sagemaker.write_listing_page(
    p_account text, p_region text, p_kind text, p_group text,
    p_arns text[], p_account_ids text[], p_regions text[], p_group_names text[],
    p_versions integer[], p_names text[], p_descriptions text[],
    p_creation_times timestamptz[], p_package_statuses text[], p_approval_statuses text[],
    p_stages text[], p_stage_statuses text[], p_stage_descriptions text[],
    p_registration_types text[], p_raws text[],
    p_run_id bigint, p_finish boolean, p_seen text[], p_absent_before timestamptz,
    p_lock_timeout_ms integer,
    OUT inserted bigint, OUT updated bigint, OUT changes bigint, OUT deleted bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout_ms::text, true);
    SELECT s.inserted, s.updated, s.changes, s.deleted
      INTO inserted, updated, changes, deleted
      FROM sagemaker.store_listing_page(
            p_account, p_region, p_kind, p_group,
            p_arns, p_account_ids, p_regions, p_group_names, p_versions, p_names,
            p_descriptions, p_creation_times, p_package_statuses, p_approval_statuses,
            p_stages, p_stage_statuses, p_stage_descriptions, p_registration_types, p_raws,
            p_run_id, p_finish, p_seen, p_absent_before) AS s;
END
$$;
COMMENT ON FUNCTION sagemaker.write_listing_page(
    text, text, text, text, text[], text[], text[], text[], integer[], text[], text[],
    timestamptz[], text[], text[], text[], text[], text[], text[], text[], bigint, boolean,
    text[], timestamptz, integer) IS
    'registry-sync internal: store_listing_page, its lock waits bounded by the caller''s timeout (ms), for a call that is its own transaction.';

REVOKE EXECUTE ON FUNCTION sagemaker.write_listing_page(
    text, text, text, text, text[], text[], text[], text[], integer[], text[], text[],
    timestamptz[], text[], text[], text[], text[], text[], text[], text[], bigint, boolean,
    text[], timestamptz, integer) FROM PUBLIC;
