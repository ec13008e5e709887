"""POST /v1/messages: Anthropic's Messages API, served by whichever provider answers the alias.

The request is translated to an OpenAI chat body once (protocol/anthropic.py) and goes through
the gateway like a chat completion, with ``endpoint="messages"`` so key scopes and the usage
ledger name it for what the client called. Everything that leaves, errors included, is in
Anthropic's shape: the endpoint table gives the route Anthropic's dialect, so the dispatcher
(api/pipeline.py) renders its errors with Anthropic's renderer (api/errors.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from modelrail.api.disconnect import DisconnectWatch
from modelrail.api.errors import ANTHROPIC
from modelrail.api.http import JSONResponse
from modelrail.api.pipeline import EndpointRoute, Exchange, Reply, Route
from modelrail.api.sse import SSEResponse
from modelrail.context import RequestContext
from modelrail.endpoints import ENDPOINTS, EndpointSpec
from modelrail.errors import ModelrailError
from modelrail.protocol.anthropic import MessagesRequest, to_chat_body
from modelrail.protocol.anthropic_response import StreamTranslator, from_chat_completion
from modelrail.protocol.base import JSONObject, validate
from modelrail.protocol.openai import ChatCompletionRequest
from modelrail.providers.batches import Chunks, aclose


def named_event(event: JSONObject) -> bytes:
    # Anthropic's streams name each event; the name is always the data's own "type".
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class AnthropicSSEResponse(SSEResponse):
    """The same stream and disconnect handling as the OpenAI endpoints, written as named events:
    no ``[DONE]``, and a failure mid-stream is one ``event: error`` in Anthropic's error shape."""

    def __init__(
        self,
        events: AsyncIterator[Chunks],
        *,
        headers: dict[str, str],
        rid: str,
        watch: DisconnectWatch | None = None,
    ) -> None:
        super().__init__(events, headers=headers, keep_usage_chunk=True, watch=watch)
        self.rid = rid

    def encode(self, batch: Chunks) -> bytes:
        return b"".join([named_event(event) for event in batch])

    def done(self) -> bytes:
        return b""

    def failure(self, exc: ModelrailError) -> bytes:
        return named_event(ANTHROPIC.body(exc, self.rid))


async def anthropic_events(
    batches: AsyncIterator[Chunks], translator: StreamTranslator, ctx: RequestContext
) -> AsyncIterator[Chunks]:
    """Each batch of chat chunks as the batch of Anthropic events it translates to."""
    try:
        async for batch in batches:
            events = [event for chunk in batch for event in translator.feed(chunk)]
            if events:
                yield events
        if not translator.usage_seen and ctx.usage is not None:
            # No usage chunk from the upstream: report what the gateway billed (its estimate).
            translator.usage = {"input_tokens": ctx.usage.prompt_tokens, "output_tokens": ctx.usage.completion_tokens}
        yield translator.finish()
    finally:
        # Closing this generator (client gone) must close the gateway's stream, and so the upstream.
        await aclose(batches)


class AnthropicFamily:
    """The Messages request, translated to an OpenAI chat body once; answers translated back."""

    def begin(self, spec: EndpointSpec, ex: Exchange, data: JSONObject) -> tuple[RequestContext, Any]:
        req = validate(MessagesRequest, data)
        body = to_chat_body(req)
        ctx = RequestContext(
            request_id=ex.request_id,
            principal=ex.principal,
            endpoint=spec.name,
            alias=req.model,
            body=body,
            params=validate(ChatCompletionRequest, body),
            stream=bool(req.stream),
        )
        return ctx, req

    def unary_reply(self, ctx: RequestContext, wire: Any, result: JSONObject) -> Reply:
        req: MessagesRequest = wire
        stops: Sequence[str] = req.stop_sequences or ()
        message = from_chat_completion(result, message_id=f"msg_{ctx.request_id}", stop_sequences=stops)
        return JSONResponse(message, headers=ctx.response_headers)

    def stream_reply(
        self, ctx: RequestContext, wire: Any, chunks: AsyncIterator[Chunks], watch: DisconnectWatch
    ) -> Reply:
        req: MessagesRequest = wire
        stops: Sequence[str] = req.stop_sequences or ()
        translator = StreamTranslator(message_id=f"msg_{ctx.request_id}", model=req.model, stop_sequences=stops)
        return AnthropicSSEResponse(
            anthropic_events(chunks, translator, ctx), headers=ctx.response_headers, rid=ctx.request_id, watch=watch
        )


def routes() -> list[Route]:
    family = AnthropicFamily()
    return [EndpointRoute(spec, family).route() for spec in ENDPOINTS.values() if spec.dialect == "anthropic"]
