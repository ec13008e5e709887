"""Never a 500: generated bodies, valid and hostile, sent through the real app in-process.

One app per module (the fake provider behind two aliases, one with a fixed reply and one that echoes),
driven from one event loop, so hundreds of examples cost seconds. Every answer is below 500 and in its
dialect's shape: OpenAI's error object on ``/v1/chat/completions``, ``/v1/completions`` and
``/v1/embeddings``, Anthropic's on ``/v1/messages``; streams end properly and carry no error event; and
the server still answers ``/healthz`` and a plain request after each batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from modelrail.app import create_app
from modelrail.protocol.anthropic import MessagesRequest
from modelrail.protocol.openai import (
    MAX_EMBEDDING_DIMENSIONS,
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
)
from tests.conftest import AUTH, make_settings, running
from tests.fuzz.conftest import (
    ALIASES,
    FUZZ,
    anthropic_requests,
    chat_requests,
    completion_requests,
    embedding_requests,
    from_model,
    hostile,
    model_name,
    raw_hostile_bodies,
)

pytestmark = pytest.mark.fuzz

MODELS = [
    {"name": "fake-chat", "provider": "fake", "reply": "The quick brown fox jumps over the lazy dog."},
    {"name": "fake-echo", "provider": "fake"},
]


class App:
    """The app with its lifespan started, called synchronously from hypothesis tests on one loop."""

    def __init__(self) -> None:
        self.runner = asyncio.Runner()
        self.stack = contextlib.AsyncExitStack()
        app = create_app(make_settings(MODELS))
        self.client: httpx.AsyncClient = self.runner.run(self.stack.enter_async_context(running(app)))

    def post(self, path: str, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        # Header values travel as latin-1 octets, as a raw HTTP client would send them.
        extra = {name: value.encode("latin-1") for name, value in (headers or {}).items()}
        sent: dict[str, str | bytes] = {**AUTH, "content-type": "application/json", **extra}
        return self.runner.run(self.client.post(path, content=content, headers=sent))

    def get(self, path: str) -> httpx.Response:
        return self.runner.run(self.client.get(path, headers=AUTH))

    def close(self) -> None:
        self.runner.run(self.stack.aclose())
        self.runner.close()


@pytest.fixture(scope="module")
def gateway() -> Iterator[App]:
    app = App()
    yield app
    app.close()


def check_openai(response: httpx.Response, body: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["type"], str)
        return
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
        assert data[-1] == "[DONE]", response.text[-300:]
        for item in data[:-1]:
            chunk = orjson.loads(item)
            assert "error" not in chunk, chunk
            assert chunk["object"] in ("chat.completion.chunk", "text_completion"), chunk
        return
    answer = response.json()
    assert answer["object"] in ("chat.completion", "text_completion", "list"), answer
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        assert answer["model"] == body["model"]


def check_anthropic(response: httpx.Response, body: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        answer = response.json()
        assert answer["type"] == "error", answer
        assert isinstance(answer["error"]["type"], str) and answer["error"]["type"].endswith(("_error", "_large"))
        assert isinstance(answer["error"]["message"], str) and answer["error"]["message"]
        return
    if response.headers["content-type"].startswith("text/event-stream"):
        names = []
        for block in response.text.strip().split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.split("\n"))
            event = orjson.loads(lines["data"])
            assert lines["event"] == event["type"] != "error", event
            names.append(event["type"])
        assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"], names
        return
    answer = response.json()
    assert answer["type"] == "message" and answer["role"] == "assistant", answer
    assert answer["stop_reason"] in ("end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal")


ENDPOINTS = {
    "/v1/chat/completions": (check_openai, ChatCompletionRequest, chat_requests(stream=None)),
    "/v1/completions": (check_openai, CompletionRequest, completion_requests(stream=None)),
    "/v1/embeddings": (check_openai, EmbeddingRequest, embedding_requests()),
    "/v1/messages": (check_anthropic, MessagesRequest, anthropic_requests(stream=None)),
}
SMOKE = {
    "/v1/chat/completions": {"model": "fake-chat", "messages": [{"role": "user", "content": "hi"}]},
    "/v1/completions": {"model": "fake-chat", "prompt": "hi"},
    "/v1/embeddings": {"model": "fake-chat", "input": "hi"},
    "/v1/messages": {"model": "fake-chat", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
}
PATHS = list(ENDPOINTS)


def _with_alias(bodies: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly a configured alias, so bodies get past routing; sometimes whatever was generated."""
    return st.tuples(bodies, st.one_of(model_name, model_name, st.none())).map(
        lambda pair: pair[0] if pair[1] is None else {**pair[0], "model": pair[1]}
    )


def bodies_for(path: str, kind: str) -> st.SearchStrategy[Any]:
    _, model, valid = ENDPOINTS[path]
    streamed = st.tuples(valid, st.booleans()).map(
        lambda p: p[0] | {"stream": p[1]} if path != "/v1/embeddings" else p[0]
    )
    if kind == "valid":
        return streamed
    if kind == "schema":
        return _with_alias(from_model(model))
    return hostile(st.one_of(streamed, _with_alias(from_model(model))))


def assert_healthy(gateway: App, path: str) -> None:
    assert gateway.get("/healthz").status_code == 200
    response = gateway.post(path, orjson.dumps(SMOKE[path]))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("kind", ["valid", "schema", "hostile"])
@pytest.mark.parametrize("path", PATHS)
def test_generated_bodies_never_500(gateway: App, path: str, kind: str) -> None:
    check = ENDPOINTS[path][0]
    answered: list[int] = []

    @FUZZ
    @given(body=bodies_for(path, kind))
    def run(body: Any) -> None:
        response = gateway.post(path, json.dumps(body).encode())
        check(response, body)
        answered.append(response.status_code)

    run()
    assert_healthy(gateway, path)
    if kind == "valid":
        # A valid request to a configured alias is answered, not refused.
        assert set(answered) == {200}, sorted(set(answered))


@pytest.mark.parametrize("path", PATHS)
def test_raw_hostile_bytes_never_500(gateway: App, path: str) -> None:
    check = ENDPOINTS[path][0]

    @FUZZ
    @given(raw=raw_hostile_bodies)
    def run(raw: bytes) -> None:
        response = gateway.post(path, raw)
        check(response, None)

    run()
    assert_healthy(gateway, path)


@pytest.mark.parametrize("path", PATHS)
def test_hostile_headers_never_500(gateway: App, path: str) -> None:
    """Odd but sendable values in the headers modelrail reads."""
    check = ENDPOINTS[path][0]
    names = st.sampled_from(
        [
            "x-modelrail-timeout",
            "x-modelrail-ttft-timeout",
            "content-type",
            "x-request-id",
            "anthropic-version",
            "idempotency-key",
            "authorization",
        ]
    )
    values = st.one_of(
        st.sampled_from(["", "0", "-1", "nan", "inf", "-inf", "1e309", "99999999999999999999", "abc", "Bearer", " "]),
        st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=30),
    )

    @FUZZ
    @given(headers=st.dictionaries(names, values, max_size=3))
    def run(headers: dict[str, str]) -> None:
        response = gateway.post(path, orjson.dumps(SMOKE[path]), headers=headers)
        check(response, SMOKE[path])

    run()
    assert_healthy(gateway, path)


def test_aliases_are_configured(gateway: App) -> None:
    listed = {m["id"] for m in gateway.get("/v1/models").json()["data"]}
    assert set(ALIASES) <= listed


@FUZZ
@given(dimensions=st.integers(min_value=MAX_EMBEDDING_DIMENSIONS + 1, max_value=2**63 - 1))
def test_embedding_dimensions_are_bounded(gateway: App, dimensions: int) -> None:
    """Found by schemathesis: ``dimensions: 127289898358`` made the fake provider allocate the vector (500,
    MemoryError; smaller huge values took the worker's memory). A client must not choose an allocation."""
    body = {"model": "fake-chat", "input": "hi", "dimensions": dimensions}
    response = gateway.post("/v1/embeddings", orjson.dumps(body))
    assert response.status_code == 400, response.text[:200]
    assert response.json()["error"]["param"] == "dimensions"


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` (which OpenAI's 3.1 document still uses) as JSON Schema says it."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        if "type" not in out and "enum" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


SPEC = _nullable(yaml.safe_load(Path(__file__).with_name("public_openapi.yaml").read_text()))
# Legacy completions have no chunk schema in the spec (it reuses the unary response, whose finish_reason and
# usage cannot be null as they are mid-stream in OpenAI's own streams), so only chat chunks are checked.
STREAM_SCHEMAS = {"/v1/chat/completions": "CreateChatCompletionStreamResponse"}


@pytest.mark.parametrize("path", list(STREAM_SCHEMAS))
def test_stream_chunks_conform_to_openai_spec(gateway: App, path: str) -> None:
    """Each chunk of a stream validates against OpenAI's chunk schema (schemathesis cannot check these)."""
    # The document itself is the root, so the schema's $refs to #/components resolve.
    validator = jsonschema.Draft202012Validator({**SPEC, "$ref": f"#/components/schemas/{STREAM_SCHEMAS[path]}"})
    valid = ENDPOINTS[path][2]

    @settings(FUZZ, max_examples=20)
    @given(body=valid)
    def run(body: dict[str, Any]) -> None:
        response = gateway.post(path, orjson.dumps({**body, "stream": True}))
        assert response.status_code == 200, response.text
        data = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]
        assert data[-1] == "[DONE]"
        for item in data[:-1]:
            chunk = orjson.loads(item)
            errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(chunk)]
            assert not errors, (errors, chunk)

    run()


@FUZZ
@given(stops=st.lists(st.text(min_size=1, max_size=5), min_size=5, max_size=12), stream=st.booleans())
def test_too_many_stop_sequences_are_refused_by_their_own_name(gateway: App, stops: list[str], stream: bool) -> None:
    """Found by the translation property: 5 stop_sequences were refused as "Invalid value for 'stop'", a field
    an Anthropic client never sent (the chat body the request is translated to allows 4)."""
    body = {**SMOKE["/v1/messages"], "stop_sequences": stops, "stream": stream}
    response = gateway.post("/v1/messages", orjson.dumps(body))
    assert response.status_code == 400, response.text[:200]
    assert "'stop_sequences'" in response.json()["error"]["message"]
