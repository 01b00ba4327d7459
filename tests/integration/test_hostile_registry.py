"""What someone who controls the registry, or the endpoint, can make the service do.

- Anyone who may create a group chooses label values of /metrics (its name)
  and their number: SYNCER_SCOPE_METRICS=false keeps one series per account
  and region for all its groups.
"""

from __future__ import annotations

from prometheus_client import generate_latest

from standin.sagemaker import Registry, StandIn, serve_in_thread
from syncer.cycle.metrics import ALL_GROUPS
from tests.conftest import open_syncer


async def test_without_scope_metrics_no_group_name_is_a_label_and_the_aggregates_stay(
    database_url: str,
) -> None:
    registry = Registry()
    names = [f"attacker-chosen-{i}" for i in range(30)]
    for name in names:
        registry.create_group(name)
        registry.create_package(name)
    scraped = {}
    with serve_in_thread(StandIn(registry)) as endpoint:
        for per_scope in (True, False):
            async with open_syncer(database_url, endpoint, scope_metrics=per_scope) as syncer:
                result = await syncer.run_cycle(full=True, wait=True)
                assert result.status == "succeeded", result.errors
                scraped[per_scope] = generate_latest(syncer._metrics.registry).decode()

    assert all(f'scope="{name}"' in scraped[True] for name in names)
    aggregated = scraped[False]
    assert not any(name in aggregated for name in names)
    for family in (
        "syncer_watermark_lag_seconds",
        "syncer_scope_last_success_timestamp_seconds",
        "syncer_scope_consecutive_failures",
    ):
        series = [line for line in aggregated.splitlines() if line.startswith(family + "{")]
        assert any(f'scope="{ALL_GROUPS}"' in line for line in series), (family, series)
        # At most (groups), (unversioned), (changes) and (all groups).
        assert len(series) <= 4, series
