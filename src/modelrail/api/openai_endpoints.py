"""POST /v1/chat/completions, /v1/completions and /v1/embeddings."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelrail.api.answer import answer
from modelrail.api.http import JSONResponse, RequestHeaders, read_json, request_id, runtime
from modelrail.api.sse import SSEResponse
from modelrail.auth.base import credential_from
from modelrail.context import Endpoint, RequestContext
from modelrail.protocol.base import WireModel, validate
from modelrail.protocol.openai import ChatCompletionRequest, CompletionRequest, EmbeddingRequest
from modelrail.router.client_timeouts import requested_timeouts

_MODELS: dict[Endpoint, type[WireModel]] = {
    "chat": ChatCompletionRequest,
    "completions": CompletionRequest,
    "embeddings": EmbeddingRequest,
}


async def _handle(request: Request, endpoint: Endpoint) -> Response:
    rt = runtime(request)
    headers = RequestHeaders(request.scope)
    principal = await rt.auth.authenticate(credential_from(headers))
    data = await read_json(request, rt.settings.server.max_body_bytes, headers)
    params = validate(_MODELS[endpoint], data)
    stream = bool(getattr(params, "stream", False))
    ctx = RequestContext(
        request_id=request_id(request),
        principal=principal,
        endpoint=endpoint,
        alias=data["model"],  # validated above as a non-empty string
        body=data,
        params=params,
        stream=stream,
    )
    ctx.timeout, ctx.ttft_timeout = requested_timeouts(headers)
    opts = getattr(params, "stream_options", None)
    return await answer(
        request,
        rt.gateway,
        ctx,
        stream=lambda chunks, gone: SSEResponse(  # type: ignore[arg-type,return-value]
            chunks,
            headers=ctx.response_headers,
            keep_usage_chunk=bool(opts and opts.include_usage),
            watch=gone,
        ),
        unary=lambda result: JSONResponse(result, headers=ctx.response_headers),
    )


async def chat_completions(request: Request) -> Response:
    return await _handle(request, "chat")


async def completions(request: Request) -> Response:
    return await _handle(request, "completions")


async def embeddings(request: Request) -> Response:
    return await _handle(request, "embeddings")


routes = [
    Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    Route("/v1/completions", completions, methods=["POST"]),
    Route("/v1/embeddings", embeddings, methods=["POST"]),
]
