"""The mock OpenAI upstream speaks OpenAI's wire format exactly and misbehaves on request."""

from __future__ import annotations

import asyncio
import base64
import struct
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
import openai
import orjson
import pytest

from modelrail.testing.mock_openai import DEFAULT_REPLY, Fault, MockConfig, MockOpenAI
from modelrail.testing.servers import ServerError, free_port, serve_in_thread, serve_mock, serve_subprocess
from tests.conformance import validate_against

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello to me"}]


def chat_body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": MESSAGES, **extra}


def sse_events(raw: bytes) -> list[bytes]:
    assert raw.endswith(b"\n\n"), raw[-40:]
    events = raw[:-2].split(b"\n\n")
    for event in events:
        assert event.startswith(b"data: "), event
    return [e.removeprefix(b"data: ") for e in events]


def stream_chunks(raw: bytes) -> list[dict[str, Any]]:
    events = sse_events(raw)
    assert events[-1] == b"[DONE]"
    return [orjson.loads(e) for e in events[:-1]]


@pytest.fixture
def mock_app() -> MockOpenAI:
    return MockOpenAI(seed=1)


@pytest.fixture
async def client(mock_app: MockOpenAI) -> AsyncIterator[httpx.AsyncClient]:
    """Calls the mock in-process (this module's own, not the modelrail app's)."""
    transport = httpx.ASGITransport(app=mock_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as c:
        yield c


# -- wire format ----------------------------------------------------------------------------------


async def test_chat_completion_matches_spec(client: httpx.AsyncClient) -> None:
    response = await client.post(CHAT, json=chat_body())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"].startswith("req_")
    body = response.json()
    validate_against("CreateChatCompletionResponse", body)
    assert body["choices"][0]["message"]["content"] == DEFAULT_REPLY
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] == 6
    assert body["usage"]["completion_tokens"] == 10


async def test_chat_stream_matches_spec(client: httpx.AsyncClient) -> None:
    response = await client.post(CHAT, json=chat_body(stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = stream_chunks(response.content)
    for chunk in chunks:
        validate_against("CreateChatCompletionStreamResponse", chunk)
        assert "usage" not in chunk
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]]
    assert len(content) == 10
    assert "".join(content) == DEFAULT_REPLY
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}


async def test_chat_stream_include_usage_ends_with_usage_chunk(client: httpx.AsyncClient) -> None:
    body = chat_body(stream=True, stream_options={"include_usage": True})
    chunks = stream_chunks((await client.post(CHAT, json=body)).content)
    for chunk in chunks:
        validate_against("CreateChatCompletionStreamResponse", chunk)
    assert all(c["usage"] is None for c in chunks[:-1])
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] == 10
    assert last["usage"]["total_tokens"] == last["usage"]["prompt_tokens"] + 10


async def test_forced_tool_call_plain_and_streamed(client: httpx.AsyncClient) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    body = chat_body(tools=tools, tool_choice="required")
    plain = (await client.post(CHAT, json=body)).json()
    validate_against("CreateChatCompletionResponse", plain)
    call = plain["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "get_weather", "arguments": '{"location": "Paris"}'}
    assert plain["choices"][0]["finish_reason"] == "tool_calls"

    chunks = stream_chunks((await client.post(CHAT, json={**body, "stream": True})).content)
    for chunk in chunks:
        validate_against("CreateChatCompletionStreamResponse", chunk)
    args = "".join(
        c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for c in chunks
        if c["choices"][0]["delta"].get("tool_calls")
    )
    assert args == '{"location": "Paris"}'
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_max_tokens_n_and_echo() -> None:
    app = MockOpenAI(MockConfig(echo=True, chunks=3))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as c:
        body = (await c.post(CHAT, json=chat_body(n=2))).json()
        validate_against("CreateChatCompletionResponse", body)
        assert [ch["message"]["content"] for ch in body["choices"]] == ["Say hello to me"] * 2
        cut = (await c.post(CHAT, json=chat_body(max_tokens=2))).json()
        assert cut["choices"][0]["message"]["content"] == "Say hello to "
        assert cut["choices"][0]["finish_reason"] == "length"


async def test_completions_plain_and_streamed(client: httpx.AsyncClient) -> None:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Once upon a time"}
    plain = (await client.post("/v1/completions", json=body)).json()
    validate_against("CreateCompletionResponse", plain)
    assert plain["choices"][0]["text"] == DEFAULT_REPLY
    stream = {**body, "stream": True, "stream_options": {"include_usage": True}}
    chunks = stream_chunks((await client.post("/v1/completions", json=stream)).content)
    for chunk in chunks:
        # The spec gives streamed and plain completions one schema, whose finish_reason cannot be
        # null; the API sends null before the last chunk, as for chat, so only that is let through.
        choices = [{**c, "finish_reason": c["finish_reason"] or "stop"} for c in chunk["choices"]]
        validate_against("CreateCompletionResponse", {**chunk, "choices": choices})
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None] * 10 + ["stop"]
    assert "".join(c["choices"][0]["text"] for c in chunks[:-1]) == DEFAULT_REPLY
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 4


async def test_embeddings_float_and_base64_agree(client: httpx.AsyncClient) -> None:
    body = {"model": "text-embedding-3-small", "input": ["hello", "world"], "dimensions": 8}
    floats = (await client.post("/v1/embeddings", json=body)).json()
    validate_against("CreateEmbeddingResponse", floats)
    vectors = [d["embedding"] for d in floats["data"]]
    assert [len(v) for v in vectors] == [8, 8]
    assert vectors[0] != vectors[1]
    assert abs(sum(x * x for x in vectors[0]) - 1.0) < 1e-9
    again = (await client.post("/v1/embeddings", json=body)).json()
    assert again["data"] == floats["data"]

    encoded = (await client.post("/v1/embeddings", json={**body, "encoding_format": "base64"})).json()
    decoded = struct.unpack("<8f", base64.b64decode(encoded["data"][0]["embedding"]))
    assert decoded == pytest.approx(vectors[0], abs=1e-6)
    default = (await client.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"})).json()
    assert len(default["data"][0]["embedding"]) == 1536


async def test_models(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/v1/models")).json()
    validate_against("ListModelsResponse", listed)
    assert "gpt-4o-mini" in [m["id"] for m in listed["data"]]
    one = await client.get("/v1/models/gpt-4o-mini")
    validate_against("Model", one.json())
    missing = await client.get("/v1/models/nope")
    assert missing.status_code == 404
    validate_against("ErrorResponse", missing.json())


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "param"),
    [
        ("POST", CHAT, b"{not json", 400, None),
        ("POST", CHAT, b"[]", 400, None),
        ("POST", CHAT, b'{"model": "gpt-4o-mini", "messages": []}', 400, "messages"),
        ("POST", CHAT, b'{"messages": [{"role": "user", "content": "x"}]}', 400, "model"),
        ("POST", "/v1/embeddings", b'{"model": "m", "input": ""}', 400, "input"),
        ("POST", "/v1/nothing", b"{}", 404, None),
        ("GET", CHAT, b"", 405, None),
    ],
)
async def test_bad_requests_get_openai_errors(
    client: httpx.AsyncClient, method: str, path: str, payload: bytes, status: int, param: str | None
) -> None:
    response = await client.request(method, path, content=payload)
    assert response.status_code == status
    validate_against("ErrorResponse", response.json())
    assert response.json()["error"]["param"] == param


async def test_api_key_and_model_checks() -> None:
    app = MockOpenAI(MockConfig(api_key="sk-upstream", check_models=True))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as c:
        wrong = await c.post(CHAT, json=chat_body(), headers={"Authorization": "Bearer sk-other"})
        assert wrong.status_code == 401
        validate_against("ErrorResponse", wrong.json())
        assert wrong.json()["error"]["code"] == "invalid_api_key"
        assert "sk-other" not in wrong.text
        missing = await c.post(CHAT, json=chat_body())
        assert missing.status_code == 401
        auth = {"Authorization": "Bearer sk-upstream"}
        assert (await c.post(CHAT, json=chat_body(), headers=auth)).status_code == 200
        unknown = await c.post(CHAT, json=chat_body(model="gpt-9"), headers=auth)
        assert unknown.status_code == 404
        assert unknown.json()["error"]["code"] == "model_not_found"


# -- control endpoints and faults ---------------------------------------------------------------


async def test_fault_queue_is_consumed_one_per_request(client: httpx.AsyncClient) -> None:
    faults = [{"status": 429, "headers": {"retry-after": "1"}}, {"status": 500}, {"status": 503}]
    queued = (await client.post("/_mock/faults", json=faults)).json()
    assert len(queued["queued"]) == 3
    limited = await client.post(CHAT, json=chat_body())
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1"
    validate_against("ErrorResponse", limited.json())
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    for status in (500, 503):
        failed = await client.post(CHAT, json=chat_body(stream=True))
        assert failed.status_code == status
        validate_against("ErrorResponse", failed.json())
    assert (await client.post(CHAT, json=chat_body())).status_code == 200
    assert (await client.get("/_mock/faults")).json() == {"queued": [], "persistent": None}


async def test_persistent_fail_rate_until_reset(client: httpx.AsyncClient) -> None:
    await client.post("/_mock/faults", json={"status": 502, "fail_rate": 1.0})
    for _ in range(3):
        assert (await client.post(CHAT, json=chat_body())).status_code == 502
    await client.post("/_mock/reset")
    assert (await client.post(CHAT, json=chat_body())).status_code == 200


async def test_custom_error_object(client: httpx.AsyncClient) -> None:
    error = {"message": "Context too long", "type": "invalid_request_error", "code": "context_length_exceeded"}
    await client.post("/_mock/faults", json={"status": 400, "error": error})
    response = await client.post(CHAT, json=chat_body())
    assert response.status_code == 400
    validate_against("ErrorResponse", response.json())
    assert response.json()["error"]["code"] == "context_length_exceeded"


async def test_bad_fault_is_refused(client: httpx.AsyncClient) -> None:
    assert (await client.post("/_mock/faults", json={"staus": 500})).status_code == 400
    assert (await client.post("/_mock/faults", json={"status": 200})).status_code == 400
    assert (await client.post("/_mock/faults", content=b"{oops")).status_code == 400
    assert (await client.get("/_mock/nothing")).status_code == 404


async def test_delay_fault_adds_to_first_token(client: httpx.AsyncClient) -> None:
    await client.post("/_mock/faults", json={"delay": 0.2})
    started = time.perf_counter()
    assert (await client.post(CHAT, json=chat_body())).status_code == 200
    assert time.perf_counter() - started >= 0.2


async def test_hang_is_cancellable_in_process(mock_app: MockOpenAI, client: httpx.AsyncClient) -> None:
    mock_app.add_faults([Fault(hang=True)])
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.post(CHAT, json=chat_body()), 0.2)
    assert mock_app.active == 0
    assert (await client.post(CHAT, json=chat_body())).status_code == 200


async def test_requests_are_recorded_and_cleared(client: httpx.AsyncClient) -> None:
    await client.post(CHAT, json=chat_body(), headers={"Authorization": "Bearer k", "X-Trace": "t1"})
    await client.get("/_mock/health")
    recorded = (await client.get("/_mock/requests")).json()
    assert len(recorded) == 1
    assert recorded[0]["path"] == CHAT and recorded[0]["method"] == "POST"
    assert recorded[0]["headers"]["authorization"] == "Bearer k"
    assert recorded[0]["headers"]["x-trace"] == "t1"
    assert recorded[0]["body"] == chat_body()
    assert (await client.delete("/_mock/requests")).json() == []
    assert (await client.get("/_mock/requests")).json() == []


async def test_recording_off() -> None:
    app = MockOpenAI(MockConfig(record=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as c:
        await c.post(CHAT, json=chat_body())
    assert app.requests == []


async def test_config_changes_at_runtime_and_reset_restores(client: httpx.AsyncClient) -> None:
    config = (await client.post("/_mock/config", json={"chunks": 3, "reply": "one two three four"})).json()
    assert config["chunks"] == 3
    chunks = stream_chunks((await client.post(CHAT, json=chat_body(stream=True))).content)
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]] == ["one two ", "three ", "four"]
    assert (await client.post("/_mock/config", json={"chunkz": 3})).status_code == 400
    assert (await client.post("/_mock/config", json={"chunks": "x"})).status_code == 400
    assert (await client.get("/_mock/config")).json()["chunks"] == 3
    await client.post("/_mock/reset")
    assert (await client.get("/_mock/config")).json()["chunks"] == 10


# -- on a real socket ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[MockOpenAI, str]]:
    app = MockOpenAI(MockConfig(api_key="sk-mock"))
    with serve_in_thread(app) as url:
        yield app, url


@pytest.fixture
def mock(live: tuple[MockOpenAI, str]) -> Iterator[tuple[MockOpenAI, str]]:
    live[0].reset()
    yield live
    live[0].reset()


AUTH = {"Authorization": "Bearer sk-mock"}


@pytest.mark.slow
async def test_cut_stream_drops_the_connection(mock: tuple[MockOpenAI, str]) -> None:
    app, url = mock
    app.add_faults([Fault(cut_after_chunks=2), Fault(cut_after_chunks=1)])
    async with aiohttp.ClientSession(headers=AUTH) as session:
        received: list[bytes] = []
        with pytest.raises(aiohttp.ClientPayloadError):
            async with session.post(url + CHAT, json=chat_body(stream=True)) as response:
                assert response.status == 200
                async for line in response.content:
                    received.append(line)
        assert sum(1 for line in received if line.startswith(b"data: ")) == 2
        assert not any(b"[DONE]" in line for line in received)
        with pytest.raises(aiohttp.ClientPayloadError):
            async with session.post(url + CHAT, json=chat_body()) as response:
                await response.read()
        async with session.post(url + CHAT, json=chat_body()) as response:
            assert response.status == 200


@pytest.mark.slow
async def test_hang_ends_when_the_client_leaves(mock: tuple[MockOpenAI, str]) -> None:
    app, url = mock
    app.add_faults([Fault(hang=True)])
    async with aiohttp.ClientSession(headers=AUTH) as session:
        with pytest.raises(asyncio.TimeoutError):
            await session.post(url + CHAT, json=chat_body(), timeout=aiohttp.ClientTimeout(total=0.3))
    for _ in range(100):
        if app.active == 0:
            break
        await asyncio.sleep(0.02)
    assert app.active == 0


@pytest.mark.slow
async def test_ttft_and_chunk_delay(mock: tuple[MockOpenAI, str]) -> None:
    app, url = mock
    app.configure(MockConfig(api_key="sk-mock", ttft=0.15, chunk_delay=0.02, chunks=5))
    async with aiohttp.ClientSession(headers=AUTH) as session:
        started = time.perf_counter()
        async with session.post(url + CHAT, json=chat_body(stream=True)) as response:
            first = await response.content.readline()
            ttft = time.perf_counter() - started
            await response.read()
            total = time.perf_counter() - started
    assert first.startswith(b"data: ")
    assert 0.15 <= ttft < 0.5
    assert total >= 0.15 + 4 * 0.02


@pytest.mark.slow
async def test_official_sdk_against_the_mock(mock: tuple[MockOpenAI, str]) -> None:
    _, url = mock
    async with openai.AsyncOpenAI(api_key="sk-mock", base_url=url + "/v1", max_retries=0) as sdk:
        completion = await sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert completion.choices[0].message.content == DEFAULT_REPLY
        stream = await sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        assert "".join(pieces) == DEFAULT_REPLY
        # The SDK asks for base64 and decodes it itself.
        embedded = await sdk.embeddings.create(model="text-embedding-3-small", input="hi", dimensions=4)
        assert len(embedded.data[0].embedding) == 4
        models = await sdk.models.list()
        assert "gpt-4o" in [m.id for m in models.data]
    async with openai.AsyncOpenAI(api_key="sk-wrong", base_url=url + "/v1", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError):
            await bad.models.list()


@pytest.mark.slow
def test_cli_in_a_subprocess() -> None:
    with serve_mock(chunks=4, api_key="sk-cli") as served:
        request = httpx.post(
            served.url + "/v1/chat/completions",
            json=chat_body(stream=True),
            headers={"Authorization": "Bearer sk-cli"},
        )
        chunks = stream_chunks(request.content)
        assert len(chunks) == 4 + 2
        httpx.post(served.url + "/_mock/faults", json={"cut_after_chunks": 1})
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(served.url + CHAT, json=chat_body(stream=True), headers={"Authorization": "Bearer sk-cli"})
        recorded = httpx.get(served.url + "/_mock/requests").json()
        assert len(recorded) == 2
    assert served.process.returncode is not None


@pytest.mark.slow
def test_serve_subprocess_reports_a_dead_server() -> None:
    port = free_port()
    code = "import sys; print('boom: bad config'); sys.exit(3)"
    with pytest.raises(ServerError, match="boom: bad config"), serve_subprocess([sys.executable, "-c", code], port):
        pass
