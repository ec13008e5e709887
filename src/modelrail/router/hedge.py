"""Racing a slow primary against a fallback started after a delay; the first success wins."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def hedged(
    primary: Callable[[], Awaitable[T]],
    backup: Callable[[], Awaitable[T]],
    delay: float,
    discard: Callable[[T], Awaitable[None]],
) -> tuple[T, bool]:
    """Run ``primary``; if it has not finished within ``delay`` seconds, start ``backup`` too.

    Returns the first successful result and whether it came from the backup. The loser is
    cancelled, and a result it produced anyway is handed to ``discard`` (an open stream must be
    closed). When both fail, the backup's error is raised: it is the later, more relevant one.
    """
    first: asyncio.Task[T] = asyncio.ensure_future(primary())
    tasks: list[asyncio.Task[T]] = [first]
    winner: asyncio.Task[T] | None = None
    try:
        done, _ = await asyncio.wait(tasks, timeout=delay)
        if done:
            winner = first
            return first.result(), False
        second: asyncio.Task[T] = asyncio.ensure_future(backup())
        tasks.append(second)
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            # Prefer the primary when both finished in the same instant.
            for task in sorted(done, key=tasks.index):
                if _succeeded(task):
                    winner = task
                    return task.result(), task is second
        exc = second.exception() if not second.cancelled() else first.exception()
        assert exc is not None
        raise exc
    finally:
        await _settle_losers(tasks, winner, discard)


def _succeeded(task: asyncio.Task[T]) -> bool:
    return task.done() and not task.cancelled() and task.exception() is None


async def _settle_losers(
    tasks: list[asyncio.Task[T]], winner: asyncio.Task[T] | None, discard: Callable[[T], Awaitable[None]]
) -> None:
    losers = [t for t in tasks if t is not winner]
    for task in losers:
        task.cancel()
    for task in losers:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    # A loser that finished successfully anyway holds a resource nobody will read.
    for task in losers:
        if _succeeded(task):
            await discard(task.result())
