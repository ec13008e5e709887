"""GET /admin/v1/usage and /admin/v1/spend: ledger reports for admin keys."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncEngine

from modelrail.api.admin.app import Admin, AppRuntime
from modelrail.errors import InvalidRequest, NotFound
from modelrail.usage.reports import GroupBy, parse_since, spend, usage_by

router = APIRouter()


async def _engine(admin: Admin, rt: AppRuntime) -> AsyncEngine:
    """The ledger's engine, after a flush so that the report includes every finished request."""
    engine: AsyncEngine | None = getattr(rt.gateway.usage, "engine", None)
    if engine is None:
        raise NotFound("The ledger is not enabled on this server.")
    await rt.gateway.usage.flush()  # type: ignore[attr-defined]  # a Ledger: it has an engine
    return engine


Ledger = Annotated[AsyncEngine, Depends(_engine)]


@router.get("/usage", tags=["usage"])
async def usage(
    engine: Ledger,
    by: Annotated[str, Query(description="team, key, model or day")] = "day",
    since: Annotated[str, Query(description="A duration back from now (7d, 24h) or an ISO date.")] = "7d",
) -> dict[str, Any]:
    """Tokens, requests and cost from the ledger, grouped."""
    if by not in ("team", "key", "model", "day"):
        raise InvalidRequest("'by' must be team, key, model or day.", param="by")
    try:
        start = parse_since(since)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="since") from None
    group: GroupBy = by  # type: ignore[assignment]
    rows = await usage_by(engine, group, start)
    return {"object": "list", "by": by, "since": start.isoformat(), "data": [r.as_dict() for r in rows]}


@router.get("/spend", tags=["usage"])
async def spend_report(
    engine: Ledger, period: Annotated[str, Query(description="day, month or total")] = "month"
) -> dict[str, Any]:
    """Spend per team and key in the current period."""
    if period not in ("day", "month", "total"):
        raise InvalidRequest("'period' must be day, month or total.", param="period")
    rows = await spend(engine, None, period)
    return {"object": "list", "period": period, "data": [r.as_dict() for r in rows]}
