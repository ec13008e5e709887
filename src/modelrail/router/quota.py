"""Per-deployment rate limits: ``rpm`` and ``tpm`` on a ``models:`` entry, the provider's own quota
for that key or region.

Counted in the shared state (fixed windows, those of ``rpm`` and ``tpm`` in the limits schema, like
the key/team/model limits), so
every worker and replica keeps one deployment inside its quota together. Counted per attempt, not
per client request: a retry or a fallback is another call to that upstream, and the upstream counts
it. A deployment without room is skipped like one with an open breaker.

The token reservation is the admission's estimate (prompt plus expected output). It is corrected to
the upstream's count when an answer comes back with usage (a unary answer, or a stream that ends
with a usage chunk); otherwise (a failed attempt, a stream cut off or without usage) the estimate
stands until the window ends, which errs on the side of staying under the quota.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import NamedTuple

from modelrail.context import RequestContext, Usage
from modelrail.endpoints import ENDPOINTS
from modelrail.errors import RateLimited, StateUnavailable, UpstreamUnavailable
from modelrail.limits.schema import BY_NAME
from modelrail.router.deployment import Deployment
from modelrail.state.base import Check, Denied, StateBackend
from modelrail.usage.estimate import Estimator

log = logging.getLogger("modelrail.router")

# A deployment's ``rpm`` and ``tpm`` are the schema's: their windows come from it.
_REQUESTS = BY_NAME["rpm"].seconds
_TOKENS = BY_NAME["tpm"].seconds


class Grant(NamedTuple):
    """What one attempt reserved on its deployment's TPM counter (``key`` is empty without a tpm)."""

    key: str
    tokens: int


class OverQuota(UpstreamUnavailable):
    """Every deployment of an alias is at its own limit. An upstream error so that the router falls
    back to the next alias; the client sees :meth:`refusal` only when nothing else answered."""

    def __init__(self, alias: str, retry_after: float) -> None:
        super().__init__(f"Every deployment of '{alias}' is at its rate limit.", retryable=True)
        self.alias = alias
        self.wait = retry_after

    def refusal(self) -> RateLimited:
        return RateLimited(
            f"Rate limit reached on every deployment of '{self.alias}'. Try again in {self.wait:.1f}s.",
            headers={**self.headers, "retry-after": str(max(1, round(self.wait)))},
        )


class DeploymentQuota:
    """Reserves one request and the request's estimated tokens on a deployment, all or nothing."""

    def __init__(
        self,
        state: StateBackend,
        estimator: Estimator | None = None,
        expected_output_tokens: int = 256,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        # Only needed when no admission stage left its estimate on the context; built on first use.
        self._estimator = estimator
        self._expected = expected_output_tokens
        self._clock = clock

    async def reserve(self, ctx: RequestContext, dep: Deployment) -> Grant | float:
        """The grant, or seconds until the deployment's window ends (it has no room now)."""
        now = self._clock()
        checks: list[Check] = []
        if dep.rpm is not None:
            checks.append(Check(f"rl:d:{dep.id}:r:{int(now // _REQUESTS)}", 1, dep.rpm, _REQUESTS + 1))
        grant = Grant("", 0)
        if dep.tpm is not None:
            grant = Grant(f"rl:d:{dep.id}:t:{int(now // _TOKENS)}", self.tokens(ctx))
            checks.append(Check(grant.key, grant.tokens, dep.tpm, _TOKENS + 1))
        if not checks:
            return grant
        outcome = await self.state.reserve(checks)
        if isinstance(outcome, Denied):
            window = _REQUESTS if outcome.at == 0 and dep.rpm is not None else _TOKENS
            return window - now % window
        return grant

    async def settle(self, grant: Grant, usage: Usage | None) -> None:
        """Correct a TPM reservation to what the upstream counted."""
        if not grant.key or usage is None or usage.estimated:
            return
        delta = usage.prompt_tokens + usage.completion_tokens - grant.tokens
        if delta == 0:
            return
        try:
            await self.state.adjust([Check(grant.key, delta, None, _TOKENS + 1)])
        except StateUnavailable as exc:
            # The answer is in hand; the counter stays at the estimate until its window ends.
            log.error("correcting the token count of %s failed: %s", grant.key, exc.message)

    def tokens(self, ctx: RequestContext) -> int:
        if ctx.reserved_tokens is not None:
            return ctx.reserved_tokens
        if self._estimator is None:
            self._estimator = Estimator()
        params = ctx.params
        fn = getattr(params, "output_cap", None)
        cap = fn() if fn is not None else getattr(params, "max_tokens", None)
        expected = int(cap) if cap is not None else (self._expected if ENDPOINTS[ctx.endpoint].produces_output else 0)
        return self._estimator.prompt_tokens(ctx) + expected
