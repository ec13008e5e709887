"""What goes into and comes out of the key store: the admin API's bodies and the CLI's rows.

A secret appears in exactly one shape, :class:`KeyCreated`, returned once when a key is created
or rotated.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelrail.limits.schema import limits_model

KeyKind = Literal["regular", "admin"]
KeyEnv = Literal["dev", "staging", "prod"]
KeyStatus = Literal["active", "revoked", "expired"]
# The endpoint table's scope names (endpoints.SCOPES), spelled out for the OpenAPI enum; a test keeps them equal.
KeyEndpoint = Literal["chat", "completions", "embeddings", "messages"]
Period = Literal["day", "month", "total"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


if TYPE_CHECKING:

    class LimitsIn(_Body):
        """One field per limit of the schema (``modelrail.limits.schema``), built from it below."""

        def __getattr__(self, name: str) -> int | None: ...

else:
    # The limits of a key or a team, in and out. 0 is refused: it would refuse every request.
    LimitsIn = limits_model("LimitsIn", _Body, minimum=1, module=__name__)


class BudgetIn(_Body):
    usd: float = Field(ge=0, description="Dollars per period.")
    period: Period = "month"
    alert_thresholds: list[float] = Field(default_factory=lambda: [0.5, 0.8, 1.0])

    @field_validator("alert_thresholds")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if any(not 0 < v <= 10 for v in value):
            raise ValueError("alert thresholds are fractions of the budget, e.g. 0.8")
        return sorted(set(value))


class TeamCreate(_Body):
    name: str = Field(min_length=1, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)
    limits: LimitsIn = Field(default_factory=LimitsIn)
    budget: BudgetIn | None = None


class TeamUpdate(_Body):
    """Fields left out stay as they are; ``"budget": null`` removes the budget."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[str, Any] | None = None
    limits: LimitsIn | None = None
    budget: BudgetIn | None = None


class TeamView(BaseModel):
    id: str
    name: str
    metadata: dict[str, Any]
    limits: LimitsIn
    budget: BudgetIn | None
    created_at: datetime
    updated_at: datetime


def _check_patterns(value: list[str]) -> list[str]:
    cleaned = [v.strip() for v in value]
    if any(not v for v in cleaned):
        raise ValueError("model patterns must not be empty")
    return cleaned


class KeyCreate(_Body):
    name: str = Field(min_length=1, max_length=200)
    team: str | None = Field(default=None, description="Team id or name. Required for regular keys.")
    kind: KeyKind = "regular"
    env: KeyEnv = "dev"
    models: list[str] = Field(default_factory=list, description="Model aliases or glob patterns; empty: all.")
    endpoints: list[KeyEndpoint] = Field(default_factory=list, description="Allowed endpoints; empty: all.")
    max_tokens: int | None = Field(default=None, ge=1, description="Cap on the output tokens a request may ask for.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    expires_at: datetime | None = None
    expires_in_seconds: int | None = Field(default=None, ge=1)
    limits: LimitsIn = Field(default_factory=LimitsIn)
    budget: BudgetIn | None = None

    @field_validator("models")
    @classmethod
    def _models(cls, value: list[str]) -> list[str]:
        return _check_patterns(value)


class KeyUpdate(_Body):
    """Fields left out stay as they are; ``null`` clears ``max_tokens``, ``expires_at`` or ``budget``."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    env: KeyEnv | None = None
    models: list[str] | None = None
    endpoints: list[KeyEndpoint] | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    metadata: dict[str, Any] | None = None
    expires_at: datetime | None = None
    limits: LimitsIn | None = None
    budget: BudgetIn | None = None

    @field_validator("models")
    @classmethod
    def _models(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_patterns(value)


class RotateRequest(_Body):
    grace_seconds: int = Field(default=0, ge=0, le=30 * 86400, description="How long the old secret keeps working.")


class KeyView(BaseModel):
    id: str
    name: str
    team_id: str | None
    team: str | None
    kind: KeyKind
    env: KeyEnv
    status: KeyStatus
    display: str
    models: list[str]
    endpoints: list[str]
    max_tokens: int | None
    metadata: dict[str, Any]
    limits: LimitsIn
    budget: BudgetIn | None
    expires_at: datetime | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_by: str | None


class KeyCreated(KeyView):
    secret: str = Field(description="The key itself. Shown only now: modelrail keeps only a hash of it.")
    previous_valid_until: datetime | None = Field(
        default=None, description="After a rotation: when the previous secret stops working."
    )


class AuditView(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
