"""The state primitives behave the same on both backends: all-or-nothing reservations, the
refusing check named, exact integer sums beyond a double's precision, windows that expire."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from modelrail.state.base import Check, Denied
from modelrail.state.memory import MemoryState
from tests.metering_support import REDIS_URL, clean_redis, require_redis, unique_prefix

BIG = 2**60 + 1  # not representable as a double: an amount passed through a Lua number would be off


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[object]:
    if request.param == "memory":
        yield MemoryState()
        return
    require_redis()
    from modelrail.state.redis import RedisState

    prefix = unique_prefix()
    backend = RedisState(REDIS_URL, prefix)
    try:
        yield backend
    finally:
        await backend.close()
        clean_redis(prefix)


async def test_reserve_is_all_or_nothing(state) -> None:
    checks = [Check("a", 2, 3, 60), Check("b", 1, None, 60), Check("c", 5, 5, None)]
    assert await state.reserve(checks) == [2, 1, 5]
    denied = await state.reserve(checks)
    assert isinstance(denied, Denied)
    assert (denied.at, denied.current) == (0, 2)  # the first check without room
    assert denied.retry_after is not None and 0 < denied.retry_after <= 60
    # Nothing was added by the refused call.
    assert await state.adjust([Check("a", 0, None), Check("b", 0, None), Check("c", 0, None)]) == [2, 1, 5]
    denied = await state.reserve([Check("b", 1, None, 60), Check("c", 1, 5, None)])
    assert isinstance(denied, Denied) and (denied.at, denied.current, denied.retry_after) == (1, 5, None)


async def test_counters_are_exact(state) -> None:
    # Stored sums are exact whatever their size (the values a call returns pass through Lua
    # numbers on Redis, exact to 2**53 nano-dollars, about 9 million dollars).
    await state.reserve([Check("money", BIG, None, 60)])
    await state.adjust([Check("money", 2, None, 60)])
    assert await state.get("money") == str(BIG + 2)
    assert await state.adjust([Check("money", -BIG, None, 60)]) == [2]
    assert await state.incr("money", -3) == -1
    assert await state.reserve([Check("n", 10**15 + 1, 10**15 + 1, 60)]) == [10**15 + 1]
    assert isinstance(await state.reserve([Check("n", 1, 10**15 + 1, 60)]), Denied)


async def test_adjust_keeps_the_first_window(state) -> None:
    await state.adjust([Check("w", 1, None, 0.2)])
    await state.adjust([Check("w", 1, None, 60)])  # a ttl applies only where the key had none
    import asyncio

    await asyncio.sleep(0.35)
    assert await state.adjust([Check("w", 1, None, 60)]) == [1]


async def test_a_counter_named_twice_in_one_reservation_adds_twice(state) -> None:
    # Each check is held against the counter as the reservation found it; the amounts then add up.
    assert await state.reserve([Check("twice", 2, 3, 60), Check("other", 1, 9, 60), Check("twice", 3, 3, 60)]) == [
        2,
        1,
        5,
    ]
    denied = await state.reserve([Check("twice", 1, 9, 60), Check("twice", 1, 5, 60)])
    assert isinstance(denied, Denied) and (denied.at, denied.current) == (1, 5)
    assert await state.adjust([Check("twice", -1, None), Check("twice", -1, None)]) == [4, 3]


async def test_redis_state_that_cannot_connect_raises_state_unavailable() -> None:
    from modelrail.errors import StateUnavailable
    from modelrail.state.redis import RedisState

    state = RedisState("redis://127.0.0.1:1/0", prefix="modelrail-test:")
    try:
        with pytest.raises(StateUnavailable):
            await state.get("k")
        with pytest.raises(StateUnavailable):
            await state.delete_prefix("k")
    finally:
        await state.close()
