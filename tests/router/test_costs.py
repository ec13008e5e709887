"""lowest_cost routing prices deployments with billing's own Pricing: overrides and free providers included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AUTH, running
from tests.metering_support import build_app, chat, ledger_rows

# By the shipped table gpt-4o costs 12.5 $/Mtok and gpt-4o-mini 0.75: routing by the table alone
# picks the mini one whatever the config says about prices.
MODELS = [
    {"name": "m", "provider": "fake", "model": "gpt-4o", "reply": "one two three"},
    {"name": "m", "provider": "fake", "model": "gpt-4o-mini", "reply": "one two three"},
]


async def _served(tmp: Path, pricing: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]], Any]:
    app = build_app(tmp, MODELS, router={"strategy": "lowest_cost"}, pricing=pricing)
    async with running(app) as client:
        served = []
        for _ in range(4):
            r = await client.post("/v1/chat/completions", json=chat("m"), headers=AUTH)
            assert r.status_code == 200, r.text
            served.append(r.headers["x-modelrail-deployment"])
        costs = {row["id"]: row["cost_per_mtok"] for row in await app.state.runtime.router.describe()}
    return served, await ledger_rows(tmp / "ledger.db"), costs


async def test_lowest_cost_and_the_ledger_agree_under_an_override(tmp_path: Path) -> None:
    # The fake provider is free by default (free_providers); an override prices the mini model.
    served, rows, costs = await _served(tmp_path, {"overrides": {"m#1": {"input": 0.01, "output": 0.02}}})
    assert costs == {"m#0": 0.0, "m#1": pytest.approx(0.03)}
    assert served == ["m#0"] * 4
    assert [row["cost_usd"] for row in rows] == [0.0] * 4


async def test_lowest_cost_follows_an_override_that_makes_the_table_cheap_one_dear(tmp_path: Path) -> None:
    pricing = {"free_providers": [], "overrides": {"gpt-4o-mini": {"input": 100, "output": 100}}}
    served, rows, costs = await _served(tmp_path, pricing)
    assert costs == {"m#0": 12.5, "m#1": 200.0}
    assert served == ["m#0"] * 4
    # What the ledger charged is gpt-4o's table price: the deployment routing chose as cheapest.
    for row in rows:
        expected = row["prompt_tokens"] * 2.5e-6 + row["completion_tokens"] * 10e-6
        assert row["deployment"] == "m#0" and row["cost_usd"] == pytest.approx(expected) and expected > 0
