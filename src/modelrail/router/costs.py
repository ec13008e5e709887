"""A deployment's cost for the lowest_cost strategy: its configured ``cost``, else what billing charges.

Billing's own :class:`~modelrail.usage.pricing.Pricing` (the shipped table under
``pricing.overrides`` and ``free_providers``) prices each deployment, so routing and the ledger
never disagree about what a model costs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from modelrail.router.deployment import Deployment
from modelrail.usage.pricing import Pricing


def price_deployments(table: Mapping[str, Iterable[Deployment]], pricing: Pricing) -> None:
    """Fill in ``cost`` (input plus output USD per million tokens) where the config gave none.
    Left None for a deployment nothing prices: lowest_cost sorts those last."""
    for deps in table.values():
        for dep in deps:
            if dep.cost is None:
                dep.cost = pricing.per_million(dep.id)
