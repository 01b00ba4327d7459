"""Which scopes a cycle lists, and why: a pure plan, computed from state, that Syncer executes.

Three modes per target (account x region):

- ``full``: a reconcile. Every group, the unversioned scope, the group sweep,
  every listing complete. Unchanged by the change feed.
- ``all-groups``: an incremental cycle that lists every group from its
  watermark, and the complete group listing with its sweep: what every
  incremental cycle did before directed cycles existed, and the mode every
  target starts in.
- ``directed``: an incremental cycle that lists only what the change feed
  named: the groups of packages it reported and the mirror does not have, the
  unversioned scope if one of them is unversioned, and the groups created
  since the newest group the mirror knows (``ListModelPackageGroups`` with
  ``CreationTimeAfter``). With nothing named, a cycle costs the feed's two
  Search calls and that one group call.

Directed mode needs trust, earned and checked (``next_trust``): a reconcile
proves that the feed's own queries, bounded just before the newest creation
and the newest change the mirror knows, return those packages; any listing
that then finds a package the feed should have reported (a miss) puts the
target back into all-groups mode until a later reconcile proves the feed again.

Nothing here does I/O: the planner is tested by tests/unit/test_plan.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

FULL = "full"
DIRECTED = "directed"
ALL_GROUPS = "all-groups"
MODES = (FULL, DIRECTED, ALL_GROUPS)

# Why a target is in the mode it is in: a short code (a metric label) and a
# sentence with the particulars (sync_state, `syncer status`, logs).
REASONS = (
    "reconcile",  # full: the reconcile interval is up (or there was none yet)
    "feed_trusted",  # directed: the last reconcile proved the feed, no miss since
    "not_proven",  # all-groups: no reconcile has proven the feed yet
    "proof_failed",  # all-groups: the last reconcile's proof failed
    "feed_missed",  # all-groups: a listing found a package the feed should have reported
    "feed_off",  # all-groups: SYNCER_CHANGE_FEED=false
    "directed_off",  # all-groups: SYNCER_DIRECTED_CYCLES=false
    "feed_unavailable",  # all-groups: the feed is switched off for this target (e.g. denied)
    "feed_failed",  # all-groups: this cycle's feed failed
)


@dataclass(frozen=True)
class Trust:
    """The persisted trust state of one target's feed (sync_state's 'changes' row)."""

    directed: bool = False
    reason: str = "not_proven"
    detail: str = "no reconcile has proven the change feed yet"
    misses: int = 0  # packages the feed should have reported and a listing found
    last_miss: str | None = None  # the ARN of the latest
    # Creations are checked from here on: the feed's creation cursor when it started.
    since: datetime | None = None
    # The creation feed's cursor: the newest CreationTime it reported and the
    # cycle's listings then stored.
    creation_cursor: datetime | None = None


@dataclass(frozen=True)
class FeedReport:
    """What this cycle's change feed found (``ok=False``: it failed or did not run)."""

    ok: bool
    # Packages the feed returned (by ARN) with their group ('' = unversioned)...
    returned: frozenset[str] = frozenset()
    # ...and the scopes of those the mirror did not have live.
    named_groups: frozenset[str] = frozenset()
    named_unversioned: bool = False
    newest_creation: datetime | None = None
    started_at: datetime | None = None  # when its queries were sent
    error: str | None = None
    unavailable: bool = False  # switched off for the target (syncer/cycle/rates.py)


@dataclass(frozen=True)
class Plan:
    """What one cycle lists for one target, and why."""

    mode: str
    reason: str
    detail: str
    # None: every group the group listing returns; otherwise only these.
    groups: frozenset[str] | None
    unversioned: bool
    # The group listing: complete with a sweep (None), or only groups created
    # after this moment (directed: new groups, listed in full; no sweep).
    groups_created_after: datetime | None = None

    @property
    def sweeps_groups(self) -> bool:
        return self.groups_created_after is None

    def event(self) -> dict[str, Any]:
        """The plan as one log event's fields."""
        return {
            "mode": self.mode,
            "reason": self.reason,
            "detail": self.detail,
            "groups": "all" if self.groups is None else sorted(self.groups)[:20],
            "group_count": None if self.groups is None else len(self.groups),
            "unversioned": self.unversioned,
            "groups_created_after": (
                self.groups_created_after.isoformat() if self.groups_created_after else None
            ),
        }


@dataclass(frozen=True)
class Inputs:
    """Everything the plan depends on, read before the listings start."""

    full: bool  # a reconcile is due
    include_unversioned: bool
    change_feed: bool  # SYNCER_CHANGE_FEED
    trust: Trust
    feed: FeedReport
    # The newest creation time among the target's live groups (None: none known).
    newest_group: datetime | None
    lookback: timedelta
    # Set when the feed is switched off for this target (not permitted, not offered).
    feed_unavailable: str | None = None
    directed_cycles: bool = True  # SYNCER_DIRECTED_CYCLES


def plan_cycle(i: Inputs) -> Plan:
    """Which scopes this cycle lists for one target."""

    def everything(mode: str, reason: str, detail: str) -> Plan:
        return Plan(mode, reason, detail, groups=None, unversioned=i.include_unversioned)

    if i.full:
        return everything(FULL, "reconcile", "the reconcile interval is up")
    if not i.change_feed:
        return everything(ALL_GROUPS, "feed_off", "SYNCER_CHANGE_FEED=false")
    if not i.directed_cycles:
        return everything(ALL_GROUPS, "directed_off", "SYNCER_DIRECTED_CYCLES=false")
    if i.feed_unavailable:
        return everything(ALL_GROUPS, "feed_unavailable", i.feed_unavailable)
    if not i.feed.ok and not i.feed.unavailable:
        return everything(
            ALL_GROUPS, "feed_failed", f"this cycle's change feed failed: {i.feed.error}"
        )
    if not i.trust.directed:
        return everything(ALL_GROUPS, i.trust.reason, i.trust.detail)
    if i.newest_group is None:
        return everything(ALL_GROUPS, "not_proven", "the mirror knows no group yet")
    return Plan(
        DIRECTED,
        "feed_trusted",
        i.trust.detail,
        groups=i.feed.named_groups,
        unversioned=i.include_unversioned and i.feed.named_unversioned,
        groups_created_after=i.newest_group - i.lookback,
    )
