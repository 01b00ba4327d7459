"""Command line: subcommands -> exit codes (0 ok, 1 some scope failed, 2 config/connection)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncer.errors import DatabaseError, SyncerError
from syncer.logging import configure_logging, get_logger, mask_secrets, printable
from syncer.metrics import Metrics
from syncer.scheduler import Syncer, run_until_stopped
from syncer.settings import Settings, load_settings
from syncer.source import ApiStats, RegistrySource, SourceOptions, SourcePool
from syncer.store import Store, pool_size

log = get_logger("syncer.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncer",
        description="Mirror the Amazon SageMaker Model Registry into PostgreSQL. "
        "Configured through SYNCER_* environment variables (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="migrate, then sync every interval until SIGTERM")
    once = commands.add_parser("once", help="migrate, run one cycle, exit")
    once.add_argument(
        "--full", action="store_true", help="reconcile: re-list everything, detect deletions"
    )
    commands.add_parser("migrate", help="apply pending schema migrations")
    status = commands.add_parser("status", help="per-scope watermarks, lag, errors; row counts")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    commands.add_parser("check", help="validate config, reach the database and SageMaker")
    commands.add_parser("demo", help="local SageMaker stand-in with a sample registry, then `run`")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from syncer.demo import run_demo  # optional dependencies, imported on demand

            return run_demo()
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
        return asyncio.run(dispatch(args, settings))
    except SyncerError as exc:
        print(f"syncer: error: {printable(mask_secrets(str(exc)))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


async def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "migrate":
        return await cmd_migrate(settings)
    if args.command == "status":
        return await cmd_status(settings, as_json=args.json)
    if args.command == "check":
        return await cmd_check(settings)
    if args.command == "once":
        return await cmd_once(settings, full=args.full)
    if args.command == "run":
        return await cmd_run(settings)
    raise AssertionError(args.command)


def open_store(settings: Settings) -> contextlib.AbstractAsyncContextManager[Store]:
    return Store.open(
        settings.database_url.get_secret_value(),
        # Scopes waiting for a writer keep their listing slot: the database paces the API.
        max_size=pool_size(settings.database_connections),
        statement_timeout_seconds=settings.statement_timeout_seconds,
    )


def source_options(settings: Settings, **extra: Any) -> SourceOptions:
    return SourceOptions(
        concurrency=settings.concurrency,
        max_requests_per_second=settings.max_requests_per_second,
        page_size=settings.page_size,
        max_attempts=settings.max_attempts,
        api_timeout_seconds=settings.api_timeout_seconds,
        **extra,
    )


@dataclass
class Service:
    store: Store
    sources: list[RegistrySource]
    stats: ApiStats
    metrics: Metrics
    syncer: Syncer


@contextlib.asynccontextmanager
async def open_service(
    settings: Settings, stop: asyncio.Event | None = None, **source_extra: Any
) -> AsyncIterator[Service]:
    # Configuration is complete before anything is written; then the database,
    # whose schema must be current before any source is listed into it; then
    # the SageMaker clients, closed before the pool they write into.
    regions = settings.region_list(os.environ)
    async with open_store(settings) as store:
        if settings.migrate:
            await store.migrate()
        else:
            await store.require_current_schema()
        stats = ApiStats()
        async with SourcePool(source_options(settings, **source_extra), stats) as pool:
            sources = await pool.open(regions, settings.role_arns)
            metrics = Metrics()
            syncer = Syncer(settings, store, sources, stats, metrics=metrics, stop_event=stop)
            yield Service(store, sources, stats, metrics, syncer)


async def cmd_migrate(settings: Settings) -> int:
    async with open_store(settings) as store:
        applied = await store.migrate()
    log.info("migrate.done", applied=applied or "none")
    return 0


async def cmd_once(settings: Settings, *, full: bool) -> int:
    stop = _stop_on_signals()
    async with open_service(settings, stop) as service:
        work = asyncio.create_task(service.syncer.run_cycle(full=full, wait=True), name="cycle")
        await run_until_stopped(work, stop)
        if work.cancelled():
            return 1
        return 0 if work.result().ok else 1


async def cmd_run(settings: Settings, **source_extra: Any) -> int:
    from syncer.http import build_app, serve_http, stuck_after_seconds

    stop = _stop_on_signals()  # before startup: a SIGTERM while migrating still exits 0
    async with open_service(settings, stop, **source_extra) as service:
        loop_task = asyncio.create_task(service.syncer.run_forever(), name="sync-loop")
        async with contextlib.AsyncExitStack() as stack:
            if settings.http_port:
                app = build_app(
                    service.syncer,
                    service.store,
                    service.metrics,
                    loop_task,
                    stuck_after=stuck_after_seconds(settings),
                )
                await stack.enter_async_context(serve_http(app, settings.http_port))
                log.info("http.listening", port=settings.http_port)
            await run_until_stopped(loop_task, stop)
    log.info("service.stopped")
    return 0


async def cmd_check(settings: Settings) -> int:
    problems = 0
    try:
        async with open_store(settings) as store:
            version = await store.schema_version()
        print(f"ok    database {settings.redacted_database_url()} (schema version {version})")
    except SyncerError as exc:
        problems += 1
        print(f"FAIL  database: {printable(mask_secrets(str(exc)))}")
    try:
        regions = settings.region_list(os.environ)
        async with SourcePool(source_options(settings), ApiStats()) as pool:
            sources = await pool.open(regions, settings.role_arns)
            for source in sources:
                async for page in source.list_groups(settings.group_name_contains):
                    print(f"ok    sagemaker {source.target}: listed {len(page.items)} group(s)")
                    break
    except SyncerError as exc:
        problems += 1
        print(f"FAIL  sagemaker: {printable(mask_secrets(str(exc)))}")
    return 2 if problems else 0


async def cmd_status(settings: Settings, *, as_json: bool) -> int:
    async with open_store(settings) as store:
        if await store.schema_version() == 0:
            raise DatabaseError(
                f"{settings.redacted_database_url()} has no registry-sync schema yet; "
                "run `syncer migrate` (or `syncer run`) first"
            )
        report = await store.status()
    if as_json:
        print(json.dumps(report, default=_json_default, indent=2))
        return 0
    _print_status(report)
    return 0


def _print_status(report: dict[str, Any]) -> None:
    totals = report["totals"]
    print(
        f"groups {totals.get('groups', 0)} (+{totals.get('groups_deleted', 0)} deleted), "
        f"packages {totals.get('packages', 0)} (+{totals.get('packages_deleted', 0)} deleted), "
        f"changes {totals.get('changes', 0)}"
    )
    print(f"{'SCOPE':<50} {'WATERMARK':<26} {'LAG':>10} {'LAST SUCCESS':<26} ERROR")
    # Group names and errors come from SageMaker: escaped, they cannot act on the terminal.
    for s in report["scopes"]:
        name = s["model_package_group_name"] or f"({s['scope_kind']})"
        scope = printable(f"{s['account_id']}/{s['region']}/{name}")
        lag = f"{s['lag_seconds']:.0f}s" if s["lag_seconds"] is not None else "-"
        print(
            f"{scope:<50} {_fmt(s['watermark']):<26} {lag:>10} "
            f"{_fmt(s['last_success_at']):<26} {printable(s['last_error'] or '')}"
        )
    print(f"\n{'RUN':>6} {'MODE':<12} {'STATUS':<12} {'STARTED':<26} {'SECONDS':>8}  COUNTS")
    for r in report["runs"]:
        took = (r["finished_at"] - r["started_at"]).total_seconds() if r["finished_at"] else None
        print(
            f"{r['run_id']:>6} {r['mode']:<12} {r['status']:<12} {_fmt(r['started_at']):<26} "
            f"{'-' if took is None else f'{took:.1f}':>8}  "
            f"scopes {r['scopes_total']} (failed {r['scopes_failed']}), "
            f"+{r['packages_inserted']} ~{r['packages_updated']} -{r['packages_deleted']}, "
            f"api {r['api_calls']} (throttled {r['api_throttled']})"
        )


def _fmt(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _stop_on_signals() -> asyncio.Event:
    """An event that SIGTERM and SIGINT set; signals only ever set it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
