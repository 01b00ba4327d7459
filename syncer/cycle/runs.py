"""A cycle's record in sagemaker.sync_runs: started, then finished with its totals.

SQL in syncer/warehouse/sql/cycle.sql.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from datetime import datetime

from syncer.warehouse.sql import QUERIES
from syncer.warehouse.store import Store


@dataclass
class RunTotals:
    scopes_total: int = 0
    scopes_failed: int = 0
    packages_listed: int = 0
    packages_inserted: int = 0
    packages_updated: int = 0
    packages_deleted: int = 0
    groups_listed: int = 0
    groups_changed: int = 0
    groups_deleted: int = 0
    items_skipped: int = 0
    api_calls: int = 0
    api_throttled: int = 0


@dataclass
class CycleResult:
    run_id: int | None
    mode: str
    status: str  # succeeded | partial | failed | interrupted | skipped
    totals: RunTotals = field(default_factory=RunTotals)
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "skipped")


class Runs:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def start(self, mode: str, deployment: str | None = None) -> int:
        """Record a cycle's start; runs of the deployment left 'running' by a
        replica that died become 'interrupted' (this one holds its lease now)."""
        async with self._store.transaction() as conn:
            run_id = int(
                await conn.fetchval(QUERIES["start_run"], mode, socket.gethostname(), deployment)
            )
            await conn.execute(QUERIES["abandon_stale_runs"], run_id, deployment)
        return run_id

    async def finish(self, result: CycleResult) -> None:
        t = result.totals
        async with self._store.transaction() as conn:
            await conn.execute(
                QUERIES["finish_run"],
                result.run_id,
                result.status,
                t.scopes_total,
                t.scopes_failed,
                t.packages_listed,
                t.packages_inserted,
                t.packages_updated,
                t.packages_deleted,
                t.groups_listed,
                t.groups_changed,
                t.groups_deleted,
                t.items_skipped,
                t.api_calls,
                t.api_throttled,
                json.dumps(list(result.errors)),
            )

    async def last_full_started(self, deployment: str | None = None) -> datetime | None:
        """When the deployment's last completed reconcile started."""
        async with self._store.transaction() as conn:
            value = await conn.fetchval(QUERIES["last_full_run_started"], deployment)
        return value if isinstance(value, datetime) else None
