"""Legacy completions, embeddings, models, health, unknown routes."""

from __future__ import annotations

import base64
import struct

import orjson

from tests.conftest import AUTH, running


async def test_legacy_completion(client):
    r = await client.post("/v1/completions", json={"model": "fake-chat", "prompt": "Once upon"}, headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "text_completion"
    assert body["choices"][0]["text"] == "The quick brown fox jumps over the lazy dog."
    assert body["usage"]["completion_tokens"] == 9


async def test_legacy_completion_stream(client):
    r = await client.post(
        "/v1/completions",
        json={"model": "fake-chat", "prompt": "x", "stream": True, "max_tokens": 2},
        headers=AUTH,
    )
    events = [line[6:] for line in r.text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks) == "The quick"
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


async def test_legacy_completion_rejects_empty_prompt_list(client):
    r = await client.post("/v1/completions", json={"model": "fake-chat", "prompt": []}, headers=AUTH)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "prompt"


async def test_embeddings_float_and_base64(client):
    r = await client.post("/v1/embeddings", json={"model": "fake-chat", "input": ["a", "b"]}, headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    assert [d["index"] for d in body["data"]] == [0, 1]
    vec = body["data"][0]["embedding"]
    assert len(vec) == 16
    r = await client.post(
        "/v1/embeddings", json={"model": "fake-chat", "input": "a", "encoding_format": "base64"}, headers=AUTH
    )
    raw = base64.b64decode(r.json()["data"][0]["embedding"])
    assert list(struct.unpack("<16f", raw)) == [float(struct.unpack("<f", struct.pack("<f", x))[0]) for x in vec]


async def test_embeddings_bad_input(client):
    for body in (
        {"model": "fake-chat"},
        {"model": "fake-chat", "input": []},
        {"model": "fake-chat", "input": "x", "encoding_format": "hex"},
    ):
        r = await client.post("/v1/embeddings", json=body, headers=AUTH)
        assert r.status_code == 400, body


async def test_models_list_and_get(client):
    r = await client.get("/v1/models", headers=AUTH)
    assert r.json() == {
        "object": "list",
        "data": [{"id": "fake-chat", "object": "model", "created": 0, "owned_by": "fake"}],
    }
    r = await client.get("/v1/models/fake-chat", headers=AUTH)
    assert r.json()["id"] == "fake-chat"
    r = await client.get("/v1/models/nope", headers=AUTH)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "model_not_found"
    r = await client.get("/v1/models")
    assert r.status_code == 401


async def test_health_and_ready(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


async def test_ready_is_503_before_startup(app):
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/readyz")
        assert r.status_code == 503


async def test_unknown_route_and_method(client):
    r = await client.get("/v1/nothing-here", headers=AUTH)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "unknown_url"
    r = await client.get("/v1/chat/completions", headers=AUTH)
    assert r.status_code == 405
    assert r.json()["error"]["type"] == "invalid_request_error"


async def test_unsupported_operation_is_400(app_factory, tmp_path):
    # A provider without embeddings support answers a clear 400, not a 500.
    app = app_factory(models=[{"name": "up", "provider": "openai", "api_base": "http://127.0.0.1:9/v1"}])
    async with running(app) as client:
        r = await client.post(
            "/v1/chat/completions", json={"model": "up", "messages": [{"role": "user", "content": "x"}]}, headers=AUTH
        )
        # Nothing listens on port 9: the upstream is unreachable, a 503 in OpenAI's shape.
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "upstream_unavailable"


def test_request_headers_read_as_starlettes_do():
    from starlette.datastructures import Headers

    from modelrail.api.http import RequestHeaders

    scope = {
        "headers": [
            (b"authorization", b"Bearer one"),
            (b"x-modelrail-timeout", b"5"),
            (b"authorization", b"Bearer two"),
            (b"x-caf\xe9", b"cr\xe8me"),
        ]
    }
    ours, theirs = RequestHeaders(scope), Headers(scope=scope)
    for name in ("authorization", "x-modelrail-timeout", "x-caf\xe9", "content-length"):
        assert ours.get(name) == theirs.get(name)
    assert ours["authorization"] == "Bearer one"  # the first of a repeated name
    assert sorted(ours) == sorted(set(theirs.keys())) and len(ours) == 3
