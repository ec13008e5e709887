"""Deadlines of upstream calls: time to the first token, idle time between chunks and the total."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from modelrail.errors import UpstreamTimeout
from modelrail.protocol.base import JSONObject
from modelrail.providers.base import Timeouts
from modelrail.providers.deadlines import rest_of


async def _chunks(gaps: list[float], closed: list[bool] | None = None) -> AsyncIterator[JSONObject]:
    try:
        for i, gap in enumerate(gaps):
            await asyncio.sleep(gap)
            yield {"i": i}
    finally:
        if closed is not None:
            closed.append(True)


def _timeouts(idle: float = 1.0, total: float = 30.0) -> Timeouts:
    return Timeouts(connect=1.0, first_token=1.0, idle=idle, total=total)


async def test_chunks_pass_through() -> None:
    got = [c["i"] async for c in rest_of(_chunks([0.0] * 20), _timeouts(), time.monotonic())]
    assert got == list(range(20))


async def test_a_quiet_upstream_times_out_and_is_closed() -> None:
    closed: list[bool] = []
    got = []
    with pytest.raises(UpstreamTimeout, match="went quiet"):
        async for c in rest_of(_chunks([0.0, 0.01, 5.0], closed), _timeouts(idle=0.2), time.monotonic()):
            got.append(c["i"])
    assert got == [0, 1]
    assert closed == [True]


async def test_the_idle_clock_restarts_with_each_chunk() -> None:
    # Each gap is under the idle limit, the sum is well over it.
    got = [c["i"] async for c in rest_of(_chunks([0.12] * 5), _timeouts(idle=0.2), time.monotonic())]
    assert got == list(range(5))


async def test_a_slow_consumer_is_not_an_idle_upstream() -> None:
    got = []
    async for c in rest_of(_chunks([0.0] * 3), _timeouts(idle=0.1), time.monotonic()):
        await asyncio.sleep(0.25)  # longer than the idle limit, spent outside the wait
        got.append(c["i"])
    assert got == [0, 1, 2]


async def test_total_deadline() -> None:
    with pytest.raises(UpstreamTimeout, match=r"total deadline|went quiet"):
        async for _ in rest_of(_chunks([0.1] * 20), _timeouts(idle=1.0, total=0.35), time.monotonic()):
            pass


async def test_an_outside_cancellation_is_not_a_timeout() -> None:
    async def consume() -> None:
        async for _ in rest_of(_chunks([0.0, 5.0]), _timeouts(idle=2.0), time.monotonic()):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancellation_inside_an_outer_timeout_still_reaches_it() -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            async for _ in rest_of(_chunks([0.0, 5.0]), _timeouts(idle=2.0), time.monotonic()):
                pass


def _ttft(first_token: float) -> Timeouts:
    return Timeouts(connect=1.0, first_token=first_token, idle=5.0, total=30.0)


async def test_a_call_past_its_deadline_is_a_timeout_and_leaves_the_task_uncancelled() -> None:
    from modelrail.providers.deadlines import bounded, first_chunk

    with pytest.raises(UpstreamTimeout, match=r"did not answer within 0\.05"):
        await bounded(asyncio.sleep(5), _ttft(0.05))
    closed: list[bool] = []
    with pytest.raises(UpstreamTimeout, match=r"no first token within 0\.05"):
        await first_chunk(_chunks([5.0], closed), _ttft(0.05))
    assert closed == [True]
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    assert await bounded(asyncio.sleep(0.01, result="in time"), _ttft(1.0)) == "in time"
    assert await first_chunk(_chunks([0.0]), _ttft(1.0)) == {"i": 0}
    await asyncio.sleep(1.1)  # past the deadlines of the calls that finished: nothing cancels this task
    assert task.cancelling() == 0


async def test_an_outside_cancellation_of_a_call_is_not_a_timeout() -> None:
    from modelrail.providers.deadlines import bounded, first_chunk

    for call in (lambda: bounded(asyncio.sleep(5), _ttft(0.2)), lambda: first_chunk(_chunks([5.0]), _ttft(0.2))):
        task = asyncio.create_task(call())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # Cancelled after its deadline fired but before it ran again: both cancellations are seen.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await bounded(asyncio.sleep(5), _ttft(0.05))
