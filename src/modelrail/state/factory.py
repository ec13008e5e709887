"""Build the configured backend."""

from __future__ import annotations

from modelrail.state.base import StateBackend
from modelrail.state.config import StateSettings
from modelrail.state.memory import MemoryState


def build_state(settings: StateSettings) -> StateBackend:
    if settings.backend == "redis":
        from modelrail.state.redis import RedisState

        return RedisState(settings.redis_url, settings.prefix)
    return MemoryState(settings.prefix)
