"""Optional reads switched off for a while where SageMaker refuses them.

The change feed, the governance details and the deployments are additions to
the listings, never the source of truth. When SageMaker refuses one for a
target (the role may not call it; the resource is not served), it is switched
off there for ``OFF_SECONDS`` or until the next reconcile, whichever comes
first, with one warning when it goes off (not one per cycle), and the cycle
still succeeds. ``sagemaker.feature_availability`` keeps that across restarts;
``syncer status`` and the gauge ``syncer_feature_up`` show it. SQL in
syncer/warehouse/sql/cycle.sql.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import asyncpg

from syncer.cycle.metrics import Metrics
from syncer.errors import SourceError, SyncerError, error_message
from syncer.logging import get_logger, stored_error
from syncer.models import Target
from syncer.warehouse.sql import QUERIES
from syncer.warehouse.store import CONNECTION_ERRORS, Store

log = get_logger(__name__)

OFF_SECONDS = 3600.0
# Answers that mean the read will not work for the target as configured: the
# role may not call it, or SageMaker rejects the request (a resource it does
# not serve). Anything else (throttling, 5xx, a timeout) is a failure to retry.
REFUSALS = frozenset({"AccessDeniedException", "AccessDenied", "ValidationException"})


def refusal(exc: BaseException) -> str | None:
    """The error code when ``exc`` is SageMaker refusing a read; else None."""
    if isinstance(exc, SourceError) and exc.code in REFUSALS:
        return exc.code
    return None


class Availability:
    """Whether one optional read (``feature``) may run for a target."""

    def __init__(
        self,
        feature: str,
        store: Store,
        metrics: Metrics,
        now: Callable[[], datetime],
        *,
        effect: str,
        off_for: timedelta = timedelta(seconds=OFF_SECONDS),
    ) -> None:
        self.feature = feature
        self._store = store
        self._metrics = metrics
        self._now = now
        self._effect = effect  # what is missing while it is off, for the warning
        self._off_for = off_for

    async def usable(self, target: Target, *, full: bool) -> bool:
        """Whether to run it this cycle (a reconcile always tries)."""
        async with self._store.transaction() as conn:
            off = await conn.fetchrow(
                QUERIES["feature_off"], target.account_id, target.region, self.feature
            )
        if off is None:
            self._metrics.feature_up(target, self.feature, True)
            return True
        if full or self._now() >= off["off_until"]:
            log.info(
                "availability.retry",
                target=str(target),
                feature=self.feature,
                off_since=off["off_since"],
            )
            return True
        self._metrics.feature_up(target, self.feature, False)
        return False

    async def refused(self, target: Target, code: str, error: str) -> None:
        """SageMaker refused it for the target: off for a while; warn once."""
        until = self._now() + self._off_for
        reason = stored_error(error)
        async with self._store.transaction() as conn:
            was_on = await conn.fetchval(
                QUERIES["switch_feature_off"],
                target.account_id,
                target.region,
                self.feature,
                reason,
                until,
            )
        self._metrics.feature_up(target, self.feature, False)
        if was_on:
            log.warning(
                "availability.off",
                target=str(target),
                feature=self.feature,
                code=code,
                error=reason,
                retry_after=until.isoformat(timespec="seconds"),
                effect=self._effect,
            )
        else:
            log.info("availability.still_off", target=str(target), feature=self.feature, code=code)

    async def worked(self, target: Target) -> None:
        """It ran: on again if it was off."""
        self._metrics.feature_up(target, self.feature, True)
        async with self._store.transaction() as conn:
            off_since = await conn.fetchval(
                QUERIES["switch_feature_on"], target.account_id, target.region, self.feature
            )
        if off_since is not None:
            log.info(
                "availability.on",
                target=str(target),
                feature=self.feature,
                off_since=off_since.isoformat(),
            )


async def run_optional(
    available: Availability,
    target: Target,
    *,
    full: bool,
    read: Callable[[], Awaitable[bool]],
    record_failure: Callable[[str], Awaitable[None]],
    beat: Callable[[], None],
) -> None:
    """An optional read (the details, the deployments) of one target, which never
    raises into the cycle: skipped while switched off; ``read`` returning True
    (it completed) switches it on; a refusal switches it off; any other failure
    is logged as ``<feature>.failed`` and recorded for `syncer status`."""
    try:
        if await available.usable(target, full=full) and await read():
            await available.worked(target)
    except Exception as exc:
        message = error_message(exc)
        try:
            if (code := refusal(exc)) is not None:
                await available.refused(target, code, message)
                return
            known = isinstance(exc, SyncerError | asyncpg.PostgresError | OSError)
            log.warning(
                f"{available.feature}.failed",
                target=str(target),
                error=message,
                exc_info=None if known else exc,
            )
            await record_failure(stored_error(message))
        except (*CONNECTION_ERRORS, asyncpg.PostgresError) as db_exc:
            log.warning(
                f"{available.feature}.failure_not_recorded",
                target=str(target),
                error=error_message(db_exc),
            )
    finally:
        beat()
