"""One error renderer per API dialect: OpenAI's error object or Anthropic's. Never a traceback.

The dispatcher (api/pipeline.py) renders every error of a route in the dialect the endpoint table
gives it; a stream that fails after its first byte writes the same body as its last event. The
admin API (FastAPI) renders in OpenAI's shape through the handlers at the end of this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from modelrail.api.http import JSONResponse
from modelrail.endpoints import Dialect
from modelrail.errors import MethodNotAllowed, ModelrailError, NotFound
from modelrail.protocol.anthropic_response import error_body
from modelrail.protocol.base import JSONObject

log = logging.getLogger("modelrail.api")


def openai_body(exc: ModelrailError, request_id: str | None) -> JSONObject:
    return exc.to_openai()


def anthropic_body(exc: ModelrailError, request_id: str | None) -> JSONObject:
    return error_body(exc, request_id)


@dataclass(frozen=True, slots=True)
class ErrorRenderer:
    """Turns one of modelrail's errors into a response (or a stream's last event) in one dialect."""

    dialect: Dialect
    body: Callable[[ModelrailError, str | None], JSONObject]

    def response(self, exc: ModelrailError, request_id: str | None) -> Response:
        return JSONResponse(self.body(exc, request_id), status_code=exc.status, headers=dict(exc.headers))


OPENAI = ErrorRenderer("openai", openai_body)
ANTHROPIC = ErrorRenderer("anthropic", anthropic_body)
RENDERERS: MappingProxyType[Dialect, ErrorRenderer] = MappingProxyType({"openai": OPENAI, "anthropic": ANTHROPIC})


def not_found(method: str, path: str) -> NotFound:
    return NotFound(f"Unknown request URL: {method} {path}.", code="unknown_url")


def not_allowed(method: str, path: str) -> MethodNotAllowed:
    return MethodNotAllowed(f"Method {method} is not allowed on {path}.")


def log_server_error(method: str, path: str, exc: ModelrailError) -> None:
    if exc.status >= 500:
        log.warning("%s %s -> %d %s: %s", method, path, exc.status, exc.code, exc.message)


# -- the admin app's (FastAPI) exception handlers: OpenAI's shape ----------------------------------


def error_response(exc: ModelrailError) -> Response:
    return OPENAI.response(exc, None)


async def on_modelrail_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModelrailError)
    log_server_error(request.method, request.url.path, exc)
    return error_response(exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(not_found(request.method, request.url.path))
    if exc.status_code == 405:
        return error_response(not_allowed(request.method, request.url.path))
    err = ModelrailError(str(exc.detail))
    err.status = exc.status_code  # type: ignore[misc]
    return error_response(err)
