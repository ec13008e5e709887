"""A deployment: one provider instance serving one alias, with its weight, timeouts, price and live stats."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from modelrail.providers.base import Provider, Timeouts


@dataclass(slots=True)
class DeploymentStats:
    """What this process saw of one deployment: calls in flight and smoothed latencies (seconds).

    Per process on purpose: latency is a local measurement, and in-flight counts are only needed
    to spread this process's own load. Breaker state, which every replica must agree on, lives in
    the breaker store instead.
    """

    in_flight: int = 0
    ewma_ttft: float | None = None
    ewma_latency: float | None = None
    calls: int = 0
    failures: int = 0
    # monotonic time before which the upstream asked us (Retry-After) not to call again.
    cooling_until: float = 0.0

    def observe(self, alpha: float, *, ttft: float | None = None, latency: float | None = None) -> None:
        if ttft is not None:
            self.ewma_ttft = ttft if self.ewma_ttft is None else alpha * ttft + (1 - alpha) * self.ewma_ttft
        if latency is not None:
            self.ewma_latency = (
                latency if self.ewma_latency is None else alpha * latency + (1 - alpha) * self.ewma_latency
            )

    def cooling(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) < self.cooling_until


@dataclass(slots=True)
class Deployment:
    id: str
    alias: str
    provider: Provider
    model: str
    weight: float
    timeouts: Timeouts
    region: str | None = None
    # USD per million tokens (input plus output), for the lowest_cost strategy; None when unknown.
    cost: float | None = None
    # Per process, and soft: a retry that waited out its back-off may go one over.
    max_in_flight: int | None = None
    # The provider's quota for this deployment, across every worker and replica (see router/quota.py).
    rpm: int | None = None
    tpm: int | None = None
    stats: DeploymentStats = field(default_factory=DeploymentStats)

    def full(self) -> bool:
        return self.max_in_flight is not None and self.stats.in_flight >= self.max_in_flight
