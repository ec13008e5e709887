"""GET /v1/models and /v1/models/{id}: the aliases this key may use."""

from __future__ import annotations

from modelrail.api.http import JSONResponse
from modelrail.api.pipeline import Exchange, Reply, Route
from modelrail.errors import ModelNotFound
from modelrail.protocol.openai import model_object


async def list_models(ex: Exchange) -> Reply:
    rt = ex.runtime
    data = [
        model_object(alias, rt.router.deployments(alias)[0].provider.kind)
        for alias in rt.router.aliases()
        if ex.principal.scopes.allows_model(alias)
    ]
    return JSONResponse({"object": "list", "data": data})


async def get_model(ex: Exchange) -> Reply:
    rt = ex.runtime
    alias = ex.tail
    if alias not in rt.router.aliases() or not ex.principal.scopes.allows_model(alias):
        raise ModelNotFound(f"The model '{alias}' does not exist or you do not have access to it.", param="model")
    return JSONResponse(model_object(alias, rt.router.deployments(alias)[0].provider.kind))


routes = [Route("/v1/models", frozenset({"GET"}), list_models)]
# /v1/models/<id>: ids may hold slashes ("openai/gpt-4o"), so everything after the prefix is the id.
prefix_routes = [Route("/v1/models/", frozenset({"GET"}), get_model)]
