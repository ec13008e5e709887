"""The ``state:`` config section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # ``memory`` holds counters in the worker process: right for one worker only.
    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Every key modelrail writes starts with this, so several deployments (or test runs) can share a Redis.
    prefix: str = Field(default="modelrail:", min_length=1)
    # With the memory backend, ``serve --workers N`` (N > 1) refuses to start: each worker would
    # enforce every limit and budget alone. Set this to accept that anyway (benchmarks, no limits).
    allow_per_worker: bool = False
