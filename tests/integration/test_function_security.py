"""Our functions cannot be hijacked through search_path, nor run by PUBLIC.

The attack (issue: function search_path): a user who may create objects in
schema public defines functions that are a better match than the polymorphic
built-ins our functions call unqualified (cardinality(anyarray),
concat_ws(text, VARIADIC "any")). Without a search_path of their own, our
functions ran them with the service's rights on every page. Migration 0006
pins search_path = pg_catalog, pg_temp on every function of the schema; and
every transaction of the service sets the same search_path (SET LOCAL,
syncer/warehouse/store.py), so its own statements are safe even on a schema before 0006.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from standin.sagemaker import Registry, StandIn, serve_in_thread
from syncer.warehouse import migrate as migrations
from tests.conftest import sync_once
from tests.integration.test_security import as_user, login_role

# The attacker's code records that it ran, with whose rights, then does what
# the built-in does, so that nothing else gives it away.
HIJACK = """
CREATE TABLE public.hijack_marker (ran_as text, via text);
GRANT INSERT ON public.hijack_marker TO PUBLIC;
CREATE FUNCTION public.cardinality(a text[]) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.hijack_marker VALUES (current_user, 'cardinality');
    RETURN pg_catalog.cardinality(a);
END $$;
CREATE FUNCTION public.concat_ws(sep text, a text, b text, c text, d text)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.hijack_marker VALUES (current_user, 'concat_ws');
    RETURN pg_catalog.concat_ws(sep, a, b, c, d);
END $$;
CREATE FUNCTION public.unnest(a text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.hijack_marker VALUES (current_user, 'unnest');
    RETURN QUERY SELECT pg_catalog.unnest(a);
END $$;
"""


@pytest.fixture
async def attacker_dsn(empty_database_url: str) -> AsyncIterator[str]:
    """An unprivileged login that may create objects in public (as on PostgreSQL <= 14)."""
    name = f"rs_attacker_{uuid.uuid4().hex[:8]}"
    async with login_role(name, "NOSUPERUSER NOCREATEDB NOCREATEROLE"):
        owner = await asyncpg.connect(empty_database_url)
        try:
            await owner.execute(f'GRANT CREATE, USAGE ON SCHEMA public TO "{name}"')
        finally:
            await owner.close()
        try:
            yield as_user(empty_database_url, name)
        finally:
            # The role owns objects in the database; they go with the database,
            # but the role can only be dropped once they are gone.
            conn = await asyncpg.connect(empty_database_url)
            try:
                await conn.execute(f'DROP OWNED BY "{name}"')
            finally:
                await conn.close()


def through(version: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the service migrate only up to ``version`` (None: all), and the
    cycle lease (0007), without which it cannot lead a cycle."""
    if version is None:
        return
    shipped = migrations.load_migrations()
    monkeypatch.setattr(
        migrations,
        "load_migrations",
        lambda: [m for m in shipped if m.version <= version or m.version == 7],
    )


@pytest.mark.parametrize("pinned", [False, True])
async def test_a_user_with_create_on_public_cannot_run_code_inside_a_sync(
    empty_database_url: str, attacker_dsn: str, pinned: bool
) -> None:
    """Unpinned (as every function was before 0006), the attack works, so the test
    exercises it; pinned, as the migrations leave them, it does not."""
    registry = Registry()
    registry.create_group("churn")
    registry.create_package("churn", approval="Approved")
    registry.create_package(name="standalone")
    attacker = await asyncpg.connect(attacker_dsn)
    try:
        await attacker.execute(HIJACK)
    finally:
        await attacker.close()
    with serve_in_thread(StandIn(registry)) as endpoint:
        first = await sync_once(empty_database_url, endpoint)
        # A change for the change feed to apply (a statement of the service's own).
        registry.update_package(next(iter(registry.packages)), approval="Rejected")
        second = await sync_once(empty_database_url, endpoint)
        third = await sync_once(empty_database_url, endpoint, full=True)
    results = (first, second, third)
    assert {r.status for r in results} == {"succeeded"}, [r.errors for r in results]

    conn = await asyncpg.connect(empty_database_url)  # the default search_path: public
    try:
        assert await conn.fetchval("SELECT count(*) FROM sagemaker.model_packages") == 2
        assert await conn.fetchval(
            "SELECT count(*) FROM sagemaker.model_package_changes"
            " WHERE change_type = 'model_approval_status'"
        )
        # The sync ran none of it.
        marker = "SELECT DISTINCT ran_as, via FROM public.hijack_marker ORDER BY 2"
        assert await conn.fetch(marker) == []
        if not pinned:
            for (function,) in await conn.fetch(
                "SELECT p.oid::regprocedure::text FROM pg_proc p"
                "  JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'sagemaker'"
            ):
                await conn.execute(f"ALTER FUNCTION {function} RESET search_path")
        # Any client of these functions, which resolve through its search_path
        # unless they pin their own.
        await conn.fetchval(
            "SELECT sagemaker.store_listing_page('1', 'r', 'group', 'g', ARRAY['arn'], ARRAY['1'],"
            " ARRAY['r'], ARRAY['g'], ARRAY[1], ARRAY[NULL], ARRAY[NULL], ARRAY[now()],"
            " ARRAY['Completed'], ARRAY['Approved'], ARRAY[NULL], ARRAY[NULL], ARRAY[NULL],"
            " ARRAY[NULL], ARRAY['{}'], NULL, false, NULL, NULL)"
        )
        ran = await conn.fetch(marker)
    finally:
        await conn.close()
    if pinned:
        assert ran == []
    else:
        assert [r["via"] for r in ran] == ["cardinality"], ran
        assert {r["ran_as"] for r in ran} == {"postgres"}  # the caller's rights


async def test_every_function_of_the_schema_pins_its_search_path(
    db: asyncpg.Connection,
) -> None:
    functions = await db.fetch(
        "SELECT p.oid::regprocedure::text AS name, p.proconfig"
        "  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'sagemaker'"
    )
    assert len(functions) >= 5
    unpinned = [
        f["name"]
        for f in functions
        if "search_path=pg_catalog, pg_temp" not in (f["proconfig"] or [])
    ]
    assert unpinned == []


@pytest.mark.parametrize(("version", "executable"), [(5, True), (None, False)])
async def test_a_function_added_later_is_not_executable_by_public(
    empty_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    version: int | None,
    executable: bool,
) -> None:
    """As a later migration might, without a REVOKE of its own: the default privileges
    (0006) leave PUBLIC out; through 0005 they did not."""
    through(version, monkeypatch)
    conn = await asyncpg.connect(empty_database_url)
    try:
        await migrations.migrate(conn)
        await conn.execute(
            "CREATE FUNCTION sagemaker.added_later() RETURNS int LANGUAGE sql"
            " SET search_path = pg_catalog, pg_temp AS 'SELECT 1'"
        )
        by_public = await conn.fetch(
            "SELECT p.oid::regprocedure::text AS name"
            "  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'sagemaker'"
            "   AND has_function_privilege('public', p.oid, 'EXECUTE')"
        )
    finally:
        await conn.close()
    if executable:
        assert [r["name"] for r in by_public] == ["sagemaker.added_later()"]
    else:
        assert by_public == []
