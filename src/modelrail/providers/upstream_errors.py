"""Reading an upstream's error: its message, and how long it asks us to wait."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

import orjson

_MAX_MESSAGE = 500


def error_message(body: bytes) -> str:
    """The upstream's own error message, shortened; never the raw body of a non-JSON page."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "no error details"
    msg: object = None
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("code") or err.get("type")
        elif isinstance(err, str):
            msg = err
        if msg is None:
            msg = data.get("message") or data.get("detail")
    text = str(msg) if msg else "no error details"
    return text[:_MAX_MESSAGE]


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``retry-after`` (seconds or HTTP date), or
    OpenAI's ``x-ratelimit-reset-requests``/``-tokens`` (durations such as ``1s``, ``6m0s``, ``20ms``)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if ra:
        try:
            return max(0.0, float(ra))
        except ValueError:
            when = email.utils.parsedate_to_datetime(ra) if ra else None
            if when is not None:
                return max(0.0, when.timestamp() - time.time())
    resets = [parse_duration(headers.get(h, "")) for h in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")]
    known = [r for r in resets if r is not None]
    return max(known) if known else None


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
        total += float(num) * units[unit]
        num = ""
        i += len(unit)
    return total if not num else None
