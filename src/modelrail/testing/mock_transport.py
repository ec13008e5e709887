"""A transport whose requests go to a Python function instead of the network, like httpx's
``MockTransport``: translation tests of a provider run without a server.

::

    def handler(request: MockRequest) -> MockResponse:
        assert request.url.endswith("/chat/completions")
        return MockResponse.json({"id": "c", "object": "chat.completion", "choices": []})

    provider = OpenAIProvider(OpenAIConfig(model="m"), transport=MockTransport(handler))

Everything above the socket is the real :class:`~modelrail.providers.transport.Transport`
(headers, status-to-error mapping, the SSE and NDJSON readers), so what a test sees is what the
provider does against a server. A handler may be async, may raise aiohttp's exceptions (a
refused connection), and may answer a stream of pieces, each one network read, in which an
exception instance breaks the connection there. Streams with real timing, client disconnects and
several processes are tested against loopback servers instead (``MockOpenAI``).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, cast

import aiohttp
import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from modelrail.providers.transport import Transport

Piece = bytes | BaseException


@dataclass(slots=True, frozen=True)
class MockRequest:
    """One request as the transport would have sent it (header names lower-cased)."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(slots=True)
class MockResponse:
    """An answer: ``body``, or ``stream``, pieces read one network read each (an exception instance
    among them is raised there, as a broken connection would be)."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: Iterable[Piece] | AsyncIterable[Piece] | None = None

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> MockResponse:
        return cls(status, {"content-type": "application/json", **(headers or {})}, orjson.dumps(data))

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        code: str | None = None,
        type: str = "invalid_request_error",
        headers: Mapping[str, str] | None = None,
    ) -> MockResponse:
        """An OpenAI-shaped error body."""
        error = {"message": message, "type": type, "param": None, "code": code}
        return cls.json({"error": error}, status, headers)

    @classmethod
    def sse(
        cls, events: Iterable[Any], *, done: bool = True, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> MockResponse:
        """Server-sent events, one network read each: a dict is sent as ``data: {json}``, bytes as
        they are (whole lines of your own), an exception breaks the stream there; ``done`` ends it
        with ``data: [DONE]``."""
        pieces: list[Piece] = [_sse_piece(e) for e in events]
        if done:
            pieces.append(b"data: [DONE]\n\n")
        return cls(status, {"content-type": "text/event-stream", **(headers or {})}, stream=pieces)

    @classmethod
    def ndjson(cls, lines: Iterable[Any], *, status: int = 200) -> MockResponse:
        """Newline-delimited JSON, one line per network read."""
        pieces: list[Piece] = [
            line if isinstance(line, BaseException) else orjson.dumps(line) + b"\n" for line in lines
        ]
        return cls(status, {"content-type": "application/x-ndjson"}, stream=pieces)


Handler = Callable[[MockRequest], MockResponse | Awaitable[MockResponse]]


class MockTransport(Transport):
    """The transport with ``handler`` in place of the network. ``requests`` keeps what was sent."""

    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self.handler = handler
        self.requests: list[MockRequest] = []

    async def start(self) -> None:
        # The session stands in for the subset of aiohttp.ClientSession that the transport calls.
        self._session = cast(aiohttp.ClientSession, _Session(self))

    async def close(self) -> None:
        self._session = None

    async def answer(self, request: MockRequest) -> MockResponse:
        self.requests.append(request)
        result = self.handler(request)
        return await result if inspect.isawaitable(result) else result


class _Session:
    __slots__ = ("_transport",)

    def __init__(self, transport: MockTransport) -> None:
        self._transport = transport

    def post(self, url: str, **kwargs: Any) -> _Exchange:
        return self.request("POST", url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> _Exchange:
        return self.request("GET", url, **kwargs)

    def request(
        self, method: str, url: str, *, data: bytes | None = None, headers: Mapping[str, str] | None = None, **_: Any
    ) -> _Exchange:
        sent = {k.lower(): v for k, v in (headers or {}).items()}
        return _Exchange(self._transport, MockRequest(method, url, sent, data or b""))

    async def close(self) -> None:
        return None


class _Exchange:
    """``async with session.post(...) as resp``: the handler runs on entry."""

    __slots__ = ("_request", "_transport")

    def __init__(self, transport: MockTransport, request: MockRequest) -> None:
        self._transport = transport
        self._request = request

    async def __aenter__(self) -> _Response:
        return _Response(await self._transport.answer(self._request))

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class _Response:
    __slots__ = ("_mock", "content", "headers", "status")

    def __init__(self, mock: MockResponse) -> None:
        self._mock = mock
        self.status = mock.status
        self.headers = CIMultiDictProxy(CIMultiDict(mock.headers))
        self.content = self

    async def read(self) -> bytes:
        if self._mock.stream is None:
            return self._mock.body
        return b"".join([piece async for piece in self.iter_any()])

    async def iter_any(self) -> AsyncIterator[bytes]:
        stream = self._mock.stream
        if stream is None:
            pieces: Iterable[Piece] | AsyncIterable[Piece] = [self._mock.body] if self._mock.body else []
        else:
            pieces = stream
        if isinstance(pieces, AsyncIterable):
            async for piece in pieces:
                yield _raise_or(piece)
        else:
            for piece in pieces:
                yield _raise_or(piece)


def _raise_or(piece: Piece) -> bytes:
    if isinstance(piece, BaseException):
        raise piece
    return piece


def _sse_piece(event: Any) -> Piece:
    if isinstance(event, BaseException | bytes):
        return event
    if isinstance(event, str):
        return event.encode()
    return b"data: " + orjson.dumps(event) + b"\n\n"
