"""Streams moved as batches: the chunks that arrived together travel through the router, the
gateway and the SSE writer as one list, and reach the client in one socket write.

A provider that reads many events per network read (``openai``) yields them as one batch; one
that produces chunks one at a time (a plugin's chunk generator) is adapted by :func:`one_by_one`.
Closing either adapter closes the stream it wraps, so the upstream is cancelled as before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from modelrail.protocol.base import JSONObject

Chunks = list[JSONObject]
"""Chunks of one stream that are ready at the same moment, in order. Never empty."""


class Events(list[JSONObject]):
    """A batch of chunks that arrived as server-sent events, with the events as they came, so
    that an SSE writer can send them on instead of serializing each chunk again.

    ``sse``: the events of every chunk but a trailing usage-only one (``choices`` empty), joined;
    ``None`` when they cannot be sent on as they came (then the chunks are serialized).
    ``usage_sse``: the event of a trailing usage-only chunk, if the batch ends with one.
    A stage that changes a chunk must pass on a plain list instead.
    """

    __slots__ = ("sse", "usage_sse")

    def __init__(self) -> None:
        super().__init__()
        self.sse: bytes | None = None
        self.usage_sse: bytes | None = None


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
