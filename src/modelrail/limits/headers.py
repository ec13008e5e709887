"""OpenAI's rate-limit response headers, from the counters a reservation returned."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def duration(seconds: float) -> str:
    """Go-style durations as OpenAI sends them: ``"1s"``, ``"6m0s"``, ``"250ms"``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def set_rate_headers(
    headers: dict[str, str], slots: Sequence[Any], values: Sequence[int], now: float, window: float
) -> None:
    """For requests and tokens, the tightest limit (least remaining) among key, team and model."""
    requests: tuple[int, int] | None = None
    tokens: tuple[int, int] | None = None
    for slot, value in zip(slots, values, strict=True):
        kind = slot.kind
        if kind == "requests":
            left = max(0, slot.limit - value)
            if requests is None or left < requests[1]:
                requests = (slot.limit, left)
        elif kind == "tokens":
            left = max(0, slot.limit - value)
            if tokens is None or left < tokens[1]:
                tokens = (slot.limit, left)
    if requests is None and tokens is None:
        return
    reset = duration(window - now % window)
    if requests is not None:
        headers["x-ratelimit-limit-requests"] = str(requests[0])
        headers["x-ratelimit-remaining-requests"] = str(requests[1])
        headers["x-ratelimit-reset-requests"] = reset
    if tokens is not None:
        headers["x-ratelimit-limit-tokens"] = str(tokens[0])
        headers["x-ratelimit-remaining-tokens"] = str(tokens[1])
        headers["x-ratelimit-reset-tokens"] = reset
