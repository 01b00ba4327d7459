"""The cycle planner and the feed's trust, without I/O (syncer.cycle.plan)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from syncer.cycle.feed.directed import Created, Proof, feed_misses, next_trust
from syncer.cycle.plan import FeedReport, Inputs, Trust, plan_cycle

T = datetime(2026, 1, 1, tzinfo=UTC)
LOOKBACK = timedelta(seconds=300)
TRUSTED = Trust(
    directed=True,
    reason="feed_trusted",
    detail="proven",
    since=T,
    creation_cursor=T + timedelta(hours=1),
)
FEED = FeedReport(
    ok=True,
    returned=frozenset({"a/1", "b/1", "solo"}),
    named_groups=frozenset({"a"}),
    named_unversioned=True,
    newest_creation=T + timedelta(hours=2),
    started_at=T + timedelta(hours=3),
)


def inputs(**changes: object) -> Inputs:
    base = Inputs(
        full=False,
        include_unversioned=True,
        change_feed=True,
        trust=TRUSTED,
        feed=FEED,
        newest_group=T,
        lookback=LOOKBACK,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_trusted_feed_directs_the_cycle_to_what_it_named() -> None:
    plan = plan_cycle(inputs())
    assert (plan.mode, plan.reason) == ("directed", "feed_trusted")
    assert plan.groups == {"a"} and plan.unversioned
    assert plan.groups_created_after == T - LOOKBACK and not plan.sweeps_groups
    assert plan.event()["groups"] == ["a"]


def test_nothing_named_lists_nothing_but_new_groups() -> None:
    plan = plan_cycle(inputs(feed=replace(FEED, named_groups=frozenset(), named_unversioned=False)))
    assert plan.mode == "directed" and plan.groups == frozenset() and not plan.unversioned


def test_unversioned_off_is_never_listed() -> None:
    assert not plan_cycle(inputs(include_unversioned=False)).unversioned


def test_every_other_case_lists_every_group_and_says_why() -> None:
    cases = {
        "reconcile": inputs(full=True),
        "feed_off": inputs(change_feed=False),
        "directed_off": inputs(directed_cycles=False),
        "feed_unavailable": inputs(feed_unavailable="AccessDeniedException"),
        "feed_failed": inputs(feed=FeedReport(ok=False, error="timeout")),
        "not_proven": inputs(trust=Trust()),
        "feed_missed": inputs(trust=replace(TRUSTED, directed=False, reason="feed_missed")),
    }
    for reason, case in cases.items():
        plan = plan_cycle(case)
        assert plan.reason == reason
        assert plan.mode == ("full" if reason == "reconcile" else "all-groups")
        assert plan.groups is None and plan.sweeps_groups and plan.unversioned
    assert plan_cycle(inputs(newest_group=None)).mode == "all-groups"


def test_a_miss_is_a_new_package_the_feed_did_not_return_older_than_the_lookback() -> None:
    horizon = FEED.started_at - LOOKBACK  # type: ignore[operator]
    created = [
        Created("a/1", horizon - timedelta(minutes=1)),  # returned: no miss
        Created("c/1", horizon - timedelta(minutes=1)),  # a miss
        Created("c/2", horizon + timedelta(seconds=1)),  # may still come: no miss
        Created("c/0", T - timedelta(seconds=1)),  # before the feed began: no miss
    ]
    assert [c.arn for c in feed_misses(TRUSTED, FEED, created, LOOKBACK)] == ["c/1"]
    assert feed_misses(TRUSTED, FeedReport(ok=False), created, LOOKBACK) == ()
    assert feed_misses(Trust(), FEED, created, LOOKBACK) == ()


def test_a_miss_ends_trust_and_is_counted() -> None:
    miss = (Created("c/1", T + timedelta(minutes=5)),)
    after = next_trust(TRUSTED, feed=FEED, misses=miss, proof=Proof(True, "x"), listings_ok=True)
    assert (after.directed, after.reason, after.misses, after.last_miss) == (
        False,
        "feed_missed",
        1,
        "c/1",
    )
    assert "c/1" in after.detail


def test_only_a_reconcile_proves_or_disproves() -> None:
    untrusted = Trust(since=T, creation_cursor=T)
    ok = next_trust(untrusted, feed=FEED, misses=(), proof=Proof(True, "p"), listings_ok=True)
    assert (ok.directed, ok.reason, ok.detail) == (True, "feed_trusted", "p")
    bad = next_trust(TRUSTED, feed=FEED, misses=(), proof=Proof(False, "q"), listings_ok=True)
    assert (bad.directed, bad.reason, bad.detail) == (False, "proof_failed", "q")
    same = next_trust(untrusted, feed=FEED, misses=(), proof=None, listings_ok=True)
    assert (same.directed, same.reason) == (False, "not_proven")


def test_the_creation_cursor_moves_only_when_the_listings_succeeded() -> None:
    moved = next_trust(TRUSTED, feed=FEED, misses=(), proof=None, listings_ok=True)
    assert moved.creation_cursor == FEED.newest_creation
    kept = next_trust(TRUSTED, feed=FEED, misses=(), proof=None, listings_ok=False)
    assert kept.creation_cursor == TRUSTED.creation_cursor
    older = replace(FEED, newest_creation=T)
    assert next_trust(
        TRUSTED, feed=older, misses=(), proof=None, listings_ok=True
    ).creation_cursor == (TRUSTED.creation_cursor)
