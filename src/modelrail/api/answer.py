"""Running a request through the gateway while watching for the client to leave.

Both API families (OpenAI's and Anthropic's) answer the same way: a stream hands the disconnect
watch to its response, a unary call is cancelled if the client goes, and either way the watch is
closed. Only how the answer is written differs, which the caller passes in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from starlette.requests import Request
from starlette.responses import Response

from modelrail.api.disconnect import DisconnectWatch
from modelrail.context import RequestContext
from modelrail.gateway import Gateway
from modelrail.protocol.base import JSONObject
from modelrail.providers.batches import Chunks

StreamWriter = Callable[[AsyncIterator[Chunks], DisconnectWatch], Response]
UnaryWriter = Callable[[JSONObject], Response]


async def answer(
    request: Request,
    gateway: Gateway,
    ctx: RequestContext,
    *,
    stream: StreamWriter,
    unary: UnaryWriter,
) -> Response:
    watch = DisconnectWatch(request.receive)
    handed_over = False
    try:
        if ctx.stream:
            _, chunks = await gateway.open_stream(ctx)
            handed_over = True
            return stream(chunks, watch)  # it goes on watching while the response is sent
        result = await gateway.unary(ctx)
    except asyncio.CancelledError:
        if watch.swallow():
            # The client left; nobody reads this, but the server needs a response to finish.
            return Response(status_code=499)
        raise
    finally:
        if not handed_over:
            watch.close()
    return unary(result)
