"""GET /admin/v1/deployments: each deployment's breaker state, calls in flight and smoothed latency.

Breaker state is shared by every replica (it lives in the breaker store); in-flight counts and
latencies are this process's own view.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from modelrail.api.admin.app import Admin, AppRuntime

router = APIRouter()


@router.get("/deployments", tags=["routing"])
async def list_deployments(admin: Admin, rt: AppRuntime) -> dict[str, Any]:
    """Every deployment of every alias, with its router state."""
    data = await rt.router.describe()
    return {"object": "list", "draining": rt.draining, "data": data}
