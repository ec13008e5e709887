"""Any OpenAI-compatible upstream: OpenAI, vLLM, Ollama, llama.cpp server, Together, Groq, Mistral.

The request body is forwarded as the client sent it (with ``model`` replaced), so fields modelrail
does not model still reach the upstream. Each provider instance holds one pooled keep-alive
aiohttp session, opened at start-up. aiohttp's errors are translated into modelrail's error tree
in one place, :func:`_translate_errors`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import orjson
from pydantic import AnyHttpUrl, Field, field_validator

from modelrail.errors import (
    ContextWindowExceeded,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from modelrail.protocol.base import JSONObject
from modelrail.providers.base import Call, Provider, ProviderConfig
from modelrail.providers.batches import Chunks, Events
from modelrail.providers.upstream_errors import error_message, retry_after_seconds

# An event larger than this (no line end in sight) is an upstream fault, not something to buffer.
_MAX_EVENT_BYTES = 8 * 1024 * 1024


class OpenAIConfig(ProviderConfig):
    api_base: AnyHttpUrl = AnyHttpUrl("https://api.openai.com/v1")
    api_key: str | None = None
    organization: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    max_connections: int = Field(default=1000, ge=1)
    # Ask the upstream for a usage chunk on every stream, so a stream is billed from the
    # upstream's own count; turn off for servers that reject ``stream_options``.
    stream_usage: bool = True

    @field_validator("api_base")
    @classmethod
    def _no_trailing_slash(cls, v: AnyHttpUrl) -> AnyHttpUrl:
        return AnyHttpUrl(str(v).rstrip("/"))


class OpenAIProvider(Provider):
    kind = "openai"
    config_model = OpenAIConfig

    def __init__(self, config: ProviderConfig) -> None:
        assert isinstance(config, OpenAIConfig)
        super().__init__(config)
        self.cfg = config
        self._base = str(config.api_base).rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        # A user-agent of our own: with none, aiohttp would add its own unless told to skip it, and
        # skipping rebuilds a header multidict on every request (about 5% of a request's CPU).
        self._headers = {"content-type": "application/json", "user-agent": "modelrail", **config.headers}
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        if config.api_key:
            self._headers["authorization"] = f"Bearer {config.api_key}"
        if config.organization:
            self._headers["openai-organization"] = config.organization

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.cfg.max_connections, ttl_dns_cache=300, keepalive_timeout=30, enable_cleanup_closed=True
        )
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=None)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=True)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- calls ---------------------------------------------------------------------------------

    async def chat(self, call: Call) -> JSONObject:
        return await self._post_json("/chat/completions", call, call.body)

    async def completion(self, call: Call) -> JSONObject:
        return await self._post_json("/completions", call, call.body)

    async def embeddings(self, call: Call) -> JSONObject:
        return await self._post_json("/embeddings", call, call.body)

    def stream(self, call: Call) -> AsyncIterator[Chunks]:
        return self._stream("/completions" if call.endpoint == "completions" else "/chat/completions", call)

    async def list_models(self) -> list[JSONObject]:
        session = self._require_session()
        with _translate_errors():
            async with session.get(f"{self._base}/models", headers=self._headers) as resp:
                body = await resp.read()
                if resp.status >= 400:
                    raise _status_error(resp.status, body, resp.headers)
        data = orjson.loads(body).get("data", [])
        return [m for m in data if isinstance(m, dict)]

    # -- transport -----------------------------------------------------------------------------

    async def _post_json(self, path: str, call: Call, body: JSONObject) -> JSONObject:
        session = self._require_session()
        with _translate_errors():
            async with session.post(
                self._base + path,
                data=orjson.dumps(body),
                headers=self._call_headers(call),
                timeout=self._timeout(call.timeouts.connect),
            ) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise _status_error(resp.status, raw, resp.headers)
        try:
            result = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamError("The upstream answered with a body that is not JSON.", retryable=True) from None
        if not isinstance(result, dict):
            raise UpstreamError("The upstream answered with JSON that is not an object.", retryable=True)
        return result

    async def _stream(self, path: str, call: Call) -> AsyncIterator[Chunks]:
        """The events of each network read, parsed, as one batch (a read that held no whole event
        yields nothing)."""
        session = self._require_session()
        body = call.body
        if self.cfg.stream_usage:
            opts = body.get("stream_options") or {}
            if not opts.get("include_usage"):
                body = {**body, "stream_options": {**opts, "include_usage": True}}
        with _translate_errors():
            async with session.post(
                self._base + path,
                data=orjson.dumps(body),
                headers=self._call_headers(call),
                timeout=self._timeout(call.timeouts.connect),
            ) as resp:
                if resp.status >= 400:
                    raise _status_error(resp.status, await resp.read(), resp.headers)
                done = False
                # Split what has arrived into lines here: one await per network read rather than
                # two readline() calls per event (the data line and the blank one).
                pending = b""
                async for data in resp.content.iter_any():
                    lines = (pending + data).split(b"\n") if pending else data.split(b"\n")
                    pending = lines.pop()
                    if len(pending) > _MAX_EVENT_BYTES:
                        raise UpstreamError("The upstream sent a stream event over 8 MiB.")
                    batch, done, failed = _read_events(lines)
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
                        yield [_stream_event(payload)]
                if not done:
                    raise UpstreamError("The upstream stream ended before it was complete.", retryable=True)

    def _timeout(self, connect: float | None) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(connect)
        if timeout is None:
            timeout = self._timeouts[connect] = aiohttp.ClientTimeout(sock_connect=connect)
        return timeout

    def _call_headers(self, call: Call) -> dict[str, str]:
        if not call.extra_headers:
            return self._headers
        return {**call.extra_headers, **self._headers}

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise UpstreamUnavailable("The upstream client is not started.")
        return self._session


def _read_events(lines: list[bytes]) -> tuple[Events, bool, UpstreamError | None]:
    """The events in one network read's lines: the batch, whether ``[DONE]`` came, and the error
    that ended the read early (the events before it are in the batch)."""
    batch = Events()
    payloads: list[bytes] = []
    # Events that cannot be sent on as they came: a carriage return (JSON whitespace, but an SSE
    # line end) would split the event; a usage-only chunk is for clients that asked for it.
    usage_only = 0
    split = False
    for line in lines:
        if not line.startswith(b"data:"):
            continue  # blank separators, comments (": ping"), event: lines
        payload = line[5:].strip()
        if payload == b"[DONE]":
            return _seal(batch, payloads, usage_only, split), True, None
        try:
            chunk = _stream_event(payload)
        except UpstreamError as exc:
            return _seal(batch, payloads, usage_only, split), False, exc
        batch.append(chunk)
        payloads.append(payload)
        if b"\r" in payload:
            split = True
        elif not chunk.get("choices") and "usage" in chunk:
            usage_only += 1
    return _seal(batch, payloads, usage_only, split), False, None


def _seal(batch: Events, payloads: list[bytes], usage_only: int, split: bool) -> Events:
    """Join the events to send on as they came, where they can be (see :class:`Events`)."""
    if not payloads or split or usage_only > 1:
        return batch
    if usage_only:
        last = batch[-1]
        if last.get("choices") or "usage" not in last:
            return batch  # the usage-only chunk is not the last
        batch.usage_sse = b"data: " + payloads.pop() + b"\n\n"
    batch.sse = b"data: " + b"\n\ndata: ".join(payloads) + b"\n\n" if payloads else b""
    return batch


def _stream_event(payload: bytes) -> JSONObject:
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise UpstreamError("The upstream sent a stream event that is not JSON.") from None
    if not isinstance(event, dict):
        raise UpstreamError("The upstream sent a stream event that is not a JSON object.")
    if "error" in event and "choices" not in event:
        raise UpstreamError(f"The upstream failed mid-stream: {error_message(payload)}")
    result: JSONObject = event
    return result


@contextlib.contextmanager
def _translate_errors() -> Iterator[None]:
    """aiohttp's exceptions become modelrail's, here and nowhere else."""
    try:
        yield
    except UpstreamError:
        raise
    except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as exc:
        raise UpstreamUnavailable(f"Could not reach the upstream: {type(exc).__name__}.", retryable=True) from None
    except TimeoutError:
        raise UpstreamTimeout("The upstream did not answer in time.", retryable=True) from None
    except aiohttp.ClientPayloadError:
        raise UpstreamError("The upstream connection broke mid-response.", retryable=True) from None
    except aiohttp.ClientError as exc:
        raise UpstreamError(f"Upstream transport error: {type(exc).__name__}.", retryable=True) from None


def _status_error(status: int, body: bytes, headers: Any) -> UpstreamError:
    message = error_message(body)
    if status == 429:
        wait = retry_after_seconds(headers)
        extra = {"retry-after": str(max(1, round(wait)))} if wait is not None else {}
        return UpstreamRateLimited(
            f"The upstream rate-limited the request: {message}",
            upstream_status=status,
            retryable=True,
            retry_after=wait,
            headers=extra,
        )
    if status in (401, 403):
        # The operator's provider key is at fault, not the client: never a 401 to the client.
        return UpstreamError(f"The upstream refused modelrail's credentials (HTTP {status}).", upstream_status=status)
    if status == 408:
        return UpstreamTimeout("The upstream timed out (HTTP 408).", upstream_status=status, retryable=True)
    if 400 <= status < 500:
        low = message.lower()
        if "context_length_exceeded" in low or "context length" in low or "maximum context" in low:
            return ContextWindowExceeded(message, upstream_status=status)
        return UpstreamBadRequest(f"The upstream rejected the request: {message}", upstream_status=status)
    if status == 504:
        return UpstreamTimeout(f"The upstream timed out (HTTP 504): {message}", upstream_status=status, retryable=True)
    if status == 503:
        return UpstreamUnavailable(
            f"The upstream is unavailable (HTTP 503): {message}",
            upstream_status=status,
            retryable=True,
            retry_after=retry_after_seconds(headers),
        )
    return UpstreamError(f"The upstream failed (HTTP {status}): {message}", upstream_status=status, retryable=True)


PROVIDER = OpenAIProvider
