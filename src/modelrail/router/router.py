"""From alias to answer: order deployments, call them within deadlines, retry, fall back, break circuits.

One request goes through, in order:

1. the difficulty router, when the alias is the virtual ``auto`` model: it names the real alias;
2. the alias and then its fallback aliases, one after another; for each alias, its deployments in
   the order its strategy gives, skipping those whose breaker is open; a retryable failure moves
   on to the next deployment at once, or back-off (with full jitter, at least the upstream's
   Retry-After) before trying the same one again; retries are capped per alias and by a budget
   shared by all requests;
3. with ``ttft_fallback_ms``, the first fallback starts alongside a primary that is slow to
   produce its first token, and whichever answers first wins;
4. a context-window error goes to the alias's ``context_fallbacks`` instead;
5. a deployment at its own ``rpm``/``tpm`` (router/quota.py) is skipped like one with an open
   breaker; when every deployment of every alias tried is at its limit, the answer is a 429.

A stream is only returned once its first chunk is in hand, so everything above happens before
any byte reaches the client; after that a failure ends the stream and is never retried.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from modelrail.context import Endpoint, RequestContext, Usage
from modelrail.endpoints import ENDPOINTS
from modelrail.errors import (
    ContextWindowExceeded,
    InvalidRequest,
    ModelNotFound,
    ModelrailError,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from modelrail.protocol.base import JSONObject
from modelrail.providers.base import Call, Timeouts
from modelrail.providers.batches import Chunks
from modelrail.providers.deadlines import bounded, first_chunk, rest_of
from modelrail.router.breaker import Breakers, MemoryBreakerStore
from modelrail.router.config import RouterSettings
from modelrail.router.deployment import Deployment
from modelrail.router.difficulty import DifficultyRouter
from modelrail.router.hedge import hedged
from modelrail.router.quota import DeploymentQuota, Grant, OverQuota
from modelrail.router.retry import RetryBudget, RetryPolicy
from modelrail.router.strategies import order
from modelrail.router.tracked import TrackedStream
from modelrail.state.memory import MemoryState

T = TypeVar("T")

Run = Callable[[Deployment, Timeouts], Awaitable[T]]


@dataclass(slots=True)
class _Progress:
    """What one request has been through, for its response headers."""

    retries: int = 0
    fallback_alias: str | None = None
    fallback_reason: str | None = None
    deadline: float | None = None  # perf_counter time, from the client's own timeout
    # Deployments refused for their own rpm/tpm, and the soonest any of them has room again.
    limited: int = 0
    limited_for: float = float("inf")
    # Per deployment id, what its latest attempt reserved on its TPM counter, to correct at the end.
    grants: dict[str, Grant] | None = None


@dataclass(slots=True)
class _Opened:
    first: Chunks
    rest: TrackedStream


class Router:
    def __init__(
        self,
        table: dict[str, list[Deployment]],
        rng: random.Random | None = None,
        settings: RouterSettings | None = None,
        breakers: Breakers | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        *,
        quota: DeploymentQuota | None = None,
    ) -> None:
        self._table = table
        self._rng = rng or random.Random()
        self.settings = settings or RouterSettings()
        self._weights = {alias: [d.weight for d in deps] for alias, deps in table.items()}
        self.policy = RetryPolicy(self.settings.retry, self._rng)
        self.budget = RetryBudget(self.settings.retry_budget)
        self.breakers = breakers or Breakers(self.settings.breaker, MemoryBreakerStore(self.settings.breaker))
        self.auto = DifficultyRouter(self.settings.auto) if self.settings.auto else None
        self._serving = self._by_capability()
        self._sleep = sleep
        # Without a shared backend (a router built directly), deployment limits hold per process.
        limited = any(d.rpm is not None or d.tpm is not None for deps in table.values() for d in deps)
        self.quota = quota if quota is not None or not limited else DeploymentQuota(MemoryState())

    # -- the public face the gateway and the API use --------------------------------------------

    def aliases(self) -> list[str]:
        names = list(self._table)
        if self.auto is not None and self.auto.name not in self._table:
            names.append(self.auto.name)
        return names

    def deployments(self, alias: str) -> list[Deployment]:
        if self.auto is not None and alias == self.auto.name and alias not in self._table:
            cfg = self.auto.settings
            return [*self._table.get(cfg.cheap, []), *self._table.get(cfg.premium, [])]
        deps = self._table.get(alias)
        if not deps:
            raise ModelNotFound(f"The model '{alias}' does not exist or you do not have access to it.", param="model")
        return deps

    def check(self, alias: str, endpoint: Endpoint) -> None:
        """Refuse, before anything is reserved or called, a model that does not exist (404) or that
        no deployment can serve ``endpoint`` for (400: an embeddings request to a chat-only alias)."""
        if not self._serving[endpoint].get(alias):
            self.deployments(alias)
            spec = ENDPOINTS[endpoint]
            raise InvalidRequest(
                f"The model '{alias}' does not serve {spec.path}: none of its deployments supports it.",
                param="model",
                code="unsupported_endpoint",
            )

    def _by_capability(self) -> dict[str, dict[str, list[Deployment]]]:
        """Endpoint -> alias -> the deployments whose provider serves that endpoint, in table order.
        Built once: providers say what they serve (``Provider.serves``) and it does not change."""
        serving: dict[str, dict[str, list[Deployment]]] = {}
        for name, spec in ENDPOINTS.items():
            upstream = spec.provider_endpoint
            by_alias = {alias: [d for d in deps if d.provider.serves(upstream)] for alias, deps in self._table.items()}
            if self.auto is not None and self.auto.name not in self._table:
                cfg = self.auto.settings
                by_alias[self.auto.name] = [*by_alias.get(cfg.cheap, []), *by_alias.get(cfg.premium, [])]
            serving[name] = by_alias
        return serving

    def pick(self, alias: str) -> Deployment:
        deps = self.deployments(alias)
        if len(deps) == 1:
            return deps[0]
        return self._rng.choices(deps, weights=self._weights[alias])[0]

    async def close(self) -> None:
        await self.breakers.close()

    async def call(self, ctx: RequestContext) -> JSONObject:
        # The provider's unary method for this endpoint, as the endpoint table names it.
        method = ENDPOINTS[ctx.endpoint].provider_method

        async def run(dep: Deployment, timeouts: Timeouts) -> JSONObject:
            started = time.monotonic()
            call = self._call(ctx, dep, timeouts)
            result: JSONObject = await bounded(getattr(dep.provider, method)(call), timeouts)
            dep.stats.in_flight -= 1
            dep.stats.observe(self.settings.ewma_alpha, latency=time.monotonic() - started)
            return result

        prog = _Progress()
        result = await self._route(ctx, run, _nothing, prog)
        if prog.grants and ctx.deployment in prog.grants and self.quota is not None:
            await self.quota.settle(prog.grants[ctx.deployment], Usage.from_openai(result.get("usage")))
        return result

    async def open_stream(self, ctx: RequestContext) -> tuple[Chunks, AsyncIterator[Chunks]]:
        """Start a stream and wait for its first batch of chunks, so that failures before the first byte can
        still be retried or fall back, and surface as ordinary HTTP errors if nothing helps."""
        prog = _Progress()
        on_end = functools.partial(self._ended, ctx, prog)

        async def run(dep: Deployment, timeouts: Timeouts) -> _Opened:
            started = time.monotonic()
            stream = dep.provider.stream(self._call(ctx, dep, timeouts))
            first = await first_chunk(stream, timeouts)
            dep.stats.observe(self.settings.ewma_alpha, ttft=time.monotonic() - started)
            rest = rest_of(stream, timeouts, started)
            return _Opened(
                first,
                TrackedStream(
                    dep, rest=rest, upstream=stream, started=started, alpha=self.settings.ewma_alpha, on_end=on_end
                ),
            )

        opened = await self._route(ctx, run, _close_opened, prog)
        return opened.first, opened.rest

    # -- one request ----------------------------------------------------------------------------

    async def _route(
        self, ctx: RequestContext, run: Run[T], discard: Callable[[T], Awaitable[None]], prog: _Progress
    ) -> T:
        alias = ctx.alias
        if self.auto is not None and alias == self.auto.name and alias not in self._table:
            choice = self.auto.choose(ctx.body)
            alias = choice.alias
            ctx.response_headers["x-modelrail-route"] = alias
            ctx.response_headers["x-modelrail-route-reason"] = choice.reason
        if ctx.timeout is not None:
            prog.deadline = ctx.started + ctx.timeout
        self.budget.record_request()
        try:
            result = await self._chain(ctx, alias, run, discard, prog)
        except ModelrailError as exc:
            exc.headers.update(self._headers(ctx, prog))
            raise
        ctx.response_headers.update(self._headers(ctx, prog))
        if prog.fallback_alias is not None:
            ctx.fallback_from = alias
        return result

    async def _chain(
        self, ctx: RequestContext, alias: str, run: Run[T], discard: Callable[[T], Awaitable[None]], prog: _Progress
    ) -> T:
        """The alias, then its fallbacks in order, until one answers."""
        self.deployments(alias)
        queue = [alias, *self.settings.fallbacks.get(alias, [])]
        reason = "error"
        last: ModelrailError | None = None
        i = 0
        while i < len(queue):
            current = queue[i]
            if i > 0:
                prog.fallback_alias, prog.fallback_reason = current, reason
            delay_ms = self.settings.ttft_fallback_ms.get(current)
            backup_started = False

            async def start_backup(backup: str) -> T:
                nonlocal backup_started
                backup_started = True
                return await self._alias(ctx, backup, run, prog)

            try:
                if delay_ms is not None and i + 1 < len(queue):
                    backup = queue[i + 1]
                    result, used_backup = await hedged(
                        functools.partial(self._alias, ctx, current, run, prog),
                        functools.partial(start_backup, backup),
                        delay_ms / 1000,
                        discard,
                    )
                    if used_backup:
                        prog.fallback_alias, prog.fallback_reason = backup, "ttft"
                    return result
                return await self._alias(ctx, current, run, prog)
            except ContextWindowExceeded as exc:
                bigger = [a for a in self.settings.context_fallbacks.get(current, []) if a not in queue[: i + 1]]
                if not bigger:
                    raise
                queue = [*queue[: i + 1], *bigger]
                reason, last = "context", exc
            except UpstreamBadRequest:
                raise  # the request itself is at fault: another model would refuse it too
            except UpstreamError as exc:
                reason, last = "error", exc
                if backup_started:
                    i += 1  # the hedge already tried the next alias
            i += 1
        assert last is not None
        if isinstance(last, OverQuota):
            raise last.refusal()
        raise last

    async def _alias(self, ctx: RequestContext, alias: str, run: Run[T], prog: _Progress) -> T:
        """One alias: its deployments that serve the endpoint, in strategy order, with retries."""
        deps = self._serving[ctx.endpoint].get(alias)
        if not deps:
            if alias in self._table:
                raise UpstreamUnavailable(f"The fallback model '{alias}' does not serve the '{ctx.endpoint}' endpoint.")
            raise UpstreamUnavailable(f"The fallback model '{alias}' is not configured.")
        ordered = order(self.settings.strategy_for(alias), deps, self._rng)
        failed: list[str] = []
        last: UpstreamError | None = None
        retry = 0
        limited = prog.limited
        while True:
            dep, wait = await self._next(ctx, prog, ordered, failed, retry, last=last)
            if dep is None:
                if last is not None:
                    raise last
                if prog.limited > limited:
                    raise OverQuota(alias, prog.limited_for)
                raise UpstreamUnavailable(
                    f"No deployment of '{alias}' is available now (circuit breakers open, or all busy).", retryable=True
                )
            if wait > 0:
                self._check_deadline(prog, wait)
                await self._sleep(wait)
            try:
                return await self._attempt(ctx, dep, run, prog)
            except UpstreamError as exc:
                last = exc
                failed.append(dep.id)
                if not self.policy.retryable(exc) or retry >= self.policy.max_retries:
                    raise
                if not exc.client_deadline and not self.budget.try_spend():
                    raise
                retry += 1
                prog.retries += 1

    async def _next(
        self,
        ctx: RequestContext,
        prog: _Progress,
        ordered: list[Deployment],
        failed: list[str],
        retry: int,
        *,
        last: UpstreamError | None,
    ) -> tuple[Deployment | None, float]:
        """The next deployment to try and how long to wait first. An untried one goes at once;
        going back to one that failed waits out the back-off and its Retry-After."""
        now = time.monotonic()
        fresh = [d for d in ordered if d.id not in failed]
        # Deployments that asked us to wait (Retry-After) go after the others.
        fresh.sort(key=lambda d: d.stats.cooling(now))
        for dep in fresh:
            if not dep.full() and await self.breakers.allow(dep.id) and await self._reserve(ctx, prog, dep):
                return dep, 0.0
        if last is None:
            return None, 0.0
        wait = self.policy.wait_before(retry - 1, last)
        if wait is None:
            return None, 0.0  # it asked for a longer wait than we are willing to give
        for dep in ordered:
            if not dep.full() and await self.breakers.allow(dep.id) and await self._reserve(ctx, prog, dep):
                return dep, wait
        return None, 0.0

    async def _reserve(self, ctx: RequestContext, prog: _Progress, dep: Deployment) -> bool:
        """Room in the deployment's own rpm/tpm for one more call. Asked after the breaker, so that
        a deployment the breaker keeps out does not use up its quota."""
        if self.quota is None or (dep.rpm is None and dep.tpm is None):
            return True
        granted = await self.quota.reserve(ctx, dep)
        if isinstance(granted, float):
            prog.limited += 1
            prog.limited_for = min(prog.limited_for, granted)
            return False
        if granted.key:
            if prog.grants is None:
                prog.grants = {}
            prog.grants[dep.id] = granted
        return True

    async def _attempt(self, ctx: RequestContext, dep: Deployment, run: Run[T], prog: _Progress) -> T:
        timeouts = self._timeouts(ctx, dep, prog)
        stats = dep.stats
        stats.in_flight += 1
        stats.calls += 1
        try:
            result = await run(dep, timeouts)
        except UpstreamError as exc:
            stats.in_flight -= 1
            if isinstance(exc, UpstreamTimeout) and timeouts is not dep.timeouts:
                # The client's own tighter deadline fired: one tenant's impatience is not the
                # deployment's ill health, so neither its breaker nor the shared retry budget pays.
                exc.client_deadline = True
            elif not isinstance(exc, UpstreamBadRequest):
                stats.failures += 1
                await self.breakers.record(dep.id, False)
            if exc.retry_after:
                stats.cooling_until = max(stats.cooling_until, time.monotonic() + exc.retry_after)
            raise
        except BaseException:
            stats.in_flight -= 1
            raise
        await self.breakers.record(dep.id, True)
        return result

    def _call(self, ctx: RequestContext, dep: Deployment, timeouts: Timeouts) -> Call:
        body = ctx.body if ctx.body.get("model") == dep.model else {**ctx.body, "model": dep.model}
        ctx.deployment = dep.id
        ctx.attempts += 1
        return Call(
            request_id=ctx.request_id,
            model=dep.model,
            body=body,
            params=ctx.params,
            timeouts=timeouts,
            endpoint=ENDPOINTS[ctx.endpoint].provider_endpoint,
        )

    def _timeouts(self, ctx: RequestContext, dep: Deployment, prog: _Progress) -> Timeouts:
        """The deployment's deadlines, tightened (never loosened) by what the client asked for."""
        t = dep.timeouts
        first_token, total = t.first_token, t.total
        if ctx.ttft_timeout is not None:
            first_token = min(first_token, ctx.ttft_timeout)
        if prog.deadline is not None:
            left = self._check_deadline(prog, 0.0)
            first_token, total = min(first_token, left), min(total, left)
        if (first_token, total) == (t.first_token, t.total):
            return t
        return t.model_copy(update={"first_token": first_token, "total": total})

    @staticmethod
    def _check_deadline(prog: _Progress, wait: float) -> float:
        if prog.deadline is None:
            return float("inf")
        left = prog.deadline - time.perf_counter() - wait
        if left <= 0:
            raise UpstreamTimeout("The request ran out of the time it asked for (x-modelrail-timeout).")
        return left

    async def _ended(self, ctx: RequestContext, prog: _Progress, dep: Deployment, ok: bool | None) -> None:
        if ok is False:
            dep.stats.failures += 1
            await self.breakers.record(dep.id, False)
        # The usage chunk, when the upstream sent one, has passed the gateway by the stream's end.
        grant = prog.grants.get(dep.id) if prog.grants else None
        if grant is not None and self.quota is not None:
            await self.quota.settle(grant, ctx.usage)

    @staticmethod
    def _headers(ctx: RequestContext, prog: _Progress) -> dict[str, str]:
        headers = {"x-modelrail-retries": str(prog.retries), "x-modelrail-fallback": prog.fallback_alias or "false"}
        if ctx.deployment is not None:
            headers["x-modelrail-deployment"] = ctx.deployment
        if prog.fallback_reason is not None and prog.fallback_alias is not None:
            headers["x-modelrail-fallback-reason"] = prog.fallback_reason
        return headers

    # -- the admin view -------------------------------------------------------------------------

    async def describe(self) -> list[JSONObject]:
        out: list[JSONObject] = []
        for alias, deps in self._table.items():
            for dep in deps:
                try:
                    breaker: JSONObject = (await self.breakers.snapshot(dep.id)).to_json()
                except (OSError, ConnectionError, TimeoutError):
                    breaker = {"state": "unknown"}  # the shared store is down; the router fails open
                s = dep.stats
                out.append(
                    {
                        "id": dep.id,
                        "alias": alias,
                        "provider": dep.provider.kind,
                        "model": dep.model,
                        "region": dep.region,
                        "weight": dep.weight,
                        "max_in_flight": dep.max_in_flight,
                        "rpm": dep.rpm,
                        "tpm": dep.tpm,
                        "strategy": self.settings.strategy_for(alias),
                        "cost_per_mtok": dep.cost,
                        "breaker": breaker,
                        "in_flight": s.in_flight,
                        "calls": s.calls,
                        "failures": s.failures,
                        "ewma_ttft_ms": None if s.ewma_ttft is None else round(s.ewma_ttft * 1000, 1),
                        "ewma_latency_ms": None if s.ewma_latency is None else round(s.ewma_latency * 1000, 1),
                        "fallbacks": self.settings.fallbacks.get(alias, []),
                    }
                )
        return out


async def _nothing(result: JSONObject) -> None:
    return None


async def _close_opened(opened: _Opened) -> None:
    await opened.rest.aclose()
