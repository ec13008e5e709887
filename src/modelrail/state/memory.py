"""The in-process backend: exact for one worker process, and the fastest.

Every method runs without awaiting inside, so on one event loop each call is atomic.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from modelrail.state.base import Check, Denied

# Expired entries are dropped lazily on access, and in a sweep every this many writes.
_SWEEP_EVERY = 4096


class MemoryState:
    def __init__(self, prefix: str = "modelrail:", clock: Callable[[], float] = time.monotonic) -> None:
        self.prefix = prefix
        self._clock = clock
        self._values: dict[str, tuple[int | str, float | None]] = {}
        self._writes = 0

    def _live(self, key: str, now: float) -> int | str | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        expires = entry[1]
        if expires is not None and expires <= now:
            del self._values[key]
            return None
        return entry[0]

    def _apply(self, keys: Sequence[str], checks: Sequence[Check], now: float) -> list[int]:
        """Add each check's amount to its key, in order (a key named twice adds twice)."""
        values = self._values
        out: list[int] = []
        for key, c in zip(keys, checks, strict=True):
            entry = values.get(key)
            if entry is None or (entry[1] is not None and entry[1] <= now):
                new, expires = c.amount, (None if c.ttl is None else now + c.ttl)
            else:
                new = int(entry[0]) + c.amount
                expires = entry[1] if entry[1] is not None or c.ttl is None else now + c.ttl
            values[key] = (new, expires)
            out.append(new)
        self._writes += len(out)
        if self._writes >= _SWEEP_EVERY:
            self._writes = 0
            self._sweep(now)
        return out

    def _sweep(self, now: float) -> None:
        dead = [k for k, (_, exp) in self._values.items() if exp is not None and exp <= now]
        for k in dead:
            del self._values[k]

    def _remaining(self, key: str, now: float) -> float | None:
        entry = self._values.get(key)
        if entry is None or entry[1] is None:
            return None
        return max(0.0, entry[1] - now)

    async def reserve(self, checks: Sequence[Check]) -> list[int] | Denied:
        now = self._clock()
        p = self.prefix
        values = self._values
        keys = [p + c.key for c in checks]
        # One lookup per counter: check each against its current value, keep what to write.
        writes: list[tuple[str, tuple[int, float | None]]] = []
        for i, (key, (_, amount, limit, ttl)) in enumerate(zip(keys, checks, strict=True)):
            entry = values.get(key)
            if entry is None or (entry[1] is not None and entry[1] <= now):
                current, expires = 0, (None if ttl is None else now + ttl)
            else:
                current = int(entry[0])
                expires = entry[1] if entry[1] is not None or ttl is None else now + ttl
            if limit is not None and current + amount > limit:
                return Denied(i, current, self._remaining(key, now))
            writes.append((key, (current + amount, expires)))
        if len(set(keys)) < len(keys):
            return self._apply(keys, checks, now)  # a counter named twice adds twice, in order
        values.update(writes)
        self._writes += len(writes)
        if self._writes >= _SWEEP_EVERY:
            self._writes = 0
            self._sweep(now)
        return [new for _, (new, _) in writes]

    async def adjust(self, deltas: Sequence[Check]) -> list[int]:
        p = self.prefix
        return self._apply([p + d.key for d in deltas], deltas, self._clock())

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        full = self.prefix + key
        return self._apply([full], [Check(full, amount, None, ttl)], self._clock())[0]

    async def get(self, key: str) -> str | None:
        value = self._live(self.prefix + key, self._clock())
        return None if value is None else str(value)

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        now = self._clock()
        self._values[self.prefix + key] = (value, None if ttl is None else now + ttl)
        self._writes += 1

    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        now = self._clock()
        if self._live(self.prefix + key, now) is not None:
            return False
        await self.set(key, value, ttl)
        return True

    async def delete_prefix(self, prefix: str) -> int:
        full = self.prefix + prefix
        doomed = [k for k in self._values if k.startswith(full)]
        for k in doomed:
            del self._values[k]
        return len(doomed)

    async def close(self) -> None:
        return None
