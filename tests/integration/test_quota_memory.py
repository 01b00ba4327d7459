"""A quota found by one process is where the next one starts.

`syncer once` runs from cron: each run is a new process, and one that starts
at its ceiling meets a quota found minutes ago with every call in flight at
once (the first second of bench Q1). The rates a cycle ends with are kept in
sagemaker.api_rates; a new process starts each operation class a little under
the rate recorded there, if throttling had held it below its ceiling.
"""

from __future__ import annotations

import asyncpg
import pytest

from standin.sagemaker import ACCOUNT, REGION, Registry, StandIn, serve_in_thread
from syncer.aws.limits import LIST, SEARCH, TargetLimits
from syncer.cycle.rates import RateRecorder
from syncer.models import Target
from syncer.warehouse.store import Store
from tests.conftest import sync_once

TARGET = Target(ACCOUNT, REGION)
FOUND = """
INSERT INTO sagemaker.api_rates
       (account_id, region, operation_class, allowed_rate, ceiling, throttles, updated_at)
VALUES ($1, $2, 'list', 4.0, 1000, 3, now()), ($1, $2, 'search', 1000, 1000, 0, now())
"""


async def test_a_new_process_starts_under_the_rate_found_and_only_once(
    database_url: str, db: asyncpg.Connection
) -> None:
    await db.execute(FOUND, ACCOUNT, REGION)
    limits = TargetLimits(ceiling=1000)
    async with Store.open(database_url, max_size=1) as store:
        recorder = RateRecorder(store)
        await recorder.resume(TARGET, limits)
        # The list class a little under its rate found (as after a throttle there);
        # the search class was never held below its ceiling: it starts there.
        assert limits.allowed(LIST) == pytest.approx(0.9 * 4.0)
        assert limits.allowed(SEARCH) == 1000
        limits.classes[LIST].rate.rate = 50.0  # what this process found since
        await recorder.resume(TARGET, limits)
        assert limits.allowed(LIST) == 50.0  # once per process: not reset every cycle


async def test_fixed_limits_do_not_resume(database_url: str, db: asyncpg.Connection) -> None:
    await db.execute(FOUND, ACCOUNT, REGION)
    limits = TargetLimits(ceiling=1000, adaptive=False)
    async with Store.open(database_url, max_size=1) as store:
        await RateRecorder(store).resume(TARGET, limits)
    assert limits.allowed(LIST) == 1000


async def test_a_cycle_starts_from_the_rate_the_last_one_found(
    database_url: str, db: asyncpg.Connection
) -> None:
    """Nothing throttles this cycle, yet it ends near the 4/s recorded before it,
    not at its ceiling of 1000: it started there, and probes up from it."""
    await db.execute(FOUND, ACCOUNT, REGION)
    registry = Registry()
    registry.create_group("alpha")
    registry.create_package("alpha")
    with serve_in_thread(StandIn(registry)) as endpoint:
        result = await sync_once(
            database_url, endpoint, max_requests_per_second=1000, change_feed=False
        )
    assert result.status == "succeeded", result.errors
    rate = await db.fetchval(
        "SELECT allowed_rate FROM sagemaker.api_rates WHERE operation_class = 'list'"
    )
    assert rate < 10
