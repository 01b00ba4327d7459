"""The cycle lease: which replica of a deployment leads the sync cycle.

A row of sagemaker.cycle_leases per deployment (migration 0007): a holder and
an expiry, taken at a cycle's start, renewed in the background during it and
released at its end. Nothing lives in a database session, so it works through
a transaction-mode pooler; only the service's role may change the row, so no
reader can stall the mirror. A leader that dies stops renewing, and another
replica takes over once the lease has expired (it asks again at that moment).

A deployment is the set of targets its settings choose (``deployment_key``):
deployments with disjoint targets run side by side in one database, while
replicas of one take turns. A replica that is not leading is a standby
(``Standby``): ready, unless no cycle of its deployment has completed for
``STALE_INTERVALS`` intervals. SQL in syncer/warehouse/sql/cycle.sql and the
functions of migration 0007.
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
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from syncer.errors import DatabaseError, describe
from syncer.logging import get_logger
from syncer.settings import Settings
from syncer.warehouse.sql import QUERIES
from syncer.warehouse.store import CONNECTION_ERRORS, Store

log = get_logger(__name__)

# Renewals per lease period: two may fail (a slow or briefly unreachable
# database) before the lease runs out.
RENEWALS_PER_LEASE = 3
RELEASE_TIMEOUT_SECONDS = 2.0
# A standby that has skipped cycles this many intervals while no cycle of its
# deployment completed is not ready: the mirror is going stale.
STALE_INTERVALS = 3


@dataclass(frozen=True)
class LeaseState:
    """A deployment's cycle lease as one replica found it, by the database's clock."""

    granted: bool
    holder: str | None
    expires_in: float  # seconds until it is free (0: free now)
    due_in: float  # seconds until the deployment's next cycle is due (0: due)
    completed_ago: float | None  # since a cycle of the deployment last completed

    def retry_in(self) -> float:
        """When to ask again for a lease that was not granted: when it expires (its
        holder may have died) or the next cycle is due, whichever is later."""
        return max(0.05, self.expires_in, self.due_in)


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
        async with self._store.transaction() as conn:
            row = await conn.fetchrow(
                QUERIES["take_cycle_lease"], self.deployment, self.holder, self.seconds, min_gap
            )
        assert row is not None
        return LeaseState(
            bool(row["granted"]),
            row["holder"],
            row["expires_in"],
            row["due_in"],
            row["completed_ago"],
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
                async with self._store.transaction() as conn:
                    held = bool(
                        await conn.fetchval(
                            QUERIES["renew_cycle_lease"], self.deployment, self.holder, self.seconds
                        )
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
            async with (
                asyncio.timeout(RELEASE_TIMEOUT_SECONDS),
                self._store.transaction() as conn,
            ):
                await conn.execute(
                    QUERIES["release_cycle_lease"], self.deployment, self.holder, completed
                )
        except (*CONNECTION_ERRORS, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("lease.release_failed", error=describe(exc))


class Standby:
    """A replica's time out of the lead: when to ask again, and whether it is stale."""

    def __init__(self, interval: Callable[[], float], monotonic: Callable[[], float]) -> None:
        self._interval = interval  # the deployment's interval now (Syncer.interval_seconds)
        self._monotonic = monotonic
        # Since when this replica skips cycles, and the lease as last found.
        self._since: float | None = None
        self.lease_seen: tuple[float, LeaseState] | None = None

    def skipped(self, lease: LeaseState) -> str:
        """Record a cycle this replica did not lead; returns why, for the log."""
        now = self._monotonic()
        if self._since is None:
            self._since = now
        self.lease_seen = (now, lease)
        if lease.expires_in > 0:
            return f"another replica is running a cycle ({lease.holder})"
        return "the deployment's last cycle started less than an interval ago"

    def leading(self) -> None:
        self._since = self.lease_seen = None

    def retry_in(self) -> float | None:
        """When to ask for the lease again (None: this replica leads)."""
        return None if self.lease_seen is None else self.lease_seen[1].retry_in()

    def stale_reason(self) -> str | None:
        """Why this replica is not ready although another leads: it has skipped
        cycles for STALE_INTERVALS intervals, and no cycle of its deployment
        completed in that time either (None: nothing stale)."""
        if self._since is None or self.lease_seen is None:
            return None
        now = self._monotonic()
        limit = STALE_INTERVALS * self._interval()
        skipping = now - self._since
        seen_at, lease = self.lease_seen
        completed = None if lease.completed_ago is None else lease.completed_ago + now - seen_at
        if skipping <= limit or (completed is not None and completed <= limit):
            return None
        last = "never" if completed is None else f"{completed:.0f}s ago"
        return (
            f"skipped cycles for {skipping:.0f}s while another replica held the lease"
            f" ({lease.holder}); a cycle of this deployment last completed {last}"
        )
