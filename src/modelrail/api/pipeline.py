"""The request pipeline: one dispatcher for every route, and the one path of an endpoint request.

Starlette sends each request through five layers before the handler (server-error and exception
middleware, middleware of our own, the router and the route's request/response wrapper), and each
layer wraps ``send`` again, so every streamed event paid for three wrapper calls. This app does
what those layers do, in one place, for every route: it looks the path up in a dict built at
start-up, names the request, refuses it while draining, authenticates it, calls the handler and
renders any error in the route's dialect (api/errors.py). Starlette is left the lifespan, and the
whole request only when middleware was added to the app after it was built.

A chat completion (``POST /v1/chat/completions``) passes through, in order:

1. :meth:`ModelrailApp.__call__`, then :meth:`ModelrailApp.dispatch`: the route by path (a dict
   built at start-up), :meth:`RequestIds.of <modelrail.api.request_id.RequestIds.of>` (the request
   id, also set for logging); then :meth:`ModelrailApp._respond`: the drain and method checks,
   :class:`~modelrail.api.http.RequestHeaders`, authentication
   (``runtime.auth.authenticate(credential_from(headers))``, the one place a request's key is
   read), and the route's handler with an :class:`Exchange`;
2. :meth:`EndpointRoute.serve`, the same for every endpoint of the table (modelrail/endpoints.py):
   :func:`~modelrail.api.http.read_json`, the dialect's ``begin``
   (:meth:`OpenAIFamily.begin <modelrail.api.openai_endpoints.OpenAIFamily.begin>`: ``validate``
   against the table's request model, the :class:`~modelrail.context.RequestContext`), then
   :func:`~modelrail.router.client_timeouts.requested_timeouts`, and a
   :class:`~modelrail.api.disconnect.DisconnectWatch`;
3. :meth:`Gateway.unary <modelrail.gateway.Gateway.unary>` (or ``open_stream`` for a stream):
   ``Gateway.check`` (``Router.check``: 404 unknown model, 400 no deployment serves the endpoint;
   then the key's scopes), ``Admission.admit`` (limits, budget reservation),
   ``Router.call`` (or ``Router.open_stream``: deployment order, breakers, quotas, retries,
   fallbacks, the provider's method), then ``Gateway._finish``: ``Admission.settle`` and
   ``UsageSink.record`` (the ledger) however the call ended (for a stream, when it ends);
4. the dialect's ``unary_reply`` (a :class:`~modelrail.api.http.JSONResponse`) or ``stream_reply``
   (an :class:`~modelrail.api.sse.SSEResponse`), sent by :meth:`ModelrailApp.dispatch` with the
   ``x-request-id`` header.

A :class:`~modelrail.errors.ModelrailError` raised anywhere before the answer is sent becomes the
route's :class:`~modelrail.api.errors.ErrorRenderer` response; after a stream's first byte, the
same renderer's body is the stream's last event. Streams and unary calls share all of steps 1-2
and the error handling; they differ only in which gateway method runs and which reply is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelrail.api.disconnect import DisconnectWatch
from modelrail.api.drain import refusal
from modelrail.api.errors import OPENAI, RENDERERS, ErrorRenderer, log_server_error, not_allowed, not_found
from modelrail.api.http import RequestHeaders, read_json
from modelrail.api.request_id import RequestIds
from modelrail.auth.base import credential_from
from modelrail.auth.principal import Principal
from modelrail.context import RequestContext
from modelrail.endpoints import EndpointSpec
from modelrail.errors import InternalError, ModelrailError, PayloadTooLarge, PermissionDenied
from modelrail.observability.logging import request_id_var
from modelrail.protocol.base import JSONObject
from modelrail.providers.batches import Chunks
from modelrail.router.client_timeouts import requested_timeouts
from modelrail.runtime import Runtime

log = logging.getLogger("modelrail.api")

Lifespan = Callable[[Any], contextlib.AbstractAsyncContextManager[None]]

# The caller of a route that does not authenticate (the probes).
ANONYMOUS = Principal(key_id="", name="anonymous")


class Reply(Protocol):
    """What a handler returns: a Starlette response, or a stream that writes itself."""

    raw_headers: list[tuple[bytes, bytes]]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


@dataclass(slots=True)
class Exchange:
    """One request as a handler sees it, after the dispatcher's steps."""

    scope: Scope
    receive: Receive
    request_id: str
    headers: RequestHeaders
    principal: Principal
    runtime: Runtime
    # What follows a prefix route's path (``/v1/models/<this>``); empty for exact routes.
    tail: str = ""


Handler = Callable[[Exchange], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Route:
    """One route: its path (or path prefix), methods, handler, and the pipeline steps it takes."""

    path: str
    methods: frozenset[str]
    handler: Handler
    errors: ErrorRenderer = OPENAI
    authenticated: bool = True
    # Refused while draining; the probes are not (they report the drain).
    drains: bool = True


@dataclass(frozen=True, slots=True)
class Mount:
    """A sub-app under a path prefix (the admin API): it handles its own methods and errors.

    With ``admin_only``, the dispatcher lets a request in only with an admin credential, checked
    before a byte of its body is read, and caps the body at ``max_body_bytes``: a sub-app that
    reads its body before its own checks (FastAPI does) never reads a stranger's."""

    path: str
    app: ASGIApp
    admin_only: bool = False
    max_body_bytes: int = 1024 * 1024
    # Paths of the mount let in without a credential (the admin API's docs, when the operator says so).
    public: frozenset[str] = frozenset()


class Family(Protocol):
    """How one API dialect reads an endpoint's request and writes its answer."""

    def begin(self, spec: EndpointSpec, ex: Exchange, data: JSONObject) -> tuple[RequestContext, Any]:
        """Validate ``data``; the request's context, and what the replies need of the client's request."""
        ...

    def unary_reply(self, ctx: RequestContext, wire: Any, result: JSONObject) -> Reply: ...

    def stream_reply(
        self, ctx: RequestContext, wire: Any, chunks: AsyncIterator[Chunks], watch: DisconnectWatch
    ) -> Reply: ...


@dataclass(frozen=True, slots=True)
class EndpointRoute:
    """The handler of one endpoint of the table: the one path every completion, message and
    embedding request takes."""

    spec: EndpointSpec
    family: Family

    def route(self) -> Route:
        return Route(self.spec.path, frozenset({"POST"}), self.serve, errors=RENDERERS[self.spec.dialect])

    async def serve(self, ex: Exchange) -> Reply:
        rt = ex.runtime
        data = await read_json(ex.receive, rt.settings.server.max_body_bytes, ex.headers)
        rt.inputs.check(data)  # routing fields out, media URLs only where allowed
        ctx, wire = self.family.begin(self.spec, ex, data)
        ctx.timeout, ctx.ttft_timeout = requested_timeouts(ex.headers)
        # A unary call is cancelled if the client goes; a stream hands the watch to its response.
        watch = DisconnectWatch(ex.receive)
        handed_over = False
        try:
            if ctx.stream:
                _, chunks = await rt.gateway.open_stream(ctx)
                handed_over = True
                return self.family.stream_reply(ctx, wire, chunks, watch)
            result = await rt.gateway.unary(ctx)
        except asyncio.CancelledError:
            if watch.swallow():
                # The client left; nobody reads this, but the server needs a response to finish.
                return Response(status_code=499)
            raise
        finally:
            if not handed_over:
                watch.close()
        return self.family.unary_reply(ctx, wire, result)


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
    """The app: Starlette for the lifespan and ``app.state``; :meth:`dispatch` for every request."""

    def __init__(
        self,
        *,
        runtime: Runtime,
        routes: Sequence[Route],
        prefix_routes: Sequence[Route] = (),
        mounts: Sequence[Mount] = (),
        request_ids: RequestIds,
        lifespan: Lifespan | None = None,
    ) -> None:
        super().__init__(lifespan=_freezing(lifespan) if lifespan is not None else None)
        self.runtime = runtime
        self.request_ids = request_ids
        self._exact = {r.path: _with_head(r) for r in routes}
        self._prefixes = tuple(_with_head(r) for r in prefix_routes)
        self._mounts = tuple(mounts)
        # With middleware added after the app was built (app.add_middleware), Starlette's stack
        # runs first and its router, which has no routes of its own, hands every request here.
        self.router.default = self.dispatch
        self._built_with = len(self.user_middleware)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(self.user_middleware) == self._built_with:
            scope["app"] = self
            await self.dispatch(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if scope.get("root_path"):
            path = _route_path(scope)
        route = self._exact.get(path)
        rid = self.request_ids.of(scope)
        token = request_id_var.set(rid)
        try:
            tail = ""
            if route is None:
                route = self._prefix(path)
                if route is not None:
                    tail = path[len(route.path) :]
                else:
                    mount = self._mount(path)
                    if mount is not None and not self.runtime.draining:
                        refused = await self._gate(mount, scope, rid)
                        if refused is None:
                            await _forward(mount, scope, _capped(receive, mount.max_body_bytes), send, rid)
                            return
                        refused.raw_headers.append((b"x-request-id", rid.encode("latin-1")))
                        await refused(scope, receive, send)
                        return
            reply = await self._respond(route, path, tail, scope, receive, rid=rid)
            reply.raw_headers.append((b"x-request-id", rid.encode("latin-1")))
            await reply(scope, receive, send)
        finally:
            request_id_var.reset(token)

    async def _respond(
        self, route: Route | None, path: str, tail: str, scope: Scope, receive: Receive, *, rid: str
    ) -> Reply:
        """Every step before the handler, the handler, and the one place their errors are rendered."""
        method: str = scope["method"]
        errors = OPENAI if route is None else route.errors
        rt = self.runtime
        try:
            if route is None:
                raise refusal() if rt.draining else not_found(method, path)
            if rt.draining and route.drains:
                raise refusal()
            if method not in route.methods:
                raise not_allowed(method, path)
            headers = RequestHeaders(scope)
            principal = await rt.auth.authenticate(credential_from(headers)) if route.authenticated else ANONYMOUS
            return await route.handler(Exchange(scope, receive, rid, headers, principal, rt, tail))
        except ModelrailError as exc:
            log_server_error(method, path, exc)
            return errors.response(exc, rid)
        except ClientDisconnect:
            # The client left while sending its body: nobody reads this answer.
            return Response(status_code=499)
        except Exception:
            # The one catch-all of the API: a bug must still answer in the route's shape, never a
            # traceback; the traceback goes to the log.
            log.exception("unhandled error on %s %s", method, path)
            return errors.response(InternalError("The server had an error while processing your request."), rid)

    async def _gate(self, mount: Mount, scope: Scope, rid: str) -> Reply | None:
        """None to let the request into the mount; else the refusal (401, 403, 413)."""
        if not mount.admin_only or scope["path"] in mount.public:
            return None
        headers = RequestHeaders(scope)
        try:
            principal = await self.runtime.auth.authenticate(credential_from(headers))
            if not principal.is_admin:
                raise PermissionDenied(
                    "This key is not an admin key; the admin API needs an admin key or the master key."
                )
            declared = headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > mount.max_body_bytes:
                raise PayloadTooLarge(f"Request body is {declared} bytes; the limit is {mount.max_body_bytes} bytes.")
        except ModelrailError as exc:
            return OPENAI.response(exc, rid)
        return None

    def _prefix(self, path: str) -> Route | None:
        for route in self._prefixes:
            if path.startswith(route.path):
                return route
        return None

    def _mount(self, path: str) -> Mount | None:
        for mount in self._mounts:
            if path == mount.path or path.startswith(mount.path + "/"):
                return mount
        return None


def _with_head(route: Route) -> Route:
    # As Starlette's routes do: a GET route answers HEAD too.
    if "GET" in route.methods and "HEAD" not in route.methods:
        return dataclasses.replace(route, methods=route.methods | {"HEAD"})
    return route


def _route_path(scope: Scope) -> str:
    """The path below the app's own root path (an app served under a prefix), as Starlette reads it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if path.startswith(root) else path


def _capped(receive: Receive, limit: int) -> Receive:
    """``receive``, but a body that grows past ``limit`` bytes (one sent without a length, or longer
    than it said) ends as a client disconnect: the sub-app stops reading and answers nobody."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                return {"type": "http.disconnect"}
        return message

    return capped


async def _forward(mount: Mount, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
    """Hand the request to a sub-app, as Starlette's ``Mount`` does, adding the request id to its answer."""
    header = (b"x-request-id", rid.encode("latin-1"))
    started = False

    async def send_with_id(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
            message["headers"] = [*message.get("headers", []), header]
        await send(message)

    root = scope.get("root_path", "")
    child = {**scope, "root_path": root + mount.path, "app_root_path": scope.get("app_root_path", root)}
    try:
        await mount.app(child, receive, send_with_id)
    except Exception:
        # The sub-app's own handlers answer its errors; what gets past them is a bug. Log it, and
        # answer in OpenAI's shape if the sub-app had not started its answer.
        log.exception("unhandled error on %s %s", scope["method"], scope["path"])
        if not started:
            reply = OPENAI.response(InternalError("The server had an error while processing your request."), rid)
            await reply(scope, receive, send_with_id)
