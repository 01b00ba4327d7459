"""The API rates each target's limits found, kept in sagemaker.api_rates.

``syncer status`` shows them, and a new process starts each target from them
(``resume``) rather than from the ceiling. SQL in syncer/warehouse/sql/cycle.sql.
"""

from __future__ import annotations

from syncer.aws.limits import CLASSES, TargetLimits
from syncer.models import Target
from syncer.warehouse.sql import QUERIES
from syncer.warehouse.store import Store


class RateRecorder:
    """Keeps each target's allowed rates, and its throttles per cycle."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._throttles: dict[tuple[Target, str], int] = {}

    async def resume(self, target: Target, limits: TargetLimits) -> None:
        """Once per process and target: start from the rates the last cycle there
        found under the quota (throttling held them below their ceiling then), so
        that a `syncer once` from cron does not meet a known quota at full speed."""
        if limits.resumed:
            return
        async with self._store.transaction() as conn:
            rows = await conn.fetch(QUERIES["get_api_rates"], target.account_id, target.region)
        limits.resume(
            {
                r["operation_class"]: r["allowed_rate"]
                for r in rows
                if r["allowed_rate"] < r["ceiling"]
            }
        )

    async def record(self, target: Target, limits: TargetLimits) -> None:
        """The target's allowed rates and the throttles since the last record."""
        rates = []
        for name in CLASSES:
            total = limits.throttles(name)
            in_cycle = total - self._throttles.get((target, name), 0)
            self._throttles[(target, name)] = total
            rates.append((name, round(limits.allowed(name), 3), in_cycle))
        async with self._store.transaction() as conn:
            await conn.execute(
                QUERIES["record_api_rates"],
                target.account_id,
                target.region,
                [r[0] for r in rates],
                [r[1] for r in rates],
                limits.ceiling,
                [r[2] for r in rates],
            )
