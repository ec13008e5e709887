"""A started stream whose end (however it comes) updates its deployment's stats and breaker."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

from modelrail.errors import UpstreamBadRequest, UpstreamError
from modelrail.providers.batches import Chunks
from modelrail.router.deployment import Deployment


class TrackedStream:
    """Wraps ``rest`` (the batches of chunks after the first). ``on_end(dep, ok)`` runs exactly once: ``ok`` is
    True at a clean end, False on an upstream failure mid-stream, None when the client left.

    A class rather than an async generator: a generator closed before its first ``__anext__``
    never runs its ``finally``, and a client can leave right after the first chunk.
    """

    def __init__(
        self,
        dep: Deployment,
        *,
        rest: AsyncIterator[Chunks],
        upstream: AsyncIterator[Chunks],
        started: float,
        alpha: float,
        on_end: Callable[[Deployment, bool | None], Awaitable[None]],
    ) -> None:
        self._dep = dep
        self._rest = rest
        self._upstream = upstream
        self._started = started
        self._alpha = alpha
        self._on_end = on_end
        self._ended = False

    def __aiter__(self) -> TrackedStream:
        return self

    async def __anext__(self) -> Chunks:
        try:
            return await anext(self._rest)
        except StopAsyncIteration:
            await self._end(True)
            raise
        except UpstreamError as exc:
            await self._end(None if isinstance(exc, UpstreamBadRequest) else False)
            raise
        except BaseException:
            await self._end(None)
            raise

    async def aclose(self) -> None:
        try:
            for it in (self._rest, self._upstream):
                aclose = getattr(it, "aclose", None)
                if aclose is not None:
                    await aclose()
        finally:
            await self._end(None)

    async def _end(self, ok: bool | None) -> None:
        if self._ended:
            return
        self._ended = True
        stats = self._dep.stats
        stats.in_flight -= 1
        if ok:
            stats.observe(self._alpha, latency=time.monotonic() - self._started)
        await self._on_end(self._dep, ok)
