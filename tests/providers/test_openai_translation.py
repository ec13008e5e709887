"""The OpenAI provider's translation, on the mock transport: the request it builds, how it reads
answers, errors and streams. No server: the handler stands in for the network."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from modelrail.errors import (
    ContextWindowExceeded,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from modelrail.providers.base import Call, Timeouts
from modelrail.providers.batches import Events
from modelrail.providers.openai import OpenAIConfig, OpenAIProvider
from modelrail.testing.mock_transport import Handler, MockRequest, MockResponse, MockTransport

ANSWER = {"id": "c1", "object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 1}}


def _call(endpoint: str = "chat", body: dict[str, Any] | None = None, request_id: str = "req-1", **kw: Any) -> Call:
    body = {"model": "up-model", "messages": [{"role": "user", "content": "hi"}], **(body or {})}
    return Call(
        request_id=request_id, model="up-model", body=body, params=None, timeouts=Timeouts(), endpoint=endpoint, **kw
    )


async def _provider(handler: Handler, **config: Any) -> tuple[OpenAIProvider, MockTransport]:
    transport = MockTransport(handler)
    provider = OpenAIProvider(OpenAIConfig(model="up-model", **config), transport=transport)
    await provider.start()
    return provider, transport


def _chunk(text: str) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]}


async def _stream(provider: OpenAIProvider, call: Call) -> list[list[dict[str, Any]]]:
    return [batch async for batch in provider.stream(call)]


# -- the request -------------------------------------------------------------------------------


async def test_the_request_carries_url_auth_request_id_and_the_body_as_sent() -> None:
    provider, transport = await _provider(
        lambda r: MockResponse.json(ANSWER),
        api_base="https://up.example/v1/",
        api_key="sk-test",
        organization="org-1",
        headers={"x-custom": "1"},
    )
    call = _call(body={"unknown_field": [1, 2]}, extra_headers={"x-extra": "e", "authorization": "client's"})
    assert await provider.chat(call) == ANSWER
    sent = transport.requests[-1]
    assert (sent.method, sent.url) == ("POST", "https://up.example/v1/chat/completions")
    assert sent.headers["authorization"] == "Bearer sk-test"  # the provider's own header wins
    assert sent.headers["openai-organization"] == "org-1"
    assert sent.headers["x-custom"] == "1"
    assert sent.headers["x-extra"] == "e"
    assert sent.headers["x-request-id"] == "req-1"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == call.body  # fields modelrail does not model pass through


async def test_each_endpoint_has_its_url_and_every_attempt_its_request_id() -> None:
    provider, transport = await _provider(lambda r: MockResponse.json(ANSWER))
    await provider.completion(_call("completions"))
    await provider.embeddings(_call("embeddings"))
    await provider.chat(_call(request_id="req-2"))
    urls = [r.url.rsplit("/v1", 1)[1] for r in transport.requests]
    assert urls == ["/completions", "/embeddings", "/chat/completions"]
    assert [r.headers["x-request-id"] for r in transport.requests] == ["req-1", "req-1", "req-2"]
    assert "authorization" not in transport.requests[0].headers  # no key configured, none sent


async def test_list_models_reads_the_data_list() -> None:
    models = {"object": "list", "data": [{"id": "a", "object": "model"}, "junk"]}
    provider, transport = await _provider(lambda r: MockResponse.json(models))
    assert await provider.list_models() == [{"id": "a", "object": "model"}]
    assert (transport.requests[0].method, transport.requests[0].url[-7:]) == ("GET", "/models")


async def test_an_unstarted_provider_is_unavailable() -> None:
    provider = OpenAIProvider(OpenAIConfig(model="m"), transport=MockTransport(lambda r: MockResponse.json(ANSWER)))
    with pytest.raises(UpstreamUnavailable, match="not started"):
        await provider.chat(_call())


# -- the answer --------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "match"), [(b"<html>oops</html>", "not JSON"), (b"[1, 2]", "not an object")])
async def test_an_answer_that_is_not_a_json_object_is_a_retryable_upstream_error(body: bytes, match: str) -> None:
    provider, _ = await _provider(lambda r: MockResponse(200, {}, body))
    with pytest.raises(UpstreamError, match=match) as info:
        await provider.chat(_call())
    assert info.value.retryable


async def test_an_async_handler_and_a_refused_connection() -> None:
    async def answer(request: MockRequest) -> MockResponse:
        return MockResponse.json(ANSWER)

    provider, _ = await _provider(answer)
    assert await provider.chat(_call()) == ANSWER

    def refuse(request: MockRequest) -> MockResponse:
        raise aiohttp.ServerDisconnectedError()

    provider, _ = await _provider(refuse)
    with pytest.raises(UpstreamUnavailable, match="Could not reach") as info:
        await provider.chat(_call())
    assert info.value.retryable


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "cls", "retryable", "match"),
    [
        (MockResponse.error(400, "bad field", code="invalid_value"), UpstreamBadRequest, False, "bad field"),
        (MockResponse.error(401, "Incorrect API key"), UpstreamError, False, "refused modelrail's credentials"),
        (MockResponse.error(408, "slow"), UpstreamTimeout, True, "HTTP 408"),
        (MockResponse.error(500, "boom", type="server_error"), UpstreamError, True, r"HTTP 500\): boom"),
        (MockResponse.error(504, "late"), UpstreamTimeout, True, "HTTP 504"),
    ],
)
async def test_statuses_map_into_the_error_tree(
    response: MockResponse, cls: type[UpstreamError], retryable: bool, match: str
) -> None:
    provider, _ = await _provider(lambda r: response)
    with pytest.raises(cls, match=match) as info:
        await provider.chat(_call())
    assert type(info.value) is cls
    assert info.value.retryable is retryable
    assert info.value.upstream_status == response.status


async def test_a_rate_limit_keeps_retry_after_and_the_upstream_request_id() -> None:
    headers = {"retry-after": "2", "x-request-id": "req_upstream_9"}
    provider, _ = await _provider(lambda r: MockResponse.error(429, "slow down", headers=headers))
    with pytest.raises(UpstreamRateLimited) as info:
        await provider.chat(_call())
    assert info.value.retry_after == 2.0
    assert info.value.headers == {"retry-after": "2"}
    assert info.value.upstream_request_id == "req_upstream_9"


async def test_an_overloaded_upstream_is_unavailable_with_its_retry_after() -> None:
    provider, _ = await _provider(lambda r: MockResponse.error(503, "overloaded", headers={"retry-after-ms": "1500"}))
    with pytest.raises(UpstreamUnavailable) as info:
        await provider.chat(_call())
    assert info.value.retry_after == 1.5
    assert info.value.upstream_request_id is None


async def test_a_context_window_error_is_found_by_its_code() -> None:
    # A message that says nothing about context: the code alone decides.
    error = MockResponse.error(400, "Too long.", code="context_length_exceeded")
    provider, _ = await _provider(lambda r: error)
    with pytest.raises(ContextWindowExceeded, match="Too long"):
        await provider.chat(_call())


async def test_a_context_window_error_without_a_code_is_found_by_its_message() -> None:
    # As vLLM words it, with no code: the OpenAI provider's fallback for compatible servers.
    error = MockResponse.error(400, "This model's maximum context length is 4096 tokens.")
    provider, _ = await _provider(lambda r: error)
    with pytest.raises(ContextWindowExceeded):
        await provider.chat(_call())


async def test_errors_inside_a_stream_request_map_the_same() -> None:
    provider, _ = await _provider(lambda r: MockResponse.error(429, "slow down", headers={"retry-after": "3"}))
    with pytest.raises(UpstreamRateLimited) as info:
        await _stream(provider, _call(body={"stream": True}))
    assert info.value.retry_after == 3.0


# -- streams -----------------------------------------------------------------------------------


async def test_a_stream_asks_for_usage_and_reads_each_network_read_as_one_batch() -> None:
    usage = {"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 1}}
    two = b"data: " + b'{"id":"c","choices":[{"index":0,"delta":{"content":"b"}}]}' + b"\n\n"
    events = [_chunk("a"), two + two, usage]
    provider, transport = await _provider(lambda r: MockResponse.sse(events))
    batches = await _stream(provider, _call(body={"stream": True}))
    assert [[c.get("choices") for c in b] for b in batches][:2] == [
        [[{"index": 0, "delta": {"content": "a"}}]],
        [[{"index": 0, "delta": {"content": "b"}}]] * 2,
    ]
    assert all(isinstance(b, Events) for b in batches)
    assert batches[1].sse == two + two  # sent on as they came
    assert batches[2].usage_sse is not None
    assert transport.requests[0].json()["stream_options"] == {"include_usage": True}


async def test_a_completion_stream_goes_to_the_completions_url_and_usage_can_be_left_out() -> None:
    provider, transport = await _provider(lambda r: MockResponse.sse([_chunk("a")]), stream_usage=False)
    await _stream(provider, _call("completions", body={"stream": True}))
    assert transport.requests[0].url.endswith("/v1/completions")
    assert "stream_options" not in transport.requests[0].json()


@pytest.mark.parametrize(
    ("events", "match"),
    [
        ([_chunk("a")], "ended before it was complete"),
        ([_chunk("a"), aiohttp.ClientPayloadError("cut")], "broke mid-response"),
        ([_chunk("a"), {"error": {"message": "overloaded"}}], "failed mid-stream: overloaded"),
        ([_chunk("a"), b"data: {not json\n\n"], "not JSON"),
    ],
)
async def test_a_broken_stream_is_an_upstream_error_after_what_came(events: list[Any], match: str) -> None:
    provider, _ = await _provider(lambda r: MockResponse.sse(events, done=False))
    got: list[list[dict[str, Any]]] = []
    with pytest.raises(UpstreamError, match=match):
        async for batch in provider.stream(_call(body={"stream": True})):
            got.append(batch)
    assert [c["choices"][0]["delta"]["content"] for b in got for c in b] == ["a"]
