"""Property: any registry history, interleaved with `once` and `once --full`, is
mirrored exactly as a model of the service predicts, with and without the change
feed, and with feeds that lag, miss packages or are blind to range filters.

The model is the contract written as code. Per cycle: with the feed, every live
mirrored package that still exists shows its current state (as far as the search
index holds it). An incremental cycle adds the groups created since the newest
one known, finds the packages created since the packages cursor, and lists the
scopes of those the mirror lacks from their watermarks (in full when a scope has
none, which then marks what it did not contain). A reconcile lists every group,
and groups absent from it lose their live packages; then every package, and
what is absent is marked deleted, every scope's watermark becoming its newest
package. From that it predicts every row of sagemaker.model_packages (state and
deleted or not), the watermarks, and the exact set of changes each run writes
to sagemaker.model_package_changes, all checked after every cycle. After every
full cycle the live mirror also equals the source, field by field, read through
the API, and so do its governance details (creator, last modifier, approval
note, tags) and its deployments (which models each endpoint serves, the
endpoints, each model's package).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from standin.mirror import (
    assert_same,
    mirror_groups,
    mirror_packages,
    source_groups,
    source_packages,
)
from standin.sagemaker import ApiError, Faults, Package, Registry, StandIn, serve_in_thread
from tests.conftest import boto_client, open_syncer, scratch_database

GROUPS = ("alpha", "beta", "gamma")
APPROVALS = ("Approved", "Rejected", "PendingManualApproval")
STAGES = ("Development", "Staging", "Production")
STAGE_STATUSES = ("Approved", "PendingApproval")
STATUSES = ("InProgress", "Completed", "Failed")
PEOPLE = ("ana", "maria")
TEAMS = ("growth", "risk")
# The change types of the mutable fields, in the order of State's fields.
FIELDS = (
    "model_approval_status",
    "model_package_status",
    "model_life_cycle_stage",
    "model_life_cycle_stage_status",
)

State = tuple[str | None, str | None, str | None, str | None]
Change = tuple[str, str, str | None, str | None]  # arn, change type, old, new

pick = st.integers(0, 60)  # which package, modulo how many there are
mutation = st.one_of(
    # The flag: a feed that misses packages misses this one.
    st.tuples(
        st.just("create"), st.sampled_from(GROUPS), st.sampled_from(APPROVALS), st.booleans()
    ),
    st.tuples(st.just("create_unversioned"), st.integers(0, 3)),
    st.tuples(st.just("approval"), pick, st.sampled_from(APPROVALS), st.sampled_from(PEOPLE)),
    # Tags change without moving LastModifiedTime: only a reconcile's re-read sees them.
    st.tuples(st.just("tag"), pick, st.sampled_from(TEAMS)),
    st.tuples(st.just("stage"), pick, st.sampled_from(STAGES), st.sampled_from(STAGE_STATUSES)),
    st.tuples(st.just("status"), pick, st.sampled_from(STATUSES)),
    st.tuples(st.just("delete_package"), pick),
    st.tuples(st.just("delete_group"), st.sampled_from(GROUPS)),
    st.tuples(st.just("create_group"), st.sampled_from(GROUPS)),
    # Deleted and registered again before any sync sees it gone: the same ARNs.
    st.tuples(st.just("recreate_group"), st.sampled_from(GROUPS), st.sampled_from(APPROVALS)),
    st.tuples(st.just("recreate_unversioned"), st.integers(0, 3)),
    # Deployments: a model made from a package (by ARN, or by name), an endpoint
    # moved to a model, deletions; a name deleted and created again keeps its ARN.
    st.tuples(st.just("model"), st.integers(0, 3), pick, st.sampled_from(["arn", "name"])),
    st.tuples(st.just("deploy"), st.integers(0, 2), pick),
    st.tuples(st.just("delete_endpoint"), st.integers(0, 2)),
    st.tuples(st.just("delete_model"), st.integers(0, 3)),
)
# A history: rounds of a few operations, each ended by `once` or `once --full`.
history = st.lists(
    st.tuples(st.lists(mutation, min_size=1, max_size=4), st.sampled_from(["once", "full"])),
    min_size=2,
    max_size=6,
)


def state_of(package: Package) -> State:
    life = package.life_cycle or {}
    return (package.approval, package.status, life.get("Stage"), life.get("StageStatus"))


@dataclass
class Row:
    scope: str  # the group, or "" for an unversioned package
    state: State
    created: float
    deleted: bool = False


# The feeds the property runs with: the stand-in's search index as configured.
FEEDS = {
    "off": None,
    "consistent": Faults(),
    "lagging": Faults(search_lag_updates=2),  # the last two changes not indexed yet
    "missing": Faults(),  # packages created with the flag set are never indexed
    "blind": Faults(search_blind=True),  # range filters match nothing (moto's)
}


@dataclass
class Feed:
    """The model of the change feed's cursor."""

    cursor: float | None = None


class MirrorModel:
    """What the mirror holds, and what each cycle must write to the change history."""

    def __init__(self, feed: str) -> None:
        self.change_feed = feed != "off"
        self.blind = feed == "blind"
        self.rows: dict[str, Row] = {}
        self.watermarks: dict[str, float] = {}
        self.groups: dict[str, float] = {}  # live groups and their creation times
        self.packages_cursor: float | None = None
        self.feed = Feed()

    def cycle(self, standin: StandIn, full: bool) -> Counter[Change]:
        registry = standin.registry
        changes: Counter[Change] = Counter()
        packages = {
            arn: (p.group or "", p.created, state_of(p)) for arn, p in registry.packages.items()
        }
        if self.change_feed:
            self._feed(standin, changes)
        groups = {name: g.created for name, g in registry.groups.items()}
        if full or not self.groups:
            # The group listing is complete: vanished groups go with their packages.
            for gone in set(self.groups) - set(groups):
                for arn in self._live(gone):
                    self._delete(arn, changes)
                self.watermarks.pop(gone, None)
            self.groups = groups
        else:
            newest_group = max(self.groups.values())
            self.groups.update({n: c for n, c in groups.items() if c > newest_group})
        if full:
            self._reconcile(packages, changes)
            return changes
        # The packages created since the cursor (its own millisecond too)...
        cursor = self.packages_cursor
        found = {a: v for a, v in packages.items() if cursor is None or v[1] > cursor - 0.0005}
        named = {
            v[0]
            for a, v in found.items()
            if a not in self.rows or self.rows[a].deleted or self.rows[a].created != v[1]
        }
        # ...name the scopes listed, each from its watermark.
        for scope in sorted(named):
            self._list(scope, packages, changes)
        if found:
            newest = max(v[1] for v in found.values())
            self.packages_cursor = max(cursor if cursor is not None else -math.inf, newest)
        return changes

    def _feed(self, standin: StandIn, changes: Counter[Change]) -> None:
        """What the index holds from the cursor's own tick on (the bound is the
        cursor - 1 ms, in whole seconds)."""
        indexed = [p for p in standin.registry.packages.values() if standin.indexed(p)]
        if self.feed.cursor is None:
            self.feed.cursor = max((p.last_modified for p in indexed), default=0.0)
            return
        if self.blind:
            return
        seen = [p for p in indexed if p.last_modified >= self.feed.cursor]
        for p in seen:
            row = self.rows.get(p.arn)
            if row is not None and not row.deleted:
                # The feed changes no creation time (a listing does).
                self._observe(p.arn, row.scope, state_of(p), row.created, changes)
        self.feed.cursor = max([self.feed.cursor, *(p.last_modified for p in seen)])

    def _list(self, scope: str, packages: dict[str, Any], changes: Counter[Change]) -> None:
        present = {arn: v for arn, v in packages.items() if v[0] == scope}
        mark = self.watermarks.get(scope)
        # CreationTimeAfter = watermark - 1 ms: the watermark's own millisecond too.
        listed = [a for a, v in present.items() if mark is None or v[1] > mark - 0.0005]
        for arn in listed:
            self._observe(arn, scope, present[arn][2], present[arn][1], changes)
        if listed:
            newest = max(present[a][1] for a in listed)
            self.watermarks[scope] = max(self.watermarks.get(scope, -math.inf), newest)
        if mark is None:  # a complete listing
            for arn in self._live(scope):
                if arn not in present:
                    self._delete(arn, changes)

    def _reconcile(self, packages: dict[str, Any], changes: Counter[Change]) -> None:
        """Every package, then what is absent marked deleted, and every scope's watermark."""
        for arn, (scope, created, state) in packages.items():
            self._observe(arn, scope, state, created, changes)
        for arn, row in self.rows.items():
            if not row.deleted and arn not in packages:
                self._delete(arn, changes)
        live = [r for r in self.rows.values() if not r.deleted]
        for scope in [*self.groups, ""]:
            newest = [r.created for r in live if r.scope == scope]
            if newest:
                self.watermarks[scope] = max(self.watermarks.get(scope, -math.inf), *newest)
        if live:
            newest_all = max(r.created for r in live)
            cursor = self.packages_cursor if self.packages_cursor is not None else -math.inf
            self.packages_cursor = max(cursor, newest_all)

    def _live(self, scope: str) -> list[str]:
        return [a for a, r in self.rows.items() if r.scope == scope and not r.deleted]

    def _observe(
        self, arn: str, scope: str, state: State, created: float, changes: Counter[Change]
    ) -> None:
        row = self.rows.get(arn)
        if row is None:
            changes[(arn, "created", None, state[0])] += 1
            for field, value in zip(FIELDS[2:], state[2:], strict=True):
                if value is not None:  # first seen in a stage: entered it then
                    changes[(arn, field, None, value)] += 1
            self.rows[arn] = Row(scope, state, created)
            return
        if row.deleted:
            changes[(arn, "reappeared", None, None)] += 1
            row.deleted = False
        for field, old, new in zip(FIELDS, row.state, state, strict=True):
            if old != new:
                changes[(arn, field, old, new)] += 1
        row.state = state
        row.created = created

    def _delete(self, arn: str, changes: Counter[Change]) -> None:
        row = self.rows[arn]
        changes[(arn, "deleted", row.state[0], None)] += 1
        row.deleted = True


def ticking_clock() -> Callable[[], float]:
    """Creation and modification times a second apart, an hour ago: outside any lookback."""
    start = round(time.time() - 3600, 3)
    counter = itertools.count()
    return lambda: round(start + next(counter), 3)


def seeded_registry() -> Registry:
    """Two groups of versions and an unversioned package: something to change at once."""
    registry = Registry(clock=ticking_clock())
    for group in GROUPS[:2]:
        registry.create_group(group)
        for approval in APPROVALS[:2]:
            registry.create_package(group, approval=approval)
    registry.create_package(
        GROUPS[0], life_cycle={"Stage": STAGES[0], "StageStatus": STAGE_STATUSES[0]}
    )
    registry.create_package(name="standalone-0")
    # Two models of the first versions, one of them on an endpoint.
    first, second = sorted(registry.packages)[:2]
    registry.create_model("model-0", [{"ModelPackageName": first}])
    registry.create_model("model-1", [{"ModelPackageName": second}])
    registry.deploy("endpoint-0", "model-0")
    return registry


def apply(standin: StandIn, op: tuple[Any, ...], feed: str) -> None:
    registry = standin.registry
    kind, arns = op[0], sorted(registry.packages)
    target = arns[op[1] % len(arns)] if arns and isinstance(op[1], int) else None
    try:
        if kind == "create" and op[1] in registry.groups:
            arn = registry.create_package(op[1], approval=op[2])
            if feed == "missing" and op[3]:
                standin.faults.search_missing.add(arn)
        elif kind == "create_unversioned":
            registry.create_package(name=f"standalone-{op[1]}")
        elif kind == "approval" and target:
            registry.update_package(target, approval=op[2], by=op[3], approval_description=op[3])
        elif kind == "tag" and target:
            registry.tag_package(target, {"team": op[2]})
        elif kind == "stage" and target:
            registry.update_package(target, life_cycle={"Stage": op[2], "StageStatus": op[3]})
        elif kind == "status" and target:
            registry.update_package(target, status=op[2])
        elif kind == "delete_package" and target:
            registry.delete_package(target)
        elif kind == "delete_group" and op[1] in registry.groups:
            for arn in [a for a, p in registry.packages.items() if p.group == op[1]]:
                registry.delete_package(arn)
            registry.delete_group(op[1])
        elif kind == "create_group" and op[1] not in registry.groups:
            registry.create_group(op[1])  # a deleted group comes back: same ARNs
        elif kind == "recreate_group":
            apply(standin, ("delete_group", op[1]), feed)
            apply(standin, ("create_group", op[1]), feed)
            apply(standin, ("create", op[1], op[2], False), feed)
        elif kind == "model" and target:
            package = registry.packages[target]
            reference = target
            if op[3] == "name":  # group/version, or an unversioned package's name
                reference = f"{package.group}/{package.version}" if package.group else package.name
            registry.create_model(f"model-{op[1]}", [{"ModelPackageName": reference}])
        elif kind == "deploy" and registry.models:
            models = sorted(registry.models)
            registry.deploy(f"endpoint-{op[1]}", models[op[2] % len(models)])
        elif kind == "delete_endpoint":
            registry.delete_endpoint(f"endpoint-{op[1]}")
        elif kind == "delete_model":
            registry.delete_model(f"model-{op[1]}")
        elif kind == "recreate_unversioned":
            name = f"standalone-{op[1]}"
            gone = [a for a, p in registry.packages.items() if p.name == name]
            for arn in gone:
                registry.delete_package(arn)
            registry.create_package(name=name)
    except ApiError:
        pass  # e.g. an unversioned name in use: the API refuses it too


async def mirrored_rows(conn: asyncpg.Connection) -> dict[str, tuple[State, bool]]:
    rows = await conn.fetch(
        f"SELECT model_package_arn, {', '.join(FIELDS)}, deleted_at IS NOT NULL AS deleted"
        " FROM sagemaker.model_packages"
    )
    return {r[0]: ((r[1], r[2], r[3], r[4]), r["deleted"]) for r in rows}


Details = tuple[str | None, str | None, str | None, dict[str, str] | None]


def source_details(registry: Registry) -> dict[str, Details]:
    """Who created and last modified each package, its approval note and tags, per Search."""
    details = {}
    for arn, p in registry.packages.items():
        record = p.searched()
        details[arn] = (
            record["CreatedBy"]["UserProfileName"],
            record["LastModifiedBy"]["UserProfileName"],
            record.get("ApprovalDescription"),
            {t["Key"]: t["Value"] for t in record["Tags"]},
        )
    return details


async def mirrored_details(conn: asyncpg.Connection) -> dict[str, Details]:
    """The details of the packages that exist (deleted ones keep their last details)."""
    rows = await conn.fetch(
        "SELECT d.model_package_arn, d.created_by_user_profile,"
        " d.last_modified_by_user_profile, d.approval_description, d.tags"
        " FROM sagemaker.model_package_details d"
        " JOIN sagemaker.model_packages p USING (model_package_arn)"
        " WHERE p.deleted_at IS NULL"
    )
    return {r[0]: (r[1], r[2], r[3], json.loads(r[4])) for r in rows}


Deployments = tuple[frozenset[tuple[str, str]], frozenset[str], dict[str, str | None]]


def source_deployments(registry: Registry, mirrored: set[str]) -> Deployments:
    """Which models each endpoint serves, the endpoints, and each model's package as
    the mirror should resolve it (``mirrored``: every package ARN the mirror holds)."""
    links = frozenset((e.arn, m.arn) for m in registry.models.values() for e in registry.hosting(m))
    packages: dict[str, str | None] = {}
    for model in registry.models.values():
        reference = model.containers[0]["ModelPackageName"]
        designated = (
            reference.lower()
            if reference.startswith("arn:")
            else f"{model.arn.split(':model/')[0]}:model-package/{reference.lower()}"
        )
        packages[model.arn] = designated if designated in mirrored else None
    return links, frozenset(e.arn for e in registry.endpoints.values()), packages


async def mirrored_deployments(conn: asyncpg.Connection) -> Deployments:
    links = await conn.fetch(
        "SELECT endpoint_arn, model_arn FROM sagemaker.endpoint_models WHERE ended_at IS NULL"
    )
    endpoints = await conn.fetch(
        "SELECT endpoint_arn FROM sagemaker.endpoints WHERE deleted_at IS NULL"
    )
    models = await conn.fetch(
        "SELECT m.model_arn, c.model_package_arn FROM sagemaker.models m"
        " JOIN sagemaker.model_containers c USING (model_arn)"
        " WHERE m.deleted_at IS NULL AND c.deleted_at IS NULL"
    )
    return (
        frozenset((r[0], r[1]) for r in links),
        frozenset(r[0] for r in endpoints),
        {r[0]: r[1] for r in models},
    )


async def written_changes(conn: asyncpg.Connection, run_id: int | None) -> Counter[Change]:
    rows = await conn.fetch(
        "SELECT model_package_arn, change_type, old_value, new_value"
        " FROM sagemaker.model_package_changes WHERE run_id = $1",
        run_id,
    )
    return Counter((r[0], r[1], r[2], r[3]) for r in rows)


async def watermarks(conn: asyncpg.Connection) -> dict[str, float | None]:
    """Each scope's watermark, as epoch seconds: a group's by name, the unversioned
    scope's as "", the packages cursor as "(packages)"."""
    rows = await conn.fetch(
        "SELECT scope_kind, model_package_group_name, extract(epoch FROM watermark)::float8"
        " FROM sagemaker.sync_state"
        " WHERE scope_kind IN ('group', 'unversioned', 'packages') AND watermark IS NOT NULL"
    )
    return {("(packages)" if r[0] == "packages" else r[1]): round(r[2], 3) for r in rows}


async def run_history(
    template: str, feed: str, rounds: list[tuple[list[tuple[Any, ...]], str]]
) -> None:
    faults = FEEDS[feed]
    standin = StandIn(
        seeded_registry(), dataclasses.replace(faults or Faults(), search_missing=set())
    )
    model = MirrorModel(feed)
    with serve_in_thread(standin) as endpoint:
        client = boto_client(endpoint)
        async with (
            scratch_database(template) as dsn,
            open_syncer(
                dsn, endpoint, lookback_seconds=0, change_feed=faults is not None
            ) as syncer,
        ):
            conn = await asyncpg.connect(dsn)
            try:
                for operations, sync in [([], "once"), *rounds, ([], "full")]:
                    for op in operations:
                        apply(standin, op, feed)
                    full = sync == "full"
                    expected = model.cycle(standin, full)
                    result = await syncer.run_cycle(full=full, wait=True)
                    assert result.status == "succeeded", result.errors
                    [plan] = syncer.plans.values()
                    assert plan.mode == ("full" if full else "incremental")
                    assert await written_changes(conn, result.run_id) == expected
                    assert await mirrored_rows(conn) == {
                        arn: (row.state, row.deleted) for arn, row in model.rows.items()
                    }
                    cursor = model.packages_cursor
                    assert await watermarks(conn) == {
                        **{scope: round(w, 3) for scope, w in model.watermarks.items()},
                        **({"(packages)": round(cursor, 3)} if cursor is not None else {}),
                    }
                    if full:
                        assert_same(await mirror_packages(conn), source_packages(client))
                        assert_same(await mirror_groups(conn), source_groups(client))
                        # Details come from Search: only what its index holds (a feed
                        # that lags or misses packages keeps some from it).
                        indexed = {
                            a for a, p in standin.registry.packages.items() if standin.indexed(p)
                        }
                        mirrored = await mirrored_details(conn)
                        source = source_details(standin.registry)
                        assert {a: d for a, d in mirrored.items() if a in indexed} == {
                            a: d for a, d in source.items() if a in indexed
                        }
                        # Deployments are read in full at a reconcile: they equal the source.
                        packages = {
                            r[0]
                            for r in await conn.fetch(
                                "SELECT model_package_arn FROM sagemaker.model_packages"
                            )
                        }
                        assert await mirrored_deployments(conn) == source_deployments(
                            standin.registry, packages
                        )
            finally:
                await conn.close()


@pytest.mark.parametrize("feed", list(FEEDS))
# Twelve histories of up to eight cycles each, per feed (sixty in all).
@pytest.mark.timeout(600)
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rounds=history)
def test_every_cycle_writes_what_the_model_predicts(
    template_database: str, feed: str, rounds: list[tuple[list[tuple[Any, ...]], str]]
) -> None:
    asyncio.run(run_history(template_database, feed, rounds))
