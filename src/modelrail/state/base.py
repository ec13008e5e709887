"""The shared-state interface.

Everything that must hold across workers and replicas goes through these few primitives:

- :meth:`StateBackend.reserve`: check several integer counters against their limits and, only if
  every one has room, add to all of them, atomically. Rate limits (a counter per fixed window),
  concurrency (a counter without window) and budgets (a counter per budget period) are all this.
- :meth:`StateBackend.adjust`: add (or subtract) to counters without a check, to correct a
  reservation to what was used. Returns the new values.
- :meth:`StateBackend.get` / :meth:`StateBackend.set` / :meth:`StateBackend.set_if_absent`: small
  values with a time to live, e.g. a circuit breaker's state, or "alert already sent".
- :meth:`StateBackend.incr`: a windowed counter (``incr`` with a ttl on a key that names the
  window), e.g. failures per deployment per 10 s for a breaker.

Keys are given without the configured prefix; the backend adds it. Amounts are integers: money is
counted in nano-dollars so that Redis' integer commands stay exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol


# NamedTuples, not frozen dataclasses: a request builds a dozen of these, and tuples are cheaper.
class Check(NamedTuple):
    key: str
    amount: int
    # ``None``: count only, never refuse.
    limit: int | None
    # Seconds the counter lives from its first increment (the window), or ``None`` for no expiry.
    ttl: float | None = None


class Denied(NamedTuple):
    """Which check refused, the counter's value, and seconds until its window ends (None: no window)."""

    at: int
    current: int
    retry_after: float | None


class StateBackend(Protocol):
    async def reserve(self, checks: Sequence[Check]) -> list[int] | Denied:
        """All-or-nothing: the counters' new values, or which check has no room (nothing changed)."""
        ...

    async def adjust(self, deltas: Sequence[Check]) -> list[int]:
        """Add each ``amount`` (``limit`` ignored); a ttl applies only where the key had none."""
        ...

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int: ...

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, ttl: float | None = None) -> None: ...

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        """True if this call set the key (it was absent): one winner across all workers."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix`` (after the configured one). For tests and resets."""
        ...

    async def close(self) -> None: ...
