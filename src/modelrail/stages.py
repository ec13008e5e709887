"""The interfaces of the pipeline's pluggable stages, and their pass-through defaults.

Limits and budgets (admission) and the usage ledger plug in here; the gateway calls them in
order and never reaches around them.
"""

from __future__ import annotations

import logging
from typing import Protocol

from modelrail.context import RequestContext

log = logging.getLogger("modelrail.usage")


class Admission(Protocol):
    """Rate limits and budget reservations, checked before the upstream call."""

    async def admit(self, ctx: RequestContext) -> None:
        """Reserve what the request may use, or raise RateLimited / QuotaExceeded."""
        ...

    async def settle(self, ctx: RequestContext) -> None:
        """Correct the reservation to what was used (``ctx.usage``). Called once per admitted request."""
        ...


class UsageSink(Protocol):
    def record(self, ctx: RequestContext) -> None:
        """Take the finished request's record. Must not block: writing happens off the hot path."""
        ...

    async def close(self) -> None: ...


class OpenAdmission:
    async def admit(self, ctx: RequestContext) -> None:
        return None

    async def settle(self, ctx: RequestContext) -> None:
        return None


class LogUsageSink:
    def record(self, ctx: RequestContext) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        u = ctx.usage
        log.info(
            "usage key=%s model=%s deployment=%s status=%s prompt=%s completion=%s latency_ms=%.1f",
            ctx.principal.key_id,
            ctx.alias,
            ctx.deployment,
            ctx.status,
            u.prompt_tokens if u else 0,
            u.completion_tokens if u else 0,
            ctx.elapsed() * 1000,
        )

    async def close(self) -> None:
        return None
