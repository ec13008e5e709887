"""The router in front of real HTTP upstreams: the mock OpenAI server on loopback, with faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from modelrail.testing.mock_openai import Fault, MockConfig, MockOpenAI
from modelrail.testing.servers import serve_in_thread
from tests.conftest import AUTH, running
from tests.router.helpers import build, chat, deps, last_event, sse_events

URL = "/v1/chat/completions"


@pytest.fixture
def upstreams() -> Iterator[list[tuple[MockOpenAI, str]]]:
    a, b = MockOpenAI(MockConfig(chunks=4)), MockOpenAI(MockConfig(chunks=4))
    with serve_in_thread(a) as url_a, serve_in_thread(b) as url_b:
        yield [(a, url_a), (b, url_b)]


def openai(name: str, url: str, model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    return {"name": name, "provider": "openai", "model": model, "api_base": url + "/v1", "api_key": "sk-x", **extra}


async def test_one_upstream_down_gives_no_client_errors_and_opens_its_breaker(upstreams):
    (bad, bad_url), (good, good_url) = upstreams
    bad.add_faults([Fault(status=503, fail_rate=1.0)])
    app = build([openai("m", bad_url), openai("m", good_url)])
    down, _ = deps(app, "m")
    async with running(app) as client:
        for i in range(40):
            r = await client.post(URL, json=chat("m", stream=i % 2 == 0), headers=AUTH)
            assert r.status_code == 200, r.text
        assert (await app.state.runtime.router.breakers.snapshot(down.id)).state == "open"
    assert len(bad.requests) <= 5
    assert len(good.requests) == 40


async def test_429_with_retry_after_1_succeeds_after_the_wait(upstreams):
    (mock, url), _ = upstreams
    mock.add_faults([Fault(status=429, headers={"retry-after": "1"})])
    app = build([openai("m", url)])
    async with running(app) as client:
        started = time.monotonic()
        r = await client.post(URL, json=chat("m"), headers=AUTH)
        elapsed = time.monotonic() - started
    assert r.status_code == 200
    assert r.headers["x-modelrail-retries"] == "1"
    assert elapsed >= 1.0
    assert len(mock.requests) == 2


async def test_stream_cut_after_first_chunk_is_not_retried(upstreams):
    (a, url_a), (b, url_b) = upstreams
    for mock in (a, b):
        mock.add_faults([Fault(cut_after_chunks=2)])
    app = build([openai("m", url_a), openai("m", url_b)])
    async with running(app) as client:
        r = await client.post(URL, json=chat("m", stream=True), headers=AUTH)
    assert r.status_code == 200
    assert len(sse_events(r.text)) >= 2
    error = last_event(r.text)
    assert error != "[DONE]" and error["error"]["type"] == "upstream_error"
    assert len(a.requests) + len(b.requests) == 1


async def test_context_window_error_goes_to_the_larger_model(upstreams):
    (small, url_small), (_large, url_large) = upstreams
    error = {
        "message": "This model's maximum context length is 8192 tokens.",
        "type": "invalid_request_error",
        "code": "context_length_exceeded",
    }
    small.add_faults([Fault(status=400, error=error)])
    app = build(
        [openai("short", url_small), openai("long", url_large, model="gpt-4o")],
        context_fallbacks={"short": ["long"]},
    )
    async with running(app) as client:
        r = await client.post(URL, json=chat("short", content="a very long prompt " * 50), headers=AUTH)
        assert r.status_code == 200
        assert r.headers["x-modelrail-fallback"] == "long"
        assert r.headers["x-modelrail-fallback-reason"] == "context"
        assert r.headers["x-modelrail-retries"] == "0"
        # Without a larger model to go to, the client sees the context error itself.
        small.add_faults([Fault(status=400, error=error)])
        app2 = build([openai("short", url_small)])
        async with running(app2) as client2:
            r2 = await client2.post(URL, json=chat("short"), headers=AUTH)
        assert r2.status_code == 400
        assert r2.json()["error"]["code"] == "context_length_exceeded"


async def test_ttft_fallback_across_real_upstreams(upstreams):
    (slow, url_slow), (_fast, url_fast) = upstreams
    slow.add_faults([Fault(delay=10.0)] * 2)
    app = build(
        [openai("primary", url_slow), openai("backup", url_fast)],
        fallbacks={"primary": ["backup"]},
        ttft_fallback_ms={"primary": 300},
    )
    async with running(app) as client:
        for stream in (True, False):
            started = time.monotonic()
            r = await client.post(URL, json=chat("primary", stream=stream), headers=AUTH)
            elapsed = time.monotonic() - started
            assert r.status_code == 200
            assert elapsed < 5.0, elapsed  # not the primary's 10 s
            assert r.headers["x-modelrail-fallback"] == "backup"
            assert r.headers["x-modelrail-fallback-reason"] == "ttft"
