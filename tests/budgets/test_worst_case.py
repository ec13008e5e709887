"""A budget reservation covers the worst a request can cost: every choice, the dearest model that
may answer it (auto's targets, fallbacks), and no model without a price."""

from __future__ import annotations

from modelrail.auth.principal import Budget, Principal
from tests.conftest import running
from tests.metering_support import build_app, chat

CHEAP = {"input": 1.0, "output": 1.0}  # USD per 1M tokens
DEAR = {"input": 1000.0, "output": 1000.0}


def fake(name: str, **extra) -> dict:
    return {"name": name, "provider": "fake", "reply": "a b c", **extra}


def budgeted(usd: float) -> Principal:
    return Principal(key_id="k", name="k", key_budget=Budget(usd=usd, period="day"))


def reservation_of(app) -> int:
    admission = app.state.runtime.gateway.admission
    (res,) = admission._pending.values()
    return res.cost_nano


async def reserved(app, body: dict) -> int:
    """What admission reserves for ``body``: read while the (slow) call is in flight."""
    import asyncio

    async with running(app) as client:
        task = asyncio.create_task(client.post("/v1/chat/completions", json=body))
        for _ in range(200):
            await asyncio.sleep(0.005)
            if app.state.runtime.gateway.admission._pending:
                break
        cost = reservation_of(app)
        r = await task
        assert r.status_code == 200, r.text
    return cost


async def test_n_choices_are_reserved_n_times(tmp_path):
    models = [fake("m", latency=0.2)]
    one = await reserved(
        build_app(tmp_path / "a", models, budgeted(100), pricing={"overrides": {"m": DEAR}}), chat("m", max_tokens=10)
    )
    many = await reserved(
        build_app(tmp_path / "b", models, budgeted(100), pricing={"overrides": {"m": DEAR}}),
        chat("m", max_tokens=10, n=8),
    )
    prompt_part = one - 10 * 1_000_000  # nano-dollars: 10 output tokens at $1,000 per 1M
    assert many - prompt_part == 8 * (one - prompt_part)


async def test_auto_and_fallbacks_are_reserved_at_the_dearest_answer(tmp_path):
    models = [fake("cheap", latency=0.2), fake("dear", latency=0.2)]
    overrides = {"overrides": {"cheap": CHEAP, "dear": DEAR}}
    plain = build_app(tmp_path / "a", models, budgeted(100), pricing=overrides)
    auto = build_app(
        tmp_path / "b",
        models,
        budgeted(100),
        pricing=overrides,
        router={"auto": {"cheap": "cheap", "premium": "dear"}},
    )
    fallback = build_app(
        tmp_path / "c", models, budgeted(100), pricing=overrides, router={"fallbacks": {"cheap": ["dear"]}}
    )
    cheap_cost = await reserved(plain, chat("cheap", max_tokens=10))
    dear_cost = await reserved(plain, chat("dear", max_tokens=10))
    assert dear_cost > 100 * cheap_cost
    # "auto" may send the request to "dear": it was priced as free before.
    assert await reserved(auto, chat("auto", max_tokens=10)) == dear_cost
    assert await reserved(fallback, chat("cheap", max_tokens=10)) == dear_cost


async def test_an_unpriced_model_is_refused_to_a_budgeted_key_only(tmp_path):
    models = [
        {"name": "mystery", "provider": "openai", "model": "no-such-model-xyz", "api_base": "http://127.0.0.1:9/v1"}
    ]
    app = build_app(tmp_path / "a", models, budgeted(1))
    async with running(app) as client:
        r = await client.post("/v1/chat/completions", json=chat("mystery"))
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "model_not_priced"
    free = build_app(tmp_path / "b", models, Principal(key_id="k2", name="no budget"))
    async with running(free) as client:
        r = await client.post("/v1/chat/completions", json=chat("mystery"))
    assert r.status_code != 400  # no budget to hold: it goes upstream (which is not there: 5xx)
