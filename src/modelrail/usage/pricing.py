"""Prices and costs: the shipped table (``data/pricing.yaml``) under the config's overrides."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from modelrail.context import Usage
from modelrail.usage.config import Price, PricingSettings

PRICING_FILE = Path(__file__).resolve().parent.parent / "data" / "pricing.yaml"
NANO = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Rate:
    """USD per token."""

    input: float
    output: float
    cached_input: float

    @classmethod
    def per_million(cls, price: Price) -> Rate:
        cached = price.cached_input if price.cached_input is not None else price.input
        return cls(price.input / 1e6, price.output / 1e6, cached / 1e6)

    def cost(self, usage: Usage) -> float:
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        return (
            (usage.prompt_tokens - cached) * self.input
            + cached * self.cached_input
            + usage.completion_tokens * self.output
        )

    def worst_case(self, prompt_tokens: int, max_output: int) -> float:
        return prompt_tokens * self.input + max_output * self.output


FREE = Rate(0.0, 0.0, 0.0)


def load_table(path: Path = PRICING_FILE) -> dict[str, Price]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {
        name: Price(input=e["input"], output=e["output"], cached_input=e.get("cached_input"))
        for name, e in (raw.get("models") or {}).items()
    }


@dataclass(frozen=True, slots=True)
class DeploymentRef:
    """What pricing needs to know of a deployment."""

    id: str
    alias: str
    provider: str
    model: str


class Pricing:
    """Resolves a rate per deployment once, at start-up; lookups on the hot path are a dict get."""

    def __init__(
        self,
        settings: PricingSettings,
        deployments: list[DeploymentRef],
        table: dict[str, Price] | None = None,
        routes: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        """``routes``: for each alias a client may name, every alias that may answer it (its
        fallbacks, a virtual model's targets); budgets reserve at the dearest of them."""
        self._table = load_table() if table is None else table
        self._settings = settings
        self._by_deployment: dict[str, Rate] = {}
        self._by_alias: dict[str, Rate] = {}
        # Input plus output USD per million tokens, as configured; None where nothing prices it.
        self._per_million: dict[str, float | None] = {}
        for dep in deployments:
            rate, per_million = self._resolve(dep)
            self._by_deployment[dep.id] = rate
            self._per_million[dep.id] = per_million
            known = self._by_alias.get(dep.alias)
            # An alias's worst case is its dearest deployment: the router may pick any of them.
            if known is None or (rate.input + rate.output) > (known.input + known.output):
                self._by_alias[dep.alias] = rate
        self._worst: dict[str, Rate] = {}
        self._unpriced: set[str] = set()
        unpriced_aliases = {d.alias for d in deployments if self._per_million[d.id] is None}
        for alias, reachable in (routes or {}).items():
            answering = {alias, *reachable}
            rates = [self._by_alias[a] for a in answering if a in self._by_alias]
            # Component by component: the dearest input, output and cached input of any of them.
            self._worst[alias] = Rate(
                max((r.input for r in rates), default=0.0),
                max((r.output for r in rates), default=0.0),
                max((r.cached_input for r in rates), default=0.0),
            )
            if answering & unpriced_aliases:
                self._unpriced.add(alias)
        for alias in unpriced_aliases:
            self._unpriced.add(alias)

    def _resolve(self, dep: DeploymentRef) -> tuple[Rate, float | None]:
        overrides = self._settings.overrides
        for key in (dep.id, dep.alias, dep.model):
            if key in overrides:
                price = overrides[key]
                return Rate.per_million(price), price.input + price.output
        if dep.provider in self._settings.free_providers:
            return FREE, 0.0
        found = lookup(self._table, dep.model)
        return (Rate.per_million(found), found.input + found.output) if found is not None else (FREE, None)

    def per_million(self, deployment: str) -> float | None:
        """A deployment's input plus output USD per million tokens, priced as billing prices it; None
        for a deployment nothing prices (no override, not a free provider, not in the table)."""
        return self._per_million.get(deployment)

    def for_deployment(self, deployment: str | None, alias: str) -> Rate:
        if deployment is not None:
            rate = self._by_deployment.get(deployment)
            if rate is not None:
                return rate
        return self._by_alias.get(alias, FREE)

    def for_alias(self, alias: str) -> Rate:
        return self._by_alias.get(alias, FREE)

    def worst_for(self, alias: str) -> Rate:
        """The dearest rate that may answer a request for ``alias``: itself, its fallbacks, or the
        targets of a virtual model; what a budget reservation is priced at."""
        rate = self._worst.get(alias)
        return rate if rate is not None else self._by_alias.get(alias, FREE)

    def unpriced(self, alias: str) -> bool:
        """Whether a request for ``alias`` may be answered by a deployment nothing prices."""
        return alias in self._unpriced

    def unknown(self) -> list[str]:
        """Deployments priced at 0 only because the table has no entry (for a start-up warning)."""
        return [d for d, r in self._by_deployment.items() if r is FREE]


def lookup(table: dict[str, Price], model: str) -> Price | None:
    if model in table:
        return table[model]
    bare = model.rsplit("/", 1)[-1]
    if bare in table:
        return table[bare]
    best = max((name for name in table if bare.startswith(name)), key=len, default=None)
    return table[best] if best is not None else None


def to_nano(usd: float) -> int:
    """Dollars to integer nano-dollars (exact integers keep Redis arithmetic exact)."""
    return round(usd * NANO)
