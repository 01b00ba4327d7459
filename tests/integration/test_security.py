"""Secrets stay secret, roles get only what they need, and the connection can be TLS.

- The database password and the AWS secrets never appear in anything the
  service prints (every command, success and failure, at DEBUG), in its HTTP
  answers, or in the rows it writes.
- ``sagemaker_reader`` can read every table and view and change nothing; the
  service itself runs (migrate, once, status) as a role that is no superuser,
  cannot create roles or databases, and merely owns its database.
- Every statement the service sends is a constant (named queries, migration
  files); values travel as bind parameters.
- ``statement_timeout`` bounds every statement, so one blocked row fails its
  scope instead of hanging the cycle.
- TLS through the DSN (``sslmode=require``, ``verify-full`` with ``sslrootcert``)
  against a throwaway server with a certificate; against the shared server, the
  outcome follows its ``ssl`` setting.

``throwaway_postgres`` (also used by the restart test in test_faults) runs a
private PostgreSQL from the machine's binaries, or the pgserver wheel's.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlunsplit

import asyncpg
import pytest

from standin.dsn import over_socket, with_login, with_query
from standin.environment import service_env
from standin.sagemaker import Faults, Registry, StandIn, serve_in_thread
from syncer.models import Scope, Target, parse_package
from syncer.warehouse.store import Store, scope_key
from tests.acceptance.cli import syncer
from tests.acceptance.test_run import free_port, running_service
from tests.conftest import admin_execute, dsn_for, sync_once

SYNCER_DIR = Path(__file__).resolve().parents[2] / "syncer"


# ---------------------------------------------------------------- a throwaway server
def _bindirs() -> Iterator[Path]:
    """Directories that may hold initdb/pg_ctl/postgres, preferred first."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        yield Path(out.stdout.strip())
    yield from sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    spec = importlib.util.find_spec("pgserver")  # found, not imported: its import warns
    if spec and spec.submodule_search_locations:
        yield Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _has_tls(bindir: Path) -> bool:
    configure = subprocess.run(
        [bindir / "pg_config", "--configure"], capture_output=True, text=True, check=False
    )
    return "openssl" in configure.stdout


def postgres_bindir(*, tls: bool = False) -> Path:
    for bindir in _bindirs():
        installed = (bindir / "initdb").exists() and (bindir / "pg_ctl").exists()
        if installed and (not tls or _has_tls(bindir)):
            return bindir
    pytest.fail(
        "no PostgreSQL server binaries"
        + (" built with OpenSSL" if tls else "")
        + " (install the postgresql package, or the pgserver wheel)"
    )


def _run_as() -> tuple[list[str], str | None]:
    """PostgreSQL refuses to run as root: run it as an unprivileged user then."""
    if os.geteuid() != 0:
        return [], None
    for user in ("postgres", "pgserver", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(user)
            return ["runuser", "-u", user, "--"], user
    pytest.fail("running as root, and no unprivileged user to run PostgreSQL as")


@dataclass
class Throwaway:
    """A private PostgreSQL on 127.0.0.1, in a temporary directory."""

    bindir: Path
    root: Path
    port: int
    prefix: list[str]
    settings: dict[str, str] = field(default_factory=dict)

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.prefix, str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode:
            log = (
                (self.root / "log").read_text(errors="replace")[-2000:]
                if (self.root / "log").exists()
                else ""
            )
            pytest.fail(f"{tool} {' '.join(args)} failed: {done.stderr}\n{log}")

    def start(self) -> None:
        options = [f"-p {self.port}", f"-k {self.root}", "-c listen_addresses=127.0.0.1"]
        options += ["-c fsync=off", "-c full_page_writes=off"]
        options += [f"-c {k}={v}" for k, v in self.settings.items()]
        data, log = str(self.root / "data"), str(self.root / "log")
        self._run(
            "pg_ctl", "-D", data, "-l", log, "-w", "-t", "30", "-o", " ".join(options), "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.root / "data"), "-w", "-t", "30", "-m", mode, "stop")

    def dsn(self, database: str = "postgres", **params: str) -> str:
        query = urlencode(params)
        return urlunsplit(
            ("postgresql", f"postgres@127.0.0.1:{self.port}", f"/{database}", query, "")
        )


def _certificate(root: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), and its key."""
    cert, key = root / f"{name}.crt", root / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    return cert, key


@contextlib.contextmanager
def throwaway_postgres(*, tls: bool = False) -> Iterator[Throwaway]:
    """initdb, start; with ``tls``, a certificate and a pg_hba that refuses plain TCP."""
    bindir = postgres_bindir(tls=tls)
    prefix, user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="rs-pg-", dir="/tmp"))
    try:
        if user:
            shutil.chown(root, user)
        server = Throwaway(bindir, root, free_port(), prefix)
        server._run(
            "initdb", "-D", str(root / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip
        if tls:
            cert, key = _certificate(root, "server")
            if user:
                shutil.chown(cert, user)
                shutil.chown(key, user)
            key.chmod(0o600)
            (root / "data" / "pg_hba.conf").write_text(
                "local all all trust\n"
                "hostssl all all 127.0.0.1/32 trust\n"
                "hostnossl all all 127.0.0.1/32 reject\n"
            )
            server.settings.update(ssl="on", ssl_cert_file=str(cert), ssl_key_file=str(key))
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(Exception):
                server.stop(mode="immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- secrets
DB_PASSWORD = "Pg-pa55word-7f3a"
AWS_SECRET = "aws-SECRET-key-9c1e0b"
AWS_TOKEN = "aws-session-TOKEN-4d2a"
SECRETS = (DB_PASSWORD, AWS_SECRET, AWS_TOKEN)


def with_password(dsn: str, password: str = DB_PASSWORD) -> str:
    return with_login(dsn, password=password)


def as_user(dsn: str, user: str) -> str:
    return with_login(dsn, user=user)


def secret_env(dsn: str, endpoint: str, **extra: str) -> dict[str, str]:
    return service_env(
        dsn,
        endpoint,
        AWS_SECRET_ACCESS_KEY=AWS_SECRET,
        AWS_SESSION_TOKEN=AWS_TOKEN,
        SYNCER_LOG_LEVEL="DEBUG",
        SYNCER_MAX_ATTEMPTS="2",  # "broken" fails fast
        **extra,
    )


async def everything_stored(conn: asyncpg.Connection) -> str:
    """Every row of every table of the schema, as text."""
    tables = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'sagemaker' AND c.relkind = 'r'"
    )
    texts = []
    for t in tables:
        rows = await conn.fetch(f"SELECT t::text FROM sagemaker.{t['relname']} t")
        texts += [r[0] for r in rows]
    return "\n".join(texts)


async def test_secrets_never_appear_in_output_logs_status_metrics_or_rows(
    database_url: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    registry = Registry()
    for group in ("churn", "broken"):
        registry.create_group(group)
        registry.create_package(group, approval="Approved")
    registry.create_package(name="standalone")
    dsn = with_password(database_url)
    printed: list[str] = []

    def run(*args: str, dsn: str = dsn, endpoint: str, expect: int) -> None:
        done = syncer(*args, env=secret_env(dsn, endpoint))
        printed.extend((done.stdout, done.stderr))
        assert done.returncode == expect, (args, done.stdout, done.stderr)

    with serve_in_thread(StandIn(registry, Faults(fail_groups={"broken"}))) as endpoint:
        run("migrate", endpoint=endpoint, expect=0)
        run("once", endpoint=endpoint, expect=1)  # "broken" fails: its error is recorded
        run("once", "--full", endpoint=endpoint, expect=0)  # one listing for every group
        run("status", endpoint=endpoint, expect=0)
        run("status", "--json", endpoint=endpoint, expect=0)
        run("check", endpoint=endpoint, expect=0)
        unreachable = with_password("postgresql://svc@127.0.0.1:1/registry")
        run("once", dsn=unreachable, endpoint=endpoint, expect=2)
        run("check", dsn=unreachable, endpoint=endpoint, expect=2)
        in_query = f"postgresql://svc@127.0.0.1:1/registry?sslmode=prefer&password={DB_PASSWORD}"
        run("once", dsn=in_query, endpoint=endpoint, expect=2)
        # Forms asyncpg accepts that a pattern missed: any-case scheme, a
        # percent-encoded key, a value with a space (ending in the secret).
        for odd in (
            with_password("POSTGRESQL://svc@127.0.0.1:1/registry"),
            f"postgresql://svc@127.0.0.1:1/registry?pass%77ord={DB_PASSWORD}",
            f"postgresql://svc@127.0.0.1:1/registry?password=x {DB_PASSWORD}",
        ):
            run("once", dsn=odd, endpoint=endpoint, expect=2)
            run("check", dsn=odd, endpoint=endpoint, expect=2)
        run(
            "status",
            dsn=dsn.replace(database_url.rsplit("/", 1)[1], "no_such_db"),
            endpoint=endpoint,
            expect=2,
        )

        with running_service(
            dsn, endpoint, tmp_path, SYNCER_MAX_ATTEMPTS="2",
            AWS_SECRET_ACCESS_KEY=AWS_SECRET, AWS_SESSION_TOKEN=AWS_TOKEN,
        ) as service:  # fmt: skip
            await service.wait_status("/readyz", 200)
            for path in ("/healthz", "/readyz", "/metrics"):
                printed.append((await service.get(path))[1])
            service.stop(signal.SIGTERM)
            printed.append(service.log.read_text())

    everything = "\n".join(printed) + await everything_stored(db)
    assert "broken" in everything and "cannot connect to" in everything  # the failures were seen
    assert "postgresql://svc:***@127.0.0.1:1/registry" in everything
    assert "password=***" in everything
    for secret in SECRETS:
        assert secret not in everything, f"{secret} leaked"


# ---------------------------------------------------------------- roles
@contextlib.asynccontextmanager
async def login_role(name: str, *options: str) -> AsyncIterator[str]:
    await admin_execute(f'CREATE ROLE "{name}" LOGIN {" ".join(options)}')
    try:
        yield name
    finally:
        await admin_execute(f'DROP ROLE IF EXISTS "{name}"')


async def test_the_reader_role_can_select_everything_and_change_nothing(
    database_url: str, db: asyncpg.Connection
) -> None:
    relations = await db.fetch(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'sagemaker' AND c.relkind IN ('r', 'v') ORDER BY 1"
    )
    assert len(relations) >= 8
    name = f"rs_reader_{uuid.uuid4().hex[:8]}"
    async with login_role(name, "IN ROLE sagemaker_reader"):
        reader = await asyncpg.connect(as_user(database_url, name))
        try:
            for rel in relations:
                table = f"sagemaker.{rel['relname']}"
                await reader.fetchval(f"SELECT count(*) FROM {table}")
                if rel["relkind"] != "r":
                    continue
                column = await first_column(db, rel["relname"])
                for statement in (
                    f"INSERT INTO {table} DEFAULT VALUES",
                    f"UPDATE {table} SET {column} = {column}",
                    f"DELETE FROM {table}",
                    f"TRUNCATE {table}",
                ):
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await reader.execute(statement)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await reader.execute("CREATE TABLE sagemaker.intruder (x int)")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await reader.execute("CREATE SCHEMA intruder")
        finally:
            await reader.close()


async def first_column(db: asyncpg.Connection, table: str) -> str:
    return str(
        await db.fetchval(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'sagemaker' AND table_name = $1 ORDER BY ordinal_position",
            table,
        )
    )


async def test_the_service_needs_no_superuser_only_its_own_database(tmp_path: Path) -> None:
    role = f"rs_owner_{uuid.uuid4().hex[:8]}"
    database = f"rs_owned_{uuid.uuid4().hex[:8]}"
    registry = Registry()
    registry.create_group("churn")
    registry.create_package("churn", approval="Approved")
    registry.create_package(name="standalone")
    async with login_role(role, "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"):
        await admin_execute(f'CREATE DATABASE "{database}" OWNER "{role}"')
        try:
            dsn = as_user(dsn_for(database), role)
            with serve_in_thread(StandIn(registry)) as endpoint:
                env = service_env(dsn, endpoint)
                for args in (("migrate",), ("once",), ("once", "--full"), ("status",)):
                    done = syncer(*args, env=env)
                    assert done.returncode == 0, (args, done.stderr)
            conn = await asyncpg.connect(dsn)
            try:
                me = await conn.fetchrow(
                    "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles"
                    " WHERE rolname = current_user"
                )
                assert tuple(me) == (False, False, False)
                assert await conn.fetchval("SELECT count(*) FROM sagemaker.model_packages") == 2
                assert (
                    await conn.fetchval(
                        "SELECT status FROM sagemaker.sync_runs ORDER BY run_id DESC LIMIT 1"
                    )
                    == "succeeded"
                )
                owner = await conn.fetchval(
                    "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'sagemaker'"
                )
                assert owner == role
            finally:
                await conn.close()
        finally:
            await admin_execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


# ---------------------------------------------------------------- parameterised SQL
DB_METHODS = {"execute", "executemany", "fetch", "fetchrow", "fetchval", "prepare", "cursor"}
# Statements that are not named queries but are still constants: the files of
# the migrations shipped in the package, and asyncpg's own reset statement.
TRUSTED = {"migration.sql", "conn.get_reset_query()"}


def module_constants(tree: ast.Module) -> set[str]:
    return {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }


def is_constant_sql(node: ast.expr, constants: set[str]) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.Name):
        return node.id in constants
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        return node.value.id == "QUERIES"
    return ast.unparse(node) in TRUSTED


def test_every_statement_the_service_sends_is_a_constant() -> None:
    """Values reach PostgreSQL as bind parameters only: no statement is built from data."""
    offenders, checked = [], 0
    for path in sorted(SYNCER_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text())
        constants = module_constants(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in DB_METHODS
                and node.args
            ):
                checked += 1
                if not is_constant_sql(node.args[0], constants):
                    where = path.relative_to(SYNCER_DIR)
                    offenders.append(f"{where}:{node.lineno}: {ast.unparse(node.args[0])}")
    assert checked >= 20, "the scan found too few statements to be looking at the right code"
    assert not offenders, offenders
    for sql in (SYNCER_DIR / "warehouse" / "sql").glob("*.sql"):
        queries = sql.read_text()
        assert "EXECUTE " not in queries.upper().replace("EXECUTE FUNCTION", ""), sql.name
        assert "format(" not in queries.lower(), sql.name


# ---------------------------------------------------------------- statement_timeout
async def test_statement_timeout_is_set_in_every_transaction_and_cancels(
    database_url: str,
) -> None:
    """Per transaction (SET LOCAL), not per session: a transaction-mode pooler
    refuses startup parameters and moves sessions between transactions."""
    async with Store.open(database_url, max_size=2, statement_timeout_seconds=0.5) as store:
        async with store.transaction() as conn:
            assert await conn.fetchval("SHOW statement_timeout") == "500ms"
            assert await conn.fetchval("SHOW idle_in_transaction_session_timeout") == "1s"
            assert await conn.fetchval("SHOW search_path") == "pg_catalog, pg_temp"
            assert await conn.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
        async with store.pool.acquire() as conn:  # nothing left in the session
            assert await conn.fetchval("SHOW statement_timeout") == "0"
            assert await conn.fetchval("SHOW search_path") == '"$user", public'
        started = time.monotonic()
        with pytest.raises(asyncpg.QueryCanceledError):
            async with store.transaction() as conn:
                await conn.fetchval("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 4


async def test_a_page_write_is_one_statement_that_bounds_its_own_lock_waits(
    database_url: str,
) -> None:
    """A listing page is sent on its own, outside a transaction block (one round
    trip, nothing left in the session for a pooler to hand on), and still
    fails within the statement timeout when someone else holds its scope."""
    scope = Scope(Target("123456789012", "us-east-1"), "churn")
    item = {
        "ModelPackageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/1",
        "ModelPackageGroupName": "churn",
        "ModelPackageVersion": 1,
        "CreationTime": 1_700_000_000.0,
        "ModelPackageStatus": "Completed",
        "ModelApprovalStatus": "Approved",
    }
    sent: list[str] = []
    async with Store.open(database_url, max_size=1, statement_timeout_seconds=0.5) as store:
        counts = await store.store_page(scope, [parse_package(item)], 1, last=True)
        assert counts.inserted == 1  # and asyncpg knows the types now
        async with store.pool.acquire() as conn:  # the pool's one connection
            conn.add_query_logger(lambda record: sent.append(record.query))
        await store.store_page(scope, [parse_package(item)], 1, last=True)
        assert len(sent) == 1 and "sagemaker.write_listing_page(" in sent[0], sent

        holder = await asyncpg.connect(database_url)
        try:
            async with holder.transaction():
                await holder.execute(
                    "SELECT sagemaker.lock_scope($1, $2, $3, $4)", *scope_key(scope)
                )
                started = time.monotonic()
                with pytest.raises(asyncpg.LockNotAvailableError):
                    await store.store_page(scope, [parse_package(item)], 1, last=True)
                assert time.monotonic() - started < 4
        finally:
            await holder.close()
        async with store.pool.acquire() as conn:
            assert await conn.fetchval("SHOW lock_timeout") == "0"
            assert not conn.is_in_transaction()


async def test_a_row_locked_by_someone_else_fails_its_scope_within_the_timeout(
    database_url: str, db: asyncpg.Connection
) -> None:
    registry = Registry()
    for group in ("alpha", "beta"):
        registry.create_group(group)
        registry.create_package(group)
    with serve_in_thread(StandIn(registry)) as endpoint:
        await sync_once(database_url, endpoint)
        beta = next(a for a, p in registry.packages.items() if p.group == "beta")
        alpha = next(a for a, p in registry.packages.items() if p.group == "alpha")
        for arn in (alpha, beta):
            registry.update_package(arn, approval="Approved")
        holder = await asyncpg.connect(database_url)
        try:
            async with holder.transaction():
                await holder.execute(
                    "SELECT 1 FROM sagemaker.model_packages WHERE model_package_arn = $1 FOR UPDATE",
                    beta,
                )
                started = time.monotonic()
                blocked = await sync_once(
                    database_url, endpoint, full=True, statement_timeout_seconds=1
                )
                took = time.monotonic() - started
        finally:
            await holder.close()
        assert took < 30
        # What writes the locked row fails in time: the account's listing (its page
        # write by its own lock timeout, migration 0013) and the change feed (its
        # transaction by the statement timeout); the row stays as it was.
        failed = {e["scope"].rsplit("/", 1)[-1]: e["error"] for e in blocked.errors}
        assert "(packages)" in failed and set(failed) <= {"(packages)", "(changes)"}, failed
        assert "lock timeout" in failed["(packages)"], failed
        assert "statement timeout" in failed.get("(changes)", "statement timeout"), failed
        approvals = dict(
            await db.fetch(
                "SELECT model_package_arn, model_approval_status FROM sagemaker.model_packages"
            )
        )
        assert approvals[beta] == "PendingManualApproval"

        again = await sync_once(database_url, endpoint, full=True)
    assert again.status == "succeeded", again.errors
    assert (
        await db.fetchval(
            "SELECT model_approval_status FROM sagemaker.model_packages WHERE model_package_arn = $1",
            beta,
        )
        == "Approved"
    )


# ---------------------------------------------------------------- TLS
@pytest.fixture(scope="module")
def tls_server() -> Iterator[Throwaway]:
    with throwaway_postgres(tls=True) as server:
        yield server


async def test_tls_through_the_dsn(tls_server: Throwaway, tmp_path: Path) -> None:
    registry = Registry()
    registry.create_group("churn")
    registry.create_package("churn")
    cert = tls_server.root / "server.crt"
    other_ca, _ = _certificate(tmp_path, "other")
    require = tls_server.dsn(sslmode="require")
    verified = tls_server.dsn(sslmode="verify-full", sslrootcert=str(cert))
    # The verified DSN as docs/security.md shows it, read from a file as the
    # Kubernetes manifests mount it (SYNCER_DATABASE_URL_FILE).
    mounted = tmp_path / "url"
    mounted.write_text(verified + "\n")
    with serve_in_thread(StandIn(registry)) as endpoint:
        for env in (
            service_env(require, endpoint),
            {
                **{
                    k: v for k, v in service_env("", endpoint).items() if k != "SYNCER_DATABASE_URL"
                },
                "SYNCER_DATABASE_URL_FILE": str(mounted),
            },
        ):
            done = syncer("once", env=env)
            assert done.returncode == 0, done.stderr
        refused = {
            "disable": tls_server.dsn(sslmode="disable"),
            "verify-full with another CA": tls_server.dsn(
                sslmode="verify-full", sslrootcert=str(other_ca)
            ),
        }
        for what, dsn in refused.items():
            done = syncer("once", env=service_env(dsn, endpoint))
            lines = done.stderr.strip().splitlines()
            assert done.returncode == 2 and len(lines) == 1, (what, done.stderr)
            assert lines[0].startswith(f"syncer: error: cannot connect to {dsn}"), lines[0]

    async with Store.open(require, max_size=1) as store:
        assert await store.pool.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert await store.pool.fetchval("SELECT count(*) FROM sagemaker.model_packages") == 1


async def test_sslmode_require_against_the_test_server_follows_its_ssl_setting(
    database_url: str,
) -> None:
    """The shared server may have TLS off: then sslmode=require must refuse, in one line."""
    conn = await asyncpg.connect(database_url)
    try:
        ssl_on = await conn.fetchval("SHOW ssl") == "on"
    finally:
        await conn.close()
    dsn = with_query(database_url, sslmode="require")
    done = syncer("migrate", env=service_env(dsn, "http://127.0.0.1:9"))
    if ssl_on or over_socket(dsn):  # TLS does not apply to a Unix socket
        assert done.returncode == 0, done.stderr
    else:
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert "rejected SSL upgrade" in lines[0] and "Traceback" not in done.stderr
