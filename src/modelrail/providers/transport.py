"""The upstream transport: what every HTTP provider shares, so that a provider is translation only.

A :class:`Transport` owns one pooled keep-alive aiohttp session (opened by ``start``, closed by
``close``, both called by the provider's own) and does, for every request:

- the connect deadline (``call.timeouts.connect``; the first-token, idle and total deadlines are
  the router's, providers/deadlines.py, as they bound in-process providers too);
- headers: the provider's (its auth among them, per request if it signs requests), the call's
  ``extra_headers`` under them, and ``x-request-id: call.request_id`` on every attempt;
- the answer: a JSON object (:meth:`post_json`), any body (:meth:`send`), OpenAI-shaped SSE sent on
  as it came (:meth:`sse`), or a provider's own events over SSE or NDJSON (:meth:`events`);
- errors: an HTTP status of 400 or more, or aiohttp's exceptions, become modelrail's errors
  (providers/upstream_errors.py), read through the provider's :class:`ErrorReader`; the upstream's
  ``x-request-id`` is kept on the error (``upstream_request_id``) and on a :class:`Reply`.

This is the hot path of every proxied request: nothing here is computed per request that can be
computed once (URLs and header dicts are the provider's, built at start-up; timeouts are cached),
and a stream costs one await per network read, not per event.

:class:`~modelrail.testing.mock_transport.MockTransport` is the same transport with the network
replaced by a Python function, for translation tests without a server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from modelrail.errors import UpstreamError, UpstreamUnavailable
from modelrail.protocol.base import JSONObject
from modelrail.providers.base import Call
from modelrail.providers.batches import Chunks
from modelrail.providers.readers import (
    MAX_EVENT_BYTES,
    EventFormat,
    ndjson_payload,
    openai_event,
    read_events,
    read_payloads,
    sse_payload,
)
from modelrail.providers.upstream_errors import DEFAULT_ERRORS, ErrorReader, status_error, translate_errors

Headers = Mapping[str, str]


@dataclass(slots=True, frozen=True)
class Reply:
    """A successful answer as it came: for a provider that parses its own bodies."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def request_id(self) -> str | None:
        """The upstream's own id of this request (its ``x-request-id``), if it sent one."""
        return self.headers.get("x-request-id")

    def json(self) -> JSONObject:
        return _json_object(self.body)


class Transport:
    """One provider instance's pooled HTTP client. See the module docstring."""

    def __init__(self, *, max_connections: int = 1000) -> None:
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}

    async def start(self) -> None:
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            limit=self.max_connections, ttl_dns_cache=300, keepalive_timeout=30, enable_cleanup_closed=True
        )
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=None)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=True)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- requests ------------------------------------------------------------------------------

    async def post_json(
        self, url: str, headers: Headers, call: Call, body: JSONObject, errors: ErrorReader = DEFAULT_ERRORS
    ) -> JSONObject:
        """POST ``body`` as JSON; the answer's JSON object."""
        session = self._require_session()
        with translate_errors():
            async with session.post(
                url,
                data=orjson.dumps(body),
                headers=_with_call(headers, call),
                timeout=self._timeout(call.timeouts.connect),
            ) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise status_error(resp.status, raw, resp.headers, errors)
        return _json_object(raw)

    async def send(
        self,
        method: str,
        url: str,
        headers: Headers,
        *,
        call: Call | None = None,
        data: bytes | None = None,
        errors: ErrorReader = DEFAULT_ERRORS,
    ) -> Reply:
        """Any request; the answer as it came (an HTTP status of 400 or more raises)."""
        session = self._require_session()
        timeout = self._timeout(call.timeouts.connect) if call is not None else self._timeout(None)
        with translate_errors():
            async with session.request(
                method,
                url,
                data=data,
                headers=_with_call(headers, call) if call is not None else headers,
                timeout=timeout,
            ) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise status_error(resp.status, raw, resp.headers, errors)
                return Reply(resp.status, resp.headers, raw)

    async def sse(
        self, url: str, headers: Headers, call: Call, body: JSONObject, errors: ErrorReader = DEFAULT_ERRORS
    ) -> AsyncIterator[Chunks]:
        """POST ``body``; the OpenAI-shaped events of each network read, parsed, as one batch that
        keeps them as they came (a read that held no whole event yields nothing). The stream must
        end with ``data: [DONE]``."""
        session = self._require_session()
        with translate_errors():
            async with session.post(
                url,
                data=orjson.dumps(body),
                headers=_with_call(headers, call),
                timeout=self._timeout(call.timeouts.connect),
            ) as resp:
                if resp.status >= 400:
                    raise status_error(resp.status, await resp.read(), resp.headers, errors)
                done = False
                # Split what has arrived into lines here: one await per network read rather than
                # two readline() calls per event (the data line and the blank one).
                pending = b""
                async for data in resp.content.iter_any():
                    lines = (pending + data).split(b"\n") if pending else data.split(b"\n")
                    pending = lines.pop()
                    if len(pending) > MAX_EVENT_BYTES:
                        raise UpstreamError("The upstream sent a stream event over 8 MiB.")
                    batch, done, failed = read_events(lines)
                    if batch:
                        yield batch
                    if failed is not None:
                        raise failed
                    if done:
                        break
                if not done and pending.startswith(b"data:"):
                    # A last event without its line end: as readline() would have returned it.
                    payload = pending[5:].strip()
                    done = payload == b"[DONE]"
                    if not done:
                        yield [openai_event(payload)]
                if not done:
                    raise UpstreamError("The upstream stream ended before it was complete.", retryable=True)

    def events(
        self,
        url: str,
        headers: Headers,
        call: Call,
        body: JSONObject,
        fmt: EventFormat,
        *,
        ndjson: bool = False,
        errors: ErrorReader = DEFAULT_ERRORS,
    ) -> AsyncIterator[Chunks]:
        """POST ``body``; a provider's own stream events (SSE ``data:`` lines, or NDJSON lines with
        ``ndjson``), each made a chunk by ``fmt.parse``, one batch per network read."""
        payload_of = ndjson_payload if ndjson else sse_payload
        return self._events(url, headers, call, body, fmt=fmt, payload_of=payload_of, errors=errors)

    async def _events(
        self,
        url: str,
        headers: Headers,
        call: Call,
        body: JSONObject,
        *,
        fmt: EventFormat,
        payload_of: Callable[[bytes], bytes | None],
        errors: ErrorReader,
    ) -> AsyncIterator[Chunks]:
        session = self._require_session()
        with translate_errors():
            async with session.post(
                url,
                data=orjson.dumps(body),
                headers=_with_call(headers, call),
                timeout=self._timeout(call.timeouts.connect),
            ) as resp:
                if resp.status >= 400:
                    raise status_error(resp.status, await resp.read(), resp.headers, errors)
                done = False
                pending = b""
                async for data in resp.content.iter_any():
                    lines = (pending + data).split(b"\n") if pending else data.split(b"\n")
                    pending = lines.pop()
                    if len(pending) > MAX_EVENT_BYTES:
                        raise UpstreamError("The upstream sent a stream event over 8 MiB.")
                    batch, done, failed = read_payloads(lines, fmt, payload_of)
                    if batch:
                        yield batch
                    if failed is not None:
                        raise failed
                    if done:
                        break
                if not done and pending:
                    batch, done, failed = read_payloads([pending], fmt, payload_of)
                    if batch:
                        yield batch
                    if failed is not None:
                        raise failed
                if not done and fmt.done is not None:
                    raise UpstreamError("The upstream stream ended before it was complete.", retryable=True)

    # -- helpers -------------------------------------------------------------------------------

    def _timeout(self, connect: float | None) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(connect)
        if timeout is None:
            timeout = self._timeouts[connect] = aiohttp.ClientTimeout(sock_connect=connect)
        return timeout

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise UpstreamUnavailable("The upstream client is not started.")
        return self._session


def _with_call(headers: Headers, call: Call) -> dict[str, str]:
    """The provider's headers over the call's extra ones, and the request id on every attempt."""
    if call.extra_headers:
        return {**call.extra_headers, **headers, "x-request-id": call.request_id}
    return {**headers, "x-request-id": call.request_id}


def _json_object(raw: bytes) -> JSONObject:
    try:
        result: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamError("The upstream answered with a body that is not JSON.", retryable=True) from None
    if not isinstance(result, dict):
        raise UpstreamError("The upstream answered with JSON that is not an object.", retryable=True)
    return result
