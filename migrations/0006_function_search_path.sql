-- registry-sync schema, version 6: our functions resolve names in pg_catalog only.
--
-- The functions of 0003 and 0004 ran with the caller's search_path, which by
-- default includes public. Any user who may create objects in public (every
-- user, on PostgreSQL 14 and older) could define public.cardinality(text[])
-- or public.concat_ws(text, text, text, text, text): PostgreSQL prefers an
-- exact-type match found anywhere on the path to the polymorphic built-in in
-- pg_catalog (the CVE-2018-1058 class), so store_listing_page and lock_scope
-- ran that user's code with the service's rights, on every page.
--
-- Every function of the schema now runs with search_path = pg_catalog,
-- pg_temp: built-ins are found first, and our own objects are named with
-- their schema (their bodies already did: sagemaker.x everywhere; the types
-- they use are built-in). pg_temp comes last so that no temporary object can
-- shadow anything either. tests/integration/test_function_security.py runs
-- the attack against a sync.
--
-- A function created later must say the same (SET search_path in its
-- definition); a test checks every function of the schema.

ALTER FUNCTION sagemaker.lock_scope(text, text, text, text)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION sagemaker.advance_watermark(text, text, text, text, timestamptz)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION sagemaker.scope_succeeded(text, text, text, text, boolean)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION sagemaker.sweep_scope(text, text, text, text[], timestamptz, bigint)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION sagemaker.store_listing_page(
    text, text, text, text, text[], text[], text[], text[], integer[], text[], text[],
    timestamptz[], text[], text[], text[], text[], text[], text[], text[], bigint, boolean,
    text[], timestamptz)
    SET search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------- EXECUTE
-- 0003 revoked EXECUTE from PUBLIC on the functions that existed then; every
-- function created since is executable by PUBLIC unless its migration says
-- otherwise. Revoke again on all of them, and change the default for
-- functions this role creates from now on.
--
-- The default is set for the whole database, not IN SCHEMA sagemaker:
-- PostgreSQL's PUBLIC EXECUTE on functions is a global default, and a
-- per-schema entry can only add to it, never take it away. It applies to
-- functions created by the role that runs this migration (the service's
-- own, in the deployment the README describes); a migration run by another
-- role still revokes explicitly, as each one does.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA sagemaker FROM PUBLIC;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
