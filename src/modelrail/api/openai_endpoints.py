"""OpenAI's dialect: POST /v1/chat/completions, /v1/completions and /v1/embeddings.

What each endpoint is (path, request model, streams or not) is the endpoint table's
(modelrail/endpoints.py); this module only reads OpenAI's request shape and writes its answers.
Errors are rendered by the dispatcher (api/pipeline.py) in OpenAI's shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from modelrail.api.disconnect import DisconnectWatch
from modelrail.api.http import JSONResponse
from modelrail.api.pipeline import EndpointRoute, Exchange, Reply, Route
from modelrail.api.sse import SSEResponse
from modelrail.context import RequestContext
from modelrail.endpoints import ENDPOINTS, EndpointSpec
from modelrail.protocol.base import JSONObject, validate
from modelrail.providers.batches import Chunks


class OpenAIFamily:
    def begin(self, spec: EndpointSpec, ex: Exchange, data: JSONObject) -> tuple[RequestContext, Any]:
        params = validate(spec.request_model, data)
        ctx = RequestContext(
            request_id=ex.request_id,
            principal=ex.principal,
            endpoint=spec.name,
            alias=data["model"],  # validated above as a non-empty string
            body=data,
            params=params,
            stream=bool(getattr(params, "stream", False)),
        )
        return ctx, None

    def unary_reply(self, ctx: RequestContext, wire: Any, result: JSONObject) -> Reply:
        return JSONResponse(result, headers=ctx.response_headers)

    def stream_reply(
        self, ctx: RequestContext, wire: Any, chunks: AsyncIterator[Chunks], watch: DisconnectWatch
    ) -> Reply:
        opts = getattr(ctx.params, "stream_options", None)
        return SSEResponse(
            chunks, headers=ctx.response_headers, keep_usage_chunk=bool(opts and opts.include_usage), watch=watch
        )


def routes() -> list[Route]:
    family = OpenAIFamily()
    return [EndpointRoute(spec, family).route() for spec in ENDPOINTS.values() if spec.dialect == "openai"]
