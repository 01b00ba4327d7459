"""syncer.tasks.both: two awaits side by side that fail as sequential code would."""

from __future__ import annotations

import asyncio

import pytest

from syncer.tasks import both


async def test_both_results_in_order_and_the_awaits_overlap() -> None:
    started: list[str] = []
    gate = asyncio.Event()

    async def first() -> int:
        started.append("first")
        await gate.wait()
        return 1

    async def second() -> str:
        started.append("second")
        gate.set()  # only reachable if both run at once: first waits for it
        return "two"

    assert await asyncio.wait_for(both(first(), second()), timeout=5) == (1, "two")
    assert started == ["first", "second"]


async def test_the_first_failure_is_raised_as_itself_and_the_other_is_cancelled() -> None:
    cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def failing() -> None:
        await asyncio.sleep(0)
        raise LookupError("refused")

    with pytest.raises(LookupError, match="refused"):  # not an ExceptionGroup
        await asyncio.wait_for(both(slow(), failing()), timeout=5)
    assert cancelled.is_set()


async def test_cancelling_the_caller_cancels_both() -> None:
    cancelled: list[str] = []

    async def waits(name: str) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise

    task = asyncio.create_task(both(waits("a"), waits("b")))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == ["a", "b"]
