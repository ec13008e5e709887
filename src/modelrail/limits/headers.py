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
    headers: dict[str, str],
    slots: Sequence[Any],
    values: Sequence[int],
    now: float,
    window: float,
    *,
    at: tuple[Sequence[int], Sequence[int]],
) -> None:
    """For requests and tokens, the tightest limit (least remaining) among key, team and model.

    ``at``: where among ``slots`` (and ``values``) the request limits and the token limits are.
    """
    reset: str | None = None
    for where, suffix in zip(at, ("requests", "tokens"), strict=True):
        best: tuple[int, int] | None = None
        for i in where:
            limit = slots[i].limit
            left = max(0, limit - values[i])
            if best is None or left < best[1]:
                best = (limit, left)
        if best is not None:
            if reset is None:
                reset = duration(window - now % window)
            headers["x-ratelimit-limit-" + suffix] = str(best[0])
            headers["x-ratelimit-remaining-" + suffix] = str(best[1])
            headers["x-ratelimit-reset-" + suffix] = reset
