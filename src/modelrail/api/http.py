"""Small HTTP helpers shared by the dispatcher and the endpoint modules."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope

from modelrail.errors import InvalidRequest, PayloadTooLarge
from modelrail.protocol.base import JSONObject, parse_json_object


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class RequestHeaders(Mapping[str, str]):
    """A request's headers by lowercase name, each name looked up in a dict built once: Starlette's
    ``Headers`` scans the whole list (in Python) for every lookup, and a request looks up five.
    Where a name is repeated, the first value wins, as in ``Headers``."""

    __slots__ = ("_raw",)

    def __init__(self, scope: Scope) -> None:
        # ASGI servers send header names lowercase.
        self._raw: dict[bytes, bytes] = dict(reversed(scope["headers"]))

    def __getitem__(self, name: str) -> str:
        return self._raw[name.encode("latin-1")].decode("latin-1")

    def get(self, name: str, default: Any = None) -> Any:
        value = self._raw.get(name.encode("latin-1"))
        return default if value is None else value.decode("latin-1")

    def __iter__(self) -> Iterator[str]:
        return (name.decode("latin-1") for name in self._raw)

    def __len__(self) -> int:
        return len(self._raw)


async def read_json(receive: Receive, max_bytes: int, headers: Mapping[str, str]) -> JSONObject:
    """The body as a JSON object, refusing oversize bodies before reading them where possible."""
    length = headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise InvalidRequest("The Content-Length header is not a number.") from None
        if declared > max_bytes:
            raise PayloadTooLarge(f"Request body is {declared} bytes; the limit is {max_bytes} bytes.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # The client left before sending its whole body (or the server sent something odd).
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"Request body is over the limit of {max_bytes} bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return parse_json_object(chunks[0] if len(chunks) == 1 else b"".join(chunks), max_bytes=max_bytes)
