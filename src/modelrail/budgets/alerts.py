"""Spend alerts: each threshold of each budget fires once per period, to the log and a webhook.

"Once" holds across workers: the first worker to set the alert's key in the shared state sends it.
The webhook is POSTed off the request path, retried with exponential backoff.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from modelrail.budgets.config import AlertSettings
from modelrail.state.base import StateBackend

log = logging.getLogger("modelrail.alerts")


@dataclass(frozen=True, slots=True)
class SpendAlert:
    scope: str  # "key" or "team"
    id: str
    period: str  # "day", "month" or "total"
    period_id: str  # e.g. "2026-11-22", "2026-11", "total"
    threshold: float
    spend_usd: float
    budget_usd: float

    def body(self) -> dict[str, Any]:
        return {"type": "budget.threshold", **asdict(self)}


class Alerts:
    def __init__(self, settings: AlertSettings, state: StateBackend) -> None:
        self.settings = settings
        self.state = state
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: Any = None

    async def check(
        self,
        *,
        scope: str,
        ident: str,
        period: str,
        period_id: str,
        ttl: float | None,
        spend: float,
        budget: float,
        thresholds: tuple[float, ...],
    ) -> None:
        for t in thresholds:
            # Compared in nano-dollars: 0.8 * 0.10 is 0.08000000000000002 in floats.
            if budget <= 0 or round(spend * 1e9) < round(t * budget * 1e9):
                continue
            key = f"alert:{scope}:{ident}:{period_id}:{t:g}"
            if not await self.state.set_if_absent(key, "1", ttl):
                continue
            alert = SpendAlert(scope, ident, period, period_id, t, round(spend, 9), budget)
            log.warning(
                "budget alert: %s %s spent $%.6f of $%.2f (%d%%) this %s",
                scope, ident, spend, budget, round(t * 100), period,
            )  # fmt: skip
            if self.settings.webhook_url:
                task = asyncio.create_task(self._send(alert))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _send(self, alert: SpendAlert) -> None:
        import aiohttp

        url = self.settings.webhook_url
        assert url is not None
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s))
        body = orjson.dumps(alert.body())
        delay = self.settings.backoff_s
        for attempt in range(self.settings.retries + 1):
            try:
                async with self._session.post(url, data=body, headers={"content-type": "application/json"}) as r:
                    if r.status < 300:
                        return
                    reason = f"HTTP {r.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = type(exc).__name__
            if attempt < self.settings.retries:
                await asyncio.sleep(delay)
                delay *= 2
        log.error("budget alert webhook failed after %d attempts (%s)", self.settings.retries + 1, reason)

    async def close(self) -> None:
        if self._tasks:
            # Give pending webhooks a few seconds to land before shutdown cancels them.
            await asyncio.wait(set(self._tasks), timeout=5.0)
        for task in list(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None
