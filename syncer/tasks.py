"""Awaits side by side, failing as sequential code would: with the first error itself."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

A = TypeVar("A")
B = TypeVar("B")


async def both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Both results; the first failure is raised as itself and the other is cancelled.

    Unlike a TaskGroup, which raises an ExceptionGroup, callers keep their
    ``except`` clauses for one exception (a refused Search, a stop).
    """
    tasks = (asyncio.ensure_future(first), asyncio.ensure_future(second))
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            if task.done() and not task.cancelled() and (error := task.exception()):
                raise error
        return tasks[0].result(), tasks[1].result()
    finally:
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a TaskGroup's group (of nested ones too), to raise as itself."""
    error = group.exceptions[0]
    return first_error(error) if isinstance(error, BaseExceptionGroup) else error
