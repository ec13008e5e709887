"""RPM, TPM and concurrency per key, team and model; OpenAI's headers; 429 with Retry-After."""

from __future__ import annotations

import asyncio

import pytest

from modelrail.auth.principal import Limits, Principal
from tests.conftest import running
from tests.metering_support import (
    away_from_minute_edge,
    build_app,
    chat,
    clean_redis,
    require_redis,
    unique_prefix,
)

FAKE = [{"name": "fake-chat", "provider": "fake", "reply": "one two three"}]
SLOW = [{"name": "fake-chat", "provider": "fake", "reply": "one two three", "latency": 0.3}]


async def rpm_sequence(app, n: int) -> list:
    await away_from_minute_edge()
    async with running(app) as client:
        return [await client.post("/v1/chat/completions", json=chat()) for _ in range(n)]


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_key_rpm_with_headers(tmp_path, backend):
    state: dict = {"backend": backend}
    if backend == "redis":
        require_redis()
        state["prefix"] = unique_prefix()
    principal = Principal(key_id="k-rpm", name="k", key_limits=Limits(rpm=3))
    try:
        responses = await rpm_sequence(build_app(tmp_path, FAKE, principal, state=state), 5)
    finally:
        if backend == "redis":
            clean_redis(state["prefix"])
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    assert [r.headers["x-ratelimit-remaining-requests"] for r in responses[:3]] == ["2", "1", "0"]
    assert all(r.headers["x-ratelimit-limit-requests"] == "3" for r in responses[:3])
    assert responses[0].headers["x-ratelimit-reset-requests"].endswith("s")
    refused = responses[3]
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


async def test_tpm_reserves_then_corrects(tmp_path):
    # The fake counts "hello there" as 5 prompt tokens and answers 3; the reservation is the
    # estimate plus max_tokens (50), far more than what is then used.
    principal = Principal(key_id="k-tpm", name="k", key_limits=Limits(tpm=120))
    app = build_app(tmp_path, FAKE, principal)
    await away_from_minute_edge()
    async with running(app) as client:
        first = await client.post("/v1/chat/completions", json=chat(max_tokens=50))
        assert first.status_code == 200
        used = first.json()["usage"]["total_tokens"]
        second = await client.post("/v1/chat/completions", json=chat(max_tokens=50))
        assert second.status_code == 200
        # After settling, only the true count of the first request remains counted.
        remaining = int(second.headers["x-ratelimit-remaining-tokens"])
        assert remaining < 120 - used
        third = await client.post("/v1/chat/completions", json=chat(max_tokens=50))
        assert third.status_code == 200
        assert int(third.headers["x-ratelimit-remaining-tokens"]) > remaining - 60
        big = await client.post("/v1/chat/completions", json=chat(max_tokens=500))
        assert big.status_code == 429
        assert "tokens per minute" in big.json()["error"]["message"]


async def test_concurrency_limit(tmp_path):
    principal = Principal(key_id="k-conc", name="k", key_limits=Limits(max_concurrency=2))
    app = build_app(tmp_path, SLOW, principal)
    async with running(app) as client:
        responses = await asyncio.gather(*(client.post("/v1/chat/completions", json=chat()) for _ in range(6)))
        assert sorted(r.status_code for r in responses) == [200, 200, 429, 429, 429, 429]
        # Slots are given back at completion.
        again = await asyncio.gather(*(client.post("/v1/chat/completions", json=chat()) for _ in range(2)))
        assert [r.status_code for r in again] == [200, 200]


async def test_team_limit_spans_its_keys(tmp_path):
    team = Limits(rpm=3)
    a = Principal(key_id="ka", name="a", team_id="team-1", team_limits=team)
    b = Principal(key_id="kb", name="b", team_id="team-1", team_limits=team)
    app = build_app(tmp_path, FAKE, a)
    app.state.runtime.auth.others = {"b": b}
    await away_from_minute_edge()
    async with running(app) as client:
        codes = []
        for who in ["a", "b", "a", "b", "a"]:
            r = await client.post("/v1/chat/completions", json=chat(), headers={"authorization": f"Bearer {who}"})
            codes.append(r.status_code)
        assert codes == [200, 200, 200, 429, 429]
        assert "team 'team-1'" in r.json()["error"]["message"]


async def test_model_limit_from_config(tmp_path):
    app = build_app(tmp_path, FAKE, Principal(key_id="any", name="any"), limits={"models": {"fake-chat": {"rpm": 2}}})
    await away_from_minute_edge()
    async with running(app) as client:
        codes = [(await client.post("/v1/chat/completions", json=chat())).status_code for _ in range(4)]
        assert codes == [200, 200, 429, 429]


async def test_no_limits_no_headers(tmp_path):
    app = build_app(tmp_path, FAKE, Principal(key_id="free", name="free"))
    async with running(app) as client:
        r = await client.post("/v1/chat/completions", json=chat())
        assert r.status_code == 200
        assert "x-ratelimit-limit-requests" not in r.headers
        assert "x-modelrail-cost-usd" in r.headers


async def test_unreachable_redis_refuses_with_503(tmp_path):
    principal = Principal(key_id="k-down", name="k", key_limits=Limits(rpm=5))
    state = {"backend": "redis", "redis_url": "redis://127.0.0.1:1/0", "prefix": unique_prefix()}
    app = build_app(tmp_path, FAKE, principal, state=state)
    async with running(app) as client:
        r = await client.post("/v1/chat/completions", json=chat())
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "state_unavailable"


async def test_limits_follow_the_principal_object_and_the_alias(tmp_path):
    """Admission works out each principal's checks once per alias; a key whose limits changed is
    a new principal object and is held to its new limits at once, on the same counters."""
    from modelrail.context import RequestContext
    from modelrail.errors import RateLimited
    from modelrail.protocol.openai import ChatCompletionRequest
    from modelrail.settings import settings_from_dict
    from modelrail.stages_build import build_stages
    from tests.metering_support import settings_dict

    models = [*FAKE, {"name": "other", "provider": "fake", "reply": "x"}]
    limits = {"models": {"other": {"rpm": 1}}}
    settings = settings_from_dict(settings_dict(tmp_path, models, limits=limits), env={})
    admission = build_stages(settings, {}).admission

    async def admit(principal: Principal, alias: str = "fake-chat") -> None:
        body = chat(alias)
        ctx = RequestContext(
            request_id="r", principal=principal, endpoint="chat", alias=alias, body=body,
            params=ChatCompletionRequest.model_validate(body),
        )  # fmt: skip
        await admission.admit(ctx)

    await away_from_minute_edge()
    before = Principal(key_id="k-plan", name="k", key_limits=Limits(rpm=2))
    await admit(before)
    await admit(before)
    with pytest.raises(RateLimited):
        await admit(before)
    raised = Principal(key_id="k-plan", name="k", key_limits=Limits(rpm=4))
    await admit(raised)  # the key's counter stands at 2 of its new 4
    await admit(raised)
    with pytest.raises(RateLimited):
        await admit(raised)
    # Another alias: the model's own limit applies there, beside the key's (now full) one.
    fresh = Principal(key_id="k-plan-2", name="k", key_limits=Limits(rpm=10))
    await admit(fresh, "other")
    with pytest.raises(RateLimited, match="model 'other'"):
        await admit(fresh, "other")
    await admit(fresh)  # fake-chat has no model limit
