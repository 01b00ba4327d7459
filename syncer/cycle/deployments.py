"""One target's deployments in a cycle: the reads of syncer/deployments/, switched off
where SageMaker refuses them.

Started by `TargetCycle` beside the listings and the details, under the same
rules: it never raises into the cycle and never changes its outcome. A
refusal (the role may not call Search on models or endpoints, or SageMaker
does not serve them) switches deployments off for the target for a while
(syncer/cycle/availability.py); any other failure is logged and kept in
deployments_state, and the next cycle tries again.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from syncer.aws.registry import RegistrySource
from syncer.cycle.availability import Availability, run_optional
from syncer.deployments.store import DeploymentsStore
from syncer.deployments.sync import sync_deployments
from syncer.errors import error_message
from syncer.logging import get_logger
from syncer.models import Target
from syncer.warehouse.store import CONNECTION_ERRORS

log = get_logger(__name__)


async def sync_target_deployments(
    source: RegistrySource,
    deployments: DeploymentsStore,
    available: Availability,
    *,
    full: bool,
    lookback: timedelta,
    now: Callable[[], datetime],
    stop: asyncio.Event,
    beat: Callable[[], None],
) -> None:
    """The target's deployments reads in this cycle (a reconcile reads them in full)."""
    if stop.is_set():
        return

    async def read() -> bool:
        result = await sync_deployments(
            source,
            deployments,
            full_cycle=full,
            lookback=lookback,
            now=now,
            stop=stop,
            beat=beat,
        )
        return result.complete

    await run_optional(
        available,
        source.target,
        full=full,
        read=read,
        record_failure=functools.partial(deployments.failed, source.target),
        beat=beat,
    )


async def resolve_model_packages(deployments: DeploymentsStore, target: Target) -> None:
    """After the cycle's listings: containers that name a package those listings
    just stored (registered and deployed within one interval) link to it now."""
    try:
        resolved = await deployments.resolve(target)
    except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
        log.warning("deployments.not_resolved", target=str(target), error=error_message(exc))
        return
    if resolved:
        log.info("deployments.resolved", target=str(target), containers=resolved)
