"""What the mirror of an account and region may hold, enforced at each reconcile.

Settings narrow what is copied from then on; this brings what was stored
before into line, once per full cycle, before the listings:

* rows outside SYNCER_GROUP_NAME_CONTAINS (and the unversioned packages with
  SYNCER_INCLUDE_UNVERSIONED=false) are deleted, history and details too;
* with SYNCER_DELETED_RETENTION_DAYS, the history and the details of packages
  marked deleted longer ago than that are deleted;
* identities stored before SYNCER_IDENTITIES (or SYNCER_DETAILS=false) asked
  for less are hashed or dropped in place, records stripped of them.

Deleting needs the functions of migration 0017 (the runtime role has no
DELETE). SQL in syncer/warehouse/sql/privacy.sql. A failure is logged and
tried again at the next reconcile; it never stops the cycle.
"""

from __future__ import annotations

import asyncpg

from syncer.details.identities import Identities
from syncer.errors import SyncerError, error_message
from syncer.logging import get_logger
from syncer.models import Target
from syncer.settings import Settings
from syncer.warehouse.sql import QUERIES
from syncer.warehouse.store import CONNECTION_ERRORS, Store

log = get_logger(__name__)


class Privacy:
    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._settings = settings
        self._identities = Identities.from_settings(settings)

    async def enforce(self, target: Target) -> None:
        """Purge and rewrite what the target's mirror may no longer hold; log what."""
        try:
            done = {
                **await self._outside_filter(target),
                **await self._retention(target),
                **await self._identities_in_place(target),
            }
        except (SyncerError, asyncpg.PostgresError, *CONNECTION_ERRORS) as exc:
            log.warning("privacy.failed", target=str(target), error=error_message(exc))
            return
        if any(done.values()):
            log.info("privacy.enforced", target=str(target), **done)

    async def _outside_filter(self, target: Target) -> dict[str, int]:
        s = self._settings
        if not s.group_name_contains and s.include_unversioned:
            return {}  # nothing can be outside
        async with self._store.transaction() as conn:
            row = await conn.fetchrow(
                QUERIES["purge_outside_filter"],
                target.account_id,
                target.region,
                s.group_name_contains or "",
                s.include_unversioned,
            )
        assert row is not None
        return {"groups_outside_filter": row["groups"], "packages_outside_filter": row["packages"]}

    async def _retention(self, target: Target) -> dict[str, int]:
        days = self._settings.deleted_retention_days
        if days is None:
            return {}
        async with self._store.transaction() as conn:
            purged = await conn.fetchval(
                QUERIES["purge_deleted_before"], target.account_id, target.region, days
            )
        return {"deleted_rows_purged": int(purged)}

    async def _identities_in_place(self, target: Target) -> dict[str, int]:
        identities = self._identities
        if identities.mode == "keep":
            return {}
        where = (target.account_id, target.region)
        async with self._store.transaction() as conn:
            stripped = await conn.fetchval(QUERIES["strip_identity_records"], *where)
            if identities.mode == "drop":
                rewritten = await conn.fetchval(QUERIES["drop_identities"], *where)
            else:
                raw = [r[0] for r in await conn.fetch(QUERIES["stored_identities"], *where)]
                hashed = [identities.value(v) for v in raw]
                rewritten = (
                    await conn.fetchval(QUERIES["replace_identities"], *where, raw, hashed)
                    if raw
                    else 0
                )
        return {"records_stripped": int(stripped), "identities_rewritten": int(rewritten)}
