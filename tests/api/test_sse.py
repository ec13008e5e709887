"""The SSE writer: one send per batch of chunks, the usage chunk only when asked for, errors as events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson

from modelrail.api.sse import SSEResponse
from modelrail.errors import UpstreamError
from modelrail.providers.batches import Chunks, Events


def _chunk(text: str) -> dict:
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]}


USAGE = {"object": "chat.completion.chunk", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2}}


async def _batches(items: list[Chunks], fail: Exception | None = None) -> AsyncIterator[Chunks]:
    for batch in items:
        yield batch
    if fail is not None:
        raise fail


async def _bodies(response: SSEResponse) -> list[bytes]:
    sent: list[dict] = []
    never = asyncio.get_running_loop().create_future()

    async def receive() -> dict:
        return await never  # the client never leaves

    async def send(message: dict) -> None:
        sent.append(message)

    await response({"type": "http"}, receive, send)  # type: ignore[arg-type]
    assert sent[0]["type"] == "http.response.start"
    assert sent[-1]["more_body"] is False
    return [m["body"] for m in sent[1:]]


def _events(body: bytes) -> list[dict]:
    return [orjson.loads(part[6:]) for part in body.split(b"\n\n") if part.startswith(b"data: {")]


async def test_each_batch_is_one_write_and_the_usage_chunk_is_dropped_unless_asked_for() -> None:
    items = [[_chunk("a"), _chunk("b"), _chunk("c")], [_chunk("d"), USAGE], [USAGE]]
    bodies = await _bodies(SSEResponse(_batches(items), headers={}, keep_usage_chunk=False))
    assert len(bodies) == 3  # two batches with text (the usage-only batch writes nothing) and [DONE]
    assert [e["choices"][0]["delta"]["content"] for e in _events(bodies[0])] == ["a", "b", "c"]
    assert [e["choices"][0]["delta"]["content"] for e in _events(bodies[1])] == ["d"]
    assert bodies[-1] == b"data: [DONE]\n\n"


async def test_usage_chunk_kept_when_asked_for() -> None:
    items = [[_chunk("a"), USAGE]]
    bodies = await _bodies(SSEResponse(_batches(items), headers={}, keep_usage_chunk=True))
    assert len(bodies) == 2
    assert _events(bodies[0])[1]["usage"] == USAGE["usage"]


async def test_failure_after_a_batch_ends_with_an_error_event_and_no_done() -> None:
    items = [[_chunk("a"), _chunk("b")]]
    bodies = await _bodies(SSEResponse(_batches(items, UpstreamError("boom")), headers={}, keep_usage_chunk=False))
    assert len(_events(bodies[0])) == 2
    assert _events(bodies[-1])[0]["error"]["message"] == "boom"
    assert b"[DONE]" not in b"".join(bodies)


def _as_events(chunks: list[dict], sse: bytes | None, usage_sse: bytes | None = None) -> Events:
    batch = Events()
    batch.extend(chunks)
    batch.sse, batch.usage_sse = sse, usage_sse
    return batch


async def test_upstream_events_are_sent_on_as_they_came() -> None:
    """A batch read off an upstream's SSE stream carries its events; the writer sends those bytes
    (the upstream's own spacing) rather than serializing the chunks again, and the trailing usage
    chunk's event only to a client that asked for it. Without events, the chunks are serialized."""
    a, b = _chunk("a"), _chunk("b")
    sse = b'data: {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "a"}}]}\n\n'
    sse += b"data: " + orjson.dumps(b) + b"\n\n"
    usage_sse = b"data: " + orjson.dumps(USAGE) + b"\n\n"
    dropped = await _bodies(
        SSEResponse(_batches([_as_events([a, b, USAGE], sse, usage_sse)]), headers={}, keep_usage_chunk=False)
    )
    assert dropped == [sse, b"data: [DONE]\n\n"]
    kept = await _bodies(
        SSEResponse(_batches([_as_events([a, b, USAGE], sse, usage_sse)]), headers={}, keep_usage_chunk=True)
    )
    assert kept == [sse + usage_sse, b"data: [DONE]\n\n"]
    serialized = await _bodies(
        SSEResponse(_batches([_as_events([a, USAGE], None)]), headers={}, keep_usage_chunk=False)
    )
    assert serialized[0] == b"data: " + orjson.dumps(a) + b"\n\n"
