"""The path of one request through the stages, once down and once back.

check (model, endpoint, key scopes) -> admission (limits, budget) -> router (upstream) -> usage
(settle, record). A unary call and a stream share the prologue (:meth:`Gateway.check`, then
``admission.admit``) and the record of how they ended (:meth:`Gateway._failed`); api/pipeline.py
names the whole path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from modelrail.context import RequestContext, Usage
from modelrail.errors import ModelrailError, PermissionDenied
from modelrail.protocol.base import JSONObject
from modelrail.providers.batches import Chunks, aclose
from modelrail.router.router import Router
from modelrail.stages import Admission, UsageSink
from modelrail.usage.estimate import keep_for_text


@dataclass(slots=True)
class Gateway:
    router: Router
    admission: Admission
    usage: UsageSink

    def check(self, ctx: RequestContext) -> None:
        """The prologue of streams and unary calls alike, before admission reserves anything: an
        unknown model (404), one no deployment serves this endpoint for (400), then the key's scopes."""
        self.router.check(ctx.alias, ctx.endpoint)
        scopes = ctx.principal.scopes
        if not scopes.allows_endpoint(ctx.endpoint):
            raise PermissionDenied(f"This key may not call the '{ctx.endpoint}' endpoint.")
        if not scopes.allows_model(ctx.alias):
            raise PermissionDenied(f"This key may not use the model '{ctx.alias}'.", param="model")
        cap = scopes.max_tokens
        if cap is not None:
            asked = ctx.params.output_cap() if hasattr(ctx.params, "output_cap") else None
            if asked is not None and asked > cap:
                raise PermissionDenied(f"This key may ask for at most {cap} output tokens.", param="max_tokens")

    async def unary(self, ctx: RequestContext) -> JSONObject:
        self.check(ctx)
        await self.admission.admit(ctx)
        try:
            result = await self.router.call(ctx)
            ctx.usage = Usage.from_openai(result.get("usage"))
            return result
        except BaseException as exc:
            self._failed(ctx, exc)
            raise
        finally:
            await self._finish(ctx)

    async def open_stream(self, ctx: RequestContext) -> tuple[Chunks, AsyncIterator[Chunks]]:
        """Admit the request and fetch the first batch of chunks. Errors until then are HTTP errors."""
        self.check(ctx)
        await self.admission.admit(ctx)
        try:
            first, rest = await self.router.open_stream(ctx)
        except BaseException as exc:
            self._failed(ctx, exc)
            await self._finish(ctx)
            raise
        ctx.ttft = ctx.elapsed()
        return first, self._follow(ctx, first, rest)

    async def _follow(self, ctx: RequestContext, first: Chunks, rest: AsyncIterator[Chunks]) -> AsyncIterator[Chunks]:
        """Yield the stream's batches, watching for the usage chunk; settle and record however it ends."""
        try:
            self._observe(ctx, first)
            yield first
            async for batch in rest:
                self._observe(ctx, batch)
                yield batch
        except BaseException as exc:
            self._failed(ctx, exc)
            raise
        finally:
            await aclose(rest)
            await self._finish(ctx)

    @staticmethod
    def _failed(ctx: RequestContext, exc: BaseException) -> None:
        """Record how a call ended that did not succeed; the caller re-raises. Every kind is caught
        because every kind must be settled and recorded: an error of ours, a bug (which the
        dispatcher logs and answers 500) or a cancellation (the client went away)."""
        if isinstance(exc, ModelrailError):
            ctx.status, ctx.error_code = exc.status, exc.code
        elif isinstance(exc, Exception):
            ctx.status, ctx.error_code = 500, "internal_error"
        else:
            ctx.status = 499  # CancelledError, GeneratorExit: the client went away

    @staticmethod
    def _observe(ctx: RequestContext, batch: Chunks) -> None:
        for chunk in batch:
            usage = chunk.get("usage")
            if usage:
                ctx.usage = Usage.from_openai(usage)
        if ctx.usage is None:
            keep_for_text(ctx, batch)  # its text is billed if no usage chunk comes

    async def _finish(self, ctx: RequestContext) -> None:
        ctx.response_headers.setdefault("x-modelrail-latency-ms", f"{ctx.elapsed() * 1000:.1f}")
        try:
            await self.admission.settle(ctx)
        finally:
            self.usage.record(ctx)
