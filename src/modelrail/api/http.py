"""Small HTTP helpers shared by the endpoint modules."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from modelrail.errors import InvalidRequest, PayloadTooLarge
from modelrail.protocol.base import JSONObject, parse_json_object
from modelrail.runtime import Runtime


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def request_id(request: Request) -> str:
    rid: str = request.scope["state"]["request_id"]
    return rid


async def read_json(request: Request, max_bytes: int) -> JSONObject:
    """The body as a JSON object, refusing oversize bodies before reading them where possible."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise InvalidRequest("The Content-Length header is not a number.") from None
        if declared > max_bytes:
            raise PayloadTooLarge(f"Request body is {declared} bytes; the limit is {max_bytes} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"Request body is over the limit of {max_bytes} bytes.")
        chunks.append(chunk)
    return parse_json_object(b"".join(chunks), max_bytes=max_bytes)
