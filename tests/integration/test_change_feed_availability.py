"""The change feed degrades instead of failing: Search refused -> off for the target, cycle ok.

Against the stand-in, through the real command line (`syncer once` in a
subprocess): AccessDenied, then ValidationException, then recovery; each
step reads back sync_state, feature_availability, the run's status and
the exit code.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from standin.environment import service_env
from standin.sagemaker import Faults, Registry, StandIn, serve_in_thread
from tests.acceptance.cli import syncer


def events(process: Any, name: str) -> list[dict[str, Any]]:
    """The change feed's events of that name (the details, which read Search too,
    are switched off beside it and have their own)."""
    found = []
    for line in (process.stdout + process.stderr).splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(event, dict)
            and event.get("event") == name
            and event.get("feature", "change_feed") == "change_feed"
        ):
            found.append(event)
    return found


async def last_run(db: asyncpg.Connection) -> asyncpg.Record:
    row = await db.fetchrow(
        "SELECT status, scopes_failed, errors FROM sagemaker.sync_runs ORDER BY run_id DESC LIMIT 1"
    )
    assert row is not None
    return row


async def availability(db: asyncpg.Connection) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT account_id, region, off_since, off_until, reason"
        "  FROM sagemaker.feature_availability"
        " WHERE feature = 'change_feed' AND off_until IS NOT NULL"
    )


async def feed_state(db: asyncpg.Connection) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT watermark, last_error, consecutive_failures FROM sagemaker.sync_state"
        " WHERE scope_kind = 'changes'"
    )


async def test_a_refused_search_switches_the_feed_off_until_the_reconcile(
    database_url: str, db: asyncpg.Connection
) -> None:
    registry = Registry()
    registry.create_group("g")
    for _ in range(2):
        registry.create_package("g")
    standin = StandIn(registry, Faults(deny_operations={"Search"}))
    with serve_in_thread(standin) as endpoint:
        # The feed alone: deployments, which Search too, have their own test.
        env = service_env(
            database_url, endpoint, SYNCER_LOG_LEVEL="INFO", SYNCER_DEPLOYMENTS="false"
        )

        # 1. AccessDenied: one warning, the feed off, the cycle succeeded, exit 0.
        first = syncer("once", env=env)
        assert first.returncode == 0, first.stderr[-2000:]
        run = await last_run(db)
        assert (run["status"], run["scopes_failed"], json.loads(run["errors"])) == (
            "succeeded",
            0,
            [],
        )
        off = await availability(db)
        assert off is not None and "AccessDeniedException" in off["reason"]
        assert (off["account_id"], off["region"]) == (registry.account_id, registry.region)
        assert (off["off_until"] - off["off_since"]).total_seconds() >= 3599
        [warning] = events(first, "availability.off")
        assert warning["level"] == "warning" and warning["code"] == "AccessDeniedException"
        assert warning["feature"] == "change_feed"
        state = await feed_state(db)
        assert state is None or (state["last_error"], state["consecutive_failures"]) == (None, 0)
        assert await db.fetchval("SELECT count(*) FROM sagemaker.model_packages") == 2

        # 2. The next incremental cycle does not call Search, and warns no more.
        standin.reset_counters()
        second = syncer("once", env=env)
        assert second.returncode == 0, second.stderr[-2000:]
        assert standin.calls["Search"] == 0 and standin.calls["ListModelPackages"] >= 1
        assert events(second, "availability.off") == []
        assert (await last_run(db))["status"] == "succeeded"

        # 3. A reconcile tries again: now ValidationException. Still off, still quiet.
        standin.faults = Faults(reject_operations={"Search"})
        standin.reset_counters()
        third = syncer("once", "--full", env=env)
        assert third.returncode == 0, third.stderr[-2000:]
        assert standin.calls["Search"] >= 1
        assert events(third, "availability.off") == []
        assert len(events(third, "availability.still_off")) == 1
        again = await availability(db)
        assert again is not None and "ValidationException" in again["reason"]
        assert again["off_since"] == off["off_since"]
        assert (await last_run(db))["status"] == "succeeded"

        status = syncer("status", env=env)
        assert status.returncode == 0, status.stderr
        assert "off since" in status.stdout and "ValidationException" in status.stdout
        report = json.loads(syncer("status", "--json", env=env).stdout)
        # The details read Search too: they are off beside the feed.
        assert sorted(r["feature"] for r in report["switched_off"]) == ["change_feed", "details"]
        [off_now] = [r for r in report["switched_off"] if r["feature"] == "change_feed"]
        assert off_now["reason"].startswith("search: ValidationException")

        # 4. Search allowed again: the next reconcile switches the feed back on.
        standin.faults = Faults()
        fourth = syncer("once", "--full", env=env)
        assert fourth.returncode == 0, fourth.stderr[-2000:]
        assert await availability(db) is None
        assert len(events(fourth, "availability.on")) == 1
        state = await feed_state(db)
        assert state is not None and state["watermark"] is not None
        assert state["last_error"] is None
        assert (await last_run(db))["status"] == "succeeded"
        report = json.loads(syncer("status", "--json", env=env).stdout)
        assert report["switched_off"] == []
        assert report["quota"][0]["list_rate"] > 0
