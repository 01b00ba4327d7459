"""Property: random registry histories, interleaved with `once` and `once --full`.

After every full cycle the live mirror equals the source field by field, every
package that was mirrored and is gone carries deleted_at, and each package's
change history is a consistent chain that ends in its mirrored state.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import boto_client, scratch_database, sync_once
from tests.mirror import assert_same, mirror_packages, source_packages
from tests.standin import ApiError, Registry, StandIn, serve_in_thread

GROUPS = ("alpha", "beta", "gamma")
APPROVALS = ("Approved", "Rejected", "PendingManualApproval")
STAGES = ("Development", "Staging", "Production")

operation = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(GROUPS), st.sampled_from(APPROVALS)),
    st.tuples(st.just("create_unversioned"), st.integers(0, 3)),
    st.tuples(st.just("approval"), st.integers(0, 50), st.sampled_from(APPROVALS)),
    st.tuples(st.just("stage"), st.integers(0, 50), st.sampled_from(STAGES)),
    st.tuples(st.just("delete_package"), st.integers(0, 50)),
    st.tuples(st.just("delete_group"), st.sampled_from(GROUPS)),
    st.tuples(st.just("create_group"), st.sampled_from(GROUPS)),
    st.tuples(st.just("once")),
    st.tuples(st.just("full")),
)


def ticking_clock() -> Any:
    """Creation times a second apart, an hour ago: outside any lookback."""
    start = round(time.time() - 3600, 3)
    counter = itertools.count()
    return lambda: round(start + next(counter), 3)


def apply(registry: Registry, op: tuple[Any, ...]) -> None:
    kind = op[0]
    arns = sorted(registry.packages)
    try:
        if kind == "create" and op[1] in registry.groups:
            registry.create_package(op[1], approval=op[2])
        elif kind == "create_unversioned":
            registry.create_package(name=f"standalone-{op[1]}")
        elif kind == "approval" and arns:
            registry.update_package(arns[op[1] % len(arns)], approval=op[2])
        elif kind == "stage" and arns:
            stage = {"Stage": op[2], "StageStatus": "Approved"}
            registry.update_package(arns[op[1] % len(arns)], life_cycle=stage)
        elif kind == "delete_package" and arns:
            registry.delete_package(arns[op[1] % len(arns)])
        elif kind == "delete_group" and op[1] in registry.groups:
            for arn in [a for a, p in registry.packages.items() if p.group == op[1]]:
                registry.delete_package(arn)
            registry.delete_group(op[1])
        elif kind == "create_group" and op[1] not in registry.groups:
            registry.create_group(op[1])
    except ApiError:
        pass  # e.g. an unversioned name that exists already: the API refuses it too


async def check_after_full(db: asyncpg.Connection, client: Any, ever_mirrored: set[str]) -> None:
    source = source_packages(client)
    assert_same(await mirror_packages(db), source)
    deleted = {
        r[0]
        for r in await db.fetch(
            "SELECT model_package_arn FROM sagemaker.model_packages WHERE deleted_at IS NOT NULL"
        )
    }
    assert deleted == ever_mirrored - set(source)

    rows = await db.fetch(
        "SELECT model_package_arn, change_type, old_value, new_value"
        " FROM sagemaker.model_package_changes ORDER BY change_id"
    )
    approval: dict[str, str | None] = {}
    stage: dict[str, str | None] = defaultdict(lambda: None)
    gone: dict[str, bool] = {}
    for arn, change, old, new in rows:
        if change == "created":
            assert arn not in approval, f"{arn} created twice"
            approval[arn], gone[arn] = new, False
        elif change == "model_approval_status":
            assert approval[arn] == old, (arn, approval[arn], old)
            approval[arn] = new
        elif change == "model_life_cycle_stage":
            assert stage[arn] == old
            stage[arn] = new
        elif change == "deleted":
            assert gone[arn] is False
            gone[arn] = True
        elif change == "reappeared":
            assert gone[arn] is True
            gone[arn] = False
    for arn, expected in source.items():
        assert approval[arn] == expected["model_approval_status"]
        assert stage[arn] == expected["model_life_cycle_stage"]
        assert gone[arn] is False
    assert {a for a, g in gone.items() if g} == deleted


async def run_history(template: str, ops: list[tuple[Any, ...]]) -> None:
    registry = Registry(clock=ticking_clock())
    registry.create_group("alpha")
    with serve_in_thread(StandIn(registry)) as endpoint:
        client = boto_client(endpoint)
        async with scratch_database(template) as dsn:
            conn = await asyncpg.connect(dsn)
            try:
                ever_mirrored: set[str] = set()
                for op in [*ops, ("full",)]:
                    if op[0] in ("once", "full"):
                        result = await sync_once(
                            dsn, endpoint, full=op[0] == "full", lookback_seconds=0
                        )
                        assert result.status == "succeeded", result.errors
                        ever_mirrored |= set(await mirror_packages(conn, live_only=False))
                        if op[0] == "full":
                            await check_after_full(conn, client, ever_mirrored)
                    else:
                        apply(registry, op)
            finally:
                await conn.close()


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_mirror_converges_for_any_history(
    template_database: str, ops: list[tuple[Any, ...]]
) -> None:
    asyncio.run(run_history(template_database, ops))
