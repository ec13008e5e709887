"""Liveness and readiness. Unauthenticated and cheap: load balancers call them often."""

from __future__ import annotations

from modelrail.api.http import JSONResponse
from modelrail.api.pipeline import Exchange, Reply, Route


async def healthz(ex: Exchange) -> Reply:
    return JSONResponse({"status": "ok"})


async def readyz(ex: Exchange) -> Reply:
    rt = ex.runtime
    if rt.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    if not rt.ready:
        return JSONResponse({"status": "starting"}, status_code=503)
    return JSONResponse({"status": "ready", "models": len(rt.router.aliases())})


# Probes answer while draining: /readyz is how a load balancer sees the drain.
routes = [
    Route(path, frozenset({"GET", "HEAD"}), handler, authenticated=False, drains=False)
    for path, handler in (("/healthz", healthz), ("/readyz", readyz))
]
