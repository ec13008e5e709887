"""Graceful drain: after SIGTERM, refuse new requests with 503 while in-flight ones finish.

uvicorn already stops accepting connections on SIGTERM, closes idle keep-alive connections and
waits up to ``server.graceful_timeout`` for open responses (streams included) before exiting.
What it cannot do is refuse a new request that arrives on a connection it still holds open;
this middleware does, once :func:`watch_signals` has seen the signal and set ``draining``.
``/readyz`` reports draining too, so a load balancer takes the replica out of rotation.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from modelrail.errors import Overloaded
from modelrail.runtime import Runtime

log = logging.getLogger("modelrail")

# Probes keep answering while draining: /readyz is how the drain is seen from outside.
_ALWAYS = ("/healthz", "/readyz")


class DrainMiddleware:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.runtime.draining or scope["path"] in _ALWAYS:
            await self.app(scope, receive, send)
            return
        body = orjson.dumps(Overloaded("The server is shutting down; retry on another replica.").to_openai())
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"retry-after", b"1"),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def watch_signals(runtime: Runtime) -> Callable[[], None]:
    """Set ``runtime.draining`` on SIGTERM or SIGINT, then hand the signal on to the server's own
    handler (uvicorn's, which starts its graceful shutdown). Returns a function that undoes it.

    Only the main thread may set signal handlers; elsewhere (a server run in a test thread)
    this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, Any] = {}

    def on_signal(sig: int, frame: FrameType | None) -> None:
        if not runtime.draining:
            runtime.draining = True
            log.info("draining: refusing new requests, finishing those in flight")
        handler = previous.get(sig)
        if callable(handler):
            handler(sig, frame)
        elif handler == signal.SIG_DFL and sig == signal.SIGINT:
            raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, on_signal)

    def restore() -> None:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is on_signal:
                signal.signal(sig, handler)

    return restore
