"""Command line: subcommands -> exit codes (0 ok, 1 some scope failed, 2 config/connection)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from syncer.aws.clients import ApiStats, SourcePool
from syncer.aws.registry import RegistrySource
from syncer.aws.targets import TargetPlan, Targets, target_states
from syncer.cycle.loop import run_until_stopped
from syncer.errors import DatabaseError, SyncerError
from syncer.events.consumer import open_configured_queue
from syncer.logging import configure_logging, get_logger, printable, stored_error
from syncer.models import Target
from syncer.service import open_service, open_store, run_service, source_options, stop_on_signals
from syncer.settings import Settings, load_settings
from syncer.variables import unknown_variables
from syncer.warehouse.status import read_status
from syncer.warehouse.tls import unverified_tls

log = get_logger("syncer.cli")
# Errors printed on the command line: one line, masked and escaped, as stored
# ones are (syncer.logging.stored_error), with room for a whole DSN error.
CLI_ERROR_CHARS = 2000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncer",
        description="Mirror the Amazon SageMaker Model Registry into PostgreSQL. "
        "Configured through SYNCER_* environment variables (docs/configuration.md).",
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
        if args.command != "check":  # check prints them among its findings
            for line in unknown_variables(os.environ):
                log.warning("settings.unknown_variable", message=line)
        tls = unverified_tls(settings.database_url.get_secret_value(), os.environ)
        if tls:
            log.warning("database.tls_unverified", **tls)
        return asyncio.run(dispatch(args, settings))
    except SyncerError as exc:
        print(f"syncer: error: {stored_error(str(exc), limit=CLI_ERROR_CHARS)}", file=sys.stderr)
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
        return await run_service(settings)
    raise AssertionError(args.command)


async def cmd_migrate(settings: Settings) -> int:
    async with open_store(settings) as store:
        applied = await store.migrate()
    log.info("migrate.done", applied=applied or "none")
    return 0


async def cmd_once(settings: Settings, *, full: bool) -> int:
    stop = stop_on_signals()
    async with open_service(settings, stop) as service:
        work = asyncio.create_task(service.syncer.run_cycle(full=full, wait=True), name="cycle")
        await run_until_stopped(work, stop)
        if work.cancelled():
            return 1
        return 0 if work.result().ok else 1


async def cmd_check(settings: Settings) -> int:
    problems = 0
    for line in unknown_variables(os.environ):
        print(f"WARN  {line}")
    try:
        async with open_store(settings) as store:
            version = await store.schema_version()
        print(f"ok    database {settings.redacted_database_url()} (schema version {version})")
    except SyncerError as exc:
        problems += 1
        print(f"FAIL  database: {stored_error(str(exc), limit=CLI_ERROR_CHARS)}")
    try:
        plan = TargetPlan.from_settings(settings, os.environ)
        async with SourcePool(source_options(settings), ApiStats()) as pool:
            targets = Targets(plan, pool)
            sources = await targets.refresh()
            if plan.discovers:
                print(f"ok    organization: {_describe_targets(plan, targets)}")
            for source in sources:
                problems += await _check_source(source, settings)
    except SyncerError as exc:
        problems += 1
        print(f"FAIL  sagemaker: {stored_error(str(exc), limit=CLI_ERROR_CHARS)}")
    if settings.events_queue_url:
        problems += await _check_queue(settings)
    return 2 if problems else 0


async def _check_queue(settings: Settings) -> int:
    """The events queue: there, and usable by these credentials (no message is touched)."""
    url = settings.events_queue_url
    assert url is not None
    try:
        async with open_configured_queue(settings) as queue:
            await queue.check()
    except SyncerError as exc:
        error = stored_error(str(exc), limit=CLI_ERROR_CHARS)
        print(f"FAIL  events queue {printable(url)}: {error}")
        return 1
    print(f"ok    events queue {printable(url)}")
    return 0


def _describe_targets(plan: TargetPlan, targets: Targets) -> str:
    accounts = sorted({t.account_id for t in targets.current})
    where = f" under {', '.join(plan.units)}" if plan.units else ""
    skipped = f", {len(plan.skip)} skipped by SYNCER_SKIP_ACCOUNTS" if plan.skip else ""
    return (
        f"{len(accounts)} account(s){where} x {len(plan.regions)} region(s) = "
        f"{len(targets.current)} target(s){skipped}, role {plan.role_name}"
    )


async def _check_source(source: RegistrySource, settings: Settings) -> int:
    """One target's first group page; a failure is this target's alone."""
    via = f" as {source.target.role_arn}" if source.target.role_arn else ""
    try:
        async for page in source.list_groups(settings.group_name_contains):
            print(f"ok    sagemaker {source.target}{via}: listed {len(page.items)} group(s)")
            break
    except SyncerError as exc:
        print(
            f"FAIL  sagemaker {source.target}{via}: {stored_error(str(exc), limit=CLI_ERROR_CHARS)}"
        )
        return 1
    return 0


async def cmd_status(settings: Settings, *, as_json: bool) -> int:
    async with open_store(settings) as store:
        if await store.schema_version() == 0:
            raise DatabaseError(
                f"{settings.redacted_database_url()} has no registry-sync schema yet; "
                "run `syncer migrate` (or `syncer run`) first"
            )
        report = await read_status(store)
    _one_form_of_errors(report)
    report["events"] = _events_report(settings, report["events"])
    report["targets"] = await _target_report(settings, report["scopes"])
    if as_json:
        print(json.dumps(report, default=_json_default, indent=2))
        return 0
    _print_status(report)
    return 0


def _one_form_of_errors(report: dict[str, Any]) -> None:
    """Every error text of the report in its stored form, for `status` and `status
    --json` alike: rows a release before this one wrote may hold more."""
    for section, key in (
        ("scopes", "last_error"),
        ("details", "last_error"),
        ("switched_off", "reason"),
    ):
        for row in report[section]:
            if row.get(key):
                row[key] = stored_error(row[key])


async def _target_report(settings: Settings, scopes: list[dict[str, Any]]) -> dict[str, Any]:
    """The configuration's targets (discovered, if discovery is on) and each one's state;
    in the mirror but not targeted: accounts that left, or another deployment's."""
    in_mirror = sorted({(s["account_id"], s["region"]) for s in scopes})
    try:
        plan = TargetPlan.from_settings(settings, os.environ)
        if plan.discovers or plan.role_arns:
            async with SourcePool(source_options(settings), ApiStats()) as pool:
                current = await Targets(plan, pool).resolve()
        else:  # the base credentials' account: no AWS call just to name it
            current = [Target(a, r) for a, r in in_mirror if r in plan.regions]
    except SyncerError as exc:
        return {"error": stored_error(str(exc)), "targets": [], "not_targeted": []}
    groups_rows = {
        (s["account_id"], s["region"]): (
            s["consecutive_failures"],
            s["last_success_at"] is not None,
        )
        for s in scopes
        if s["scope_kind"] == "groups"
    }
    states = target_states(current, groups_rows)
    keys = {(t.account_id, t.region) for t in current}
    return {
        "error": None,
        "targets": [
            {
                "account_id": t.account_id,
                "region": t.region,
                "role_arn": t.role_arn,
                "state": states[t],
            }
            for t in current
        ],
        "not_targeted": [
            {"account_id": a, "region": r} for a, r in in_mirror if (a, r) not in keys
        ],
    }


def _events_report(settings: Settings, queues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The queues in the database, the configured one marked (and listed, if never polled)."""
    url = settings.events_queue_url
    for queue in queues:
        queue["configured"] = queue["queue_url"] == url
    if url and not any(q["configured"] for q in queues):
        queues.append({"queue_url": url, "configured": True, "state": "not polled yet"})
    return queues


def _print_events(queues: list[dict[str, Any]]) -> None:
    """The events queue: its state, since when, the last message and change, and why not."""
    if not queues:
        return
    print("\nevents queue (changes within seconds; docs/operations/events.md)")
    for q in queues:
        where = "" if q["configured"] else "  (not this configuration's)"
        print(f"  {printable(q['queue_url'])}{where}")
        if q["state"] == "not polled yet":
            print("    not polled yet: starts with `syncer run`")
            continue
        print(
            f"    {q['state']} since {_fmt(q['state_since'])}; last message "
            f"{_fmt(q['last_received_at'])}, last change {_fmt(q['last_applied_at'])}; "
            f"checked {q['checked_ago']:.0f}s ago"
        )
        if q["last_error"]:
            print(f"    error: {printable(q['last_error'])}; the cycles apply changes meanwhile")


def _print_targets(report: dict[str, Any]) -> None:
    print()
    if report["error"]:
        print(f"targets: could not be resolved: {printable(report['error'])}")
    else:
        print(f"{'ACCOUNT':<14} {'REGION':<16} {'STATE':<10} ROLE")
        for t in report["targets"]:
            print(
                f"{t['account_id']:<14} {t['region']:<16} {t['state']:<10} {t['role_arn'] or '-'}"
            )
    for t in report["not_targeted"]:
        print(
            f"{t['account_id']:<14} {t['region']:<16} {'untargeted':<10} "
            "(in the mirror, not a target: left the organization, or another deployment's)"
        )


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
    _print_targets(report["targets"])
    _print_quota(report["quota"])
    _print_switched_off(report["switched_off"])
    _print_details(report["details"])
    _print_events(report["events"])


def _print_details(rows: list[dict[str, Any]]) -> None:
    """Per account and region: governance details (SYNCER_DETAILS) filled, passes, errors."""
    if not rows:
        return
    print(f"\n{'ACCOUNT':<14} {'REGION':<16} {'DETAILS':>15} {'LAST RE-READ':<26} STATE")
    for d in rows:
        if d["pass_started_at"] is not None:
            state = f"pass open since {_fmt(d['pass_started_at'])} at {_fmt(d['pass_cursor'])}"
        elif d["last_error"]:
            state = f"failing since {_fmt(d['last_error_at'])}: {printable(d['last_error'])}"
        else:
            state = "ok"
        filled = f"{d['with_details']}/{d['packages']}"
        print(
            f"{d['account_id']:<14} {d['region']:<16} {filled:>15} "
            f"{_fmt(d['last_full_pass_started_at']):<26} {state}"
        )


def _print_quota(rows: list[dict[str, Any]]) -> None:
    """Per account and region: the API rates allowed, and throttles."""
    if not rows:
        return
    print(
        f"\n{'ACCOUNT':<14} {'REGION':<16} {'LIST/S':>8} {'SEARCH/S':>8} {'CEILING':>8} "
        f"{'THROTTLED':>9}"
    )
    for q in rows:

        def rate(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}"

        print(
            f"{q['account_id']:<14} {q['region']:<16} {rate(q['list_rate']):>8} "
            f"{rate(q['search_rate']):>8} {rate(q['ceiling']):>8} {q['throttles']:>9}"
        )


def _print_switched_off(rows: list[dict[str, Any]]) -> None:
    """The optional reads switched off where SageMaker refused them, and why."""
    if not rows:
        return
    print(f"\n{'ACCOUNT':<14} {'REGION':<16} {'SWITCHED OFF':<13} SINCE, RETRIED AFTER, WHY")
    for r in rows:
        print(
            f"{r['account_id']:<14} {r['region']:<16} {r['feature']:<13} "
            f"off since {_fmt(r['off_since'])}, retried after {_fmt(r['off_until'])} "
            f"or at the next reconcile: {printable(r['reason'])}"
        )


def _fmt(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
