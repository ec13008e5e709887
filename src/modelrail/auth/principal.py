"""Who is calling, and what they may do and spend.

The authenticator fills this in (from the key store, or for the master key); the limits and
budget stages only read it. ``None`` means "no limit".
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Literal

from modelrail.endpoints import ENDPOINTS

BudgetPeriod = Literal["day", "month", "total"]


@dataclass(frozen=True, slots=True)
class Scopes:
    """What a key may call. Empty model and endpoint lists mean no restriction."""

    models: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()
    max_tokens: int | None = None

    def allows_model(self, alias: str) -> bool:
        return not self.models or any(fnmatch.fnmatchcase(alias, p) for p in self.models)

    def allows_endpoint(self, endpoint: str) -> bool:
        """``endpoint`` is a name in the endpoint table; keys list the table's scope names."""
        if not self.endpoints:
            return True
        spec = ENDPOINTS.get(endpoint)
        return spec is not None and spec.scope in self.endpoints


@dataclass(frozen=True, slots=True)
class Limits:
    """Rate limits of one key or one team."""

    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None


@dataclass(frozen=True, slots=True)
class Budget:
    """A dollar budget of one key or one team, for a period (calendar day/month in UTC, or total)."""

    usd: float
    period: BudgetPeriod = "month"
    # Fractions at which a spend alert fires, once per period.
    alert_thresholds: tuple[float, ...] = (0.5, 0.8, 1.0)


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    name: str
    team_id: str | None = None
    is_admin: bool = False
    scopes: Scopes = field(default_factory=Scopes)
    key_limits: Limits = field(default_factory=Limits)
    team_limits: Limits = field(default_factory=Limits)
    key_budget: Budget | None = None
    team_budget: Budget | None = None
    # A short, non-secret prefix of the key (for logs and the ledger), e.g. "mr-a1b2c3".
    display: str = ""
