"""A circuit breaker per deployment: closed -> open -> half-open -> closed.

Closed, calls flow and outcomes are counted in a fixed window; when enough of them fail the
breaker opens and refuses calls for ``cooldown`` seconds. Then it is half-open: a few probe calls
go through, and the first outcome decides (success closes it, failure opens it again).

The state lives behind :class:`BreakerStore` so that every replica agrees: in memory for one
process, in Redis for several. The transition rules are written once here, in
:func:`transition`, and mirrored by the Redis store's Lua scripts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal, Protocol

from modelrail.errors import StateUnavailable
from modelrail.router.config import BreakerSettings
from modelrail.state.config import StateSettings

State = Literal["closed", "open", "half_open"]

log = logging.getLogger("modelrail.router")


@dataclass(slots=True)
class BreakerState:
    state: State = "closed"
    # Start of the counting window (closed), or the time the next probe may go (open, half-open).
    window_start: float = 0.0
    calls: int = 0
    failures: int = 0
    until: float = 0.0
    probes: int = 0
    opened: int = 0  # how many times it has opened, for the admin view

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class BreakerStore(Protocol):
    """Atomic breaker operations. ``now`` is wall-clock seconds, so replicas share a time base."""

    async def allow(self, key: str, now: float) -> bool:
        """May a call go to this deployment now? In half-open, taking a probe slot."""
        ...

    async def record(self, key: str, ok: bool, now: float) -> State:
        """Count one outcome and return the state after it."""
        ...

    async def snapshot(self, key: str, now: float) -> BreakerState: ...

    async def close(self) -> None: ...


def allow(st: BreakerState, cfg: BreakerSettings, now: float) -> bool:
    if st.state == "closed":
        return True
    if now < st.until:
        if st.state == "half_open" and st.probes < cfg.half_open_probes:
            st.probes += 1
            return True
        return False
    # Open past its cooldown, or half-open whose probes never reported back: probe again.
    st.state, st.probes, st.until = "half_open", 1, now + cfg.cooldown
    return True


def transition(st: BreakerState, cfg: BreakerSettings, ok: bool, now: float) -> None:
    if st.state == "half_open":
        if ok:
            st.state, st.calls, st.failures, st.window_start, st.probes = "closed", 0, 0, now, 0
        else:
            _open(st, cfg, now)
        return
    if st.state == "open":
        return  # a late answer from before it opened changes nothing
    if now - st.window_start >= cfg.window:
        st.window_start, st.calls, st.failures = now, 0, 0
    st.calls += 1
    if not ok:
        st.failures += 1
        if (
            st.calls >= cfg.min_requests
            and st.failures >= cfg.min_failures
            and st.failures >= cfg.error_rate * st.calls
        ):
            _open(st, cfg, now)


def _open(st: BreakerState, cfg: BreakerSettings, now: float) -> None:
    st.state, st.until, st.probes, st.calls, st.failures = "open", now + cfg.cooldown, 0, 0, 0
    st.opened += 1


class MemoryBreakerStore:
    """One process's breakers. Operations never await, so each is atomic on the event loop."""

    def __init__(self, settings: BreakerSettings) -> None:
        self.settings = settings
        self._states: dict[str, BreakerState] = {}

    def _get(self, key: str, now: float) -> BreakerState:
        st = self._states.get(key)
        if st is None:
            st = self._states[key] = BreakerState(window_start=now)
        return st

    async def allow(self, key: str, now: float) -> bool:
        return allow(self._get(key, now), self.settings, now)

    async def record(self, key: str, ok: bool, now: float) -> State:
        st = self._get(key, now)
        transition(st, self.settings, ok, now)
        return st.state

    async def snapshot(self, key: str, now: float) -> BreakerState:
        st = self._get(key, now)
        return BreakerState(**asdict(st))

    async def close(self) -> None:
        return None


class Breakers:
    """The router's face of the store: disabled breakers always allow, and a store that fails
    (Redis down) fails open, because refusing every call would turn a state outage into a full one."""

    def __init__(self, settings: BreakerSettings, store: BreakerStore, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.store = store
        self._clock = clock
        self._store_down = False

    async def allow(self, key: str) -> bool:
        if not self.settings.enabled:
            return True
        try:
            allowed = await self.store.allow(key, self._clock())
        except (StateUnavailable, OSError, TimeoutError) as exc:
            self._down(exc)
            return True
        self._store_down = False
        return allowed

    async def record(self, key: str, ok: bool) -> None:
        if not self.settings.enabled:
            return
        try:
            await self.store.record(key, ok, self._clock())
        except (StateUnavailable, OSError, TimeoutError) as exc:
            self._down(exc)

    def _down(self, exc: BaseException) -> None:
        # Once per outage, not once per request.
        if not self._store_down:
            self._store_down = True
            log.warning("breaker store unavailable (%s): breakers let every call through until it is back", exc)

    async def snapshot(self, key: str) -> BreakerState:
        return await self.store.snapshot(key, self._clock())

    async def close(self) -> None:
        await self.store.close()


def build_store(settings: BreakerSettings, state: StateSettings | None = None) -> BreakerStore:
    """The configured store; with ``store`` unset, the shared state's backend and Redis URL."""
    kind = settings.store or (state.backend if state is not None else "memory")
    if kind == "redis":
        from modelrail.router.breaker_redis import RedisBreakerStore

        url = settings.redis_url or (state.redis_url if state is not None else None) or "redis://127.0.0.1:6379/0"
        return RedisBreakerStore(settings.model_copy(update={"store": "redis", "redis_url": url}))
    return MemoryBreakerStore(settings)
