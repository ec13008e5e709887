"""Graceful drain: after SIGTERM, refuse new requests with 503 while in-flight ones finish.

uvicorn already stops accepting connections on SIGTERM, closes idle keep-alive connections and
waits up to ``server.graceful_timeout`` for open responses (streams included) before exiting.
What it cannot do is refuse a new request that arrives on a connection it still holds open;
the dispatcher (api/pipeline.py) does, in the route's error dialect, once :func:`watch_signals`
has seen the signal and set ``draining``.
``/readyz`` reports draining too, so a load balancer takes the replica out of rotation.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from modelrail.errors import Overloaded
from modelrail.runtime import Runtime

log = logging.getLogger("modelrail")


def refusal() -> Overloaded:
    """What a draining server answers (probes excepted: /readyz is how the drain is seen from outside)."""
    return Overloaded(
        "The server is shutting down; retry on another replica.",
        headers={"connection": "close", "retry-after": "1"},
    )


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
