"""Budget periods: calendar day and month in UTC, or the whole lifetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Counters outlive their period by this much, so a late settle still lands on its own period.
_MARGIN = 3600.0


def period_of(period: str, now: float) -> tuple[str, float | None, float | None]:
    """(period id, counter ttl in seconds, seconds until the period ends); ``None`` for ``total``."""
    if period == "total":
        return "total", None, None
    t = datetime.fromtimestamp(now, UTC)
    if period == "day":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)
        pid = start.strftime("%Y-%m-%d")
    else:
        start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=32)).replace(day=1)
        pid = start.strftime("%Y-%m")
    left = (end - t).total_seconds()
    return pid, left + _MARGIN, left


def period_start(period: str, now: float) -> float | None:
    """The period's start as a Unix time (for ledger queries); ``None`` for ``total``."""
    if period == "total":
        return None
    t = datetime.fromtimestamp(now, UTC)
    start = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        start = start.replace(day=1)
    return start.timestamp()
