"""The reads behind `syncer status` and the per-scope gauges; they write nothing.

SQL in syncer/warehouse/sql/status.sql.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from syncer.warehouse.sql import QUERIES
from syncer.warehouse.store import Store


async def scope_lags(store: Store) -> list[asyncpg.Record]:
    """Each scope's watermark, last success and failures, for the gauges."""
    async with store.transaction() as conn:
        return list(await conn.fetch(QUERIES["scope_lags"]))


async def read_status(store: Store, runs: int = 5) -> dict[str, Any]:
    """Scopes, quota, what is switched off, details, totals and the last ``runs`` runs."""
    async with store.transaction() as conn:
        queues = await conn.fetch(QUERIES["status_event_queues"])  # events (syncer/events/)
        scopes = await conn.fetch(QUERIES["status_scopes"])
        totals = await conn.fetchrow(QUERIES["status_totals"])
        last_runs = await conn.fetch(QUERIES["last_runs"], runs)
        quota = await conn.fetch(QUERIES["status_quota"])
        switched_off = await conn.fetch(QUERIES["status_switched_off"])
        details = await conn.fetch(QUERIES["status_details"])
    return {
        "events": [dict(r) for r in queues],
        "scopes": [dict(r) for r in scopes],
        "quota": [dict(r) for r in quota],
        "switched_off": [dict(r) for r in switched_off],
        "details": [dict(r) for r in details],
        "totals": dict(totals) if totals else {},
        "runs": [dict(r) for r in last_runs],
    }
