"""Ordering an alias's deployments: the first is tried first, the rest are where retries go."""

from __future__ import annotations

import random
from collections.abc import Sequence

from modelrail.router.config import Strategy
from modelrail.router.deployment import Deployment


def order(strategy: Strategy, deps: Sequence[Deployment], rng: random.Random) -> list[Deployment]:
    if len(deps) <= 1:
        return list(deps)
    shuffled = weighted_order(deps, rng)
    if strategy == "weighted":
        return shuffled
    # The other strategies sort by a measure; the weighted shuffle breaks ties, and sorted() is stable.
    if strategy == "least_inflight":
        return sorted(shuffled, key=lambda d: d.stats.in_flight / d.weight)
    if strategy == "lowest_latency":
        # A deployment not measured yet sorts first, so every one gets measured.
        return sorted(shuffled, key=_latency)
    prices = [d.cost for d in shuffled]
    return [d for _, d in sorted(zip(prices, shuffled, strict=True), key=lambda p: _price_key(p[0]))]


def weighted_order(deps: Sequence[Deployment], rng: random.Random) -> list[Deployment]:
    """A random order where each next deployment is drawn in proportion to its weight
    (Efraimidis-Spirakis: sort by u ** (1 / w))."""
    keyed = [(rng.random() ** (1.0 / d.weight), i) for i, d in enumerate(deps)]
    keyed.sort(reverse=True)
    return [deps[i] for _, i in keyed]


def _latency(dep: Deployment) -> float:
    s = dep.stats
    measure = s.ewma_ttft if s.ewma_ttft is not None else s.ewma_latency
    return -1.0 if measure is None else measure


def _price_key(price: float | None) -> float:
    # Unknown prices sort last: never send "cheapest" traffic somewhere of unknown cost first.
    return float("inf") if price is None else price
