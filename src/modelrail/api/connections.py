"""Connection guards under the ASGI app: read deadlines (408) and a connection cap per client address.

uvicorn keeps a connection open for as long as its client keeps it: one that sends its headers a
byte at a time, or declares a body it never sends, holds a socket and a parser until it gives up
(slowloris). Nothing above the HTTP parser can see such a connection (the app is only called once
the headers are in), so these guards live in the protocol: a subclass of uvicorn's httptools
protocol, made once at start-up with the server's settings.

- **Header deadline**: from a connection's first byte (or its opening), the request's headers must
  be complete within ``header_timeout`` seconds; else ``408 Request Timeout`` and the connection is
  closed. A kept-alive connection's next request starts a new deadline.
- **Body deadline**: once the headers are in, the whole body must arrive within ``body_timeout``
  seconds. Past it, a request whose response has not started gets a 408 and the connection is
  closed (the app sees the client go away); a response already under way is left alone.
- **Per-address cap**: at most ``max_per_client`` open connections from one client address; a
  connection over the cap is answered 429 and closed at once.

Each guard is one timer handle per request, armed and cancelled with no allocation beyond it.
With no per-address cap, a connection costs one timer more than uvicorn's own protocol.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_COUNTS = "_modelrail_connections_per_client"


def _status(code: int, reason: str, message: str) -> bytes:
    body = message.encode("ascii")
    return (
        f"HTTP/1.1 {code} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode("ascii") + body


_TIMEOUT = _status(408, "Request Timeout", "The request was not received in time.")
_TOO_MANY = _status(429, "Too Many Requests", "Too many open connections from this address.")


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the guards above. Made by :func:`guarded_protocol`."""

    def __init__(
        self,
        *args: Any,
        header_timeout: float = 30.0,
        body_timeout: float = 30.0,
        max_per_client: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.max_per_client = max_per_client
        self._deadline: asyncio.TimerHandle | None = None
        self._counted: str | None = None

    # -- the connection ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.max_per_client is not None and self.client is not None:
            counts = self._counts()
            host = self.client[0]
            if counts.get(host, 0) >= self.max_per_client:
                self.logger.warning("refused a connection from %s: %d already open", host, counts[host])
                transport.write(_TOO_MANY)
                transport.close()
                return
            counts[host] = counts.get(host, 0) + 1
            self._counted = host
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._counted is not None:
            counts = self._counts()
            left = counts.get(self._counted, 1) - 1
            if left > 0:
                counts[self._counted] = left
            else:
                counts.pop(self._counted, None)
            self._counted = None
        super().connection_lost(exc)

    # -- the parser's callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # a kept-alive connection's next request
            self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        self._arm(self.body_timeout)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    # -- the deadline --------------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport is None or self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            return  # the app answered without reading the whole body: uvicorn closes after it
        self.transport.write(_TIMEOUT)
        self.transport.close()

    def _counts(self) -> dict[str, int]:
        # Shared by every connection of this server (one per worker process).
        counts: dict[str, int] | None = getattr(self.server_state, _COUNTS, None)
        if counts is None:
            counts = {}
            setattr(self.server_state, _COUNTS, counts)
        return counts


def guarded_protocol(
    *, header_timeout: float, body_timeout: float, max_per_client: int | None
) -> type[GuardedProtocol]:
    """The protocol "class" for ``uvicorn.Config(http=...)``, with these settings: a partial of
    :class:`GuardedProtocol`, which (unlike a class made at run time) pickles, as uvicorn needs
    to hand its config to worker processes."""
    made = functools.partial(
        GuardedProtocol, header_timeout=header_timeout, body_timeout=body_timeout, max_per_client=max_per_client
    )
    return cast("type[GuardedProtocol]", made)
