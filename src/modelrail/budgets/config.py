"""The ``alerts:`` config section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AlertSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # POSTed a JSON body per alert; without it alerts go to the log only.
    webhook_url: str | None = None
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    retries: int = Field(default=5, ge=0, le=20)
    backoff_s: float = Field(default=0.5, gt=0)
