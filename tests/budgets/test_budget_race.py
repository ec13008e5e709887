"""A budget that allows exactly N requests, 10 x N sent at once: exactly N succeed, spend <= budget."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from modelrail.auth.principal import Budget, Principal
from modelrail.budgets.periods import period_of
from modelrail.context import RequestContext
from modelrail.protocol.base import validate
from modelrail.protocol.openai import ChatCompletionRequest
from modelrail.usage.pricing import NANO
from tests.conftest import running
from tests.metering_support import MSG, build_app, chat, clean_redis, ledger_rows, require_redis, unique_prefix

N = 5
MAX_TOKENS = 4
# $1 per 1k tokens in and out: a request's worst case is (prompt estimate + 4) tenths of a cent.
PRICE = {"input": 1000.0, "output": 1000.0}
MODELS = [{"name": "fake-chat", "provider": "fake", "reply": "a b c d e f g h", "latency": 0.3}]


def worst_case_usd(app) -> float:
    stages_meter = app.state.runtime.gateway.admission.meter
    body = chat(max_tokens=MAX_TOKENS)
    ctx = RequestContext(
        request_id="probe",
        principal=Principal(key_id="probe", name="probe"),
        endpoint="chat",
        alias="fake-chat",
        body=body,
        params=validate(ChatCompletionRequest, body),
    )
    prompt = stages_meter.estimator.prompt_tokens(ctx)
    return stages_meter.pricing.for_alias("fake-chat").worst_case(prompt, MAX_TOKENS)


async def race(tmp_path, state: dict) -> None:
    probe = build_app(tmp_path / "probe", MODELS, pricing={"overrides": {"fake-chat": PRICE}})
    budget_usd = N * worst_case_usd(probe)
    principal = Principal(key_id="race-key", name="race", key_budget=Budget(usd=budget_usd, period="day"))
    app = build_app(tmp_path, MODELS, principal, pricing={"overrides": {"fake-chat": PRICE}}, state=state)
    async with running(app) as client:

        async def one() -> httpx.Response:
            return await client.post("/v1/chat/completions", json=chat(max_tokens=MAX_TOKENS))

        responses = await asyncio.gather(*(one() for _ in range(10 * N)))
        ok = [r for r in responses if r.status_code == 200]
        refused = [r for r in responses if r.status_code == 429]
        assert len(ok) == N, [r.status_code for r in responses]
        assert len(refused) == 9 * N
        assert all(r.json()["error"]["code"] == "insufficient_quota" for r in refused)
        assert all(r.json()["error"]["type"] == "insufficient_quota" for r in refused)
        spent_header = sum(float(r.headers["x-modelrail-cost-usd"]) for r in ok)
        assert 0 < spent_header <= budget_usd + 1e-9
        backend = app.state.runtime.gateway.admission.state
        pid = period_of("day", time.time())[0]
        counter = int(await backend.get(f"bud:k:race-key:{pid}") or 0)
        assert counter <= round(budget_usd * NANO)
        assert counter == pytest.approx(spent_header * NANO, abs=N)
    # The ledger holds admitted requests (refusals at admission never reached an upstream).
    rows = await ledger_rows(tmp_path / "ledger.db")
    assert len(rows) == N
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(spent_header)
    assert all(r["status"] == 200 for r in rows)


async def test_budget_race_memory(tmp_path):
    await race(tmp_path, {"backend": "memory"})


async def test_budget_race_redis(tmp_path):
    require_redis()
    prefix = unique_prefix()
    try:
        await race(tmp_path, {"backend": "redis", "prefix": prefix})
    finally:
        clean_redis(prefix)


async def test_budget_exhausted_after_spend(tmp_path):
    """Sequential requests stop at the budget, and the refusal says why."""
    principal = Principal(key_id="seq", name="seq", key_budget=Budget(usd=0.02, period="total"))
    models = [{"name": "fake-chat", "provider": "fake", "reply": "one two three"}]
    app = build_app(tmp_path, models, principal, pricing={"overrides": {"fake-chat": PRICE}})
    async with running(app) as client:
        codes = []
        for _ in range(10):
            r = await client.post("/v1/chat/completions", json={"model": "fake-chat", "messages": MSG, "max_tokens": 3})
            codes.append(r.status_code)
        assert codes[0] == 200 and codes[-1] == 429
        assert "budget" in r.json()["error"]["message"]
