"""One Fault vocabulary: the same fault scripts the in-process fake provider and the mock upstream,
and an OpenAI provider in front of the mock sees what the fake raises."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from modelrail.errors import UpstreamError, UpstreamRateLimited, UpstreamUnavailable
from modelrail.protocol import openai as oa
from modelrail.providers.base import Call, Timeouts
from modelrail.providers.batches import flatten
from modelrail.providers.fake import FakeConfig, FakeProvider
from modelrail.testing import Fault, MockOpenAI

MESSAGES = [{"role": "user", "content": "one two three"}]


def _chat_call(stream: bool = False) -> Call:
    body = {"model": "m", "messages": MESSAGES, "stream": stream}
    params = oa.ChatCompletionRequest.model_validate(body)
    return Call(request_id="r", model="m", body=body, params=params, timeouts=Timeouts(), endpoint="chat")


@pytest.fixture
async def mock() -> AsyncIterator[tuple[MockOpenAI, httpx.AsyncClient]]:
    app = MockOpenAI(seed=1)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
        yield app, client


def test_named_constructors_and_the_shorthand_are_the_same_faults() -> None:
    assert (
        Fault.from_json({"kind": "rate_limit", "retry_after": 2})
        == Fault.rate_limited(2)
        == Fault(status=429, retry_after=2)
    )
    assert Fault.from_json({"kind": "server_error", "status": 502}) == Fault.failing(502)
    assert Fault.from_json({"kind": "server_error"}) == Fault.failing()
    assert Fault.from_json({"kind": "hang"}) == Fault.hanging() == Fault(hang=True)
    assert Fault.from_json({"kind": "cut", "after_chunks": 2}) == Fault.cut(2) == Fault(cut_after_chunks=2)
    assert Fault.from_json({"kind": "cut"}) == Fault.cut()
    assert Fault.from_json({"kind": "slow", "delay": 0.5}) == Fault.slow(0.5)
    assert Fault.from_json({"kind": "garbage"}) == Fault.garbled()
    assert Fault.from_json({"status": 503, "fail_rate": 0.5}) == Fault(status=503, fail_rate=0.5)
    assert Fault.rate_limited(2).to_json() == {"status": 429, "retry_after": 2}


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "explode"},
        {"staus": 500},
        {"status": 200},
        {"fail_rate": 2},
        {"delay": -1},
        {"kind": "cut", "after_chunks": -1},
        [1],
    ],
)
def test_bad_faults_are_refused(data: Any) -> None:
    with pytest.raises(ValueError):
        Fault.from_json(data)


def test_retry_after_becomes_a_header_unless_one_is_given() -> None:
    assert Fault.rate_limited(2).response_headers() == {"retry-after": "2"}
    assert Fault.rate_limited(0.5).response_headers() == {"retry-after": "0.5"}
    assert Fault(status=429, retry_after=2, headers={"Retry-After": "7"}).response_headers() == {"retry-after": "7"}
    assert Fault.failing(500).response_headers() == {}


# -- the fake provider ---------------------------------------------------------------------------


async def test_the_fake_takes_fault_objects_and_the_same_json() -> None:
    fake = FakeProvider(FakeConfig(model="m"))
    fake.program(Fault.rate_limited(3), {"status": 503, "retry_after": 1}, Fault.failing(400))
    with pytest.raises(UpstreamRateLimited) as limited:
        await fake.chat(_chat_call())
    assert (limited.value.retry_after, limited.value.headers) == (3, {"retry-after": "3"})
    with pytest.raises(UpstreamUnavailable) as unavailable:
        await fake.chat(_chat_call())
    assert (unavailable.value.retry_after, unavailable.value.retryable) == (1, True)
    with pytest.raises(UpstreamError) as bad:
        await fake.chat(_chat_call())
    assert (bad.value.upstream_status, bad.value.retryable) == (400, False)
    assert (await fake.chat(_chat_call()))["object"] == "chat.completion"


async def test_the_fake_answers_garbage_as_the_transport_would_report_it() -> None:
    fake = FakeProvider(FakeConfig(model="m"))
    fake.program(Fault.garbled(), Fault.garbled())
    with pytest.raises(UpstreamError, match="not JSON") as unary:
        await fake.chat(_chat_call())
    assert unary.value.retryable
    with pytest.raises(UpstreamError, match="stream event that is not JSON"):
        [c async for c in flatten(fake.stream(_chat_call(stream=True)))]


async def test_the_fake_slows_and_keeps_a_programmed_fail_rate() -> None:
    import time

    fake = FakeProvider(FakeConfig(model="m"))
    fake.program(Fault.slow(0.1))
    started = time.monotonic()
    await fake.chat(_chat_call())
    assert time.monotonic() - started >= 0.1
    fake.program(Fault(status=502, fail_rate=0.5))  # stays: every second call fails
    outcomes = []
    for _ in range(4):
        try:
            await fake.chat(_chat_call())
            outcomes.append("ok")
        except UpstreamError as exc:
            outcomes.append(str(exc.upstream_status))
    assert outcomes == ["ok", "502", "ok", "502"]
    fake.program()  # cleared
    assert (await fake.chat(_chat_call()))["object"] == "chat.completion"
    assert (await fake.chat(_chat_call()))["object"] == "chat.completion"


# -- the mock upstream ---------------------------------------------------------------------------


async def test_the_mock_takes_the_same_faults(mock: tuple[MockOpenAI, httpx.AsyncClient]) -> None:
    app, client = mock
    body = {"model": "gpt-4o-mini", "messages": MESSAGES}
    await client.post(
        "/_mock/faults", json=[{"kind": "rate_limit", "retry_after": 2}, {"kind": "server_error", "status": 502}]
    )
    app.add_faults([Fault.rate_limited(0.5)])
    r = await client.post("/v1/chat/completions", json=body)
    assert (r.status_code, r.headers["retry-after"]) == (429, "2")
    assert (await client.post("/v1/chat/completions", json=body)).status_code == 502
    r = await client.post("/v1/chat/completions", json=body)
    assert (r.status_code, r.headers["retry-after"]) == (429, "0.5")


async def test_the_mock_answers_garbage(mock: tuple[MockOpenAI, httpx.AsyncClient]) -> None:
    app, client = mock
    body = {"model": "gpt-4o-mini", "messages": MESSAGES}
    app.add_faults([Fault.garbled(), Fault.garbled()])
    r = await client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        r.json()
    r = await client.post("/v1/chat/completions", json={**body, "stream": True})
    assert r.status_code == 200
    assert r.content.startswith(b"data: {not json\n\n")


async def test_an_openai_provider_sees_the_mocks_garbage_as_the_fake_raises_it() -> None:
    from modelrail.providers.openai import OpenAIConfig, OpenAIProvider
    from modelrail.testing.servers import serve_in_thread

    app = MockOpenAI(seed=1)
    with serve_in_thread(app) as url:
        provider = OpenAIProvider(OpenAIConfig(model="gpt-4o-mini", api_base=url + "/v1"))
        await provider.start()
        try:
            app.add_faults([Fault.garbled(), Fault.garbled()])
            fake = FakeProvider(FakeConfig(model="m"))
            fake.program(Fault.garbled(), Fault.garbled())
            for stream in (False, True):
                errors = []
                for p in (provider, fake):
                    with pytest.raises(UpstreamError) as info:
                        if stream:
                            [c async for c in flatten(p.stream(_chat_call(stream=True)))]
                        else:
                            await p.chat(_chat_call())
                    errors.append((str(info.value), info.value.retryable))
                assert errors[0] == errors[1]
        finally:
            await provider.close()
