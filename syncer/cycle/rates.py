"""Per target (account x region): whether the change feed may run, and the API rates found.

The change feed (Search) is an accelerator, not the source of truth: the
listings and the reconcile converge without it. When SageMaker refuses it for
a target (the role may not call Search; the request is rejected), the feed is
switched off there for ``FEED_OFF_SECONDS`` or until the next full reconcile,
whichever comes first, with one warning when it goes off (not one per cycle),
and the cycle still succeeds. The state is kept in
``sagemaker.change_feed_availability`` so that restarts and ``syncer status``
see it, and in the gauge ``syncer_change_feed_up``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from syncer.aws.limits import CLASSES, TargetLimits
from syncer.cycle.metrics import Metrics
from syncer.logging import get_logger
from syncer.models import Target
from syncer.warehouse.store import Store

log = get_logger(__name__)

FEED_OFF_SECONDS = 3600.0


class FeedAvailability:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        now: Callable[[], datetime],
        off_for: timedelta = timedelta(seconds=FEED_OFF_SECONDS),
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._now = now
        self._off_for = off_for

    async def usable(self, target: Target, *, full: bool) -> bool:
        """Whether to run the target's feed this cycle (a reconcile always tries)."""
        off = await self._store.change_feed_off(target)
        if off is None:
            self._metrics.change_feed_up(target, True)
            return True
        if full or self._now() >= off["off_until"]:
            log.info("changes.feed_retry", target=str(target), off_since=off["off_since"])
            return True
        self._metrics.change_feed_up(target, False)
        return False

    async def refused(self, target: Target, code: str, error: str) -> None:
        """SageMaker refused Search for the target: off for a while; warn once."""
        until = self._now() + self._off_for
        was_on = await self._store.switch_change_feed_off(target, error, until)
        self._metrics.change_feed_up(target, False)
        if was_on:
            log.warning(
                "changes.feed_off",
                target=str(target),
                code=code,
                error=error,
                retry_after=until.isoformat(timespec="seconds"),
                effect="approval, status and stage changes wait for the next reconcile",
            )
        else:
            log.info("changes.feed_still_off", target=str(target), code=code)

    async def worked(self, target: Target) -> None:
        """The feed ran: on again if it was off."""
        self._metrics.change_feed_up(target, True)
        off_since = await self._store.switch_change_feed_on(target)
        if off_since is not None:
            log.info("changes.feed_on", target=str(target), off_since=off_since.isoformat())


class RateRecorder:
    """Keeps each target's allowed rates, and its throttles per cycle, in sagemaker.api_rates."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._throttles: dict[tuple[Target, str], int] = {}

    async def resume(self, target: Target, limits: TargetLimits) -> None:
        """Once per process and target: start from the rates the last cycle there
        found under the quota (throttling held them below their ceiling then), so
        that a `syncer once` from cron does not meet a known quota at full speed."""
        if limits.resumed:
            return
        found = await self._store.api_rates(target)
        limits.resume({name: allowed for name, allowed, ceiling in found if allowed < ceiling})

    async def record(self, target: Target, limits: TargetLimits) -> None:
        rates = []
        for name in CLASSES:
            total = limits.throttles(name)
            in_cycle = total - self._throttles.get((target, name), 0)
            self._throttles[(target, name)] = total
            rates.append((name, round(limits.allowed(name), 3), in_cycle))
        await self._store.record_api_rates(target, limits.ceiling, rates)
