"""modelrail's own bodies, chunks and errors against the component schemas of OpenAI's spec."""

from __future__ import annotations

import orjson

from tests.conformance import validate_against
from tests.conftest import AUTH

MSG = [{"role": "user", "content": "hi"}]


async def test_chat_completion_conforms(client):
    r = await client.post("/v1/chat/completions", json={"model": "fake-chat", "messages": MSG, "n": 2}, headers=AUTH)
    validate_against("CreateChatCompletionResponse", r.json())


async def test_stream_chunks_conform(client):
    payload = {"model": "fake-chat", "messages": MSG, "stream": True, "stream_options": {"include_usage": True}}
    r = await client.post("/v1/chat/completions", json=payload, headers=AUTH)
    events = [line[6:] for line in r.text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    for e in events[:-1]:
        validate_against("CreateChatCompletionStreamResponse", orjson.loads(e))


async def test_completion_conforms(client):
    r = await client.post("/v1/completions", json={"model": "fake-chat", "prompt": "x"}, headers=AUTH)
    validate_against("CreateCompletionResponse", r.json())


async def test_embeddings_conform(client):
    r = await client.post("/v1/embeddings", json={"model": "fake-chat", "input": ["a", "b"]}, headers=AUTH)
    validate_against("CreateEmbeddingResponse", r.json())


async def test_models_conform(client):
    validate_against("ListModelsResponse", (await client.get("/v1/models", headers=AUTH)).json())
    validate_against("Model", (await client.get("/v1/models/fake-chat", headers=AUTH)).json())


async def test_errors_conform(client):
    responses = [
        await client.post("/v1/chat/completions", content=b"{", headers=AUTH),
        await client.post("/v1/chat/completions", json={"model": "x", "messages": MSG}, headers=AUTH),
        await client.post("/v1/chat/completions", json={"model": "fake-chat", "messages": MSG}),
        await client.get("/v1/unknown", headers=AUTH),
    ]
    assert [r.status_code for r in responses] == [400, 404, 401, 404]
    for r in responses:
        validate_against("ErrorResponse", r.json())
