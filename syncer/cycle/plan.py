"""What one cycle lists for one target, and why: a pure plan from state, which TargetCycle runs.

Two modes per target (account x region):

- ``full``, a reconcile: the complete group listing with its sweep, then every
  package of the target (ListModelPackages with a type and no group, about
  packages/100 calls) in creation-time windows listed side by side
  (syncer/windows.py), then what that complete listing did not contain
  is marked deleted and every scope is recorded.
- ``incremental``: the groups created since the newest one the mirror knows,
  and every package created since the packages cursor, both a lookback
  earlier. The scopes (groups, or the unversioned packages) of the packages
  found that the mirror lacks are then listed, each from its own watermark.
  With nothing new, that is one call each.

Nothing here does I/O: tests/unit/test_plan.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from syncer.windows import Window, tiled

FULL = "full"
INCREMENTAL = "incremental"


@dataclass(frozen=True)
class Plan:
    """What one cycle lists for one target."""

    mode: str
    # The group listing: complete, with its sweep (None), or only the groups
    # created after this moment (no sweep).
    groups_created_after: datetime | None
    # The account-wide listing of packages, as windows of creation time: all of
    # time on a reconcile, from the packages cursor on otherwise.
    windows: tuple[Window, ...]

    @property
    def sweeps_groups(self) -> bool:
        return self.groups_created_after is None

    @property
    def full(self) -> bool:
        return self.mode == FULL

    def event(self) -> dict[str, Any]:
        """The plan as one log event's fields."""
        return {
            "mode": self.mode,
            "groups_created_after": _iso(self.groups_created_after),
            "packages_from": _iso(self.windows[0].start) if self.windows else None,
            "windows": len(self.windows),
        }


@dataclass(frozen=True)
class Inputs:
    """Everything the plan depends on, read before the listings start."""

    full: bool  # a reconcile is due
    # The newest creation time among the target's live groups (None: none known).
    newest_group: datetime | None
    # Where the last complete or incremental listing of packages stopped (None: never).
    packages_cursor: datetime | None
    lookback: timedelta
    # Where a reconcile's windows begin, from the creation times the mirror knows.
    edges: tuple[datetime, ...] = ()


def plan_cycle(i: Inputs) -> Plan:
    """Which listings this cycle runs for one target."""
    if i.full:
        return Plan(FULL, groups_created_after=None, windows=tuple(tiled(i.edges)))
    return Plan(
        INCREMENTAL,
        groups_created_after=earlier(i.newest_group, i.lookback),
        windows=(Window(start=earlier(i.packages_cursor, i.lookback)),),
    )


def earlier(moment: datetime | None, by: timedelta) -> datetime | None:
    """``moment - by``; None (no bound) for no moment, or one within ``by`` of year 1."""
    if moment is None:
        return None
    try:
        return moment - by
    except OverflowError:
        return None


@dataclass(frozen=True)
class Found:
    """A package an account-wide listing returned."""

    arn: str
    group: str | None  # None: unversioned
    created: datetime


def named_scopes(
    found: Iterable[Found], mirrored: Mapping[str, datetime]
) -> tuple[frozenset[str], bool]:
    """The groups, and whether the unversioned scope, of the packages found that the
    mirror does not have live (or has as an earlier package of the same ARN: a group
    deleted and created again numbers its versions from 1 again)."""
    new = [f for f in found if mirrored.get(f.arn) != f.created]
    return frozenset(f.group for f in new if f.group is not None), any(f.group is None for f in new)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
