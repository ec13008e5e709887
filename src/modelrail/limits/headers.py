"""OpenAI's rate-limit response headers, from the counters a reservation returned."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def duration(seconds: float) -> str:
    """Go-style durations as OpenAI sends them: ``"1s"``, ``"6m0s"``, ``"250ms"``, ``"20h3m0s"``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, secs = divmod(round(seconds), 60)
    if minutes >= 60:
        hours, minutes = divmod(minutes, 60)
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def set_rate_headers(
    headers: dict[str, str],
    slots: Sequence[Any],
    values: Sequence[int],
    now: float,
    *,
    at: tuple[Sequence[int], Sequence[int]],
) -> None:
    """For requests and tokens, the tightest limit (least remaining) among key, team and model and
    among their windows (a day's limit can bind before a minute's); its reset is its own window's end.

    ``at``: where among ``slots`` (and ``values``) the request limits and the token limits are. A
    slot has ``limit`` and ``window`` (seconds).
    """
    window = 0.0
    reset = ""
    for where, suffix in zip(at, ("requests", "tokens"), strict=True):
        best: tuple[int, int, float] | None = None
        for i in where:
            slot = slots[i]
            limit = slot.limit
            left = max(0, limit - values[i])
            if best is None or left < best[1]:
                best = (limit, left, slot.window)
        if best is not None:
            if best[2] != window:  # the same string for both headers when the windows agree
                window = best[2]
                reset = duration(window - now % window)
            headers["x-ratelimit-limit-" + suffix] = str(best[0])
            headers["x-ratelimit-remaining-" + suffix] = str(best[1])
            headers["x-ratelimit-reset-" + suffix] = reset
