"""Directed incremental cycles: the change feed says which groups to list, once it is trusted.

Trust is earned at a reconcile (the feed's own queries return the newest
creation and the newest change the mirror knows), lost at any miss (a listing
finds a package the feed should have reported), and kept in sync_state across
restarts. The same tests run against moto, whose Search ignores range
filters: it must never earn trust, and every new version still arrives.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import asyncpg
import pytest
from structlog.testing import capture_logs

from standin.mirror import assert_same, mirror_packages, source_packages
from standin.sagemaker import Faults, Registry, StandIn
from syncer.cycle.feed import directed
from syncer.cycle.loop import Syncer
from syncer.cycle.runs import CycleResult
from syncer.errors import SourceError
from syncer.logging import configure_logging
from tests.conftest import Backend, open_syncer


def old_group(registry: Registry, name: str, versions: int, start: float) -> list[str]:
    registry.create_group(name, created=start)
    return [registry.create_package(name, created=start + 1 + i) for i in range(versions)]


def seeded(registry: Registry, groups: int = 4, versions: int = 3) -> None:
    """Groups created an hour ago (outside the lookback of 1 s used here)."""
    start = time.time() - 3600
    for g in range(groups):
        old_group(registry, f"g{g}", versions, start + g * 10)
    registry.create_package(name="solo", created=start + 100)


def add_version(backend: Backend, group: str) -> str:
    response = backend.client.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification={
            "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/m:1"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )
    return str(response["ModelPackageArn"])


async def trust_row(db: asyncpg.Connection) -> asyncpg.Record:
    row = await db.fetchrow(
        "SELECT trust_directed, trust_reason, trust_detail, feed_misses, feed_last_miss,"
        " feed_last_miss_at FROM sagemaker.sync_state WHERE scope_kind = 'changes'"
    )
    assert row is not None
    return row


async def cycle(syncer: Syncer, *, full: bool = False) -> CycleResult:
    result = await syncer.run_cycle(full=full, wait=True)
    assert result.status == "succeeded", result.errors
    return result


def plan_of(syncer: Syncer) -> Any:
    [plan] = syncer.plans.values()
    return plan


def calls(standin: StandIn) -> dict[str, int]:
    """The registry's calls by operation; the deployments' searches (models and
    endpoints, at most one in a quiet cycle) are counted by their own tests."""
    return dict(
        Counter(
            op
            for op, body in standin.requests
            if not (op == "Search" and body.get("Resource") in ("Model", "Endpoint"))
        )
    )


# ---------------------------------------------------------------- earning trust
async def test_a_reconcile_earns_trust_and_a_quiet_cycle_costs_three_calls(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    standin = standin_backend.standin
    assert standin is not None
    seeded(standin.registry)
    async with open_syncer(database_url, standin_backend.endpoint, lookback_seconds=1) as syncer:
        await cycle(syncer, full=True)
        row = await trust_row(db)
        assert (row["trust_directed"], row["trust_reason"]) == (True, "feed_trusted")

        standin.reset_counters()
        quiet = await cycle(syncer)
        assert plan_of(syncer).mode == "directed", plan_of(syncer)
        assert calls(standin) == {"Search": 2, "ListModelPackageGroups": 1}, standin.requests
        # And the deployments' one: the endpoints changed since their cursor (none).
        assert quiet.totals.api_calls == 3 + 1

        # k new versions in g groups and a approvals: g listings, no more.
        new = [add_version(standin_backend, "g1"), add_version(standin_backend, "g1")]
        new.append(add_version(standin_backend, "g2"))
        standin_backend.client.update_model_package(
            ModelPackageArn=sorted(standin.registry.packages)[0], ModelApprovalStatus="Approved"
        )
        standin.reset_counters()
        changed = await cycle(syncer)
        plan = plan_of(syncer)
        assert (plan.mode, plan.groups, plan.unversioned) == ("directed", {"g1", "g2"}, False)
        assert calls(standin) == {"Search": 2, "ListModelPackageGroups": 1, "ListModelPackages": 2}
        assert changed.totals.packages_inserted == 3 and changed.totals.packages_updated == 1
        assert_same(await mirror_packages(db), source_packages(standin_backend.client))

        # A new group and an unversioned package are found too.
        standin_backend.client.create_model_package_group(ModelPackageGroupName="fresh")
        add_version(standin_backend, "fresh")
        standin.registry.create_package(name="solo-2")
        await cycle(syncer)
        plan = plan_of(syncer)
        assert plan.groups == {"fresh"} and plan.unversioned
        assert_same(await mirror_packages(db), source_packages(standin_backend.client))

    # The mode survives a restart (`syncer once` from cron). (Governance details off:
    # a new process's details pass makes a read of its own.)
    async with open_syncer(
        database_url, standin_backend.endpoint, lookback_seconds=1, details=False
    ) as syncer:
        standin.reset_counters()
        await cycle(syncer)
        assert plan_of(syncer).mode == "directed"
        assert sum(calls(standin).values()) == 3


async def test_an_idle_registry_earns_trust_and_an_empty_one_does_not(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    standin = standin_backend.standin
    assert standin is not None
    async with open_syncer(database_url, standin_backend.endpoint, lookback_seconds=1) as syncer:
        await cycle(syncer, full=True)
        row = await trust_row(db)
        assert (row["trust_directed"], row["trust_reason"]) == (False, "proof_failed")
        assert "no package" in row["trust_detail"]

        seeded(standin.registry)  # created an hour ago: nothing changes from here on
        await cycle(syncer)
        assert plan_of(syncer).mode == "all-groups"
        await cycle(syncer, full=True)
        assert (await trust_row(db))["trust_directed"]
        await cycle(syncer)
        assert plan_of(syncer).mode == "directed"


# ---------------------------------------------------------------- a blind feed
async def test_a_blind_feed_never_earns_trust_and_every_version_arrives(
    backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    """moto's range filters match nothing; the stand-in's can be made to."""
    if backend.standin is not None:
        backend.standin.faults = Faults(search_blind=True)
    backend.client.create_model_package_group(ModelPackageGroupName="g0")
    add_version(backend, "g0")
    async with open_syncer(database_url, backend.endpoint, lookback_seconds=1) as syncer:
        for _ in range(2):
            await cycle(syncer, full=True)
            row = await trust_row(db)
            assert (row["trust_directed"], row["trust_reason"]) == (False, "proof_failed")
            await cycle(syncer)
            assert plan_of(syncer).mode == "all-groups"
            arn = add_version(backend, "g0")
            await cycle(syncer)  # the next `syncer once`
            assert arn in await mirror_packages(db)
        assert_same(await mirror_packages(db), source_packages(backend.client))


# ---------------------------------------------------------------- misses
async def test_a_package_the_feed_misses_is_found_by_the_reconcile_and_ends_trust(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    standin = standin_backend.standin
    assert standin is not None
    seeded(standin.registry)
    async with open_syncer(database_url, standin_backend.endpoint, lookback_seconds=0) as syncer:
        await cycle(syncer, full=True)
        hidden = standin.registry.create_package("g3")
        standin.faults = Faults(search_missing={hidden})
        await cycle(syncer)
        assert plan_of(syncer).mode == "directed"
        assert hidden not in await mirror_packages(db)  # directed: g3 was not listed

        await cycle(syncer, full=True)  # the reconcile finds it
        assert hidden in await mirror_packages(db)
        row = await trust_row(db)
        assert (row["trust_directed"], row["trust_reason"]) == (False, "feed_missed")
        assert (row["feed_misses"], row["feed_last_miss"]) == (1, hidden)
        assert row["feed_last_miss_at"] is not None and hidden in row["trust_detail"]
        assert syncer._metrics.misses.labels("123456789012", "us-east-1")._value.get() == 1
        await cycle(syncer)
        assert plan_of(syncer).mode == "all-groups"

        # Until the feed agrees again, at a later reconcile.
        standin.faults = Faults()
        await cycle(syncer, full=True)
        assert (await trust_row(db))["trust_reason"] == "feed_trusted"
        await cycle(syncer)
        assert plan_of(syncer).mode == "directed"
        assert (await trust_row(db))["feed_misses"] == 1


async def test_a_miss_is_a_warning_only_while_the_feed_is_trusted(
    standin_backend: Backend, database_url: str
) -> None:
    standin = standin_backend.standin
    assert standin is not None
    seeded(standin.registry)
    configure_logging("INFO", "json")  # the suite's WARNING would drop the info lines

    async def missed(syncer: Syncer) -> list[dict[str, Any]]:
        """The feed.missed lines of a reconcile that finds a package Search never shows."""
        hidden = standin.registry.create_package("g3")
        standin.faults = Faults(search_missing=standin.faults.search_missing | {hidden})
        with capture_logs() as logs:
            await cycle(syncer, full=True)
        return [e for e in logs if e["event"] == "feed.missed" and e["package"] == hidden]

    async with open_syncer(database_url, standin_backend.endpoint, lookback_seconds=0) as syncer:
        await cycle(syncer, full=True)  # trust earned
        [trusted] = await missed(syncer)  # and ended by this miss
        [untrusted] = await missed(syncer)
    assert (trusted["log_level"], untrusted["log_level"]) == ("warning", "info")


async def test_a_miss_ends_trust_even_when_the_proof_beside_it_fails(
    standin_backend: Backend,
    database_url: str,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reconcile's proof runs beside the search for misses; a miss makes it moot,
    so its failure must not keep the trust the miss ends. Without a miss it fails
    the feed's scope, as before."""
    standin = standin_backend.standin
    assert standin is not None
    seeded(standin.registry)

    async def unavailable(*_: object) -> None:
        raise SourceError("search: ServiceUnavailable: try again")

    async with open_syncer(database_url, standin_backend.endpoint, lookback_seconds=0) as syncer:
        await cycle(syncer, full=True)
        assert (await trust_row(db))["trust_reason"] == "feed_trusted"
        monkeypatch.setattr(directed, "prove", unavailable)
        failed = await syncer.run_cycle(full=True, wait=True)
        assert failed.status == "partial"
        assert [e["scope"] for e in failed.errors] == ["123456789012/us-east-1/(changes)"]
        assert (await trust_row(db))["trust_reason"] == "feed_trusted"

        hidden = standin.registry.create_package("g3")
        standin.faults = Faults(search_missing={hidden})
        await cycle(syncer)
        await cycle(syncer, full=True)  # finds the miss; the proof fails beside it
        row = await trust_row(db)
        assert (row["trust_reason"], row["feed_last_miss"]) == ("feed_missed", hidden)


async def test_a_feed_lagging_beyond_the_lookback_falls_back_at_the_reconcile(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    """A package indexed after newer ones, later than the lookback re-reads."""
    standin = standin_backend.standin
    assert standin is not None
    seeded(standin.registry)
    async with open_syncer(database_url, standin_backend.endpoint, lookback_seconds=0) as syncer:
        await cycle(syncer, full=True)
        late = standin.registry.create_package("g0")
        standin.faults = Faults(search_missing={late})  # not indexed yet
        newer = standin.registry.create_package("g1", created=time.time() + 1)
        await cycle(syncer)
        assert newer in await mirror_packages(db) and late not in await mirror_packages(db)

        standin.faults = Faults()  # indexed now, but behind the cursor
        await cycle(syncer)
        assert late not in await mirror_packages(db)
        await cycle(syncer, full=True)
        assert late in await mirror_packages(db)
        row = await trust_row(db)
        assert (row["trust_reason"], row["feed_last_miss"]) == ("feed_missed", late)
        assert_same(await mirror_packages(db), source_packages(standin_backend.client))


async def test_a_lag_within_the_lookback_is_no_miss(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    standin = standin_backend.standin
    assert standin is not None
    seeded(standin.registry)
    async with open_syncer(database_url, standin_backend.endpoint, lookback_seconds=600) as syncer:
        await cycle(syncer, full=True)
        late = standin.registry.create_package("g0")
        standin.faults = Faults(search_missing={late})
        standin.registry.create_package("g1")
        await cycle(syncer)
        assert late not in await mirror_packages(db)
        standin.faults = Faults()
        await cycle(syncer)  # the cursor re-reads the lookback
        assert late in await mirror_packages(db)
        await cycle(syncer, full=True)
        row = await trust_row(db)
        assert (row["trust_reason"], row["feed_misses"]) == ("feed_trusted", 0)


# ---------------------------------------------------------------- as cron runs it
async def test_cron_runs_keep_the_mode_and_status_and_metrics_say_why(
    standin_backend: Backend, database_url: str, db: asyncpg.Connection
) -> None:
    from standin.environment import service_env
    from tests.acceptance.cli import syncer

    standin = standin_backend.standin
    assert standin is not None
    seeded(standin.registry)
    env = service_env(
        database_url, standin_backend.endpoint, SYNCER_LOOKBACK_SECONDS="1", SYNCER_DETAILS="false"
    )

    assert syncer("once", env=env).returncode == 0  # a new mirror: all-groups
    shown = syncer("status", env=env).stdout
    assert "all-groups  not_proven" in shown
    assert syncer("once", "--full", env=env).returncode == 0
    standin.reset_counters()
    done = syncer("once", env=env)
    assert done.returncode == 0, done.stderr
    assert sum(calls(standin).values()) == 3
    [event] = [line for line in done.stderr.splitlines() if '"cycle.plan"' in line]
    assert '"mode": "directed"' in event and '"reason": "feed_trusted"' in event
    shown = syncer("status", env=env).stdout
    assert "directed    feed_trusted      misses 0  the feed returned the newest" in shown
    off = syncer("status", "--json", env={**env, "SYNCER_CHANGE_FEED": "false"})
    assert '"reason": "feed_off"' in off.stdout

    async with open_syncer(database_url, standin_backend.endpoint, lookback_seconds=1) as s:
        await cycle(s)
        exposition = s._metrics.registry.get_sample_value(
            "syncer_incremental_mode",
            {
                "account_id": "123456789012",
                "region": "us-east-1",
                "mode": "directed",
                "reason": "feed_trusted",
            },
        )
        assert exposition == 1
