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
    reset = duration(window - now % window)
    for kind, suffix in (("requests", "requests"), ("tokens", "tokens")):
        best: tuple[int, int] | None = None
        for slot, value in zip(slots, values, strict=True):
            if slot.kind != kind:
                continue
            remaining = max(0, slot.limit - value)
            if best is None or remaining < best[1]:
                best = (slot.limit, remaining)
        if best is not None:
            headers[f"x-ratelimit-limit-{suffix}"] = str(best[0])
            headers[f"x-ratelimit-remaining-{suffix}"] = str(best[1])
            headers[f"x-ratelimit-reset-{suffix}"] = reset
