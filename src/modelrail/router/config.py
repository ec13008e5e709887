"""The ``router:`` config section: strategies, retries, fallbacks, breakers and the difficulty router.

Every key has a default, so a config without ``router:`` routes with weighted random choice,
two retries, a 20 % retry budget and an in-memory breaker per deployment.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Strategy = Literal["weighted", "least_inflight", "lowest_latency", "lowest_cost"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class RetrySettings(_Section):
    # Retries after the first attempt, per alias tried (fallback aliases get their own).
    max_retries: int = Field(default=2, ge=0, le=10)
    # Upstream HTTP statuses worth another try; connection errors and timeouts are separate switches.
    on_status: list[int] = Field(default_factory=lambda: [429, 500, 502, 503, 504])
    on_timeout: bool = True
    on_connection_error: bool = True
    # Full-jitter exponential backoff: sleep uniform(0, min(backoff_max, backoff_base * 2**n)).
    backoff_base: float = Field(default=0.1, ge=0)
    backoff_max: float = Field(default=5.0, ge=0)
    # An upstream asking to wait longer than this is not waited for: the router moves on instead.
    max_retry_after: float = Field(default=10.0, ge=0)


class RetryBudgetSettings(_Section):
    """Retries may be at most ``ratio`` of requests over ``window`` seconds (plus ``min_retries``),
    so an outage never multiplies the load on an upstream."""

    ratio: float = Field(default=0.2, ge=0, le=10)
    window: float = Field(default=10.0, gt=0)
    min_retries: int = Field(default=10, ge=0)


class BreakerSettings(_Section):
    enabled: bool = True
    # The breaker opens when, within one window, at least min_requests calls were made and
    # at least error_rate of them failed (or failures reached min_failures, whichever is larger).
    window: float = Field(default=30.0, gt=0)
    min_requests: int = Field(default=5, ge=1)
    min_failures: int = Field(default=5, ge=1)
    error_rate: float = Field(default=0.5, gt=0, le=1)
    # Seconds an open breaker refuses calls before letting probes through (half-open).
    cooldown: float = Field(default=15.0, gt=0)
    half_open_probes: int = Field(default=1, ge=1)
    # Where breaker state lives. Unset: where the shared state lives (``state.backend`` and its
    # ``redis_url``), so replicas on Redis share their breakers with nothing more to set.
    store: Literal["memory", "redis"] | None = None
    redis_url: str | None = None
    key_prefix: str = "modelrail:breaker:"


class DifficultyRule(_Section):
    """Points a request earns toward the premium model. ``kind`` picks the feature measured."""

    kind: Literal["length", "code", "math", "tools", "depth", "keywords"]
    points: float = 1.0
    # length: tokens (estimated) per point step; depth: user turns at or above which points apply.
    threshold: float = 0.0
    # keywords: case-insensitive words or phrases; each one found adds ``points`` (up to max_points).
    words: list[str] = Field(default_factory=list)
    max_points: float | None = None


def default_rules() -> list[DifficultyRule]:
    return [
        DifficultyRule(kind="length", points=1.0, threshold=400),
        DifficultyRule(kind="code", points=2.0),
        DifficultyRule(kind="math", points=2.0),
        DifficultyRule(kind="tools", points=1.0),
        DifficultyRule(kind="depth", points=1.0, threshold=4),
        DifficultyRule(
            kind="keywords",
            points=1.0,
            max_points=3.0,
            words=[
                "prove",
                "proof",
                "derive",
                "analyze",
                "analyse",
                "architecture",
                "design a",
                "optimize",
                "optimise",
                "trade-off",
                "tradeoff",
                "step by step",
                "debug",
                "refactor",
                "algorithm",
                "complexity",
                "concurrency",
                "distributed",
                "rigorous",
                "in depth",
                "compare and contrast",
                "implement",
                "threat model",
                "legal implications",
                "diagnos",
            ],
        ),
        DifficultyRule(
            kind="keywords",
            points=-1.0,
            max_points=-2.0,
            words=["translate", "say hello", "thank", "one word", "short answer", "spell", "synonym", "capital of"],
        ),
    ]


class AutoSettings(_Section):
    """A virtual model that sends easy requests to ``cheap`` and hard ones to ``premium``."""

    name: str = "auto"
    cheap: str
    premium: str
    # A request scoring at or above this goes to ``premium``.
    threshold: float = 1.0
    rules: list[DifficultyRule] = Field(default_factory=default_rules)


class RouterSettings(_Section):
    strategy: Strategy = "weighted"
    strategies: dict[str, Strategy] = Field(default_factory=dict)
    # Ordered aliases tried when every deployment of an alias failed (or its breakers are open).
    fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    # Aliases with a larger context, tried when the upstream says the prompt does not fit.
    context_fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    # Start the first fallback alongside the primary when it has sent no first token in this many ms.
    ttft_fallback_ms: dict[str, float] = Field(default_factory=dict)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    retry_budget: RetryBudgetSettings = Field(default_factory=RetryBudgetSettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    auto: AutoSettings | None = None
    # EWMA weight of the newest latency sample (lowest_latency strategy, admin view).
    ewma_alpha: float = Field(default=0.3, gt=0, le=1)

    @model_validator(mode="after")
    def _ttft_positive(self) -> RouterSettings:
        for alias, ms in self.ttft_fallback_ms.items():
            if ms <= 0:
                raise ValueError(f"ttft_fallback_ms.{alias} must be above 0")
        return self

    def strategy_for(self, alias: str) -> Strategy:
        return self.strategies.get(alias, self.strategy)

    def routes(self, aliases: Iterable[str]) -> dict[str, list[str]]:
        """For each alias (and the virtual ``auto`` model), every other alias that may answer a
        request for it: fallbacks and context fallbacks, followed to the end, and ``auto``'s targets."""
        out: dict[str, list[str]] = {}
        starts = {a: [a] for a in aliases}
        if self.auto is not None:
            starts[self.auto.name] = [self.auto.cheap, self.auto.premium]
        for alias, first in starts.items():
            seen: list[str] = []
            queue = list(first)
            while queue:
                current = queue.pop(0)
                if current in seen:
                    continue
                seen.append(current)
                queue += self.fallbacks.get(current, []) + self.context_fallbacks.get(current, [])
            out[alias] = [a for a in seen if a != alias]
        return out


def unknown_aliases(settings: RouterSettings, aliases: set[str]) -> list[str]:
    """Problems with aliases the router section names but no ``models:`` entry serves."""
    problems = []
    for section in ("strategies", "fallbacks", "context_fallbacks", "ttft_fallback_ms"):
        mapping: dict[str, object] = getattr(settings, section)
        for alias, value in mapping.items():
            if alias not in aliases:
                problems.append(f"router.{section}.{alias}: no model is named '{alias}'")
            targets = value if isinstance(value, list) else []
            problems += [f"router.{section}.{alias}: no model is named '{t}'" for t in targets if t not in aliases]
    if settings.auto is not None:
        for field in ("cheap", "premium"):
            name = getattr(settings.auto, field)
            if name not in aliases:
                problems.append(f"router.auto.{field}: no model is named '{name}'")
        if settings.auto.name in aliases:
            problems.append(f"router.auto.name: '{settings.auto.name}' is already a model's name")
    return problems
