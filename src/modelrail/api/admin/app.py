"""The admin sub-app: who may enter (admin keys and the master key), and its error handling.

The admin check is written once, here (:func:`admin_principal`, used as the ``Admin`` dependency
by every admin route); every admin route lives in this package, so all of them are in
``/admin/v1/openapi.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from modelrail import __version__
from modelrail.api.errors import error_response, on_http_exception, on_modelrail_error
from modelrail.auth.base import credential_from
from modelrail.auth.principal import Principal
from modelrail.errors import InvalidRequest, ModelrailError, PermissionDenied
from modelrail.runtime import Runtime
from modelrail.store.keys import KeyStore

PREFIX = "/admin"


@dataclass(slots=True)
class AdminContext:
    store: KeyStore
    runtime: Runtime


def _context(request: Request) -> AdminContext:
    ctx: AdminContext = request.app.state.admin
    return ctx


async def admin_principal(request: Request) -> Principal:
    """The caller, who must hold an admin key or the master key. The authenticator is the app's
    current one (the runtime's), as for every other route."""
    principal = await _context(request).runtime.auth.authenticate(credential_from(request.headers))
    if not principal.is_admin:
        raise PermissionDenied("This key is not an admin key; the admin API needs an admin key or the master key.")
    return principal


def store(request: Request) -> KeyStore:
    return _context(request).store


def runtime(request: Request) -> Runtime:
    return _context(request).runtime


Admin = Annotated[Principal, Depends(admin_principal)]
Store = Annotated[KeyStore, Depends(store)]
AppRuntime = Annotated[Runtime, Depends(runtime)]


def actor(principal: Principal) -> str:
    return principal.key_id


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    message = f"{'.'.join(loc) or 'request'}: {first.get('msg', 'invalid')}"
    return error_response(InvalidRequest(message, param=".".join(loc) or None))


def build_admin_app(store: KeyStore, runtime: Runtime) -> FastAPI:
    from modelrail.api.admin import deployments, routes, usage

    app = FastAPI(
        title="modelrail admin API",
        version=__version__,
        description=(
            "Teams, API keys, the audit log, usage and spend reports, and the router's deployments."
            " Send an admin key or the master key as a bearer token."
        ),
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
    )
    app.state.admin = AdminContext(store=store, runtime=runtime)
    for module in (routes, usage, deployments):
        app.include_router(module.router, prefix="/v1")
    app.add_exception_handler(ModelrailError, on_modelrail_error)
    app.add_exception_handler(HTTPException, on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation)
    return app
