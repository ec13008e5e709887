"""A deployment: one provider instance serving one alias, with its weight and timeouts."""

from __future__ import annotations

from dataclasses import dataclass

from modelrail.providers.base import Provider, Timeouts


@dataclass(slots=True)
class Deployment:
    id: str
    alias: str
    provider: Provider
    model: str
    weight: float
    timeouts: Timeouts
