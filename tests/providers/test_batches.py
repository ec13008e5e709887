"""Adapters between chunk streams and batch streams: order kept, and closing reaches the source."""

from __future__ import annotations

from collections.abc import AsyncIterator

from modelrail.providers.batches import flatten, one_by_one


class _Source:
    """A chunk stream that records whether it was closed (as an upstream call would be cancelled)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.closed = False

    async def stream(self) -> AsyncIterator[dict]:
        try:
            for i in range(self.n):
                yield {"i": i}
        finally:
            self.closed = True


async def test_one_by_one_then_flatten_keeps_order() -> None:
    source = _Source(5)
    batches = [b async for b in one_by_one(source.stream())]
    assert batches == [[{"i": i}] for i in range(5)]
    assert [c async for c in flatten(one_by_one(_Source(3).stream()))] == [{"i": 0}, {"i": 1}, {"i": 2}]


async def test_closing_an_adapter_early_closes_the_source() -> None:
    for wrap in (one_by_one, lambda s: flatten(one_by_one(s))):
        source = _Source(10)
        stream = wrap(source.stream())
        await anext(stream)
        await stream.aclose()  # type: ignore[attr-defined]
        assert source.closed
