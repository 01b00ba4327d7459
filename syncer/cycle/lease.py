"""The cycle lease: which replica of a deployment leads the sync cycle.

A row of sagemaker.cycle_leases per deployment (migration 0007): a holder and
an expiry, taken at a cycle's start, renewed in the background during it and
released at its end. Nothing lives in a database session, so it works through
a transaction-mode pooler; only the service's role may change the row, so no
reader can stall the mirror. A leader that dies stops renewing, and another
replica takes over once the lease has expired (it asks again at that moment).

A deployment is the set of targets its settings choose (``deployment_key``):
deployments with disjoint targets run side by side in one database, while
replicas of one take turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Sequence

import asyncpg

from syncer.errors import DatabaseError, describe
from syncer.logging import get_logger
from syncer.settings import Settings
from syncer.warehouse.store import CONNECTION_ERRORS, LeaseState, Store

log = get_logger(__name__)

# Renewals per lease period: two may fail (a slow or briefly unreachable
# database) before the lease runs out.
RENEWALS_PER_LEASE = 3
RELEASE_TIMEOUT_SECONDS = 2.0


def deployment_key(settings: Settings, regions: Sequence[str]) -> str:
    """The deployment's identity in the database: a hash of every setting that
    chooses its targets (and so what its cycles write and sweep).

    Replicas with the same settings share a key, and take turns; deployments
    whose settings differ get their own lease, and run side by side. A setting
    that changes which accounts, regions, groups or packages a deployment
    mirrors belongs here.
    """
    chosen = {
        "regions": sorted(set(regions)),
        "role_arns": sorted(set(settings.role_arns)),
        "group_name_contains": settings.group_name_contains,
        "include_unversioned": settings.include_unversioned,
        "organization_role_name": settings.organization_role_name,
        "organization_units": sorted(set(settings.organization_units)),
        "skip_accounts": sorted(set(settings.skip_accounts)),
    }
    digest = hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()
    return f"v1:{digest[:32]}"


def holder_id() -> str:
    """This process, unique among replicas: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class CycleLease:
    def __init__(self, store: Store, deployment: str, *, seconds: float) -> None:
        self.deployment = deployment
        self.holder = holder_id()
        self.seconds = seconds
        self._store = store
        self.lost = False

    async def take(self, *, min_gap: float) -> LeaseState:
        """The lease if it is free and a cycle is due (``min_gap`` after the last started)."""
        return await self._store.take_lease(
            self.deployment, self.holder, seconds=self.seconds, min_gap=min_gap
        )

    async def wait(self, *, within: float) -> LeaseState:
        """Queue for the lease (a cycle is always due), for at most ``within`` seconds."""
        deadline = time.monotonic() + within
        while True:
            state = await self.take(min_gap=0.0)
            if state.granted:
                return state
            left = deadline - time.monotonic()
            if left <= 0:
                raise DatabaseError(
                    "another replica held the cycle lease for longer than "
                    "SYNCER_STATEMENT_TIMEOUT_SECONDS + SYNCER_LEASE_SECONDS; "
                    "its cycle is still running"
                )
            await asyncio.sleep(min(max(state.expires_in, 0.05), 1.0, left))

    @contextlib.asynccontextmanager
    async def renewing(self) -> AsyncIterator[None]:
        """Renew the held lease in the background while the body runs."""
        self.lost = False
        task = asyncio.create_task(self._renew_forever(), name="lease-renewal")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _renew_forever(self) -> None:
        period = self.seconds / RENEWALS_PER_LEASE
        while True:
            await asyncio.sleep(period)
            try:
                held = await self._store.renew_lease(
                    self.deployment, self.holder, seconds=self.seconds
                )
            except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
                log.warning("lease.renew_failed", error=describe(exc))
                continue
            if not held and not self.lost:
                # Another replica took it after this one failed to renew for a
                # whole period; the cycle goes on (page writes take per-scope
                # locks, and are idempotent), and ends without leading another.
                self.lost = True
                log.error("lease.lost", deployment=self.deployment)

    async def release(self, *, completed: bool) -> None:
        """Free the lease now; a failure leaves it to expire."""
        try:
            async with asyncio.timeout(RELEASE_TIMEOUT_SECONDS):
                await self._store.release_lease(self.deployment, self.holder, completed=completed)
        except (*CONNECTION_ERRORS, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("lease.release_failed", error=describe(exc))
