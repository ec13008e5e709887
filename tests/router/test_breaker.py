"""The breaker's transitions, the same for the memory store and the Redis store."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator

import pytest

from modelrail.errors import StateUnavailable
from modelrail.router.breaker import Breakers, BreakerStore, MemoryBreakerStore
from modelrail.router.config import BreakerSettings
from tests.metering_support import require_redis

CFG = BreakerSettings(window=10, min_requests=4, min_failures=3, error_rate=0.5, cooldown=5, half_open_probes=1)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request) -> AsyncIterator[BreakerStore]:
    if request.param == "memory":
        yield MemoryBreakerStore(CFG)
        return
    require_redis()
    from modelrail.router.breaker_redis import RedisBreakerStore

    prefix = f"modelrail-test:{uuid.uuid4().hex}:"
    redis_store = RedisBreakerStore(CFG.model_copy(update={"key_prefix": prefix}))
    yield redis_store
    await redis_store.reset("d")
    await redis_store.close()


async def test_opens_on_error_rate_then_half_opens_then_closes(store: BreakerStore):
    t = 1000.0
    for ok in (True, False, False):
        assert await store.allow("d", t)
        assert await store.record("d", ok, t) == "closed"
    # Fourth call, third failure: 3 of 4 failed, at least min_requests and min_failures.
    assert await store.record("d", False, t) == "open"
    assert not await store.allow("d", t + 1)
    assert (await store.snapshot("d", t + 1)).state == "open"
    # After the cooldown one probe goes through, and only one.
    assert await store.allow("d", t + 5.1)
    assert not await store.allow("d", t + 5.2)
    assert (await store.snapshot("d", t + 5.2)).state == "half_open"
    assert await store.record("d", True, t + 5.3) == "closed"
    assert await store.allow("d", t + 5.4)
    snap = await store.snapshot("d", t + 5.4)
    assert snap.opened == 1 and snap.calls == 0


async def test_a_failed_probe_opens_it_again(store: BreakerStore):
    t = 2000.0
    for _ in range(4):
        await store.record("d", False, t)
    assert (await store.snapshot("d", t)).state == "open"
    assert await store.allow("d", t + 6)
    assert await store.record("d", False, t + 6.1) == "open"
    assert not await store.allow("d", t + 7)
    assert await store.allow("d", t + 11.2)


async def test_failures_in_separate_windows_do_not_add_up(store: BreakerStore):
    t = 3000.0
    for i in range(6):
        # Two failures per 10 s window, never three in one.
        assert await store.record("d", False, t + i * 6) == "closed"


async def test_a_probe_that_never_reports_back_frees_its_slot_after_a_cooldown(store: BreakerStore):
    t = 4000.0
    for _ in range(4):
        await store.record("d", False, t)
    assert await store.allow("d", t + 5.5)  # the probe goes and is never heard of again
    assert not await store.allow("d", t + 6)
    assert await store.allow("d", t + 10.6)


async def test_disabled_breakers_and_a_broken_store_let_calls_through():
    class Broken(MemoryBreakerStore):
        async def allow(self, key: str, now: float) -> bool:
            raise ConnectionError("down")

        async def record(self, key: str, ok: bool, now: float):  # type: ignore[override]
            raise ConnectionError("down")

    assert await Breakers(CFG, Broken(CFG)).allow("d")
    await Breakers(CFG, Broken(CFG)).record("d", False)

    class Unavailable(MemoryBreakerStore):
        # What the Redis store raises: Redis errors are translated at its edge.
        async def allow(self, key: str, now: float) -> bool:
            raise StateUnavailable("The breaker store (Redis) is unavailable: ConnectionError.")

        async def record(self, key: str, ok: bool, now: float):  # type: ignore[override]
            raise StateUnavailable("The breaker store (Redis) is unavailable: ConnectionError.")

    assert await Breakers(CFG, Unavailable(CFG)).allow("d")
    await Breakers(CFG, Unavailable(CFG)).record("d", False)
    off = Breakers(CFG.model_copy(update={"enabled": False}), MemoryBreakerStore(CFG))
    for _ in range(10):
        await off.record("d", False)
    assert await off.allow("d")


@pytest.mark.redis
async def test_two_replicas_share_one_redis_breaker():
    require_redis()
    from modelrail.router.breaker_redis import RedisBreakerStore

    cfg = CFG.model_copy(update={"key_prefix": f"modelrail-test:{uuid.uuid4().hex}:"})
    a, b = RedisBreakerStore(cfg), RedisBreakerStore(cfg)
    try:
        t = 5000.0
        for store in (a, b, a, b):
            await store.record("shared", False, t)
        # Failures seen by two replicas opened it for both.
        assert not await a.allow("shared", t + 1)
        assert not await b.allow("shared", t + 1)
        assert (await b.snapshot("shared", t + 1)).state == "open"
    finally:
        await a.reset("shared")
        await a.close()
        await b.close()


async def test_an_unreachable_redis_fails_open(caplog):
    from modelrail.router.breaker_redis import RedisBreakerStore

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    store = RedisBreakerStore(CFG.model_copy(update={"store": "redis", "redis_url": f"redis://127.0.0.1:{port}/0"}))
    breakers = Breakers(CFG, store)
    try:
        assert await breakers.allow("d")
        await breakers.record("d", False)
        assert await breakers.allow("d")
    finally:
        await breakers.close()
    assert sum("breaker store unavailable" in r.message for r in caplog.records) == 1


@pytest.mark.redis
async def test_replicas_on_redis_agree_through_the_app():
    require_redis()
    from tests.conftest import AUTH, running
    from tests.router.helpers import build, chat, deps, fake

    breaker = {
        "store": "redis",
        "key_prefix": f"modelrail-test:{uuid.uuid4().hex}:",
        "min_requests": 3,
        "min_failures": 3,
    }
    models = [fake("m", fail_rate=1.0), fake("m")]
    one, two = build(models, breaker=breaker), build(models, breaker=breaker)
    async with running(one) as c1, running(two) as c2:
        for _ in range(20):
            assert (await c1.post("/v1/chat/completions", json=chat("m"), headers=AUTH)).status_code == 200
        # The second replica never called the failing deployment, yet sees its breaker open.
        row = next(r for r in (await c2.get("/admin/v1/deployments", headers=AUTH)).json()["data"] if r["id"] == "m#0")
        assert row["breaker"]["state"] == "open"
        for _ in range(10):
            assert (await c2.post("/v1/chat/completions", json=chat("m"), headers=AUTH)).status_code == 200
        assert deps(two, "m")[0].provider.calls == 0


async def test_a_redis_breaker_store_that_cannot_connect_raises_state_unavailable():
    # Nothing listens on port 1: the Redis error is translated into modelrail's tree at the store's edge.
    from modelrail.router.breaker_redis import RedisBreakerStore

    store = RedisBreakerStore(CFG.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    try:
        with pytest.raises(StateUnavailable, match="breaker store"):
            await store.allow("d", 1.0)
        with pytest.raises(StateUnavailable):
            await store.snapshot("d", 1.0)
        # And the router's face of it fails open.
        assert await Breakers(CFG, store).allow("d")
    finally:
        await store.close()
