"""The ``limits:`` config section: per-model (deployment) limits and reservation defaults."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rpm: int | None = Field(default=None, ge=0)
    tpm: int | None = Field(default=None, ge=0)
    max_concurrency: int | None = Field(default=None, ge=0)


class LimitsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Keyed by model alias (all of its deployments together) so modelrail stays inside a provider's quota.
    models: dict[str, RateLimit] = Field(default_factory=dict)
    # Output tokens a request is assumed to use when it sets no max_tokens: for TPM reservations...
    expected_output_tokens: int = Field(default=256, ge=0)
    # ...and for budget reservations (the worst case), when it sets none.
    max_output_tokens: int = Field(default=4096, ge=1)
    # A concurrency slot is given back after this long even if a worker died holding it.
    concurrency_ttl_s: float = Field(default=900.0, gt=0)
