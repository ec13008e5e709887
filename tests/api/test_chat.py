"""POST /v1/chat/completions through the ASGI transport, against the fake provider."""

from __future__ import annotations

import orjson
import pytest

from tests.conftest import AUTH, fake_provider, running

MSG = [{"role": "user", "content": "Say something."}]


def sse_events(text: str) -> list[str]:
    return [line[6:] for line in text.split("\n") if line.startswith("data: ")]


async def test_completion_shape(client):
    r = await client.post("/v1/chat/completions", json={"model": "fake-chat", "messages": MSG}, headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "fake-chat"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "The quick brown fox jumps over the lazy dog.",
        "refusal": None,
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 9
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 9
    assert "system_fingerprint" in body and isinstance(body["created"], int)


async def test_all_roles_and_content_parts_accepted(client):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Really brief."}]},
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    payload = {
        "model": "fake-chat",
        "messages": messages,
        "tools": tools,
        "tool_choice": "auto",
        "temperature": 0.2,
        "top_p": 0.9,
        "n": 2,
        "stop": ["\n"],
        "seed": 7,
        "user": "u1",
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "response_format": {"type": "json_object"},
        "max_completion_tokens": 50,
        "logprobs": False,
    }
    r = await client.post("/v1/chat/completions", json=payload, headers=AUTH)
    assert r.status_code == 200, r.text
    assert [c["index"] for c in r.json()["choices"]] == [0, 1]


async def test_max_tokens_gives_length(client):
    r = await client.post(
        "/v1/chat/completions", json={"model": "fake-chat", "messages": MSG, "max_tokens": 3}, headers=AUTH
    )
    choice = r.json()["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == "The quick brown"


async def test_stream_chunks_and_done(client):
    payload = {"model": "fake-chat", "messages": MSG, "stream": True}
    r = await client.post("/v1/chat/completions", json=payload, headers=AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "The quick brown fox jumps over the lazy dog."
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    # Without include_usage the client sees no usage chunk.
    assert all(c["choices"] for c in chunks)
    assert len({c["id"] for c in chunks}) == 1


async def test_stream_include_usage(client):
    payload = {"model": "fake-chat", "messages": MSG, "stream": True, "stream_options": {"include_usage": True}}
    r = await client.post("/v1/chat/completions", json=payload, headers=AUTH)
    chunks = [orjson.loads(e) for e in sse_events(r.text)[:-1]]
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] == 9


BAD_INPUTS = [
    (b"{not json", "invalid JSON", None),
    (b"[1, 2]", "JSON that is not an object", None),
    (b'{"model": "fake-chat"}', "missing messages", "messages"),
    (b'{"model": "fake-chat", "messages": []}', "empty messages", "messages"),
    (
        b'{"model": "fake-chat", "messages": [{"role": "user", "content": "x"}], "temperature": 3.5}',
        "temp",
        "temperature",
    ),
    (b'{"model": "fake-chat", "messages": [{"role": "user", "content": "x"}], "max_tokens": -5}', "neg", "max_tokens"),
    (b'{"model": "fake-chat", "messages": [{"role": "wizard", "content": "x"}]}', "bad role", "messages.0.role"),
    (b'{"model": "fake-chat", "messages": [{"role": "user"}]}', "no content", "messages.0"),
    (b'{"model": "fake-chat", "messages": [{"role": "user", "content": "x"}], "n": 0}', "n=0", "n"),
    (b'{"model": "fake-chat", "messages": [{"role": "user", "content": "x"}], "top_p": 1.5}', "top_p", "top_p"),
    (
        b'{"model": "fake-chat", "messages": [{"role": "user", "content": "x"}], "stop": ["a","b","c","d","e"]}',
        "stop",
        "stop",
    ),
    (
        b'{"model": "fake-chat", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "x"}]}',
        "tools",
        "tools",
    ),
    (b'{"messages": [{"role": "user", "content": "x"}]}', "no model", "model"),
    (b"", "empty body", None),
]


@pytest.mark.parametrize(("body", "why", "param"), BAD_INPUTS, ids=[b[1] for b in BAD_INPUTS])
async def test_bad_input_is_400_in_openai_shape(client, body, why, param):
    r = await client.post("/v1/chat/completions", content=body, headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 400, (why, r.text)
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error"
    assert err["message"]
    assert err["param"] == param


async def test_unknown_model_is_404_before_stream(client):
    payload = {"model": "nope", "messages": MSG, "stream": True}
    r = await client.post("/v1/chat/completions", json=payload, headers=AUTH)
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]["code"] == "model_not_found"


async def test_body_over_cap_is_413_without_reading_it(app_factory):
    app = app_factory(server={"max_body_bytes": 1024 * 1024})
    async with running(app) as client:
        big = b'{"model": "fake-chat", "messages": [{"role": "user", "content": "' + b"a" * (20 * 1024 * 1024) + b'"}]}'
        r = await client.post("/v1/chat/completions", content=big, headers=AUTH)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "request_too_large"
        # A body with no Content-Length (chunked) is cut off as it streams in.

        async def chunks():
            for _ in range(40):
                yield b"a" * 65536

        r = await client.post("/v1/chat/completions", content=chunks(), headers=AUTH)
        assert r.status_code == 413


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"authorization": "Bearer wrong-key-123"}, "invalid_api_key"),
        ({"authorization": "Basic abc"}, "missing_api_key"),
    ],
)
async def test_auth_errors(client, headers, code):
    r = await client.post("/v1/chat/completions", json={"model": "fake-chat", "messages": MSG}, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    assert r.json()["error"]["code"] == code
    assert "wrong-key" not in r.text


async def test_x_api_key_header_is_accepted(client):
    from tests.conftest import MASTER_KEY

    r = await client.post(
        "/v1/chat/completions", json={"model": "fake-chat", "messages": MSG}, headers={"x-api-key": MASTER_KEY}
    )
    assert r.status_code == 200


async def test_request_id_echoed_or_generated(client):
    r = await client.post(
        "/v1/chat/completions",
        json={"model": "fake-chat", "messages": MSG},
        headers={**AUTH, "x-request-id": "client-id-42"},
    )
    assert r.headers["x-request-id"] == "client-id-42"
    assert r.json()["id"] == "chatcmpl-client-id-42"
    r = await client.post("/v1/chat/completions", json={"model": "fake-chat", "messages": MSG})
    assert r.status_code == 401
    assert len(r.headers["x-request-id"]) == 32
    # An unsafe id (header injection, overlong) is replaced, not echoed.
    r = await client.get("/healthz", headers={"x-request-id": "x" * 300})
    assert len(r.headers["x-request-id"]) == 32


async def test_request_id_in_log_lines(client):
    import logging

    from modelrail.observability.logging import RequestIdFilter

    seen: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Capture()
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("modelrail")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        await client.post(
            "/v1/chat/completions",
            json={"model": "fake-chat", "messages": MSG},
            headers={**AUTH, "x-request-id": "trace-me-7"},
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    usage_lines = [r for r in seen if r.name == "modelrail.usage"]
    assert usage_lines
    assert all(r.request_id == "trace-me-7" for r in usage_lines)


NO_RETRIES = {"retry": {"max_retries": 0}}


async def test_upstream_faults_map_to_gateway_statuses(app_factory):
    # Retries off: this is about how a final upstream error reaches the client.
    app = app_factory(router=NO_RETRIES)
    provider = fake_provider(app)
    async with running(app) as client:
        for fault, status in [
            ({"kind": "server_error", "status": 500}, 502),
            ({"kind": "server_error", "status": 503}, 503),
            ({"kind": "rate_limit", "retry_after": 0.01}, 429),
        ]:
            # Enough copies to outlast any retries: the client sees the upstream's failure.
            provider.program()
            provider.program(*[fault] * 6)
            r = await client.post("/v1/chat/completions", json={"model": "fake-chat", "messages": MSG}, headers=AUTH)
            assert r.status_code == status, (fault, r.text)
            assert set(r.json()["error"]) == {"message", "type", "param", "code"}
            assert "Traceback" not in r.text


async def test_upstream_timeout_is_504(app_factory):
    app = app_factory(
        models=[{"name": "fake-chat", "provider": "fake", "timeouts": {"first_token": 0.2}}], router=NO_RETRIES
    )
    fake_provider(app).program(*[{"kind": "hang"}] * 6)
    async with running(app) as client:
        r = await client.post("/v1/chat/completions", json={"model": "fake-chat", "messages": MSG}, headers=AUTH)
        assert r.status_code == 504
        assert r.json()["error"]["type"] == "timeout_error"


async def test_stream_fault_before_first_byte_is_an_http_error(app_factory):
    app = app_factory(router=NO_RETRIES)
    fake_provider(app).program(*[{"kind": "server_error", "status": 502}] * 6)
    async with running(app) as client:
        payload = {"model": "fake-chat", "messages": MSG, "stream": True}
        r = await client.post("/v1/chat/completions", json=payload, headers=AUTH)
        assert r.status_code == 502
        assert r.json()["error"]["code"] == "upstream_error"


async def test_stream_cut_midway_ends_with_error_event(app):
    fake_provider(app).program({"kind": "cut", "after_chunks": 2})
    async with running(app) as client:
        payload = {"model": "fake-chat", "messages": MSG, "stream": True}
        r = await client.post("/v1/chat/completions", json=payload, headers=AUTH)
        assert r.status_code == 200
        events = sse_events(r.text)
        assert events[-1] != "[DONE]"
        err = orjson.loads(events[-1])["error"]
        assert err["type"] == "upstream_error"
        contents = [orjson.loads(e)["choices"][0]["delta"].get("content") for e in events[:-1]]
        assert contents[1:] == ["The", " quick"]
