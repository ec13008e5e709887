"""Streams moved as batches: the chunks that arrived together travel through the router, the
gateway and the SSE writer as one list, and reach the client in one socket write.

A provider that reads many events per network read (``openai``) yields them as one batch; one
that produces chunks one at a time (a plugin's ``chat_stream``) is adapted by :func:`one_by_one`.
Closing either adapter closes the stream it wraps, so the upstream is cancelled as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from modelrail.protocol.base import JSONObject

Chunks = list[JSONObject]
"""Chunks of one stream that are ready at the same moment, in order. Never empty."""


class Events(list[JSONObject]):
    """A batch of chunks that arrived as server-sent events, with each chunk's event as it came:
    ``events[i]`` is ``data: <chunk i's JSON>\n\n``. An SSE writer sends those bytes on instead of
    serializing the chunks again. A stage that changes a chunk must pass on a plain list instead.
    """

    __slots__ = ("events",)

    def __init__(self) -> None:
        super().__init__()
        self.events: list[bytes] = []


async def one_by_one(stream: AsyncIterator[JSONObject]) -> AsyncIterator[Chunks]:
    """A chunk stream as a stream of one-chunk batches."""
    try:
        async for chunk in stream:
            yield [chunk]
    finally:
        await aclose(stream)


async def flatten(batches: AsyncIterator[Chunks]) -> AsyncIterator[JSONObject]:
    """A stream of batches as a stream of chunks."""
    try:
        async for batch in batches:
            for chunk in batch:
                yield chunk
    finally:
        await aclose(batches)


async def aclose(stream: object) -> None:
    """Close an async iterator that can be closed (async generators and their wrappers)."""
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()
