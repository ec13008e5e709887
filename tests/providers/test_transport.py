"""The transport as a provider with its own wire format uses it: custom URL, headers and auth per
request, its own error bodies, and its own events over SSE or NDJSON (on the mock transport)."""

from __future__ import annotations

from typing import Any

import pytest

from modelrail.errors import ContextWindowExceeded, UpstreamBadRequest, UpstreamError
from modelrail.protocol.base import JSONObject
from modelrail.providers.base import Call, Timeouts
from modelrail.providers.readers import EventFormat
from modelrail.providers.transport import Transport
from modelrail.providers.upstream_errors import DEFAULT_ERRORS, ErrorBody, ErrorReader
from modelrail.testing.mock_transport import MockRequest, MockResponse, MockTransport

CALL = Call(request_id="r-7", model="m", body={}, params=None, timeouts=Timeouts(), endpoint="chat")


def _text_chunk(payload: bytes) -> JSONObject | None:
    """A toy wire format: {"t": text} events become OpenAI chunks; {"ping": 1} carries none."""
    import orjson

    event = orjson.loads(payload)
    if "ping" in event:
        return None
    if "err" in event:
        raise UpstreamError(f"the toy upstream failed: {event['err']}")
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": event["t"]}}]}


async def _started(transport: Transport) -> Transport:
    await transport.start()
    return transport


def _texts(batches: list[list[dict[str, Any]]]) -> list[list[str]]:
    return [[c["choices"][0]["delta"]["content"] for c in b] for b in batches]


async def test_custom_url_headers_and_body_per_request() -> None:
    transport = await _started(MockTransport(lambda r: MockResponse.json({"ok": True}, headers={"x-request-id": "u1"})))
    signed = {"authorization": "Signature abc", "x-amz-date": "20260101T000000Z"}
    assert await transport.post_json("https://toy.example/v9/generate", signed, CALL, {"q": 1}) == {"ok": True}
    reply = await transport.send("PUT", "https://toy.example/raw", {"a": "b"}, call=CALL, data=b"raw bytes")
    assert (reply.status, reply.request_id, reply.json()) == (200, "u1", {"ok": True})
    first, second = transport.requests  # type: ignore[attr-defined]
    assert (first.url, first.headers["authorization"], first.headers["x-request-id"]) == (
        "https://toy.example/v9/generate",
        "Signature abc",
        "r-7",
    )
    assert first.json() == {"q": 1}
    assert (second.method, second.body, second.headers["a"]) == ("PUT", b"raw bytes", "b")


async def test_a_providers_own_sse_events_until_the_upstream_closes() -> None:
    events = [b'data: {"t": "a"}\n\n', b'event: ping\ndata: {"ping": 1}\n\ndata: {"t": "b"}\n\ndata: {"t": "c"}\n\n']
    transport = await _started(MockTransport(lambda r: MockResponse(stream=events)))
    fmt = EventFormat(_text_chunk)
    batches = [b async for b in transport.events("https://toy.example/s", {}, CALL, {}, fmt)]
    assert _texts(batches) == [["a"], ["b", "c"]]


async def test_a_done_marker_that_never_comes_is_an_incomplete_stream() -> None:
    transport = await _started(MockTransport(lambda r: MockResponse(stream=[b'data: {"t": "a"}\n\n'])))
    fmt = EventFormat(_text_chunk, done=b"[END]")
    with pytest.raises(UpstreamError, match="ended before it was complete"):
        [b async for b in transport.events("https://toy.example/s", {}, CALL, {}, fmt)]
    done = MockTransport(lambda r: MockResponse(stream=[b'data: {"t": "a"}\n\ndata: [END]\n\ndata: {"t": "x"}\n\n']))
    await done.start()
    assert _texts([b async for b in done.events("https://toy.example/s", {}, CALL, {}, fmt)]) == [["a"]]


async def test_ndjson_events_split_across_reads_and_an_error_line() -> None:
    pieces = [b'{"t": "a"}\n{"t"', b': "b"}\n\n{"ping": 1}\n', b'{"t": "c"}']  # the last line without its end
    transport = await _started(MockTransport(lambda r: MockResponse(stream=pieces)))
    fmt = EventFormat(_text_chunk)
    batches = [b async for b in transport.events("https://toy.example/n", {}, CALL, {}, fmt, ndjson=True)]
    assert _texts(batches) == [["a"], ["b"], ["c"]]
    failing = await _started(MockTransport(lambda r: MockResponse.ndjson([{"t": "a"}, {"err": "gone"}])))
    got = []
    with pytest.raises(UpstreamError, match="toy upstream failed: gone"):
        async for batch in failing.events("https://toy.example/n", {}, CALL, {}, fmt, ndjson=True):
            got.append(batch)
    assert _texts(got) == [["a"]]


class _ToyErrors(ErrorReader):
    """A provider whose errors read {"problem": {"text", "kind"}}, with its own context-window kind."""

    def read(self, body: bytes) -> ErrorBody:
        import orjson

        problem = orjson.loads(body)["problem"]
        return ErrorBody(problem["text"], problem["kind"])

    def context_window(self, status: int, error: ErrorBody) -> bool:
        return error.code == "TOO_MANY_TOKENS"


async def test_a_providers_error_reader_reads_its_bodies_and_its_context_window_code() -> None:
    def handler(request: MockRequest) -> MockResponse:
        kind = request.json()["kind"]
        return MockResponse.json({"problem": {"text": f"nope: {kind}", "kind": kind}}, status=400)

    transport = await _started(MockTransport(handler))
    with pytest.raises(ContextWindowExceeded, match="nope: TOO_MANY_TOKENS"):
        await transport.post_json("https://toy.example/g", {}, CALL, {"kind": "TOO_MANY_TOKENS"}, _ToyErrors())
    with pytest.raises(UpstreamBadRequest, match="nope: OTHER") as info:
        await transport.post_json("https://toy.example/g", {}, CALL, {"kind": "OTHER"}, _ToyErrors())
    assert type(info.value) is UpstreamBadRequest


async def test_the_default_reader_does_not_guess_context_windows_from_messages() -> None:
    error = MockResponse.error(400, "This model's maximum context length is 4096 tokens.")
    transport = await _started(MockTransport(lambda r: error))
    with pytest.raises(UpstreamBadRequest) as info:
        await transport.post_json("https://toy.example/g", {}, CALL, {}, DEFAULT_ERRORS)
    assert type(info.value) is UpstreamBadRequest
