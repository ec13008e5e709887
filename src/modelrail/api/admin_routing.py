"""GET /admin/v1/deployments: each deployment's breaker state, calls in flight and smoothed latency.

Breaker state is shared by every replica (it lives in the breaker store); in-flight counts and
latencies are this process's own view.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelrail.api.http import JSONResponse, runtime
from modelrail.auth.base import credential_from
from modelrail.errors import PermissionDenied


async def list_deployments(request: Request) -> Response:
    rt = runtime(request)
    principal = await rt.auth.authenticate(credential_from(request.headers))
    if not principal.is_admin:
        raise PermissionDenied("This endpoint needs an admin key.")
    data = await rt.router.describe()
    return JSONResponse({"object": "list", "draining": rt.draining, "data": data})


routes = [Route("/admin/v1/deployments", list_deployments, methods=["GET"])]
