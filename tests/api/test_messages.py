"""POST /v1/messages: the official anthropic SDK in-process (ASGI transport) and against a real server."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest
from pydantic import TypeAdapter
from starlette.applications import Starlette

from modelrail.app import create_app
from modelrail.errors import (
    AuthenticationFailed,
    InternalError,
    InvalidRequest,
    ModelNotFound,
    Overloaded,
    PayloadTooLarge,
    PermissionDenied,
    QuotaExceeded,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from modelrail.protocol import openai as oa
from modelrail.protocol.anthropic import MessagesRequest, to_chat_body
from modelrail.protocol.anthropic_response import StreamTranslator, error_body, from_chat_completion, stop_reason
from modelrail.protocol.openai import ChatCompletionRequest
from modelrail.stages import OpenAdmission
from modelrail.store.views import KeyCreate, TeamCreate
from modelrail.testing.mock_openai import MockConfig, MockOpenAI
from modelrail.testing.servers import serve_in_thread
from tests.conftest import MASTER_KEY, fake_provider, make_settings, running
from tests.server.conftest import MASTER_KEY as SERVER_KEY
from tests.server.conftest import mock, server  # noqa: F401  (module fixtures: a real server)

REPLY = "The quick brown fox jumps over the lazy dog."
MSG = [{"role": "user", "content": "Say something."}]
BASE = "http://modelrail.test"
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
}

# Recent SDKs ship their own fork of httpx ("httpx2") and refuse an httpx client; older ones use httpx.
try:
    sdk_httpx: Any = importlib.import_module("httpx2")
except ImportError:  # pragma: no cover - depends on the installed SDK
    sdk_httpx = importlib.import_module("httpx")


def asgi_sdk(app: Starlette, api_key: str = MASTER_KEY) -> anthropic.AsyncAnthropic:
    http = sdk_httpx.AsyncClient(transport=sdk_httpx.ASGITransport(app=app), base_url=BASE, timeout=30)
    return anthropic.AsyncAnthropic(base_url=BASE, api_key=api_key, http_client=http, max_retries=0)


def sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each event in an SSE body."""
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], orjson.loads(lines["data"])))
    return out


class Recorder:
    def __init__(self) -> None:
        self.endpoints: list[str] = []

    def record(self, ctx: Any) -> None:
        self.endpoints.append(ctx.endpoint)

    async def close(self) -> None:
        return None


@pytest.fixture
async def app_sdk(app: Starlette) -> AsyncIterator[tuple[Starlette, anthropic.AsyncAnthropic]]:
    async with app.router.lifespan_context(app):
        yield app, asgi_sdk(app)


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[MockOpenAI, str]]:
    mock_app = MockOpenAI(MockConfig(api_key="sk-up", chunks=6))
    with serve_in_thread(mock_app) as url:
        yield mock_app, url


@contextlib.asynccontextmanager
async def upstream_app(url: str) -> AsyncIterator[tuple[Starlette, anthropic.AsyncAnthropic]]:
    model = {"name": "gpt", "provider": "openai", "model": "gpt-4o-mini", "api_base": url + "/v1", "api_key": "sk-up"}
    app = create_app(make_settings([model]))
    async with app.router.lifespan_context(app):
        yield app, asgi_sdk(app)


# -- in-process, against the fake provider ----------------------------------------------------------


async def test_completion_and_stream_agree(app_sdk):
    _, sdk = app_sdk
    msg = await sdk.messages.create(model="fake-chat", max_tokens=100, messages=MSG)
    assert msg.type == "message" and msg.role == "assistant" and msg.id.startswith("msg_")
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == REPLY  # type: ignore[union-attr]
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert msg.usage.output_tokens == 9 and msg.usage.input_tokens > 0
    async with sdk.messages.stream(model="fake-chat", max_tokens=100, messages=MSG) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == REPLY
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 9 and final.usage.input_tokens == msg.usage.input_tokens


async def test_max_tokens_stops_with_max_tokens(app_sdk):
    _, sdk = app_sdk
    msg = await sdk.messages.create(model="fake-chat", max_tokens=3, messages=MSG)
    assert msg.stop_reason == "max_tokens"
    assert msg.content[0].text == "The quick brown"  # type: ignore[union-attr]
    assert msg.usage.output_tokens == 3
    async with sdk.messages.stream(model="fake-chat", max_tokens=3, messages=MSG) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "max_tokens" and final.usage.output_tokens == 3


async def test_stream_event_sequence_on_the_wire(client):
    body = {"model": "fake-chat", "max_tokens": 100, "messages": MSG, "stream": True}
    r = await client.post("/v1/messages", json=body, headers={"x-api-key": MASTER_KEY})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert "[DONE]" not in r.text
    events = sse(r.text)
    assert all(name == data["type"] for name, data in events)
    names = [name for name, _ in events]
    assert names[:2] == ["message_start", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[2:-3]) == {"content_block_delta"}
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["role"] == "assistant"
    assert events[1][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert "".join(d["delta"]["text"] for _, d in events[2:-3]) == REPLY
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 9 and delta["usage"]["input_tokens"] > 0


async def test_mid_stream_failure_is_an_error_event(app, client):
    fake_provider(app).program({"kind": "cut", "after_chunks": 2})
    body = {"model": "fake-chat", "max_tokens": 100, "messages": MSG, "stream": True}
    r = await client.post("/v1/messages", json=body, headers={"x-api-key": MASTER_KEY})
    events = sse(r.text)
    name, data = events[-1]
    assert name == "error" and data["type"] == "error"
    assert data["error"]["type"] == "api_error" and data["error"]["message"]
    assert "message_stop" not in [n for n, _ in events]
    # The SDK raises it.
    fake_provider(app).program({"kind": "cut", "after_chunks": 2})
    sdk = asgi_sdk(app)
    with pytest.raises(anthropic.APIStatusError):
        async with sdk.messages.stream(model="fake-chat", max_tokens=100, messages=MSG) as stream:
            async for _ in stream:
                pass
    assert fake_provider(app).open_streams == 0


async def test_errors_in_anthropic_shape(app_sdk):
    app, sdk = app_sdk
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    with pytest.raises(anthropic.BadRequestError) as bad:
        await sdk.messages.create(model="fake-chat", messages=MSG, max_tokens=anthropic.NOT_GIVEN, timeout=30)  # type: ignore[call-overload]
    assert bad.value.body["type"] == "error"  # type: ignore[index]
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "max_tokens" in bad.value.body["error"]["message"]  # type: ignore[index]
    with pytest.raises(anthropic.AuthenticationError) as auth:
        await asgi_sdk(app, api_key="wrong-key-000").messages.create(model="fake-chat", max_tokens=5, messages=MSG)
    assert auth.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError) as missing:
        await sdk.messages.create(model="no-such-model", max_tokens=5, messages=MSG)
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    # Not JSON, and a tool_use block where only the assistant may put one: 400, Anthropic's shape.
    r = await client.post("/v1/messages", content=b"{nope", headers={"x-api-key": MASTER_KEY})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error" and r.json()["type"] == "error"
    tool_use = {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
    body = {"model": "fake-chat", "max_tokens": 5, "messages": [{"role": "user", "content": [tool_use]}]}
    r = await client.post("/v1/messages", json=body, headers={"x-api-key": MASTER_KEY})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    # An upstream failure before the first byte: a 5xx error object, not a stream.
    # (Enough faults for every retry.)
    fake_provider(app).program(*[{"kind": "server_error", "status": 503}] * 10)
    with pytest.raises(anthropic.InternalServerError) as down:
        await sdk.messages.create(model="fake-chat", max_tokens=5, messages=MSG)
    fake_provider(app).program()
    assert down.value.status_code == 503 and down.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


async def test_key_scopes_name_the_messages_endpoint():
    recorder = Recorder()
    app = create_app(make_settings(), admission=OpenAdmission(), usage=recorder)
    async with app.router.lifespan_context(app):
        store = app.state.runtime.key_store
        team = await store.create_team(TeamCreate(name="t"), actor="t")
        chat_only = await store.create_key(KeyCreate(name="c", team=team.id, endpoints=["chat"]), actor="t")
        messages_only = await store.create_key(KeyCreate(name="m", team=team.id, endpoints=["messages"]), actor="t")
        with pytest.raises(anthropic.PermissionDeniedError) as denied:
            await asgi_sdk(app, chat_only.secret).messages.create(model="fake-chat", max_tokens=5, messages=MSG)
        assert denied.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
        msg = await asgi_sdk(app, messages_only.secret).messages.create(model="fake-chat", max_tokens=5, messages=MSG)
        assert msg.stop_reason == "max_tokens"
    assert recorder.endpoints[-1] == "messages"


async def test_disconnect_mid_stream_closes_upstream(app_factory):
    app = app_factory(models=[{"name": "slow", "provider": "fake", "reply": "a " * 200, "tokens_per_second": 50}])
    async with running(app) as http:
        body = {"model": "slow", "max_tokens": 500, "messages": MSG, "stream": True}
        async with http.stream("POST", "/v1/messages", json=body, headers={"x-api-key": MASTER_KEY}) as r:
            assert r.status_code == 200
            async for _ in r.aiter_bytes():
                break
        for _ in range(100):
            if fake_provider(app, "slow").open_streams == 0:
                break
            await asyncio.sleep(0.02)
        assert fake_provider(app, "slow").open_streams == 0


# -- in-process, against the mock OpenAI upstream: what the provider is actually sent ------------------


async def test_request_translated_for_the_upstream(upstream):
    mock_app, url = upstream
    async with upstream_app(url) as (_, sdk):
        mock_app.clear_requests()
        await sdk.messages.create(
            model="gpt",
            max_tokens=50,
            system=[{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
            messages=MSG,
            stop_sequences=["###", "END"],
            metadata={"user_id": "u-42"},
            # Sampling fields the newest SDKs no longer type; older ones and raw clients still send them.
            extra_body={"temperature": 0.5, "top_p": 0.9, "top_k": 40},
        )
        sent = mock_app.requests[-1].to_json()["body"]
    assert sent["model"] == "gpt-4o-mini"
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief.\nBe kind."},
        {"role": "user", "content": "Say something."},
    ]
    assert sent["max_tokens"] == 50 and sent["stop"] == ["###", "END"]
    assert sent["temperature"] == 0.5 and sent["top_p"] == 0.9 and sent["user"] == "u-42"
    assert "top_k" not in sent and "metadata" not in sent and "stop_sequences" not in sent


async def test_tool_use_round_trip(upstream):
    mock_app, url = upstream
    async with upstream_app(url) as (_, sdk):
        choice: Any = {"type": "tool", "name": "get_weather"}
        msg = await sdk.messages.create(model="gpt", max_tokens=50, messages=MSG, tools=[WEATHER], tool_choice=choice)
        assert msg.stop_reason == "tool_use"
        (call,) = [b for b in msg.content if b.type == "tool_use"]
        assert call.name == "get_weather" and call.input == {"location": "Paris"}  # type: ignore[union-attr]
        sent = mock_app.requests[-1].to_json()["body"]
        assert sent["tools"] == [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": WEATHER["input_schema"],
                    "description": WEATHER["description"],
                },
            }
        ]
        assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
        # Streamed: the arguments arrive as input_json_delta pieces the SDK puts back together.
        async with sdk.messages.stream(
            model="gpt", max_tokens=50, messages=MSG, tools=[WEATHER], tool_choice=choice
        ) as stream:
            final = await stream.get_final_message()
        assert final.stop_reason == "tool_use"
        assert [(b.type, getattr(b, "input", None)) for b in final.content] == [("tool_use", {"location": "Paris"})]
        assert mock_app.requests[-1].to_json()["body"]["stream_options"] == {"include_usage": True}
        assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0
        # The answer goes back as a tool_result; the upstream gets the call and a tool message.
        history: Any = [
            *MSG,
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in msg.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 21 C"}]},
        ]
        await sdk.messages.create(model="gpt", max_tokens=50, messages=history, tools=[WEATHER])
        sent = mock_app.requests[-1].to_json()["body"]["messages"]
    assert sent[1]["role"] == "assistant" and sent[1]["tool_calls"][0]["id"] == call.id
    assert orjson.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"location": "Paris"}
    assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 C"}


# -- a real `modelrail serve` on loopback -----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("model", ["fake-chat", "gpt-4o-mini"])
def test_sync_sdk_against_a_real_server(server, model):  # noqa: F811
    sdk = anthropic.Anthropic(base_url=server.url, api_key=SERVER_KEY, max_retries=0)
    msg = sdk.messages.create(model=model, max_tokens=100, system="Be brief.", messages=MSG)
    assert msg.stop_reason == "end_turn" and msg.usage.output_tokens > 0
    with sdk.messages.stream(model=model, max_tokens=100, system="Be brief.", messages=MSG) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == msg.content[0].text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == msg.usage.output_tokens
    short = sdk.messages.create(model=model, max_tokens=2, messages=MSG)
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens == 2


@pytest.mark.slow
async def test_async_sdk_errors_against_a_real_server(server):  # noqa: F811
    sdk = anthropic.AsyncAnthropic(base_url=server.url, api_key=SERVER_KEY, max_retries=0)
    async with sdk.messages.stream(model="gpt-4o-mini", max_tokens=100, messages=MSG) as stream:
        pieces = [t async for t in stream.text_stream]
    assert len(pieces) >= 2
    with pytest.raises(anthropic.BadRequestError):
        await sdk.messages.create(model="fake-chat", messages=MSG, max_tokens=anthropic.NOT_GIVEN, timeout=30)  # type: ignore[call-overload]
    with pytest.raises(anthropic.AuthenticationError):
        bad = anthropic.AsyncAnthropic(base_url=server.url, api_key="wrong-key-000", max_retries=0)
        await bad.messages.create(model="fake-chat", max_tokens=5, messages=MSG)
    with pytest.raises(anthropic.NotFoundError):
        await sdk.messages.create(model="no-such-model", max_tokens=5, messages=MSG)


# -- the translators ----------------------------------------------------------------------------------


def test_tool_history_becomes_openai_messages():
    req = MessagesRequest.model_validate(
        {
            "model": "m",
            "max_tokens": 10,
            "system": "Be brief.",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Weather and a picture?"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Checking."},
                        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
                        {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Here you go."},
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": [{"type": "text", "text": "Rain"}],
                        },
                        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "12:00", "is_error": False},
                    ],
                },
            ],
            "tools": [WEATHER],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        }
    )
    body = to_chat_body(req)
    msgs = body["messages"]
    assert msgs[0] == {"role": "system", "content": "Be brief."}
    assert msgs[1]["content"] == [
        {"type": "text", "text": "Weather and a picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]
    assert msgs[2]["role"] == "assistant" and msgs[2]["content"] == "Checking."
    assert [
        (c["id"], c["function"]["name"], orjson.loads(c["function"]["arguments"])) for c in msgs[2]["tool_calls"]
    ] == [
        ("toolu_1", "get_weather", {"city": "Oslo"}),
        ("toolu_2", "get_time", {}),
    ]
    # Tool answers come straight after the call, before the user's own words.
    assert msgs[3:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Rain"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "12:00"},
        {"role": "user", "content": [{"type": "text", "text": "Here you go."}]},
    ]
    assert body["tool_choice"] == "required" and body["parallel_tool_calls"] is False
    ChatCompletionRequest.model_validate(body)  # what the gateway will take


@pytest.mark.parametrize(
    ("choice", "expected"),
    [({"type": "auto"}, "auto"), ({"type": "none"}, "none"), ({"type": "tool", "name": "f"}, None)],
)
def test_tool_choice(choice, expected):
    body = to_chat_body(
        MessagesRequest.model_validate({"model": "m", "max_tokens": 1, "messages": MSG, "tool_choice": choice})
    )
    want = expected if expected is not None else {"type": "function", "function": {"name": "f"}}
    assert body["tool_choice"] == want and "parallel_tool_calls" not in body


def test_tool_calls_become_tool_use_blocks():
    result = oa.chat_completion(
        id="chatcmpl-1",
        model="gpt",
        choices=[
            oa.chat_choice(
                0,
                "Let me look.",
                "tool_calls",
                tool_calls=[{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}],
            )
        ],
        usage=oa.usage_dict(11, 7),
    )
    msg = from_chat_completion(result, message_id="msg_1", stop_sequences=())
    anthropic.types.Message.model_validate(msg)
    assert msg["content"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_9", "name": "f", "input": {"a": 1}},
    ]
    assert msg["stop_reason"] == "tool_use" and msg["usage"] == {"input_tokens": 11, "output_tokens": 7}


@pytest.mark.parametrize(
    ("finish", "matched", "reason", "sequence"),
    [
        ("stop", None, "end_turn", None),
        ("stop", "###", "stop_sequence", "###"),  # vLLM says which stop string ended the text
        ("stop", "not-asked", "end_turn", None),
        ("length", None, "max_tokens", None),
        ("content_filter", None, "refusal", None),
    ],
)
def test_stop_reasons(finish, matched, reason, sequence):
    choice = oa.chat_choice(0, "hi", finish)
    if matched is not None:
        choice["stop_reason"] = matched
    assert stop_reason(choice, ["###"]) == (reason, sequence)


def test_stream_translator_text_then_tool_calls():
    def chunk(delta: dict[str, Any], finish: Any = None) -> dict[str, Any]:
        return oa.chat_chunk(id="c", model="gpt", created=0, delta=delta, finish_reason=finish)

    def call(index: int, args: str, name: str | None = None) -> dict[str, Any]:
        head = {"id": f"call_{index}", "type": "function"} if name else {}
        return {
            "tool_calls": [
                {"index": index, **head, "function": {"name": name, "arguments": args} if name else {"arguments": args}}
            ]
        }

    t = StreamTranslator(message_id="msg_x", model="gpt")
    events = []
    for c in [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hi "}),
        chunk({"content": "there."}),
        chunk(call(0, "", "f")),
        chunk(call(0, '{"a"')),
        chunk(call(0, ": 1}")),
        chunk(call(1, "{}", "g")),
        chunk({}, "tool_calls"),
        oa.usage_chunk(id="c", model="gpt", created=0, usage=oa.usage_dict(5, 8)),
    ]:
        events += t.feed(c)
    events += t.finish()
    adapter: Any = TypeAdapter(anthropic.types.RawMessageStreamEvent)
    for e in events:
        adapter.validate_python(e)  # each event is one the SDK knows
    assert [e["type"] for e in events] == [
        "message_start",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]  # fmt: skip
    starts = [e for e in events if e["type"] == "content_block_start"]
    assert [(s["index"], s["content_block"]["type"]) for s in starts] == [(0, "text"), (1, "tool_use"), (2, "tool_use")]
    assert starts[1]["content_block"] == {"type": "tool_use", "id": "call_0", "name": "f", "input": {}}
    json_parts = [
        e["delta"]["partial_json"] for e in events if e.get("index") == 1 and e["type"] == "content_block_delta"
    ]
    assert orjson.loads("".join(json_parts)) == {"a": 1}
    assert events[-2]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert events[-2]["usage"] == {"input_tokens": 5, "output_tokens": 8}


def test_stream_translator_with_no_content_still_makes_a_message():
    t = StreamTranslator(message_id="msg_x", model="gpt")
    events = t.feed(oa.chat_chunk(id="c", model="gpt", created=0, delta={}, finish_reason="length")) + t.finish()
    assert [e["type"] for e in events] == ["message_start", "message_delta", "message_stop"]
    assert events[1]["delta"]["stop_reason"] == "max_tokens"


@pytest.mark.parametrize(
    ("exc", "status", "kind"),
    [
        (InvalidRequest("x"), 400, "invalid_request_error"),
        (AuthenticationFailed("x"), 401, "authentication_error"),
        (PermissionDenied("x"), 403, "permission_error"),
        (ModelNotFound("x"), 404, "not_found_error"),
        (PayloadTooLarge("x"), 413, "request_too_large"),
        (RateLimited("x"), 429, "rate_limit_error"),
        (QuotaExceeded("x"), 429, "rate_limit_error"),
        (InternalError("x"), 500, "api_error"),
        (UpstreamError("x"), 502, "api_error"),
        (Overloaded("x"), 503, "overloaded_error"),
        (UpstreamTimeout("x"), 504, "timeout_error"),
    ],
)
def test_error_types(exc, status, kind):
    assert exc.status == status
    assert error_body(exc, "rid") == {"type": "error", "error": {"type": kind, "message": "x"}, "request_id": "rid"}
