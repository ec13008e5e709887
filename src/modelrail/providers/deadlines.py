"""Deadlines on upstream calls: time to first token, idle time between chunks, and total.

The connect deadline is the transport's (providers/transport.py); these three bound any provider,
HTTP or in-process, so the router applies them around every call. The stream helpers are generic:
the router passes batches of chunks through them (one deadline check per batch), tests may pass
single chunks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

from modelrail.errors import UpstreamTimeout
from modelrail.providers.base import Timeouts

T = TypeVar("T")


class _Deadline:
    """What ``asyncio.timeout`` does for one await, in one timer handle and no context manager
    (its ``__aenter__``/``__aexit__`` and state machine were 1-2% of a request): the task is
    cancelled when the deadline passes, and that cancellation is told apart from any other."""

    __slots__ = ("_cancelling", "_fired", "_handle", "_task")

    def __init__(self, limit: float) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()
        self._fired = False
        self._handle = asyncio.get_running_loop().call_later(limit, self._expire)

    def _expire(self) -> None:
        self._fired = True
        self._task.cancel()

    def end(self, exc: BaseException | None) -> bool:
        """Stop the timer once the await is over; True if ``exc`` is this deadline's cancellation."""
        self._handle.cancel()
        if not self._fired:
            return False
        # Undo our cancel; it was ours to report only if no other cancellation is pending.
        return self._task.uncancel() <= self._cancelling and isinstance(exc, asyncio.CancelledError)


async def bounded(awaitable: Awaitable[T], timeouts: Timeouts) -> T:
    """A whole non-streamed call, bounded by the first-token and total deadlines."""
    limit = min(timeouts.first_token, timeouts.total)
    deadline = _Deadline(limit)
    try:
        result = await awaitable
    except BaseException as exc:
        if deadline.end(exc):
            raise UpstreamTimeout(f"The upstream did not answer within {limit:g} s.", retryable=True) from None
        raise
    deadline.end(None)
    return result


async def first_chunk(stream: AsyncIterator[T], timeouts: Timeouts) -> T:
    """The first item of a stream, within the first-token deadline. Closes the stream on failure."""
    limit = min(timeouts.first_token, timeouts.total)
    deadline = _Deadline(limit)
    try:
        item = await anext(stream)
    except StopAsyncIteration as exc:
        deadline.end(exc)
        raise UpstreamTimeout("The upstream closed the stream without sending anything.", retryable=True) from None
    except BaseException as exc:
        expired = deadline.end(exc)
        await _close(stream)
        if expired:
            raise UpstreamTimeout(f"The upstream sent no first token within {limit:g} s.", retryable=True) from None
        raise
    deadline.end(None)
    return item


async def rest_of(stream: AsyncIterator[T], timeouts: Timeouts, started: float) -> AsyncIterator[T]:
    """The remaining items, each within the idle deadline and all within the total deadline."""
    deadline = started + timeouts.total
    timer = _IdleTimer()
    try:
        while True:
            left = deadline - time.monotonic()
            limit = min(timeouts.idle, left)
            if limit <= 0:
                raise UpstreamTimeout(f"The stream ran past its total deadline of {timeouts.total:g} s.")
            cancelling = timer.arm(limit)
            try:
                chunk = await anext(stream)
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                if timer.expired(cancelling):
                    raise UpstreamTimeout(f"The upstream went quiet for {limit:g} s mid-stream.") from None
                raise
            finally:
                timer.disarm()
            yield chunk
    finally:
        timer.close()
        await _close(stream)


class _IdleTimer:
    """What ``asyncio.timeout`` around each chunk's wait did, for a fraction of its cost.

    A context manager per chunk made and cancelled a timer handle per chunk (about 5 µs a chunk,
    6% of a streamed request). Here one handle serves the whole stream: arming only moves the
    deadline, and the handle, when it runs, re-arms itself if the deadline has moved on. It
    cancels the task only while that task is waiting for a chunk (never while it is suspended at
    ``yield``, when the consumer is running), and the cancellation is told apart from any other
    the way ``asyncio.timeout`` does it (``cancelling`` / ``uncancel``).
    """

    __slots__ = ("_deadline", "_fired", "_handle", "_loop", "_task")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[object] | None = None
        self._deadline = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._fired = False

    def arm(self, limit: float) -> int:
        """Start timing a wait of at most ``limit`` seconds; returns the task's cancel count now."""
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._deadline = self._loop.time() + limit
        handle = self._handle
        if handle is None or handle.when() > self._deadline:
            if handle is not None:
                handle.cancel()
            self._handle = self._loop.call_at(self._deadline, self._check)
        return task.cancelling()

    def disarm(self) -> None:
        self._task = None

    def expired(self, cancelling: int) -> bool:
        """After a CancelledError during the wait: True if this timer caused it (and it is now undone)."""
        if not self._fired or self._task is None:
            return False
        self._fired = False
        return self._task.uncancel() <= cancelling

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _check(self) -> None:
        self._handle = None
        if self._task is None:
            return  # not waiting: the next arm() sets a new handle
        if self._loop.time() >= self._deadline:
            self._fired = True
            self._task.cancel()
        else:
            self._handle = self._loop.call_at(self._deadline, self._check)


async def _close(stream: AsyncIterator[T]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
