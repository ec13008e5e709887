"""Who is calling, and what they may do and spend.

The authenticator fills this in (from the key store, or for the master key); the limits and
budget stages only read it. ``None`` means "no limit".
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Literal

from modelrail.endpoints import ENDPOINTS
from modelrail.limits.schema import INDEX, LIMITS, NAMES, LimitSpec

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


@dataclass(frozen=True, slots=True, init=False, repr=False)
class Limits:
    """Rate limits of one key, team or model alias: a value for each limit of the schema
    (:data:`modelrail.limits.schema.LIMITS`), ``None`` for no limit.

    Built by name (``Limits(rpm=60, tpd=100_000)``) and read by name (``limits.rpm``); the values
    are kept in the schema's order, so adding a limit to the schema needs no change here.
    """

    values: tuple[int | None, ...]

    def __init__(self, **limits: int | None) -> None:
        unknown = limits.keys() - INDEX.keys()
        if unknown:
            raise TypeError(f"unknown limit(s): {', '.join(sorted(unknown))}")
        object.__setattr__(self, "values", tuple(limits.get(name) for name in NAMES))

    def __getattr__(self, name: str) -> int | None:
        # Only called when ordinary lookup fails, i.e. for a limit's name.
        index = INDEX.get(name)
        if index is None:
            raise AttributeError(name)
        return self.values[index]

    def items(self) -> list[tuple[LimitSpec, int]]:
        """The limits that have a value, in the schema's order."""
        return [(spec, v) for spec, v in zip(LIMITS, self.values, strict=True) if v is not None]

    def __repr__(self) -> str:
        return "Limits(" + ", ".join(f"{s.name}={v}" for s, v in self.items()) + ")"


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
