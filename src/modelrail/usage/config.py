"""The ``pricing:`` and ``ledger:`` config sections."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class Price(BaseModel):
    """USD per 1M tokens. ``cached_input`` defaults to the input price."""

    model_config = ConfigDict(extra="forbid")
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)


class PricingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Keyed by model alias, deployment id ("alias#0") or upstream model id; the most specific wins.
    overrides: dict[str, Price] = Field(default_factory=dict)
    # Providers that run on the operator's own hardware: free unless an override prices them.
    free_providers: list[str] = Field(default_factory=lambda: ["local", "fake"])


class LedgerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    # SQLAlchemy async URL; default: sqlite+aiosqlite in the data directory.
    database_url: str | None = None
    # Append-only journal directory (default: <data_dir>/ledger-journal); replayed at start-up.
    journal_dir: Path | None = None
    # The journal is written and fsynced at least this often (milliseconds).
    fsync_interval_ms: int = Field(default=20, ge=1, le=50)
    # Rows per database insert, and how often the database writer runs.
    batch_size: int = Field(default=500, ge=1)
    flush_interval_ms: int = Field(default=200, ge=1)
