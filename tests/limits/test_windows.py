"""Limits per hour and per day (``rph``, ``tph``, ``rpd``, ``tpd``) per key, team and model, on the
memory state and on Redis: 429 with a Retry-After to the window's end, and the rate headers of the
tightest limit among all windows."""

from __future__ import annotations

import re
import time

import pytest

from modelrail.auth.principal import Limits, Principal
from tests.conftest import running
from tests.metering_support import (
    REDIS_URL,
    away_from_minute_edge,
    build_app,
    chat,
    clean_redis,
    require_redis,
    unique_prefix,
)

FAKE = [{"name": "fake-chat", "provider": "fake", "reply": "one two three"}]
DAY = 86400.0


def seconds_of(duration: str) -> int:
    """``"20h3m7s"``, ``"3m0s"``, ``"7s"`` in seconds."""
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(\d+)s", duration)
    assert m, duration
    h, mins, s = (int(g or 0) for g in m.groups())
    return h * 3600 + mins * 60 + s


def state_of(backend: str) -> dict[str, str]:
    state = {"backend": backend}
    if backend == "redis":
        require_redis()
        state["prefix"] = unique_prefix()
    return state


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_key_rpd_refuses_the_fourth_request_until_the_day_ends(tmp_path, backend):
    state = state_of(backend)
    principal = Principal(key_id="k-rpd", name="k", key_limits=Limits(rpd=3))
    app = build_app(tmp_path, FAKE, principal, state=state)
    await away_from_minute_edge()  # a day's end is also a minute's
    try:
        async with running(app) as client:
            responses = [await client.post("/v1/chat/completions", json=chat()) for _ in range(5)]
        if backend == "redis":
            import redis

            r = redis.Redis.from_url(REDIS_URL)
            try:
                day = int(time.time() // DAY)
                key = f"{state['prefix']}rl:k:k-rpd:rd:{day}"
                assert int(r.get(key) or 0) == 3, "one counter per key and UTC day"
                assert 0 < r.pttl(key) <= (DAY + 1) * 1000, "it lives as long as its day (and a second)"
            finally:
                r.close()
    finally:
        if backend == "redis":
            clean_redis(state["prefix"])
    to_midnight = DAY - time.time() % DAY
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    assert [r.headers["x-ratelimit-remaining-requests"] for r in responses[:3]] == ["2", "1", "0"]
    assert all(r.headers["x-ratelimit-limit-requests"] == "3" for r in responses[:3])
    assert abs(seconds_of(responses[2].headers["x-ratelimit-reset-requests"]) - to_midnight) <= 5
    refused = responses[3]
    error = refused.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "rate_limit_error"
    assert "requests per day on key 'k-rpd'" in error["message"] and "limit 3" in error["message"]
    assert abs(int(refused.headers["retry-after"]) - to_midnight) <= 5, "Retry-After: the end of the UTC day"


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_key_tpd_counts_true_tokens(tmp_path, backend):
    # Each request reserves the prompt's estimate plus max_tokens and is corrected to the fake's
    # true count once it settles.
    state = state_of(backend)
    principal = Principal(key_id="k-tpd", name="k", key_limits=Limits(tpd=100))
    app = build_app(tmp_path, FAKE, principal, state=state)
    await away_from_minute_edge()
    try:
        async with running(app) as client:
            first = await client.post("/v1/chat/completions", json=chat(max_tokens=50))
            second = await client.post("/v1/chat/completions", json=chat(max_tokens=50))
            big = await client.post("/v1/chat/completions", json=chat(max_tokens=95))
    finally:
        if backend == "redis":
            clean_redis(state["prefix"])
    assert first.status_code == second.status_code == 200
    used = first.json()["usage"]["total_tokens"]
    assert second.headers["x-ratelimit-limit-tokens"] == "100"
    reserved = 100 - int(first.headers["x-ratelimit-remaining-tokens"])
    assert reserved > used
    # Only the first request's true count and the second's reservation are counted.
    assert int(second.headers["x-ratelimit-remaining-tokens"]) == 100 - used - reserved
    assert abs(seconds_of(second.headers["x-ratelimit-reset-tokens"]) - (DAY - time.time() % DAY)) <= 5
    assert big.status_code == 429 and "tokens per day" in big.json()["error"]["message"]


async def test_the_tightest_window_sets_the_headers(tmp_path):
    day_binds = Principal(key_id="k-day", name="d", key_limits=Limits(rpm=100, rpd=5))
    minute_binds = Principal(key_id="k-min", name="m", key_limits=Limits(rpm=2, rpd=100))
    app = build_app(tmp_path, FAKE, day_binds)
    app.state.runtime.auth.others = {"m": minute_binds}
    await away_from_minute_edge()
    async with running(app) as client:
        d = await client.post("/v1/chat/completions", json=chat())
        m = await client.post("/v1/chat/completions", json=chat(), headers={"authorization": "Bearer m"})
    assert (d.headers["x-ratelimit-limit-requests"], d.headers["x-ratelimit-remaining-requests"]) == ("5", "4")
    assert seconds_of(d.headers["x-ratelimit-reset-requests"]) > 60 or DAY - time.time() % DAY <= 60
    assert (m.headers["x-ratelimit-limit-requests"], m.headers["x-ratelimit-remaining-requests"]) == ("2", "1")
    assert seconds_of(m.headers["x-ratelimit-reset-requests"]) <= 60


async def test_team_rph_spans_its_keys(tmp_path):
    team = Limits(rph=3)
    a = Principal(key_id="ka", name="a", team_id="team-h", team_limits=team)
    b = Principal(key_id="kb", name="b", team_id="team-h", team_limits=team)
    app = build_app(tmp_path, FAKE, a)
    app.state.runtime.auth.others = {"b": b}
    await away_from_minute_edge()  # an hour's end is also a minute's
    async with running(app) as client:
        codes = []
        for who in ["a", "b", "a", "b"]:
            r = await client.post("/v1/chat/completions", json=chat(), headers={"authorization": f"Bearer {who}"})
            codes.append(r.status_code)
    assert codes == [200, 200, 200, 429]
    assert "requests per hour on team 'team-h'" in r.json()["error"]["message"]
    assert 1 <= int(r.headers["retry-after"]) <= 3600


async def test_model_rpd_from_config(tmp_path):
    app = build_app(tmp_path, FAKE, Principal(key_id="any", name="any"), limits={"models": {"fake-chat": {"rpd": 2}}})
    await away_from_minute_edge()
    async with running(app) as client:
        codes = [(await client.post("/v1/chat/completions", json=chat())).status_code for _ in range(3)]
        last = await client.post("/v1/chat/completions", json=chat())
    assert codes == [200, 200, 429]
    assert "requests per day on model 'fake-chat'" in last.json()["error"]["message"]


def test_config_checks_the_new_limits(tmp_path):
    from modelrail.settings import ConfigError, settings_from_dict
    from tests.metering_support import settings_dict

    with pytest.raises(ConfigError, match="tpd"):
        settings_from_dict(settings_dict(tmp_path, FAKE, limits={"models": {"fake-chat": {"tpd": -1}}}), env={})
    with pytest.raises(ConfigError, match="rpw"):
        settings_from_dict(settings_dict(tmp_path, FAKE, limits={"models": {"fake-chat": {"rpw": 1}}}), env={})


def test_plans_keep_the_counters_of_the_minute_limits():
    """The minute's counters keep their names (a rolling upgrade keeps counting on them), and a key
    without hour or day limits gets the same checks as before they existed."""
    from modelrail.limits.admission import LimitsAdmission
    from modelrail.limits.config import LimitsSettings

    admission = LimitsAdmission(LimitsSettings(), None, None, None)  # type: ignore[arg-type]
    minute_only = Principal(key_id="k", name="k", key_limits=Limits(rpm=1, tpm=2, max_concurrency=3))
    plan = admission._plan(minute_only, "fake-chat")
    assert [(r.key, r.window, r.ttl) for r in plan.rates] == [
        ("rl:k:k:r:", 60.0, 61.0), ("rl:k:k:t:", 60.0, 61.0), ("rl:k:k:c", 0.0, 900.0),
    ]  # fmt: skip
    assert plan.token_at == (1,) and plan.concurrency_at == (2,) and plan.headers_at == ((0,), (1,))
    with_team = Principal(key_id="k", name="k", key_limits=Limits(rpm=1), team_id="t", team_limits=Limits(rpd=5, tph=9))
    plan = admission._plan(with_team, "fake-chat")
    assert [(r.key, r.window, r.ttl) for r in plan.rates] == [
        ("rl:k:k:r:", 60.0, 61.0), ("rl:t:t:th:", 3600.0, 3601.0), ("rl:t:t:rd:", 86400.0, 86401.0),
    ]  # fmt: skip
    assert plan.token_at == (1,) and plan.headers_at == ((0, 2), (1,))
