-- registry-sync schema, version 17: identities readable by their own role, and
-- rows the service may purge without DELETE rights.
--
-- Identities (IAM ARNs, principal ids, Studio user profile names) name people.
-- Until now sagemaker_reader, the role every consumer gets, could read them.
-- From here on only sagemaker_identity_reader may: it has everything
-- sagemaker_reader has, and the identity columns besides. sagemaker_reader
-- keeps SELECT on every other column of those relations (column grants, made
-- below from the catalog, so columns added by earlier migrations are covered;
-- a later migration that adds a column to one of these relations grants it
-- itself, and tests/integration/test_identities.py names any it forgets).
-- The identity columns: created_by*, last_modified_by* and the Search records
-- (`record`, which hold CreatedBy and LastModifiedBy unless SYNCER_IDENTITIES
-- strips them).
--
-- The runtime role has SELECT, INSERT, UPDATE and EXECUTE only
-- (docs/operations/upgrading.md): the two functions below delete, with the
-- rights of the schema's owner, exactly what the service purges and nothing
-- else: rows of a target that its name filter no longer covers, and the
-- details and history of packages deleted before a retention bound.

-- ---------------------------------------------------------------- the role
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_identity_reader') THEN
        IF EXISTS (SELECT 1 FROM pg_roles
                    WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
            CREATE ROLE sagemaker_identity_reader NOLOGIN;
        ELSE
            RAISE NOTICE 'role sagemaker_identity_reader not created: % lacks CREATEROLE',
                current_user;
        END IF;
    END IF;
END
$$;

-- ---------------------------------------------------------------- the grants
DO $$
DECLARE
    rel text;
    cols text;
BEGIN
    FOREACH rel IN ARRAY ARRAY['model_package_details', 'model_package_group_details',
                               'model_package_changes', 'approval_history',
                               'model_package_governance', 'model_package_group_governance']
    LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_reader') THEN
            SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', '
                                         ORDER BY a.attnum)
              INTO cols
              FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = pg_catalog.to_regclass('sagemaker.' || rel)
               AND a.attnum > 0 AND NOT a.attisdropped
               AND a.attname !~ '^(created_by|last_modified_by|record$)';
            EXECUTE pg_catalog.format('REVOKE SELECT ON sagemaker.%I FROM sagemaker_reader', rel);
            EXECUTE pg_catalog.format('GRANT SELECT (%s) ON sagemaker.%I TO sagemaker_reader',
                                      cols, rel);
        END IF;
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_identity_reader') THEN
            EXECUTE pg_catalog.format('GRANT SELECT ON sagemaker.%I TO sagemaker_identity_reader',
                                      rel);
        END IF;
    END LOOP;
    -- Granting one role to another needs the admin option on it, which a role
    -- that did not create sagemaker_reader lacks: an administrator does it then.
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_identity_reader')
       AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sagemaker_reader') THEN
        BEGIN
            GRANT sagemaker_reader TO sagemaker_identity_reader;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'sagemaker_reader not granted to sagemaker_identity_reader: % lacks the admin option',
                current_user;
        END;
    END IF;
END
$$;

-- ---------------------------------------------------------------- purges
CREATE FUNCTION sagemaker.purge_outside_filter(
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

CREATE FUNCTION sagemaker.purge_deleted_before(
    p_account text, p_region text, p_before timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    purged bigint;
BEGIN
    -- A bound of at least a day: whoever may call this cannot empty what was deleted now.
    IF p_before IS NULL OR p_before > now() - interval '1 day' THEN
        RAISE EXCEPTION 'purge_deleted_before: the bound must be a day or more in the past';
    END IF;
    WITH gone AS (
        SELECT p.model_package_arn
          FROM sagemaker.model_packages p
         WHERE p.account_id = p_account AND p.region = p_region
           AND p.deleted_at < p_before
    ),
    changes AS (
        DELETE FROM sagemaker.model_package_changes c USING gone
         WHERE c.model_package_arn = gone.model_package_arn
        RETURNING 1
    ),
    details AS (
        DELETE FROM sagemaker.model_package_details d USING gone
         WHERE d.model_package_arn = gone.model_package_arn
        RETURNING 1
    ),
    group_details AS (
        DELETE FROM sagemaker.model_package_group_details d
         USING sagemaker.model_package_groups g
         WHERE d.model_package_group_arn = g.model_package_group_arn
           AND g.account_id = p_account AND g.region = p_region
           AND g.deleted_at < p_before
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM changes) + (SELECT count(*) FROM details)
           + (SELECT count(*) FROM group_details)
      INTO purged;
    RETURN purged;
END
$$;
COMMENT ON FUNCTION sagemaker.purge_deleted_before(text, text, timestamptz) IS
    'registry-sync internal: deletes the history and the details of an account and region''s packages (and the details of its groups) marked deleted before p_before, at least a day ago; returns the rows deleted. Runs with the owner''s rights, the runtime role having no DELETE.';

REVOKE EXECUTE ON FUNCTION sagemaker.purge_outside_filter(text, text, text, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION sagemaker.purge_deleted_before(text, text, timestamptz) FROM PUBLIC;
