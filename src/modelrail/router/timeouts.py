"""Deadlines on upstream calls: time to first token, idle time between chunks, and total."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

from modelrail.errors import UpstreamTimeout
from modelrail.protocol.base import JSONObject
from modelrail.providers.base import Timeouts

T = TypeVar("T")


async def bounded(awaitable: Awaitable[T], timeouts: Timeouts) -> T:
    """A whole non-streamed call, bounded by the first-token and total deadlines."""
    limit = min(timeouts.first_token, timeouts.total)
    try:
        async with asyncio.timeout(limit):
            return await awaitable
    except TimeoutError:
        raise UpstreamTimeout(f"The upstream did not answer within {limit:g} s.", retryable=True) from None


async def first_chunk(stream: AsyncIterator[JSONObject], timeouts: Timeouts) -> JSONObject:
    """The first chunk of a stream, within the first-token deadline. Closes the stream on failure."""
    limit = min(timeouts.first_token, timeouts.total)
    try:
        async with asyncio.timeout(limit):
            return await anext(stream)
    except TimeoutError:
        await _close(stream)
        raise UpstreamTimeout(f"The upstream sent no first token within {limit:g} s.", retryable=True) from None
    except StopAsyncIteration:
        raise UpstreamTimeout("The upstream closed the stream without sending anything.", retryable=True) from None
    except BaseException:
        await _close(stream)
        raise


async def rest_of(stream: AsyncIterator[JSONObject], timeouts: Timeouts, started: float) -> AsyncIterator[JSONObject]:
    """The remaining chunks, each within the idle deadline and all within the total deadline."""
    deadline = started + timeouts.total
    try:
        while True:
            left = deadline - time.monotonic()
            limit = min(timeouts.idle, left)
            if limit <= 0:
                raise UpstreamTimeout(f"The stream ran past its total deadline of {timeouts.total:g} s.")
            try:
                async with asyncio.timeout(limit):
                    chunk = await anext(stream)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise UpstreamTimeout(f"The upstream went quiet for {limit:g} s mid-stream.") from None
            yield chunk
    finally:
        await _close(stream)


async def _close(stream: AsyncIterator[JSONObject]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
