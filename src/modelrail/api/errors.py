"""Every error leaves as OpenAI's error object, with the right status. Never a traceback."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from modelrail.api.http import JSONResponse
from modelrail.errors import InternalError, MethodNotAllowed, ModelrailError, NotFound

log = logging.getLogger("modelrail.api")


def error_response(exc: ModelrailError) -> Response:
    headers = dict(exc.headers)
    return JSONResponse(exc.to_openai(), status_code=exc.status, headers=headers)


async def on_modelrail_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModelrailError)
    if exc.status >= 500:
        log.warning("%s %s -> %d %s: %s", request.method, request.url.path, exc.status, exc.code, exc.message)
    return error_response(exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(
            NotFound(f"Unknown request URL: {request.method} {request.url.path}.", code="unknown_url")
        )
    if exc.status_code == 405:
        return error_response(MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}."))
    err = ModelrailError(str(exc.detail))
    err.status = exc.status_code  # type: ignore[misc]
    return error_response(err)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(InternalError("The server had an error while processing your request."))
