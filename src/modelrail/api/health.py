"""Liveness and readiness. Unauthenticated and cheap: load balancers call them often."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelrail.api.http import JSONResponse, runtime


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    rt = runtime(request)
    if rt.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    if not rt.ready:
        return JSONResponse({"status": "starting"}, status_code=503)
    return JSONResponse({"status": "ready", "models": len(rt.router.aliases())})


routes = [
    Route("/healthz", healthz, methods=["GET", "HEAD"]),
    Route("/readyz", readyz, methods=["GET", "HEAD"]),
]
