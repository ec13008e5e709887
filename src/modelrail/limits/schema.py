"""The limits schema: every rate limit a key, a team or a model alias can have, declared once.

Everything else is derived from :data:`LIMITS`: the principal's :class:`~modelrail.auth.principal.Limits`,
the admin API's bodies (``modelrail.store.views``, hence ``/admin/v1/openapi.json``), the store's
columns, the ``limits.models`` config section, the CLI's options, admission's checks and their
state keys, the text of a 429 and the ``x-ratelimit-*`` headers.

Adding a limit is one entry here plus an Alembic revision that adds its column to ``teams`` and
``api_keys`` (a test compares the migrated database with the models). Names are public (JSON
fields, config keys, CLI options, column names): never rename one. A name is a Python identifier
other than ``values`` and ``items`` (attributes of ``Limits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

Unit = Literal["requests", "tokens", "concurrency"]
Window = Literal["minute", "hour", "day"]

# Fixed windows, aligned on the epoch (so a day is a UTC calendar day).
WINDOW_SECONDS: dict[Window, float] = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}
# How a window's counter is named in the shared state. The minute's is empty so the keys of the
# first limits (``rl:k:<id>:r:<minute>``) stay what they were.
_WINDOW_TAG: dict[Window, str] = {"minute": "", "hour": "h", "day": "d"}
_UNIT_TAG: dict[Unit, str] = {"requests": "r", "tokens": "t", "concurrency": "c"}


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """One limit: a counter of ``unit`` per fixed ``window`` (``None``: in flight, for concurrency)."""

    name: str
    unit: Unit
    window: Window | None
    description: str

    @property
    def seconds(self) -> float:
        """The window's length; 0 for a limit without one."""
        return WINDOW_SECONDS[self.window] if self.window is not None else 0.0

    @property
    def tag(self) -> str:
        """The counter's name in the shared state, after ``rl:<scope>:<id>:``."""
        return _UNIT_TAG[self.unit] + (_WINDOW_TAG[self.window] if self.window is not None else "")

    @property
    def phrase(self) -> str:
        """What the limit counts, for a refusal: "requests per minute", "concurrent requests"."""
        if self.window is None:
            return "concurrent requests"
        return f"{self.unit} per {self.window}"


LIMITS: tuple[LimitSpec, ...] = (
    LimitSpec("rpm", "requests", "minute", "Requests per minute."),
    LimitSpec("tpm", "tokens", "minute", "Tokens per minute."),
    LimitSpec("max_concurrency", "concurrency", None, "Requests in flight at once."),
    LimitSpec("rph", "requests", "hour", "Requests per hour (a fixed clock hour, UTC)."),
    LimitSpec("tph", "tokens", "hour", "Tokens per hour (a fixed clock hour, UTC)."),
    LimitSpec("rpd", "requests", "day", "Requests per day (a UTC calendar day)."),
    LimitSpec("tpd", "tokens", "day", "Tokens per day (a UTC calendar day)."),
)

NAMES: tuple[str, ...] = tuple(s.name for s in LIMITS)
BY_NAME: dict[str, LimitSpec] = {s.name: s for s in LIMITS}
INDEX: dict[str, int] = {s.name: i for i, s in enumerate(LIMITS)}


def limits_model(name: str, base: type[BaseModel], *, minimum: int, module: str) -> type[BaseModel]:
    """A pydantic model with one optional integer field per limit (``None``: no limit).

    ``minimum`` is the smallest value accepted: 1 in the admin API (0 would refuse everything, so
    it is more likely a mistake there), 0 in the config file (a way to switch an alias off).
    """
    fields: dict[str, Any] = {
        s.name: (int | None, Field(default=None, ge=minimum, description=s.description)) for s in LIMITS
    }
    return create_model(name, __base__=base, __module__=module, **fields)


def values_of(source: Any) -> dict[str, int | None]:
    """Each limit's value read from any object with one attribute per limit (a row, a model)."""
    return {name: getattr(source, name) for name in NAMES}


__all__ = [
    "BY_NAME",
    "INDEX",
    "LIMITS",
    "NAMES",
    "WINDOW_SECONDS",
    "LimitSpec",
    "Unit",
    "Window",
    "limits_model",
    "values_of",
]
