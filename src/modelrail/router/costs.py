"""A deployment's cost for the lowest_cost strategy: its configured ``cost``, else the shipped pricing table.

The table and its lookup rule are the ledger's own (:mod:`modelrail.usage.pricing`), so routing and
billing never disagree about what a model costs.
"""

from __future__ import annotations

from modelrail.usage.config import Price
from modelrail.usage.pricing import load_table, lookup


def load_costs() -> dict[str, Price]:
    """Upstream model id -> its prices, from the shipped table; empty if the file cannot be read."""
    try:
        return load_table()
    except OSError:
        return {}


def cost_of(model: str, table: dict[str, Price]) -> float | None:
    """Input plus output USD per million tokens, or None for a model the table does not know."""
    price = lookup(table, model)
    return None if price is None else price.input + price.output
