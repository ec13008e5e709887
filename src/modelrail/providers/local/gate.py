"""A bounded queue in front of a fixed number of slots (llama.cpp's parallel sequences).

At most ``slots`` callers hold a slot, at most ``max_waiting`` wait for one, in arrival order,
and the next caller is refused at once: a request never hangs on a full server. A waiter that is
cancelled leaves the queue without taking a slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque

from modelrail.errors import Overloaded

# Weight of the newest hold time in the running average that Retry-After is derived from.
_EWMA_WEIGHT = 0.2


class SlotGate:
    def __init__(self, slots: int, max_waiting: int, *, what: str = "model") -> None:
        if slots < 1 or max_waiting < 0:
            raise ValueError("slots must be >= 1 and max_waiting >= 0")
        self.slots = slots
        self.max_waiting = max_waiting
        self._what = what
        self._busy = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._avg_hold_s = 1.0
        self._closed = False

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._waiters if not f.done())

    def close(self) -> None:
        """Refuse new callers from now on (shutdown); holders and waiters carry on."""
        self._closed = True

    async def acquire(self) -> None:
        """Take a slot, waiting if all are busy; raise :class:`Overloaded` if the queue is full."""
        if self._closed:
            raise Overloaded(f"The local {self._what} is shutting down.", headers={"Retry-After": "1"})
        if self._busy < self.slots and not self.waiting:
            self._busy += 1
            return
        if self.waiting >= self.max_waiting:
            raise Overloaded(
                f"The local {self._what} is busy: {self._busy} requests running and "
                f"{self.waiting} waiting. Retry shortly.",
                headers={"Retry-After": str(self.retry_after())},
            )
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                # The slot was handed over as the caller gave up: hand it on.
                self.release()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
            raise

    def release(self, held_s: float | None = None) -> None:
        """Give a slot back (to the first waiter, if any). ``held_s`` feeds the Retry-After estimate."""
        if held_s is not None:
            self._avg_hold_s += _EWMA_WEIGHT * (held_s - self._avg_hold_s)
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self._busy -= 1

    def retry_after(self) -> int:
        """Whole seconds until a slot is likely to free up: the average hold time over the slots."""
        return max(1, min(60, math.ceil(self._avg_hold_s / self.slots)))
