"""Creation-time windows: one long listing, sorted by creation time, listed in parts side by side.

Listing every package of an account is one chain of ``ceil(N/100)`` calls,
each waiting for the last one's token. Windows of creation time tile the same
range, and their listings run concurrently: window k covers
``[start_k, end_k)``, the first one unbounded below and the last one above.
When a window's listing still has pages to go while a slot is idle, the rest
of it (from the newest creation time read so far) is halved at the midpoint of
its time range and both halves are listed instead, so that a listing whose
distribution is unknown (a first sync) still spreads over the slots. A
package on an edge may be read by two windows, which costs nothing: writes are
idempotent.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from syncer.models import EPOCH

P = TypeVar("P")


@dataclass(frozen=True)
class Window:
    """The packages created at or after ``start`` and before ``end`` (None: unbounded)."""

    start: datetime | None = None
    end: datetime | None = None

    def __str__(self) -> str:
        start = self.start.isoformat() if self.start else "-"
        end = self.end.isoformat() if self.end else "-"
        return f"[{start}, {end})"


def tiled(edges: Sequence[datetime]) -> list[Window]:
    """Windows that tile all of time, split at each edge (sorted, duplicates dropped)."""
    starts: list[datetime | None] = [None, *sorted(set(edges))]
    return [Window(a, b) for a, b in zip(starts, [*starts[1:], None], strict=True)]


def halves(window: Window, reached: datetime, now: datetime, step: timedelta) -> list[Window]:
    """The rest of ``window`` from ``reached`` on, halved; [] when it is too short to halve.

    ``step`` is the bounds' resolution (a millisecond for the listings, a
    second for Search); the rest starts at ``reached`` itself, whose
    millisecond may go on over the next page.
    """
    end = window.end if window.end is not None else now
    # Where the rest begins, as the bounds are sent: in whole steps.
    reached -= (reached - EPOCH) % step
    if window.start is not None and reached <= window.start:
        return []  # a page all on the window's first step: no progress to split after
    if end - reached < 2 * step:
        return []
    middle = reached + (end - reached) / 2
    middle -= (middle - reached) % step
    return [Window(reached, middle), Window(middle, window.end)]


class Interrupted(Exception):
    """The listing stopped between two pages because its caller asked it to."""


class Slots(Protocol):
    """A bound on concurrent listings (syncer.aws.limits.TargetSlots)."""

    async def __aenter__(self) -> None: ...
    async def __aexit__(self, *exc: object) -> None: ...


@dataclass
class Progress:
    """What one window's listing has read: whether it is complete, and up to when."""

    window: Window
    reached: datetime | None = None
    done: bool = False


async def list_windows(
    windows: Sequence[Window],
    read: Callable[[Window], AsyncIterator[P]],
    write: Callable[[Window, P], Awaitable[None]],
    *,
    newest: Callable[[P], datetime | None],
    last: Callable[[P], bool],
    slots: Slots,
    parallel: int,
    now: Callable[[], datetime],
    step: timedelta,
    split: bool = True,
    interrupt: Callable[[], bool] = lambda: False,
    listed: list[Progress] | None = None,
) -> list[Progress]:
    """List ``windows`` (and, with ``split``, the halves they split into), at most
    ``parallel`` at once, each holding a slot while it lists; ``write`` stores each
    page as it arrives.

    Returns the progress of every window listed, split ones included (also kept
    in ``listed`` as it goes, for a caller that an error interrupts); an error in
    any listing cancels the others and is raised as itself. ``interrupt`` is asked
    after each page is written and counted: true raises ``Interrupted``.
    """
    pending: deque[Progress] = deque(Progress(w) for w in windows)
    listed = listed if listed is not None else []
    listed.extend(pending)
    active = 0

    async def run(progress: Progress) -> None:
        nonlocal active
        try:
            async with slots:
                pages = read(progress.window)
                try:
                    async for page in pages:
                        await write(progress.window, page)
                        progress.reached = newest(page) or progress.reached
                        if last(page):
                            progress.done = True
                            return
                        if interrupt():
                            raise Interrupted
                        idle = split and not pending and active < parallel
                        if idle and progress.reached is not None:
                            rest = halves(progress.window, progress.reached, now(), step)
                            if rest:
                                # Listed instead of the rest of this one.
                                progress.done = True
                                parts = [Progress(w) for w in rest]
                                pending.extend(parts)
                                listed.extend(parts)
                                return
                finally:
                    close = getattr(pages, "aclose", None)
                    if close is not None:  # a window left for its halves: end it now, not at GC
                        await close()
        finally:
            active -= 1
            launch()

    def launch() -> None:
        nonlocal active
        while pending and active < parallel:
            active += 1
            progress = pending.popleft()
            tasks.create_task(run(progress), name=f"window:{progress.window}")

    try:
        async with asyncio.TaskGroup() as tasks:
            launch()
    except BaseExceptionGroup as group:
        raise first_error(group)  # noqa: B904 - the error itself, with its own cause
    return listed


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a TaskGroup's group (of nested ones too), to raise as itself."""
    error = group.exceptions[0]
    return first_error(error) if isinstance(error, BaseExceptionGroup) else error
