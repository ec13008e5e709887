"""Retry decisions, back-off, the retry budget, strategies and the hedge, without an app."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from modelrail.errors import (
    ContextWindowExceeded,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from modelrail.providers.base import Timeouts
from modelrail.providers.fake import FakeConfig, FakeProvider
from modelrail.router.config import RetryBudgetSettings, RetrySettings
from modelrail.router.deployment import Deployment
from modelrail.router.hedge import hedged
from modelrail.router.retry import RetryBudget, RetryPolicy
from modelrail.router.strategies import order


def test_what_is_retried():
    p = RetryPolicy(RetrySettings())
    assert p.retryable(UpstreamRateLimited("x", upstream_status=429))
    for status in (500, 502, 503, 504):
        assert p.retryable(UpstreamError("x", upstream_status=status))
    assert p.retryable(UpstreamUnavailable("connection refused", retryable=True))
    assert p.retryable(UpstreamTimeout("slow"))
    assert not p.retryable(UpstreamError("x", upstream_status=501))
    assert not p.retryable(UpstreamError("bad key", upstream_status=401))
    assert not p.retryable(UpstreamBadRequest("x", upstream_status=400))
    assert not p.retryable(ContextWindowExceeded("x", upstream_status=400))
    assert not p.retryable(ValueError("not an upstream error"))
    narrow = RetryPolicy(RetrySettings(on_status=[503], on_timeout=False))
    assert not narrow.retryable(UpstreamError("x", upstream_status=500))
    assert not narrow.retryable(UpstreamTimeout("slow"))


def test_backoff_is_full_jitter_and_capped():
    p = RetryPolicy(RetrySettings(backoff_base=0.1, backoff_max=1.0), random.Random(7))
    for retry, ceiling in [(0, 0.1), (1, 0.2), (2, 0.4), (5, 1.0), (30, 1.0)]:
        samples = [p.backoff(retry) for _ in range(500)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8 and min(samples) < ceiling * 0.2


def test_retry_after_is_honoured_up_to_a_limit():
    p = RetryPolicy(RetrySettings(backoff_base=0.01, max_retry_after=10))
    assert p.wait_before(0, UpstreamRateLimited("x", retry_after=3)) == 3
    assert p.wait_before(0, UpstreamRateLimited("x", retry_after=11)) is None
    assert p.wait_before(0, UpstreamError("x")) <= 0.01  # type: ignore[operator]


def test_retry_budget_allows_a_fraction_of_requests_in_the_window():
    now = [100.0]
    budget = RetryBudget(RetryBudgetSettings(ratio=0.2, window=10, min_retries=2), clock=lambda: now[0])
    for _ in range(50):
        budget.record_request()
    granted = sum(budget.try_spend() for _ in range(100))
    assert granted == 2 + 10
    # Ten seconds on, the window has moved past all of it.
    now[0] += 11
    assert budget.totals() == (0, 0)
    assert sum(budget.try_spend() for _ in range(10)) == 2


def _dep(name: str, weight: float = 1.0, cost: float | None = None) -> Deployment:
    provider = FakeProvider(FakeConfig(model=name))
    return Deployment(id=name, alias="m", provider=provider, model=name, weight=weight, timeouts=Timeouts(), cost=cost)


def test_weighted_order_follows_weights():
    deps = [_dep("a", 3), _dep("b", 1)]
    rng = random.Random(1)
    firsts = Counter(order("weighted", deps, rng)[0].id for _ in range(4000))
    assert 0.70 < firsts["a"] / 4000 < 0.80


def test_least_inflight_lowest_latency_and_lowest_cost():
    rng = random.Random(3)
    a, b, c = _dep("a", cost=5.0), _dep("b", cost=1.0), _dep("c")
    a.stats.in_flight, b.stats.in_flight, c.stats.in_flight = 3, 1, 2
    assert [d.id for d in order("least_inflight", [a, b, c], rng)] == ["b", "c", "a"]
    a.stats.observe(0.3, ttft=0.5)
    b.stats.observe(0.3, ttft=0.2)
    # c has no measurement yet: it goes first so it gets one.
    assert [d.id for d in order("lowest_latency", [a, b, c], rng)] == ["c", "b", "a"]
    # Unknown cost sorts last.
    assert [d.id for d in order("lowest_cost", [a, b, c], rng)] == ["b", "a", "c"]


def test_ewma_moves_toward_new_samples():
    d = _dep("a")
    d.stats.observe(0.5, latency=1.0)
    d.stats.observe(0.5, latency=3.0)
    assert d.stats.ewma_latency == pytest.approx(2.0)


async def test_hedge_returns_the_fast_backup_and_cancels_the_primary():
    cancelled = asyncio.Event()

    async def slow() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "slow"

    async def quick() -> str:
        return "quick"

    discarded: list[str] = []

    async def discard(x: str) -> None:
        discarded.append(x)

    result = await asyncio.wait_for(hedged(slow, quick, 0.05, discard), 1)
    assert result == ("quick", True)
    assert cancelled.is_set() and discarded == []


async def test_hedge_without_delay_needed_never_starts_the_backup():
    started = []

    async def primary() -> str:
        return "p"

    async def backup() -> str:
        started.append(1)
        return "b"

    async def discard(x: str) -> None:
        return None

    assert await hedged(primary, backup, 0.5, discard) == ("p", False)
    assert started == []


async def test_hedge_raises_when_both_fail():
    async def fail_slowly() -> str:
        await asyncio.sleep(0.1)
        raise UpstreamError("primary")

    async def fail() -> str:
        raise UpstreamUnavailable("backup")

    async def discard(x: str) -> None:
        return None

    with pytest.raises(UpstreamError):
        await hedged(fail_slowly, fail, 0.01, discard)
