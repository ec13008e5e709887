"""From alias to answer: pick a deployment and call it within its deadlines.

This is the router's first form: weighted random choice, no retries or fallbacks yet.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from modelrail.context import Endpoint, RequestContext
from modelrail.errors import ModelNotFound
from modelrail.protocol.base import JSONObject
from modelrail.providers.base import Call, Provider
from modelrail.router.deployment import Deployment
from modelrail.router.timeouts import bounded, first_chunk, rest_of

_UNARY: dict[Endpoint, Callable[[Provider, Call], Any]] = {
    "chat": lambda p, c: p.chat(c),
    "completions": lambda p, c: p.completion(c),
    "embeddings": lambda p, c: p.embeddings(c),
}
_STREAM: dict[Endpoint, Callable[[Provider, Call], AsyncIterator[JSONObject]]] = {
    "chat": lambda p, c: p.chat_stream(c),
    "completions": lambda p, c: p.completion_stream(c),
}


class Router:
    def __init__(self, table: dict[str, list[Deployment]], rng: random.Random | None = None) -> None:
        self._table = table
        self._rng = rng or random.Random()
        self._weights = {alias: [d.weight for d in deps] for alias, deps in table.items()}

    def aliases(self) -> list[str]:
        return list(self._table)

    def deployments(self, alias: str) -> list[Deployment]:
        deps = self._table.get(alias)
        if not deps:
            raise ModelNotFound(f"The model '{alias}' does not exist or you do not have access to it.", param="model")
        return deps

    def pick(self, alias: str) -> Deployment:
        deps = self.deployments(alias)
        if len(deps) == 1:
            return deps[0]
        return self._rng.choices(deps, weights=self._weights[alias])[0]

    def _call(self, ctx: RequestContext, dep: Deployment) -> Call:
        body = ctx.body if ctx.body.get("model") == dep.model else {**ctx.body, "model": dep.model}
        ctx.deployment = dep.id
        ctx.attempts += 1
        return Call(request_id=ctx.request_id, model=dep.model, body=body, params=ctx.params, timeouts=dep.timeouts)

    async def call(self, ctx: RequestContext) -> JSONObject:
        dep = self.pick(ctx.alias)
        result: JSONObject = await bounded(_UNARY[ctx.endpoint](dep.provider, self._call(ctx, dep)), dep.timeouts)
        return result

    async def open_stream(self, ctx: RequestContext) -> tuple[JSONObject, AsyncIterator[JSONObject]]:
        """Start a stream and wait for its first chunk, so failures before the first byte are
        still ordinary HTTP errors (and, later, candidates for retry or fallback)."""
        dep = self.pick(ctx.alias)
        call = self._call(ctx, dep)
        started = time.monotonic()
        stream = _STREAM[ctx.endpoint](dep.provider, call)
        first = await first_chunk(stream, dep.timeouts)
        return first, rest_of(stream, dep.timeouts, started)
