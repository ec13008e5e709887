"""POST /v1/messages: Anthropic's Messages API, served by whichever provider answers the alias.

The request is translated to an OpenAI chat body once (protocol/anthropic.py) and goes through
the gateway like a chat completion, with ``endpoint="messages"`` so key scopes and the usage
ledger name it for what the client called. Everything that leaves, errors included, is in
Anthropic's shape: this handler answers its own errors rather than leaving them to the app's
OpenAI-shaped handlers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelrail.api.answer import answer
from modelrail.api.disconnect import DisconnectWatch
from modelrail.api.http import JSONResponse, RequestHeaders, read_json, request_id, runtime
from modelrail.api.sse import SSEResponse
from modelrail.auth.base import credential_from
from modelrail.context import RequestContext
from modelrail.errors import InternalError, ModelrailError
from modelrail.protocol.anthropic import MessagesRequest, to_chat_body
from modelrail.protocol.anthropic_response import StreamTranslator, error_body, from_chat_completion
from modelrail.protocol.base import JSONObject, validate
from modelrail.protocol.openai import ChatCompletionRequest
from modelrail.providers.batches import Chunks, aclose
from modelrail.router.client_timeouts import requested_timeouts

log = logging.getLogger("modelrail.api")


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
        return named_event(error_body(exc, self.rid))


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


def error_response(exc: ModelrailError, rid: str) -> Response:
    return JSONResponse(error_body(exc, rid), status_code=exc.status, headers=dict(exc.headers))


async def messages(request: Request) -> Response:
    rid = request_id(request)
    try:
        return await _handle(request, rid)
    except ModelrailError as exc:
        if exc.status >= 500:
            log.warning("POST /v1/messages -> %d %s: %s", exc.status, exc.code, exc.message)
        return error_response(exc, rid)
    except Exception:
        log.exception("unhandled error on POST /v1/messages")
        return error_response(InternalError("The server had an error while processing your request."), rid)


async def _handle(request: Request, rid: str) -> Response:
    rt = runtime(request)
    headers = RequestHeaders(request.scope)
    principal = await rt.auth.authenticate(credential_from(headers))
    data = await read_json(request, rt.settings.server.max_body_bytes, headers)
    req = validate(MessagesRequest, data)
    body = to_chat_body(req)
    stops: Sequence[str] = req.stop_sequences or ()
    ctx = RequestContext(
        request_id=rid,
        principal=principal,
        endpoint="messages",
        alias=req.model,
        body=body,
        params=validate(ChatCompletionRequest, body),
        stream=bool(req.stream),
    )
    ctx.timeout, ctx.ttft_timeout = requested_timeouts(headers)
    message_id = f"msg_{rid}"

    def write_stream(chunks: AsyncIterator[Chunks], gone: DisconnectWatch) -> Response:
        translator = StreamTranslator(message_id=message_id, model=req.model, stop_sequences=stops)
        return AnthropicSSEResponse(  # type: ignore[return-value]
            anthropic_events(chunks, translator, ctx), headers=ctx.response_headers, rid=rid, watch=gone
        )

    def write_message(result: JSONObject) -> Response:
        message = from_chat_completion(result, message_id=message_id, stop_sequences=stops)
        return JSONResponse(message, headers=ctx.response_headers)

    return await answer(request, rt.gateway, ctx, stream=write_stream, unary=write_message)


routes = [Route("/v1/messages", messages, methods=["POST"])]
