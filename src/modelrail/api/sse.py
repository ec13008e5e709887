"""Server-sent events, with the upstream cancelled the moment the client disconnects."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import orjson
from starlette.types import Receive, Scope, Send

from modelrail.api.disconnect import DisconnectWatch
from modelrail.api.errors import openai_body
from modelrail.errors import InternalError, ModelrailError
from modelrail.protocol.base import JSONObject
from modelrail.providers.batches import Chunks, Events, aclose

log = logging.getLogger("modelrail.api")

DONE = b"data: [DONE]\n\n"


def event(chunk: JSONObject) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


class SSEResponse:
    """Streams batches of chunks as ``data:`` events and ends with ``[DONE]``.

    Each batch (the chunks that arrived together) is written in one send, as soon as it arrives:
    nothing waits for more. A failure mid-stream becomes one ``data: {"error": ...}`` event and
    the stream ends without ``[DONE]``, which the OpenAI SDKs raise as an APIError. The request's
    :class:`DisconnectWatch` (handed over by the endpoint, or made here) cancels the sending task
    when the client leaves; the sender's ``finally`` then closes the upstream stream. Subclasses
    write another event format by overriding ``encode``, ``done`` and ``failure``.
    """

    def __init__(
        self,
        batches: AsyncIterator[Chunks],
        *,
        headers: dict[str, str],
        keep_usage_chunk: bool,
        watch: DisconnectWatch | None = None,
    ) -> None:
        self.batches = batches
        self.watch = watch
        self.keep_usage_chunk = keep_usage_chunk
        raw = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers = raw

    def encode(self, batch: Chunks) -> bytes:
        keep = self.keep_usage_chunk
        if isinstance(batch, Events) and batch.sse is not None:
            # The upstream's own events, as they came.
            return batch.sse + batch.usage_sse if keep and batch.usage_sse else batch.sse
        if keep:
            return b"".join([event(chunk) for chunk in batch])
        return b"".join([event(chunk) for chunk in batch if chunk.get("choices") or "usage" not in chunk])

    def done(self) -> bytes:
        return DONE

    def failure(self, exc: ModelrailError) -> bytes:
        return event(openai_body(exc, None))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # One task, the request's own: a sender task plus asyncio.wait cost more than the stream's
        # events themselves when they arrive together.
        watch = self.watch or DisconnectWatch(receive)
        try:
            await self._send_all(send)
        except asyncio.CancelledError:
            if not watch.swallow():
                raise
        except OSError:
            if not watch.fired:
                raise
        finally:
            watch.close()

    async def _send_all(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        try:
            async for batch in self.batches:
                body = self.encode(batch)
                if body:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
            tail = self.done()
        except ModelrailError as exc:
            tail = self.failure(exc)
        except (asyncio.CancelledError, OSError):
            raise
        except Exception:
            # The headers are sent: a bug can only end the stream, with an error event in the
            # dialect's shape; the traceback goes to the log.
            log.exception("stream failed")
            tail = self.failure(InternalError("The server had an error while streaming."))
        finally:
            await aclose(self.batches)
        await send({"type": "http.response.body", "body": tail, "more_body": False})
