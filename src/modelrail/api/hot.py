"""The app, with a direct path for the few routes every completion goes through.

Starlette sends each request through five layers before the handler (server-error and exception
middleware, our request-id and drain middleware, the router and the route's request/response
wrapper), and each layer wraps ``send`` again, so every streamed event paid for three wrapper
calls. For ``POST`` on the hot routes this app does what those layers do, in one place: a request
id in and out, the drain check, errors in OpenAI's shape (through the same handlers), then calls
the handler and sends its response unwrapped. Everything else (other paths and methods, a
draining server, lifespan) goes through Starlette as before.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from modelrail.api.errors import on_http_exception, on_modelrail_error, on_unexpected
from modelrail.api.request_id import RequestIds
from modelrail.errors import ModelrailError
from modelrail.observability.logging import request_id_var
from modelrail.runtime import Runtime

Handler = Callable[[Request], Awaitable[Response]]
Lifespan = Callable[[Any], contextlib.AbstractAsyncContextManager[None]]


def _freezing(lifespan: Lifespan) -> Lifespan:
    """``lifespan``, then what start-up built (modules, model classes, tables, the app) moved out of
    the cyclic collector's sight: it lives as long as the process, and a full collection would
    otherwise walk all of it again and again under load."""

    @contextlib.asynccontextmanager
    async def frozen(app: Any) -> AsyncIterator[None]:
        async with lifespan(app):
            gc.collect()
            gc.freeze()
            # A request allocates a few thousand objects, nearly all freed by reference counting;
            # at the default threshold (700) the young generation was collected several times per
            # request for next to nothing.
            previous = gc.get_threshold()
            gc.set_threshold(20_000, 20, 20)
            try:
                yield
            finally:
                # The process may go on (tests build many apps in one): leave the collector as found.
                gc.set_threshold(*previous)
                gc.unfreeze()

    return frozen


class ModelrailApp(Starlette):
    def __init__(
        self, *, runtime: Runtime, hot_routes: Mapping[str, Handler], request_ids: RequestIds, **kwargs: Any
    ) -> None:
        lifespan = kwargs.pop("lifespan", None)
        super().__init__(lifespan=_freezing(lifespan) if lifespan is not None else None, **kwargs)
        self.runtime = runtime
        self.hot_routes = dict(hot_routes)
        self.request_ids = request_ids
        # Middleware added later (app.add_middleware) must see every request: then no direct path.
        self._built_with = len(self.user_middleware)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            handler = self.hot_routes.get(scope["path"])
            # A draining server answers through the middleware, which refuses the request.
            if handler is not None and not self.runtime.draining and self.user_middleware_unchanged():
                scope["app"] = self
                await self._direct(handler, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def user_middleware_unchanged(self) -> bool:
        return len(self.user_middleware) == self._built_with

    async def _direct(self, handler: Handler, scope: Scope, receive: Receive, send: Send) -> None:
        rid = self.request_ids.of(scope)
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        try:
            request = Request(scope, receive, send)
            try:
                response = await handler(request)
            except ModelrailError as exc:
                response = await on_modelrail_error(request, exc)
            except HTTPException as exc:
                response = await on_http_exception(request, exc)
            except Exception as exc:
                response = await on_unexpected(request, exc)
            response.raw_headers.append((b"x-request-id", rid.encode("latin-1")))
            await response(scope, receive, send)
        finally:
            request_id_var.reset(token)
