"""One event, applied to the mirror in one transaction; what it did, as a value.

The order of a package's changes is its LastModifiedTime, and the mirror keeps
the newest one applied (sagemaker.model_package_last_modified, which the
change feed keeps too). ``decide`` compares an event with it:

* older: stale, ignored;
* newer: applied (the stored time moves even if no mirrored field changes, so
  that an older event arriving later cannot undo a change it does not carry);
* the same moment, or the same second when either time has no fraction
  (events give whole seconds): a duplicate if it would change nothing;
  otherwise a **tie**, which the event cannot settle. The consumer then reads
  the package's current record (DescribeModelPackage, to the millisecond) and
  applies that, which is never wrong and costs one call per tie.

A package the mirror lacks is stored from its event when its group is
mirrored (a registration); CloudTrail's delete calls mark the package, or the
group and its packages, deleted as a reconcile would. Rows marked deleted are
left to the listings. SQL: syncer/warehouse/sql/events.sql, and the change
feed's apply_package_changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import Enum

import asyncpg

from syncer.cycle.feed.changes import ANONYMOUS
from syncer.cycle.feed.order import LastModified, last_modified_of, write_changes
from syncer.details.identities import Identities
from syncer.details.store import DetailsStore
from syncer.events.parse import DeleteCall, PackageEvent
from syncer.models import (
    Order,
    PackageChange,
    PackageSummary,
    Scope,
    Target,
    modified_order,
)
from syncer.warehouse.sql import QUERIES
from syncer.warehouse.store import (
    Store,
    groups_key,
    package_columns,
    scope_key,
    sweep_gone_groups,
)


class Decision(Enum):
    APPLY = "apply"
    STALE = "stale"
    DUPLICATE = "duplicate"
    TIE = "tie"


def decide(
    change: PackageChange, stored: LastModified | None, *, same_values: bool, whole: bool
) -> Decision:
    """What to do with a change to a live mirrored package (no I/O).

    ``whole``: the change is the package's current record (DescribeModelPackage),
    which settles a tie by being the latest there is.
    """
    if stored is None:  # applied even if it changes nothing: its time orders what follows
        return Decision.APPLY
    order = modified_order(
        change.last_modified, change.whole_seconds, stored.at, stored.whole_seconds
    )
    if order is Order.AFTER:
        return Decision.APPLY
    if order is Order.BEFORE:
        return Decision.STALE
    if whole:  # the latest there is; its precise time orders what follows
        return Decision.APPLY
    return Decision.DUPLICATE if same_values else Decision.TIE


@dataclass(frozen=True)
class Outcome:
    """What applying one event did: applied (``kind``: changed, created, deleted),
    ignored (``kind``: duplicate, stale, deleted, not_in_mirror), or a tie."""

    status: str  # applied, ignored, tie
    kind: str
    changed: bool = False  # whether a mirrored row changed


def applied(kind: str, changed: bool = True) -> Outcome:
    return Outcome("applied", kind, changed)


def ignored(reason: str) -> Outcome:
    return Outcome("ignored", reason)


TIE = Outcome("tie", "tie")


class EventApplier:
    """Applies events through the store's transactions, each under its target's lock."""

    def __init__(
        self, store: Store, details: DetailsStore | None, identities: Identities | None = None
    ) -> None:
        self._store = store
        self._details = details  # None: SYNCER_DETAILS=false
        self._identities = identities or Identities()

    async def apply_package(self, event: PackageEvent) -> Outcome:
        target = Target(event.account_id, event.region)
        applied_by = "describe" if event.whole else "event"
        async with self._store.transaction() as conn:
            # The lock the change feed and the group sweep take: all three write
            # packages of any group of the target.
            await conn.execute(QUERIES["scope_lock"], *groups_key(target))
            row = await conn.fetchrow(QUERIES["event_package_row"], event.arn)
            stored = (await last_modified_of(conn, [event.arn])).get(event.arn)
            if row is None:
                return await self._first_seen(conn, event, stored, applied_by)
            if row["deleted_at"] is not None:
                return ignored("deleted")
            change = self._who(event.over(json.loads(row["raw"])))
            decision = decide(change, stored, same_values=_same(change, row), whole=event.whole)
            if decision is Decision.TIE:
                return TIE
            if decision is not Decision.APPLY:
                return ignored(decision.value)
            counts = await write_changes(conn, [change], None, applied_by=applied_by)
            if self._details is not None:
                await self._details.merge_package(conn, event.record)
        return applied("changed", counts.updated > 0)

    async def _first_seen(
        self,
        conn: asyncpg.Connection,
        event: PackageEvent,
        stored: LastModified | None,
        applied_by: str,
    ) -> Outcome:
        """A package the mirror lacks: stored if its group is mirrored (or it is
        unversioned), unless a later delete call removed it."""
        change = event.change
        if stored is not None and stored.deleted:
            order = modified_order(
                change.last_modified, change.whole_seconds, stored.at, stored.whole_seconds
            )
            if order is not Order.AFTER:
                return ignored("stale")
        if event.group_name is not None and not await conn.fetchval(
            QUERIES["event_group_is_live"], event.account_id, event.region, event.group_name
        ):
            return ignored("not_in_mirror")  # the listing that finds its group stores it
        summary: PackageSummary = event.summary()
        await conn.execute(QUERIES["scope_lock"], *scope_key(_scope(summary)))
        columns = [column[0] for column in package_columns([summary])]
        inserted = await conn.fetchval(QUERIES["insert_event_package"], *columns)
        await write_changes(conn, [self._who(change)], None, applied_by=applied_by)
        return applied("created", bool(inserted))

    def _who(self, change: PackageChange) -> PackageChange:
        """Who made the change, as the history may keep it: nobody without the
        governance details, as the change feed records it."""
        if self._details is None:
            return replace(change, **ANONYMOUS)
        return self._identities.change(change)

    async def apply_delete(self, call: DeleteCall) -> Outcome:
        if call.kind == "group":
            return await self._delete_group(call)
        target = Target(call.account_id, call.region)
        async with self._store.transaction() as conn:
            await conn.execute(QUERIES["scope_lock"], *groups_key(target))
            mirrored = await conn.fetchrow(
                QUERIES["event_package_arn"], call.account_id, call.region, call.name
            )
            # Never mirrored: its ARN is remembered all the same, so that its
            # registration's event, should it come later, keeps it out.
            named = call.name if call.name.startswith("arn:") else None
            arn = mirrored["model_package_arn"] if mirrored else named
            if arn is None:
                return ignored("not_in_mirror")
            stored = (await last_modified_of(conn, [arn])).get(arn)
            if stored is not None and (
                modified_order(call.at, True, stored.at, stored.whole_seconds) is Order.BEFORE
            ):
                return ignored("stale")  # a package re-created under the ARN since
            deleted = await conn.fetchval(QUERIES["event_delete_package"], arn, call.at)
            if deleted or mirrored is None:
                await conn.execute(QUERIES["record_delete_call"], arn, call.at)
        if deleted:
            return applied("deleted")
        if mirrored is None:
            return ignored("not_in_mirror")
        # Marked deleted already, or created after the call (re-created since).
        return ignored("deleted" if mirrored["deleted"] else "stale")

    async def _delete_group(self, call: DeleteCall) -> Outcome:
        """As the reconcile's group sweep: the group, its live packages, its watermark."""
        target = Target(call.account_id, call.region)
        async with self._store.transaction() as conn:
            await conn.execute(QUERIES["scope_lock"], *groups_key(target))
            gone = [
                row[0]
                for row in await conn.fetch(
                    QUERIES["event_delete_group"], call.account_id, call.region, call.name, call.at
                )
            ]
            await sweep_gone_groups(conn, target, gone, None)
        return applied("deleted") if gone else ignored("not_in_mirror")


def _same(change: PackageChange, row: asyncpg.Record) -> bool:
    """Whether applying ``change`` would leave the row's mirrored fields as they are."""
    return (
        change.package_status,
        change.approval_status,
        change.life_cycle_stage,
        change.life_cycle_stage_status,
        change.life_cycle_stage_description,
    ) == (
        row["model_package_status"],
        row["model_approval_status"],
        row["model_life_cycle_stage"],
        row["model_life_cycle_stage_status"],
        row["model_life_cycle_stage_description"],
    )


def _scope(summary: PackageSummary) -> Scope:
    return Scope(Target(summary.account_id, summary.region), summary.group_name or "")
