"""Breakers live where the shared state lives unless their store is set apart."""

from __future__ import annotations

from modelrail.router.breaker import MemoryBreakerStore, build_store
from modelrail.router.config import BreakerSettings
from modelrail.state.config import StateSettings


def test_breakers_follow_the_state_backend() -> None:
    store = build_store(BreakerSettings(), StateSettings(backend="redis", redis_url="redis://127.0.0.1:6390/3"))
    assert type(store).__name__ == "RedisBreakerStore"
    assert store.settings.redis_url == "redis://127.0.0.1:6390/3"  # type: ignore[attr-defined]
    assert isinstance(build_store(BreakerSettings(), StateSettings()), MemoryBreakerStore)


def test_an_explicit_store_wins() -> None:
    memory = build_store(BreakerSettings(store="memory"), StateSettings(backend="redis"))
    assert isinstance(memory, MemoryBreakerStore)
    redis = build_store(BreakerSettings(store="redis", redis_url="redis://127.0.0.1:6391/0"), StateSettings())
    assert redis.settings.redis_url == "redis://127.0.0.1:6391/0"  # type: ignore[attr-defined]
