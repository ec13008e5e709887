"""A deadline a client tightens is the client's business: it opens no breaker and spends no shared retries."""

from __future__ import annotations

from tests.conftest import AUTH, running
from tests.router.helpers import build, chat, deps

URL = "/v1/chat/completions"


async def test_tightened_deadlines_do_not_open_the_breaker_for_everyone():
    # A breaker that opens after two failures, and a deployment that answers in 0.3 s.
    breaker = {"min_requests": 2, "min_failures": 2, "error_rate": 0.5, "window": 30, "cooldown": 30}
    app = build([{"name": "m", "provider": "fake", "reply": "slow but fine", "latency": 0.3}], breaker=breaker)
    (dep,) = deps(app, "m")
    router = app.state.runtime.router
    async with running(app) as client:
        for _ in range(4):
            r = await client.post(URL, json=chat("m"), headers={**AUTH, "x-modelrail-ttft-timeout": "0.01"})
            assert r.status_code == 504
        assert (await router.breakers.snapshot(dep.id)).state == "closed"
        assert dep.stats.failures == 0
        # Another client, who waits, is served.
        ok = await client.post(URL, json=chat("m"), headers=AUTH)
        assert ok.status_code == 200


async def test_tightened_deadlines_spend_no_shared_retry_budget():
    app = build(
        [{"name": "m", "provider": "fake", "reply": "slow", "latency": 0.3}],
        retry={"max_retries": 1, "backoff_base": 0.0},
        retry_budget={"ratio": 0.0, "min_retries": 1, "window": 60},
        breaker={"enabled": False},
    )
    router = app.state.runtime.router
    async with running(app) as client:
        for _ in range(3):
            r = await client.post(URL, json=chat("m"), headers={**AUTH, "x-modelrail-ttft-timeout": "0.01"})
            assert r.status_code == 504
        # The one retry the budget allows is still there for a real failure.
        assert router.budget.try_spend()
