"""Usage and spend reports from the ledger, for the admin API and the CLI."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from modelrail.budgets.periods import period_start
from modelrail.usage.ledger_table import usage_ledger

GroupBy = Literal["team", "key", "model", "day"]
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_since(text: str, now: float | None = None) -> datetime:
    """``7d``, ``24h``, ``30m``, or an ISO date/time (UTC when it names no zone)."""
    now = time.time() if now is None else now
    m = _SINCE.match(text)
    if m:
        try:
            return datetime.fromtimestamp(now - float(m.group(1)) * _UNITS[m.group(2)], UTC)
        except (OverflowError, OSError, ValueError):
            # Further back than a date can go: from the beginning.
            return datetime.fromtimestamp(0, UTC)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since: expected e.g. 7d, 24h or 2026-11-01, got {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class UsageRow:
    group: str
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "requests": self.requests,
            "errors": self.errors,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
            "cost_usd": round(self.cost_usd, 9),
        }


async def usage_by(engine: AsyncEngine, by: GroupBy, since: datetime) -> list[UsageRow]:
    t = usage_ledger.c
    column = {"team": t.team_id, "key": t.key_id, "model": t.model, "day": t.day}[by]
    stmt = (
        sa.select(
            column.label("group"),
            sa.func.count().label("requests"),
            sa.func.sum(sa.case((t.status >= 400, 1), else_=0)).label("errors"),
            sa.func.coalesce(sa.func.sum(t.prompt_tokens), 0),
            sa.func.coalesce(sa.func.sum(t.completion_tokens), 0),
            sa.func.coalesce(sa.func.sum(t.cached_tokens), 0),
            sa.func.coalesce(sa.func.sum(t.cost_usd), 0.0),
        )
        .where(t.created_at >= since)
        .group_by(column)
        .order_by(column)
    )
    async with engine.connect() as conn:
        result = await conn.execute(stmt)
        return [
            UsageRow(str(r[0]) if r[0] is not None else "-", int(r[1]), int(r[2] or 0), int(r[3]), int(r[4]),
                     int(r[5]), float(r[6]))
            for r in result
        ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class SpendRow:
    scope: str
    id: str
    period: str
    spend_usd: float
    budget_usd: float | None

    def as_dict(self) -> dict[str, Any]:
        used = None if not self.budget_usd else round(100 * self.spend_usd / self.budget_usd, 1)
        return {
            "scope": self.scope,
            "id": self.id,
            "period": self.period,
            "spend_usd": round(self.spend_usd, 9),
            "budget_usd": self.budget_usd,
            "used_percent": used,
        }


async def spend(
    engine: AsyncEngine,
    budgets: dict[tuple[str, str], tuple[float, str]] | None = None,
    period: str = "month",
    now: float | None = None,
) -> list[SpendRow]:
    """Spend per key and team in the current ``period`` (``day``, ``month`` or ``total``).

    ``budgets`` maps (scope, id) to (usd, period): where a budget is known, its own period is used.
    """
    now = time.time() if now is None else now
    budgets = budgets or {}
    t = usage_ledger.c
    rows: list[SpendRow] = []
    periods = {period} | {p for _, p in budgets.values()}
    async with engine.connect() as conn:
        for scope, column in (("key", t.key_id), ("team", t.team_id)):
            for per in sorted(periods):
                start = period_start(per, now)
                stmt = sa.select(column, sa.func.coalesce(sa.func.sum(t.cost_usd), 0.0)).where(column.is_not(None))
                if start is not None:
                    stmt = stmt.where(t.created_at >= datetime.fromtimestamp(start, UTC))
                for ident, total in await conn.execute(stmt.group_by(column)):
                    budget = budgets.get((scope, str(ident)))
                    if budget is not None and budget[1] != per:
                        continue
                    if budget is None and per != period:
                        continue
                    rows.append(SpendRow(scope, str(ident), per, float(total), budget[0] if budget else None))
    return rows
