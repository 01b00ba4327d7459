"""Isolation of targets: one account/region throttled and slow does not hold back another.

Two regions behind one stand-in endpoint, each with its own registry and
quota (standin/sagemaker.py Regions). The slow one answers in 200 ms and allows
2 requests/s; the other is unthrottled. Concurrency 2 in all. The assertion
is on order, not on time: by the last request of the fast region, the slow
region has had only a handful of requests. With one shared pool of slots
(before the fair share), the fast region's scopes queued behind the slow
one's and about half of the slow region's requests came first.
"""

from __future__ import annotations

import asyncpg

from standin.sagemaker import Faults, Regions, Registry, StandIn, serve_in_thread
from tests.conftest import sync_once

SLOW, FAST = "us-east-1", "eu-west-1"


def registry(region: str, groups: int) -> Registry:
    r = Registry(region=region)
    for g in range(groups):
        r.create_group(f"{region}-g{g:02d}")
        r.create_package(f"{region}-g{g:02d}")
    return r


async def test_a_throttled_slow_region_does_not_hold_back_another(
    database_url: str, db: asyncpg.Connection
) -> None:
    slow = StandIn(registry(SLOW, 12), Faults(latency_seconds=0.2, rate_limit_per_second=2))
    fast = StandIn(registry(FAST, 24))
    regions = Regions({SLOW: slow, FAST: fast})
    with serve_in_thread(regions) as endpoint:
        result = await sync_once(
            database_url,
            endpoint,
            regions=[SLOW, FAST],
            concurrency=2,
            change_feed=False,
            deployments=False,
        )
    assert result.status == "succeeded", result.errors
    for region, groups in ((SLOW, 12), (FAST, 24)):
        mirrored = await db.fetchval(
            "SELECT count(*) FROM sagemaker.model_packages WHERE region = $1", region
        )
        assert mirrored == groups, region

    arrivals = regions.arrivals
    fast_done = max(i for i, region in enumerate(arrivals) if region == FAST)
    slow_before = arrivals[:fast_done].count(SLOW)
    slow_total = arrivals.count(SLOW)
    # The fast region's 27 listings (groups page, 24 groups, unversioned) were
    # not held back: the slow region, with one slot of the two, got at most a
    # few requests in meanwhile, and the rest of its own after.
    assert slow_before <= 6, (slow_before, slow_total, arrivals)
    assert slow_total >= 14
