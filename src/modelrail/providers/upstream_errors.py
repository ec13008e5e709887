"""An upstream's errors in modelrail's tree: the HTTP status of an answer, or aiohttp's exception,
becomes an :class:`~modelrail.errors.UpstreamError` subclass here and nowhere else.

A provider reads its own error bodies through an :class:`ErrorReader` (the hook: its message, its
code, and whether the code says the context window was exceeded); the rest (Retry-After, the
status classes, the upstream's request id) is the same for every HTTP upstream.
"""

from __future__ import annotations

import contextlib
import email.utils
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import aiohttp
import orjson

from modelrail.errors import (
    ContextWindowExceeded,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from modelrail.observability.secrets import SecretScrubber

_MAX_MESSAGE = 500
_NO_DETAILS = "no error details"


@dataclass(slots=True, frozen=True)
class ErrorBody:
    """What an error body says: its message (shortened) and its machine-readable code, if any."""

    message: str
    code: str | None = None


class ErrorReader:
    """How one provider's error bodies read: the per-provider hook of :func:`status_error`.

    The default reads OpenAI's shape (``{"error": {"message", "code", "type"}}``, or a bare
    ``message``/``detail``), which most upstreams share, and finds no context-window errors. A
    provider with another shape overrides :meth:`read`; one whose errors carry a context-window
    code overrides :meth:`context_window`. ``secrets`` are the provider's own credentials: the
    message is shown to the client, so they (and anything shaped like a credential, which an
    upstream that echoes its request's headers would show) are taken out of it.
    """

    __slots__ = ("scrub",)

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.scrub = SecretScrubber(secrets, max_chars=_MAX_MESSAGE)

    def read(self, body: bytes) -> ErrorBody:
        return error_body(body)

    def context_window(self, status: int, error: ErrorBody) -> bool:
        """Whether a 4xx answer says the request did not fit the model's context window."""
        return False


DEFAULT_ERRORS = ErrorReader()


def error_body(body: bytes) -> ErrorBody:
    """The message and code of an OpenAI-shaped error body; never the raw body of a non-JSON page."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ErrorBody(_NO_DETAILS)
    msg: object = None
    code: object = None
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            code = err.get("code")
            msg = err.get("message") or code or err.get("type")
        elif isinstance(err, str):
            msg = err
        if msg is None:
            msg = data.get("message") or data.get("detail")
    text = str(msg) if msg else _NO_DETAILS
    return ErrorBody(text[:_MAX_MESSAGE], code if isinstance(code, str) else None)


def error_message(body: bytes) -> str:
    """The upstream's own error message, shortened; never the raw body of a non-JSON page."""
    return error_body(body).message


def status_error(status: int, body: bytes, headers: Mapping[str, str], errors: ErrorReader) -> UpstreamError:
    """The error for an upstream's answer with HTTP ``status`` (400 or more)."""
    exc = _status_error(status, body, headers, errors)
    exc.upstream_request_id = headers.get("x-request-id")
    return exc


def _status_error(status: int, body: bytes, headers: Mapping[str, str], errors: ErrorReader) -> UpstreamError:
    error = errors.read(body)
    message = errors.scrub(error.message)
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
        if errors.context_window(status, error):
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


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
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


# The longest wait an upstream's Retry-After is believed for: a larger (or infinite) one is capped.
MAX_RETRY_AFTER = 3600.0


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``retry-after`` (seconds or HTTP date), or
    OpenAI's ``x-ratelimit-reset-requests``/``-tokens`` (durations such as ``1s``, ``6m0s``, ``20ms``).

    Whatever the upstream sends, the answer is None or a finite number from 0 to
    ``MAX_RETRY_AFTER``: ``inf``, ``nan``, ``soon-ish`` or a date in year 10000 are not a crash."""
    ms = _seconds(headers.get("retry-after-ms"), 0.001)
    if ms is not None:
        return ms
    ra = headers.get("retry-after")
    if ra:
        seconds = _seconds(ra, 1.0)
        if seconds is not None:
            return seconds
        try:
            when = email.utils.parsedate_to_datetime(ra)
            return _bounded(when.timestamp() - time.time())
        except (ValueError, TypeError, OverflowError, IndexError):
            pass
    resets = [parse_duration(headers.get(h, "")) for h in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")]
    known = [_bounded(r) for r in resets if r is not None and not math.isnan(r)]
    return max(known) if known else None


def _seconds(text: str | None, unit: float) -> float | None:
    if not text:
        return None
    try:
        value = float(text) * unit
    except ValueError:
        return None
    return None if math.isnan(value) else _bounded(value)


def _bounded(seconds: float) -> float:
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


def parse_duration(text: str) -> float | None:
    """``1h2m3.5s``, ``20ms``, ``6m0s`` or a bare number of seconds."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    total, num = 0.0, ""
    i = 0
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not num:
            return None
        try:
            total += float(num) * units[unit]
        except ValueError:  # "1.2.3s"
            return None
        num = ""
        i += len(unit)
    return total if not num else None
