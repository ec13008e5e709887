"""Retries, breakers and fallbacks through the whole app, against the fake provider."""

from __future__ import annotations

import asyncio
import time

import orjson

from tests.conftest import AUTH, running
from tests.router.helpers import build, chat, deps, fake, last_event, sse_events

URL = "/v1/chat/completions"


async def test_one_of_two_deployments_failing_gives_no_client_errors_and_opens_its_breaker():
    app = build([fake("m", fail_rate=1.0), fake("m")], breaker={"min_requests": 5, "min_failures": 5})
    bad, good = deps(app, "m")
    async with running(app) as client:
        statuses = []
        for i in range(60):
            r = await client.post(URL, json=chat("m", stream=i % 2 == 1), headers=AUTH)
            statuses.append(r.status_code)
            assert r.headers["x-modelrail-deployment"] == good.id
        assert statuses == [200] * 60
        breaker = await app.state.runtime.router.breakers.snapshot(bad.id)
        assert breaker.state == "open"
        # Once open, the failing deployment gets no more calls: at most the few that opened it.
        assert bad.provider.calls <= 5
        r = await client.get("/admin/v1/deployments", headers=AUTH)
        assert r.status_code == 200
        rows = {row["id"]: row for row in r.json()["data"]}
        assert rows[bad.id]["breaker"]["state"] == "open"
        assert rows[good.id]["breaker"]["state"] == "closed"
        assert rows[good.id]["in_flight"] == 0
        assert rows[good.id]["ewma_latency_ms"] is not None


async def test_breaker_half_opens_after_cooldown_and_closes_on_success():
    app = build(
        [fake("m", fail_rate=1.0), fake("m")],
        breaker={"min_requests": 2, "min_failures": 2, "cooldown": 0.2},
    )
    bad, _ = deps(app, "m")
    async with running(app) as client:
        for _ in range(20):
            assert (await client.post(URL, json=chat("m"), headers=AUTH)).status_code == 200
        router = app.state.runtime.router
        assert (await router.breakers.snapshot(bad.id)).state == "open"
        bad.provider.cfg.fail_rate = 0.0  # the upstream recovers
        await asyncio.sleep(0.25)
        for _ in range(20):
            assert (await client.post(URL, json=chat("m"), headers=AUTH)).status_code == 200
        assert (await router.breakers.snapshot(bad.id)).state == "closed"


async def test_429_with_retry_after_succeeds_after_the_wait():
    app = build([fake("m")])
    (dep,) = deps(app, "m")
    dep.provider.program({"kind": "rate_limit", "retry_after": 1})
    async with running(app) as client:
        started = time.monotonic()
        r = await client.post(URL, json=chat("m"), headers=AUTH)
        elapsed = time.monotonic() - started
    assert r.status_code == 200
    assert r.headers["x-modelrail-retries"] == "1"
    assert 1.0 <= elapsed < 5.0
    assert dep.provider.calls == 2


async def test_retry_after_longer_than_allowed_is_not_waited_for():
    app = build([fake("m")], retry={"max_retry_after": 2})
    (dep,) = deps(app, "m")
    dep.provider.program({"kind": "rate_limit", "retry_after": 30})
    async with running(app) as client:
        started = time.monotonic()
        r = await client.post(URL, json=chat("m"), headers=AUTH)
    assert r.status_code == 429
    assert time.monotonic() - started < 5.0  # not the 30 s asked for
    assert r.headers["retry-after"] == "30"


async def test_retries_never_exceed_the_per_request_cap():
    app = build([fake("m", fail_rate=1.0)], retry={"max_retries": 2, "backoff_base": 0.001}, breaker={"enabled": False})
    (dep,) = deps(app, "m")
    async with running(app) as client:
        for n in range(1, 6):
            r = await client.post(URL, json=chat("m"), headers=AUTH)
            assert r.status_code == 502
            assert r.headers["x-modelrail-retries"] == "2"
            assert dep.provider.calls == 3 * n


async def test_retries_never_exceed_the_retry_budget():
    app = build(
        [fake("m", fail_rate=1.0)],
        retry={"max_retries": 2, "backoff_base": 0.001},
        retry_budget={"ratio": 0.2, "window": 10, "min_retries": 3},
        breaker={"enabled": False},
    )
    (dep,) = deps(app, "m")
    requests = 100
    async with running(app) as client:
        for _ in range(requests):
            assert (await client.post(URL, json=chat("m"), headers=AUTH)).status_code == 502
    retries = dep.provider.calls - requests
    assert 0 < retries <= 3 + 0.2 * requests


async def test_non_retryable_errors_are_not_retried():
    app = build([fake("m", fail_rate=1.0, fail_status=501)], breaker={"enabled": False})
    (dep,) = deps(app, "m")
    async with running(app) as client:
        r = await client.post(URL, json=chat("m"), headers=AUTH)
    assert r.status_code == 502
    assert r.headers["x-modelrail-retries"] == "0"
    assert dep.provider.calls == 1


async def test_stream_cut_after_first_chunk_is_not_retried_and_ends_with_an_error_event():
    app = build([fake("m"), fake("m"), fake("other")], fallbacks={"m": ["other"]})
    app2_models = deps(app, "m")
    for d in app2_models:
        d.provider.program({"kind": "cut", "after_chunks": 1})
    async with running(app) as client:
        r = await client.post(URL, json=chat("m", stream=True), headers=AUTH)
    assert r.status_code == 200
    assert r.headers["x-modelrail-retries"] == "0"
    assert r.headers["x-modelrail-fallback"] == "false"
    error = last_event(r.text)
    assert error != "[DONE]"
    assert set(error["error"]) == {"message", "type", "param", "code"}
    events = sse_events(r.text)
    assert [orjson.loads(e)["choices"][0]["delta"].get("content") for e in events[:-1]] == ["", "one"]
    assert sum(d.provider.calls for d in app2_models) == 1
    assert deps(app, "other")[0].provider.calls == 0
    assert all(d.stats.in_flight == 0 for d in app2_models)


async def test_stream_failing_before_first_chunk_is_retried_elsewhere():
    app = build([fake("m"), fake("m")], strategy="least_inflight")
    a, b = deps(app, "m")
    a.provider.program({"kind": "server_error", "status": 503})
    b.provider.program({"kind": "server_error", "status": 503})
    async with running(app) as client:
        r = await client.post(URL, json=chat("m", stream=True), headers=AUTH)
    assert r.status_code == 200
    assert last_event(r.text) == "[DONE]"
    assert r.headers["x-modelrail-retries"] == "2"


async def test_fallback_alias_answers_when_every_deployment_fails():
    app = build(
        [fake("primary", fail_rate=1.0), fake("backup", reply="from backup")],
        fallbacks={"primary": ["backup"]},
        retry={"max_retries": 1, "backoff_base": 0.001},
    )
    async with running(app) as client:
        r = await client.post(URL, json=chat("primary"), headers=AUTH)
        s = await client.post(URL, json=chat("primary", stream=True), headers=AUTH)
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == "from backup"
    assert r.headers["x-modelrail-fallback"] == "backup"
    assert r.headers["x-modelrail-fallback-reason"] == "error"
    assert r.headers["x-modelrail-deployment"] == "backup#0"
    assert s.status_code == 200 and last_event(s.text) == "[DONE]"
    assert s.headers["x-modelrail-fallback"] == "backup"


async def test_ttft_threshold_fallback_answers_within_its_deadline():
    app = build(
        [fake("slow", latency=10.0), fake("quick", reply="quick answer")],
        fallbacks={"slow": ["quick"]},
        ttft_fallback_ms={"slow": 200},
    )
    (slow,) = deps(app, "slow")
    async with running(app) as client:
        for stream in (False, True):
            started = time.monotonic()
            r = await client.post(URL, json=chat("slow", stream=stream), headers=AUTH)
            elapsed = time.monotonic() - started
            assert r.status_code == 200
            # Well before the primary's 10 s (the margin is for a loaded test machine).
            assert 0.2 <= elapsed < 3.0, elapsed
            assert r.headers["x-modelrail-fallback"] == "quick"
            assert r.headers["x-modelrail-fallback-reason"] == "ttft"
            assert r.headers["x-modelrail-deployment"] == "quick#0"
    # The primary was cancelled, not left running.
    assert slow.stats.in_flight == 0


async def test_ttft_threshold_keeps_a_primary_that_answers_in_time():
    app = build(
        [fake("slow", latency=0.05, reply="primary"), fake("quick")],
        fallbacks={"slow": ["quick"]},
        ttft_fallback_ms={"slow": 500},
    )
    async with running(app) as client:
        r = await client.post(URL, json=chat("slow"), headers=AUTH)
    assert r.json()["choices"][0]["message"]["content"] == "primary"
    assert r.headers["x-modelrail-fallback"] == "false"
    assert deps(app, "quick")[0].provider.calls == 0


async def test_client_timeout_header_tightens_the_deadline():
    app = build([fake("m", timeouts={"first_token": 30})], breaker={"enabled": False})
    (dep,) = deps(app, "m")
    dep.provider.program({"kind": "hang"}, {"kind": "hang"}, {"kind": "hang"})
    async with running(app) as client:
        started = time.monotonic()
        r = await client.post(URL, json=chat("m"), headers={**AUTH, "x-modelrail-timeout": "0.3"})
        elapsed = time.monotonic() - started
        assert r.status_code == 504
        assert elapsed < 3.0  # the header's 0.3 s, not the deployment's 30 s
        bad = await client.post(URL, json=chat("m"), headers={**AUTH, "x-modelrail-timeout": "soon"})
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "x-modelrail-timeout"
        # A request can only tighten: a long client timeout does not lift the deployment's own.
        dep.provider.program()
        ok = await client.post(URL, json=chat("m"), headers={**AUTH, "x-modelrail-ttft-timeout": "1000"})
        assert ok.status_code == 200


async def test_routing_headers_on_success():
    app = build([fake("m")])
    async with running(app) as client:
        r = await client.post(URL, json=chat("m"), headers=AUTH)
    assert r.headers["x-modelrail-deployment"] == "m#0"
    assert r.headers["x-modelrail-retries"] == "0"
    assert r.headers["x-modelrail-fallback"] == "false"


async def test_admin_deployments_needs_a_key():
    app = build([fake("m")])
    async with running(app) as client:
        r = await client.get("/admin/v1/deployments")
    assert r.status_code == 401


def test_router_config_naming_unknown_models_is_refused():
    import pytest

    from modelrail.settings import ConfigError

    with pytest.raises(ConfigError, match=r"router.fallbacks.m: no model is named 'nope'"):
        build([fake("m")], fallbacks={"m": ["nope"]})
    with pytest.raises(ConfigError, match=r"router.auto.premium"):
        build([fake("m")], auto={"cheap": "m", "premium": "big"})


async def test_a_primary_failing_before_the_ttft_threshold_still_falls_back():
    app = build(
        [fake("primary", fail_rate=1.0), fake("backup", reply="from backup")],
        fallbacks={"primary": ["backup"]},
        ttft_fallback_ms={"primary": 10_000},
        retry={"max_retries": 0},
    )
    async with running(app) as client:
        started = time.monotonic()
        r = await client.post(URL, json=chat("primary"), headers=AUTH)
    assert time.monotonic() - started < 5.0  # not after the 10 s threshold
    assert r.status_code == 200
    assert r.headers["x-modelrail-fallback"] == "backup"
    assert r.headers["x-modelrail-fallback-reason"] == "error"


async def test_a_deployment_at_max_in_flight_sends_the_rest_elsewhere():
    app = build(
        [fake("m", latency=0.3, max_in_flight=2), fake("spill", reply="spilled")],
        fallbacks={"m": ["spill"]},
    )
    async with running(app) as client:
        answers = await asyncio.gather(*(client.post(URL, json=chat("m"), headers=AUTH) for _ in range(5)))
    assert [r.status_code for r in answers] == [200] * 5
    used = sorted(r.headers["x-modelrail-fallback"] for r in answers)
    assert used == ["false", "false", "spill", "spill", "spill"]
    assert deps(app, "m")[0].provider.calls == 2
