"""Directed cycles: what the change feed names, what it missed, its proof and its trust.

Whether ``LastModifiedTime`` moves when a package is created is documented
neither way (the API reference: "The last time the model package was
modified", not required; botocore's model: an optional timestamp). So
creations have a query of their own: Search on ``CreationTime`` after the
creation cursor (minus the lookback), sorted on it. Its results name the
scopes a directed cycle lists: the groups (or the unversioned scope) of the
packages it returns that the mirror does not have. The feed on
``LastModifiedTime`` (sync.sync_changes) goes on applying approvals, statuses
and stages as before.

Directed mode needs trust, earned and checked (``next_trust``): a reconcile
proves that the feed's own queries, bounded just before the newest creation
and the newest change the mirror knows, return those packages; any listing
that then finds a package the feed should have reported (a miss) puts the
target back into all-groups mode until a later reconcile proves the feed again.
The planner (syncer.cycle.plan) decides the mode from the trust; the trust's
transitions are pure functions here, beside the I/O that feeds them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from syncer.aws.registry import RegistrySource
from syncer.cycle.feed.state import FeedState
from syncer.cycle.plan import FeedReport, Trust
from syncer.logging import get_logger
from syncer.models import EPOCH, ONE_MILLISECOND, InvalidRecord, Target, clean_text, parse_timestamp
from syncer.tasks import both

log = get_logger(__name__)

PROOF_PAGES = 5  # pages a proof reads looking for its package
MISSES_LOGGED = 20  # per cycle and target; the count covers the rest


@dataclass(frozen=True)
class Sighting:
    """A package as a Search record shows it: enough to name its scope and date it."""

    arn: str
    group: str | None
    created: datetime | None
    modified: datetime | None


@dataclass(frozen=True)
class Created:
    """A package that a listing of this cycle stored for the first time."""

    arn: str
    created: datetime


@dataclass(frozen=True)
class Proof:
    """A reconcile's check of the feed: did its own queries return what the mirror knows?"""

    passed: bool
    detail: str


def feed_misses(
    trust: Trust, feed: FeedReport, created: list[Created], lookback: timedelta
) -> tuple[Created, ...]:
    """Packages this cycle's listings stored first that the feed should have reported.

    Those created after the feed's coverage began (``trust.since``) and more
    than the lookback before this cycle's feed queries: an index lagging less
    than the lookback reports a package a cycle later, so only a package older
    than that, that the feed has not returned, is a miss. (A package the feed
    returned in an earlier cycle was listed then, and is not new now.)
    """
    if not feed.ok or trust.since is None or feed.started_at is None:
        return ()
    horizon = feed.started_at - lookback
    return tuple(
        c for c in created if trust.since < c.created < horizon and c.arn not in feed.returned
    )


def next_trust(
    trust: Trust,
    *,
    feed: FeedReport,
    misses: tuple[Created, ...],
    proof: Proof | None,
    listings_ok: bool,
) -> Trust:
    """The trust state after a cycle.

    A miss always ends trust. A reconcile (``proof`` given) earns it when the
    proof passed and nothing was missed, and loses it when the proof failed.
    The creation cursor moves to what the feed reported only when every
    listing it directed succeeded: otherwise the next cycle reads it again.
    """
    cursor = trust.creation_cursor
    if feed.ok and listings_ok and feed.newest_creation is not None:
        cursor = max(cursor or feed.newest_creation, feed.newest_creation)
    trust = replace(trust, creation_cursor=cursor)
    if misses:
        newest = max(misses, key=lambda c: c.created)
        return replace(
            trust,
            directed=False,
            reason="feed_missed",
            detail=(
                f"a listing found {newest.arn} (created {newest.created.isoformat()}), "
                "which the change feed did not report"
                + (f", and {len(misses) - 1} more" if len(misses) > 1 else "")
            ),
            misses=trust.misses + len(misses),
            last_miss=newest.arn,
        )
    if proof is None:
        return trust
    if proof.passed:
        return replace(trust, directed=True, reason="feed_trusted", detail=proof.detail)
    return replace(trust, directed=False, reason="proof_failed", detail=proof.detail)


def before(moment: datetime, by: timedelta) -> datetime:
    """``moment - by``, or the first instant there is (a package of year 1)."""
    try:
        return moment - by
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def sighting(record: dict[str, Any]) -> Sighting | None:
    arn = record.get("ModelPackageArn")
    if not isinstance(arn, str) or not arn:
        return None
    group = record.get("ModelPackageGroupName")
    # As the listings store them: text PostgreSQL can hold.
    return Sighting(
        clean_text(arn),
        clean_text(group) if isinstance(group, str) and group else None,
        _time(record.get("CreationTime")),
        _time(record.get("LastModifiedTime")),
    )


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except InvalidRecord:
        return None


async def creation_feed(
    source: RegistrySource,
    state: FeedState,
    trust: Trust,
    *,
    lookback: timedelta,
    now: Callable[[], datetime],
) -> tuple[FeedReport, Trust]:
    """Packages created since the creation cursor, and the scopes of those not mirrored.

    The first time, the cursor starts at the newest creation Search knows, and
    the feed is checked for what is created after it (``Trust.since``).
    """
    started = now()
    if trust.creation_cursor is None:
        found = [s for s in map(sighting, await source.newest_records("CreationTime")) if s]
        newest = max((s.created for s in found if s.created), default=EPOCH)
        trust = replace(trust, since=newest, creation_cursor=newest)
        return FeedReport(ok=True, newest_creation=newest, started_at=started), trust
    seen: dict[str, Sighting] = {}
    async for records in source.searched_after(
        "CreationTime", before(trust.creation_cursor, lookback + ONE_MILLISECOND)
    ):
        for one in filter(None, map(sighting, records)):
            seen[one.arn] = one
    mirrored = await state.live_among(list(seen))
    # Not mirrored, or mirrored as an earlier package of the same ARN (a group
    # deleted and created again numbers its versions from 1 again).
    new = [s for s in seen.values() if s.arn not in mirrored or mirrored[s.arn] != s.created]

    report = FeedReport(
        ok=True,
        returned=frozenset(seen),
        named_groups=frozenset(s.group for s in new if s.group),
        named_unversioned=any(s.group is None for s in new),
        newest_creation=max((s.created for s in seen.values() if s.created), default=None),
        started_at=started,
    )
    return report, trust


async def prove(source: RegistrySource, state: FeedState, target: Target) -> Proof:
    """Do the feed's own queries return the newest creation and the newest change?

    Each query is the feed's (same filter, sort and page size), bounded just
    before the package's time. An empty registry proves nothing, and neither
    does a Search that ignores range filters (moto's returns nothing). The
    two checks are independent reads, made side by side.
    """
    newest = await state.newest_package(target)
    if newest is None:
        return Proof(False, "the mirror has no package to check the change feed with")
    arn, created = newest
    creation_returned, change = await both(
        _returns(source, "CreationTime", created, arn), _prove_changes(source, state)
    )
    if not creation_returned:
        return Proof(
            False,
            f"Search on CreationTime after {created.isoformat()} did not return {arn}, "
            "the newest package the mirror has",
        )
    if not change.passed:
        return change
    return Proof(
        True,
        f"the feed returned the newest creation ({arn}, {created.isoformat()}) and {change.detail}",
    )


async def _prove_changes(source: RegistrySource, state: FeedState) -> Proof:
    """Does the feed's query on LastModifiedTime return the newest change Search reports?"""
    records = await source.newest_records("LastModifiedTime")
    changed = [s for s in map(sighting, records) if s and s.modified]
    if not changed:
        return Proof(False, "Search reported no package with a LastModifiedTime")
    latest = max(changed, key=lambda s: s.modified or EPOCH)
    assert latest.modified is not None
    if not await state.live_among([latest.arn]):
        return Proof(False, f"the newest change Search reports, {latest.arn}, is not mirrored yet")
    if not await _returns(source, "LastModifiedTime", latest.modified, latest.arn):
        return Proof(
            False,
            f"Search on LastModifiedTime after {latest.modified.isoformat()} did not return "
            f"{latest.arn}, the newest change it reports",
        )
    return Proof(True, f"the newest change ({latest.arn}, {latest.modified.isoformat()})")


async def _returns(source: RegistrySource, prop: str, moment: datetime, arn: str) -> bool:
    read = 0
    async for records in source.searched_after(prop, before(moment, ONE_MILLISECOND)):
        if any(s is not None and s.arn == arn for s in map(sighting, records)):
            return True
        read += 1
        if read >= PROOF_PAGES:
            return False
    return False


async def check_feed(
    source: RegistrySource,
    state: FeedState,
    trust: Trust,
    feed: FeedReport,
    *,
    run_id: int,
    lookback: timedelta,
    reconcile: bool,
    listings_ok: bool,
) -> tuple[Trust, tuple[Created, ...]]:
    """After the listings: what the feed missed, a reconcile's proof, the new trust (saved)."""
    target = source.target

    async def created() -> list[Created]:
        if not feed.ok or trust.since is None or feed.started_at is None:
            return []
        found = await state.created_in_run(target, run_id, trust.since, feed.started_at - lookback)
        return [Created(arn, created) for arn, created in found]

    async def proof() -> Proof | Exception | None:
        if not (reconcile and feed.ok and listings_ok):
            return None
        try:
            return await prove(source, state, target)
        except Exception as exc:  # raised below unless a miss makes the proof moot
            return exc

    # A reconcile proves the feed unless it missed a package. The proof is made
    # beside the search for misses (independent reads) and set aside if one is found.
    stored_first, proved = await both(created(), proof())
    misses = feed_misses(trust, feed, stored_first, lookback)
    # A miss costs freshness while the feed is trusted: a directed cycle would
    # not have listed the package. Untrusted (a blind or lagging Search, moto's
    # in the demo), it is what keeps trust from being earned: worth a line, not an alarm.
    report = log.warning if trust.directed else log.info
    for miss in sorted(misses, key=lambda c: c.created)[:MISSES_LOGGED]:
        report(
            "feed.missed",
            target=str(target),
            package=miss.arn,
            created=miss.created.isoformat(),
            detail="a listing found a package the change feed should have reported",
        )
    if misses:
        proved = None
    elif isinstance(proved, Exception):
        raise proved
    new = next_trust(trust, feed=feed, misses=misses, proof=proved, listings_ok=listings_ok)
    await state.save_trust(target, new, missed=bool(misses))
    if (new.directed, new.reason) != (trust.directed, trust.reason):
        log.info(
            "feed.trust",
            target=str(target),
            mode="directed" if new.directed else "all-groups",
            reason=new.reason,
            detail=new.detail,
        )
    return new, misses
