"""The ``limits:`` config section: per-model (alias) limits and reservation defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from modelrail.limits.schema import limits_model


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


if TYPE_CHECKING:

    class RateLimit(_Section):
        """One field per limit of the schema (``modelrail.limits.schema``), built from it below."""

        def __getattr__(self, name: str) -> int | None: ...

else:
    # 0 is allowed here: it switches an alias off.
    RateLimit = limits_model("RateLimit", _Section, minimum=0, module=__name__)


class LimitsSettings(_Section):
    # Keyed by model alias (all of its deployments together) so modelrail stays inside a provider's quota.
    models: dict[str, RateLimit] = Field(default_factory=dict)
    # Output tokens a request is assumed to use when it sets no max_tokens: for TPM reservations...
    expected_output_tokens: int = Field(default=256, ge=0)
    # ...and for budget reservations (the worst case), when it sets none.
    max_output_tokens: int = Field(default=4096, ge=1)
    # A concurrency slot is given back after this long even if a worker died holding it.
    concurrency_ttl_s: float = Field(default=900.0, gt=0)
