"""GET /admin/v1/usage and /admin/v1/spend: ledger reports for admin keys."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelrail.api.http import JSONResponse, runtime
from modelrail.auth.base import credential_from
from modelrail.errors import InvalidRequest, NotFound, PermissionDenied
from modelrail.usage.reports import GroupBy, parse_since, spend, usage_by


async def _engine(request: Request) -> AsyncEngine:
    rt = runtime(request)
    principal = await rt.auth.authenticate(credential_from(request.headers))
    if not principal.is_admin:
        raise PermissionDenied("Usage reports need an admin key.")
    engine: AsyncEngine | None = getattr(rt.gateway.usage, "engine", None)
    if engine is None:
        raise NotFound("The ledger is not enabled on this server.")
    await rt.gateway.usage.flush()  # type: ignore[attr-defined]  # a Ledger: it has an engine
    return engine


async def usage(request: Request) -> Response:
    engine = await _engine(request)
    by = request.query_params.get("by", "day")
    if by not in ("team", "key", "model", "day"):
        raise InvalidRequest("'by' must be team, key, model or day.", param="by")
    try:
        since = parse_since(request.query_params.get("since", "7d"))
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="since") from None
    group: GroupBy = by  # type: ignore[assignment]
    rows = await usage_by(engine, group, since)
    return JSONResponse({"object": "list", "by": by, "since": since.isoformat(), "data": [r.as_dict() for r in rows]})


async def spend_report(request: Request) -> Response:
    engine = await _engine(request)
    period = request.query_params.get("period", "month")
    if period not in ("day", "month", "total"):
        raise InvalidRequest("'period' must be day, month or total.", param="period")
    rows = await spend(engine, None, period)
    return JSONResponse({"object": "list", "period": period, "data": [r.as_dict() for r in rows]})


routes = [
    Route("/admin/v1/usage", usage, methods=["GET"]),
    Route("/admin/v1/spend", spend_report, methods=["GET"]),
]
