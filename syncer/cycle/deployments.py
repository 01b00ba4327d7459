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
from collections.abc import Callable
from datetime import datetime, timedelta

import asyncpg

from syncer.aws.registry import RegistrySource
from syncer.cycle.availability import Availability, refusal
from syncer.cycle.metrics import Metrics
from syncer.deployments.store import DeploymentsStore
from syncer.deployments.sync import sync_deployments
from syncer.errors import SyncerError, error_message
from syncer.logging import get_logger, stored_error
from syncer.models import Target
from syncer.warehouse.store import CONNECTION_ERRORS, Store

log = get_logger(__name__)

FEATURE = "deployments"
EFFECT = "which model versions the endpoints run is not updated until it is back"


async def sync_target_deployments(
    source: RegistrySource,
    store: Store,
    metrics: Metrics,
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
    target = source.target
    availability = Availability(FEATURE, store, metrics, now, effect=EFFECT)
    deployments = DeploymentsStore(store)
    try:
        if not await availability.usable(target, full=full):
            return
        result = await sync_deployments(
            source,
            deployments,
            full_cycle=full,
            lookback=lookback,
            now=now,
            stop=stop,
            beat=beat,
        )
        if result.complete:
            await availability.worked(target)
    except Exception as exc:
        await _failed(availability, deployments, source, exc)
    finally:
        beat()


async def _failed(
    availability: Availability,
    deployments: DeploymentsStore,
    source: RegistrySource,
    exc: Exception,
) -> None:
    """A refusal switches deployments off; anything else is logged and kept for `syncer status`."""
    target, message = source.target, error_message(exc)
    try:
        if (code := refusal(exc)) is not None:
            await availability.refused(target, code, message)
            return
        known = isinstance(exc, SyncerError | asyncpg.PostgresError | OSError)
        log.warning(
            "deployments.failed",
            target=str(target),
            error=message,
            exc_info=None if known else exc,
        )
        await deployments.failed(target, stored_error(message))
    except (*CONNECTION_ERRORS, asyncpg.PostgresError) as db_exc:
        log.warning(
            "deployments.failure_not_recorded", target=str(target), error=error_message(db_exc)
        )


async def resolve_model_packages(store: Store, target: Target) -> None:
    """After the cycle's listings: containers that name a package those listings
    just stored (registered and deployed within one interval) link to it now."""
    try:
        resolved = await DeploymentsStore(store).resolve(target)
    except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
        log.warning("deployments.not_resolved", target=str(target), error=error_message(exc))
        return
    if resolved:
        log.info("deployments.resolved", target=str(target), containers=resolved)
