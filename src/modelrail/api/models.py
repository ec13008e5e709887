"""GET /v1/models and /v1/models/{id}: the aliases this key may use."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelrail.api.http import JSONResponse, runtime
from modelrail.auth.base import credential_from
from modelrail.errors import ModelNotFound
from modelrail.protocol.openai import model_object


async def list_models(request: Request) -> Response:
    rt = runtime(request)
    principal = await rt.auth.authenticate(credential_from(request.headers))
    data = [
        model_object(alias, rt.router.deployments(alias)[0].provider.kind)
        for alias in rt.router.aliases()
        if principal.scopes.allows_model(alias)
    ]
    return JSONResponse({"object": "list", "data": data})


async def get_model(request: Request) -> Response:
    rt = runtime(request)
    principal = await rt.auth.authenticate(credential_from(request.headers))
    alias = request.path_params["model"]
    if alias not in rt.router.aliases() or not principal.scopes.allows_model(alias):
        raise ModelNotFound(f"The model '{alias}' does not exist or you do not have access to it.", param="model")
    return JSONResponse(model_object(alias, rt.router.deployments(alias)[0].provider.kind))


routes = [
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", get_model, methods=["GET"]),
]
