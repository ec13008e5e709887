"""The OpenAI provider's SSE reader, against an upstream that splits its stream at awkward places."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from modelrail.errors import UpstreamError
from modelrail.providers.base import Call, Timeouts
from modelrail.providers.batches import flatten
from modelrail.providers.openai import OpenAIConfig, OpenAIProvider


def _event(i: int) -> bytes:
    chunk = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": f"t{i}"}}]}
    return b"data: " + orjson.dumps(chunk)


async def _upstream(pieces: list[bytes]) -> AsyncIterator[str]:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for piece in pieces:
            await response.write(piece)
            await asyncio.sleep(0.005)  # separate network reads on the client
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()


async def _read(pieces: list[bytes]) -> list[dict]:
    return [chunk for batch in await _read_batches(pieces) for chunk in batch]


async def _read_batches(pieces: list[bytes], got: list[list[dict]] | None = None) -> list[list[dict]]:
    """What the router sees: the stream as batches. ``got`` collects them even when the stream fails."""
    got = [] if got is None else got
    gen = _upstream(pieces)
    base = await anext(gen)
    provider = OpenAIProvider(OpenAIConfig(model="m", api_base=base))
    await provider.start()
    try:
        call = Call(
            request_id="r",
            model="m",
            body={"model": "m", "stream": True},
            params=None,
            timeouts=Timeouts(),
            endpoint="chat",
        )
        async for batch in provider.stream(call):
            got.append(batch)
        return got
    finally:
        await provider.close()
        await gen.aclose()


def _texts(batch: list[dict]) -> list[str]:
    return [c["choices"][0]["delta"]["content"] for c in batch]


def _split_everywhere(raw: bytes, size: int) -> list[bytes]:
    return [raw[i : i + size] for i in range(0, len(raw), size)]


@pytest.mark.parametrize("size", [1, 7, 64, 10_000])
async def test_events_split_across_reads(size: int) -> None:
    raw = b"".join(_event(i) + b"\n\n" for i in range(5))
    raw += b": ping\n\nevent: message\r\n" + _event(5) + b"\r\n\r\ndata: [DONE]\n\n"
    chunks = await _read(_split_everywhere(raw, size))
    assert [c["choices"][0]["delta"]["content"] for c in chunks] == [f"t{i}" for i in range(6)]


async def test_last_event_without_line_end() -> None:
    chunks = await _read([_event(0) + b"\n\n", b"data: [DONE]"])
    assert len(chunks) == 1


async def test_stream_without_done_is_an_error() -> None:
    with pytest.raises(UpstreamError, match="ended before it was complete"):
        await _read([_event(0) + b"\n\n", _event(1)])


async def test_error_event_mid_stream() -> None:
    with pytest.raises(UpstreamError, match="failed mid-stream"):
        await _read([_event(0) + b"\n\n", b'data: {"error": {"message": "boom"}}\n\n'])


async def test_event_that_is_not_json() -> None:
    with pytest.raises(UpstreamError, match="not JSON"):
        await _read([b"data: {nope\n\n"])


@pytest.mark.parametrize("payload", [b"[1, 2]", b"42", b'"text"', b"null"])
async def test_event_that_is_json_but_not_an_object(payload: bytes) -> None:
    got: list[list[dict]] = []
    with pytest.raises(UpstreamError, match="not a JSON object"):
        await _read_batches([_event(0) + b"\n\ndata: " + payload + b"\n\n"], got)
    assert [_texts(b) for b in got] == [["t0"]]  # the event before it still arrives


async def test_events_of_one_read_are_one_batch() -> None:
    first = b"".join(_event(i) + b"\n\n" for i in range(3))
    second = _event(3) + b"\n\n" + _event(4) + b"\n\ndata: [DONE]\n\n"
    batches = await _read_batches([first, second])
    assert [_texts(b) for b in batches] == [["t0", "t1", "t2"], ["t3", "t4"]]


async def test_read_without_a_whole_event_yields_no_batch() -> None:
    raw = _event(0) + b"\n\n"
    batches = await _read_batches([raw[:10], raw[10:], b"data: [DONE]\n\n"])
    assert [_texts(b) for b in batches] == [["t0"]]


async def test_events_before_an_error_in_the_same_read_are_delivered() -> None:
    got: list[list[dict]] = []
    raw = _event(0) + b"\n\n" + _event(1) + b'\n\ndata: {"error": {"message": "boom"}}\n\n' + _event(2) + b"\n\n"
    with pytest.raises(UpstreamError, match="failed mid-stream"):
        await _read_batches([raw], got)
    assert [_texts(b) for b in got] == [["t0", "t1"]]


async def test_chat_stream_flattens_the_batches() -> None:
    raw = b"".join(_event(i) + b"\n\n" for i in range(4)) + b"data: [DONE]\n\n"
    gen = _upstream([raw])
    provider = OpenAIProvider(OpenAIConfig(model="m", api_base=await anext(gen)))
    await provider.start()
    try:
        call = Call(
            request_id="r",
            model="m",
            body={"model": "m", "stream": True},
            params=None,
            timeouts=Timeouts(),
            endpoint="chat",
        )
        assert _texts([c async for c in flatten(provider.stream(call))]) == ["t0", "t1", "t2", "t3"]
    finally:
        await provider.close()
        await gen.aclose()


_USAGE = b'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":1}}'


async def test_batches_carry_their_events_as_they_came() -> None:
    spaced = (
        b'data:  {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "s"}}]}'
    )
    raw = spaced + b"\n\n" + _event(0) + b"\r\n\r\n" + _USAGE + b"\n\ndata: [DONE]\n\n"
    [batch] = await _read_batches([raw])
    assert _texts(batch[:2]) == ["s", "t0"] and batch[2]["usage"] == {"prompt_tokens": 1}
    # The upstream's own spacing, the prefix made plain, CRLF line ends made plain; the trailing
    # usage-only chunk apart, for clients that asked for it.
    assert getattr(batch, "sse", None) == b"data: " + spaced[7:] + b"\n\n" + _event(0) + b"\n\n"
    assert getattr(batch, "usage_sse", None) == _USAGE + b"\n\n"


@pytest.mark.parametrize(
    "raw",
    [
        # JSON allows a carriage return between tokens; sent on as it came, it would end the SSE line.
        b'data: {"id":\r"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"r"}}]}\n\n',
        # A usage-only chunk before another chunk cannot be left out of the joined events.
        _USAGE + b"\n\n" + _event(1) + b"\n\n",
        _USAGE + b"\n\n" + _USAGE + b"\n\n",
    ],
)
async def test_batches_whose_events_cannot_be_sent_on_as_they_came(raw: bytes) -> None:
    [batch] = await _read_batches([raw + b"data: [DONE]\n\n"])
    assert batch and getattr(batch, "sse", "missing") is None and getattr(batch, "usage_sse", "missing") is None
