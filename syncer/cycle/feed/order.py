"""The order the change feed and the events keep, and the statement both apply with.

Each package's newest LastModifiedTime applied is kept in
sagemaker.model_package_last_modified: a record older than it (a lagging
search index, a late or repeated event) is left out, so nothing moves a row
back (docs/operations/events.md). Changes are applied by feed.sql's
apply_package_changes, in the caller's transaction, which holds the target's lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from syncer.models import MUTABLE_SUMMARY_KEYS, Order, PackageChange, modified_order
from syncer.warehouse.sql import QUERIES
from syncer.warehouse.store import WriteCounts


@dataclass(frozen=True)
class LastModified:
    """The newest LastModifiedTime applied to a package (or when a delete call was made)."""

    at: datetime
    whole_seconds: bool
    deleted: bool = False


def older(change: PackageChange, stored: LastModified | None) -> bool:
    """Whether ``change`` is older than what the mirror has applied (models.modified_order)."""
    if stored is None:
        return False
    order = modified_order(
        change.last_modified, change.whole_seconds, stored.at, stored.whole_seconds
    )
    return order is Order.BEFORE


async def last_modified_of(
    conn: asyncpg.Connection, arns: Sequence[str]
) -> dict[str, LastModified]:
    """What the mirror has applied to these packages, by ARN (those with nothing are absent)."""
    if not arns:
        return {}
    rows = await conn.fetch(QUERIES["last_modified_of"], list(arns))
    return {r[0]: LastModified(r[1], r[2], r[3]) for r in rows}


async def write_changes(
    conn: asyncpg.Connection,
    changes: Sequence[PackageChange],
    run_id: int | None,
    *,
    applied_by: str,
) -> WriteCounts:
    """Apply changes (one per package) to live mirrored packages, in the caller's
    transaction, which holds the target's lock: feed.sql's apply_package_changes."""
    if not changes:
        return WriteCounts()
    record = await conn.fetchrow(
        QUERIES["apply_package_changes"],
        [c.arn for c in changes],
        [c.package_status for c in changes],
        [c.approval_status for c in changes],
        [c.life_cycle_stage for c in changes],
        [c.life_cycle_stage_status for c in changes],
        [c.life_cycle_stage_description for c in changes],
        [c.patch for c in changes],
        list(MUTABLE_SUMMARY_KEYS),
        run_id,
        [c.modified_by_arn for c in changes],
        [c.modified_by_user_profile for c in changes],
        [c.approval_description for c in changes],
        [c.last_modified for c in changes],
        [c.whole_seconds for c in changes],
        applied_by,
    )
    assert record is not None
    return WriteCounts(updated=record["updated"], changes=record["changes"])
