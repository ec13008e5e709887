"""A deployment's cost for the lowest_cost strategy: its configured ``cost``, else the pricing table."""

from __future__ import annotations

from pathlib import Path

import yaml

PRICING_FILE = Path(__file__).resolve().parent.parent / "data" / "pricing.yaml"


def load_costs(path: Path = PRICING_FILE) -> dict[str, float]:
    """Upstream model id -> input plus output USD per million tokens, from the shipped table."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError:
        return {}
    models = raw.get("models") if isinstance(raw, dict) else None
    out: dict[str, float] = {}
    for name, entry in (models or {}).items():
        if isinstance(entry, dict) and "input" in entry and "output" in entry:
            out[str(name)] = float(entry["input"]) + float(entry["output"])
    return out


def cost_of(model: str, table: dict[str, float]) -> float | None:
    """Exact id, then without a ``provider/`` prefix, then the longest entry the id starts with."""
    if model in table:
        return table[model]
    bare = model.rsplit("/", 1)[-1]
    if bare in table:
        return table[bare]
    best = max((name for name in table if bare.startswith(name)), key=len, default=None)
    return table[best] if best is not None else None
