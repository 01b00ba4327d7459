"""The cycle planner and the creation-time windows, without I/O (syncer.cycle.plan, windows)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from syncer.cycle.plan import FULL, INCREMENTAL, Found, Inputs, named_scopes, plan_cycle
from syncer.models import ONE_MILLISECOND
from syncer.windows import Window, halves, list_windows, tiled

T = datetime(2026, 1, 1, tzinfo=UTC)
LOOKBACK = timedelta(seconds=300)
SECOND = timedelta(seconds=1)


def test_a_reconcile_lists_every_group_and_all_of_time_in_windows() -> None:
    edges = (T + SECOND, T, T + 2 * SECOND, T)  # unsorted, with a repeat
    plan = plan_cycle(
        Inputs(True, newest_group=T, packages_cursor=T, lookback=LOOKBACK, edges=edges)
    )
    assert plan.mode == FULL and plan.full and plan.sweeps_groups
    assert plan.windows == (
        Window(None, T),
        Window(T, T + SECOND),
        Window(T + SECOND, T + 2 * SECOND),
        Window(T + 2 * SECOND, None),
    )
    # A mirror that knows no package yet: one window, split while it is listed.
    first = plan_cycle(Inputs(True, newest_group=None, packages_cursor=None, lookback=LOOKBACK))
    assert first.windows == (Window(None, None),)


def test_an_incremental_cycle_looks_a_lookback_before_what_it_knows() -> None:
    plan = plan_cycle(Inputs(False, newest_group=T, packages_cursor=T + SECOND, lookback=LOOKBACK))
    assert plan.mode == INCREMENTAL and not plan.sweeps_groups
    assert plan.groups_created_after == T - LOOKBACK
    assert plan.windows == (Window(T + SECOND - LOOKBACK, None),)
    # Nothing known yet: every group (with the sweep) and every package.
    empty = plan_cycle(Inputs(False, newest_group=None, packages_cursor=None, lookback=LOOKBACK))
    assert empty.sweeps_groups and empty.windows == (Window(None, None),)
    # A cursor within the lookback of year 1 has no lower bound.
    early = datetime.min.replace(tzinfo=UTC) + SECOND
    assert plan_cycle(Inputs(False, early, early, LOOKBACK)).windows == (Window(None, None),)


def test_the_scopes_named_are_those_of_packages_the_mirror_lacks() -> None:
    found = [
        Found("a/1", "a", T),  # mirrored: not named
        Found("b/1", "b", T),  # not mirrored
        Found("c/1", "c", T + SECOND),  # mirrored as an earlier package of that ARN
        Found("solo", None, T),  # unversioned, not mirrored
    ]
    mirrored = {"a/1": T, "c/1": T}
    assert named_scopes(found, mirrored) == (frozenset({"b", "c"}), True)
    assert named_scopes(found[:1], mirrored) == (frozenset(), False)


def test_windows_tile_all_of_time_and_halves_tile_the_rest() -> None:
    windows = tiled([T + SECOND, T])
    assert [(w.start, w.end) for w in windows] == [(None, T), (T, T + SECOND), (T + SECOND, None)]
    # The rest of an open window, from the newest creation read on: halves that
    # meet on a whole step, the first starting on the millisecond read last.
    rest = halves(Window(T, None), T + SECOND, now=T + 11 * SECOND, step=SECOND)
    assert rest == [Window(T + SECOND, T + 6 * SECOND), Window(T + 6 * SECOND, None)]
    assert halves(Window(T, T + 10 * SECOND), T + SECOND, now=T, step=ONE_MILLISECOND) == [
        Window(T + SECOND, T + 5500 * ONE_MILLISECOND),
        Window(T + 5500 * ONE_MILLISECOND, T + 10 * SECOND),
    ]
    # Too short to halve, or no progress (a page all on the window's first instant).
    assert halves(Window(T, T + SECOND), T + SECOND / 2, now=T, step=SECOND) == []
    assert halves(Window(T, None), T, now=T + 60 * SECOND, step=SECOND) == []


class Slots:
    def __init__(self) -> None:
        self.held = self.most = 0

    async def __aenter__(self) -> None:
        self.held += 1
        self.most = max(self.most, self.held)

    async def __aexit__(self, *exc: object) -> None:
        self.held -= 1


def pages_of(times: list[datetime], size: int) -> object:
    """A listing of ``times`` (sorted) by window, ``size`` a page, as the API pages it."""

    def read(window: Window) -> AsyncIterator[tuple[list[datetime], bool]]:
        async def pages() -> AsyncIterator[tuple[list[datetime], bool]]:
            inside = [
                t
                for t in times
                if (window.start is None or t >= window.start)
                and (window.end is None or t < window.end)
            ]
            for i in range(0, max(len(inside), 1), size):
                await asyncio.sleep(0)
                yield inside[i : i + size], i + size >= len(inside)

        return pages()

    return read


@pytest.mark.parametrize("parallel", [1, 4])
async def test_split_windows_read_every_item_and_use_the_idle_slots(parallel: int) -> None:
    times = sorted(T + k * 7 * ONE_MILLISECOND for k in range(1000))
    times += [times[500]] * 250  # more than a page in one millisecond
    times.sort()
    read: list[datetime] = []
    slots = Slots()

    async def write(_: Window, page: tuple[list[datetime], bool]) -> None:
        read.extend(page[0])

    listed = await list_windows(
        [Window(None, None)],
        pages_of(times, 100),  # type: ignore[arg-type]
        write,
        newest=lambda page: max(page[0], default=None),
        last=lambda page: page[1],
        slots=slots,
        parallel=parallel,
        now=lambda: T + 10 * SECOND,
        step=ONE_MILLISECOND,
    )
    assert set(read) == set(times)
    assert slots.held == 0 and slots.most <= parallel
    if parallel == 1:
        assert len(listed) == 1 and len(read) == len(times)  # never split: read once
    else:
        assert slots.most == parallel and len(listed) > parallel
        assert len(read) < 2 * len(times)  # edges re-read, not whole windows


async def test_a_failing_window_stops_the_others_and_is_raised_as_itself() -> None:
    class Broken(Exception):
        pass

    def read(window: Window) -> AsyncIterator[tuple[list[datetime], bool]]:
        async def pages() -> AsyncIterator[tuple[list[datetime], bool]]:
            if window.start is not None and window.start >= T:
                raise Broken(str(window))
            yield [T - SECOND], False
            await asyncio.sleep(3600)  # cancelled when the other window fails
            yield [], True

        return pages()

    async def write(_: Window, __: object) -> None:
        pass

    with pytest.raises(Broken):
        await list_windows(
            tiled([T]),
            read,
            write,
            newest=lambda page: None,
            last=lambda page: page[1],
            slots=Slots(),
            parallel=2,
            now=lambda: T,
            step=ONE_MILLISECOND,
        )
