"""The ledger table: one row per request. Works on SQLite and PostgreSQL.

``record_id`` is made by modelrail per record (the client may choose its ``x-request-id``, so that
cannot be unique); replaying the journal inserts with ON CONFLICT (record_id) DO NOTHING.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

# BigInteger autoincrement is not a ROWID alias on SQLite; Integer there keeps it one.
_ID = BigInteger().with_variant(Integer(), "sqlite")

usage_ledger = Table(
    "usage_ledger",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("record_id", String(32), nullable=False, unique=True),
    Column("request_id", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("day", String(10), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("key_display", String(64), nullable=False, default=""),
    Column("team_id", String(64), nullable=True),
    Column("endpoint", String(32), nullable=False),
    Column("model", String(200), nullable=False),
    Column("deployment", String(200), nullable=True),
    Column("stream", Boolean, nullable=False, default=False),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("cached_tokens", Integer, nullable=False, default=0),
    Column("estimated", Boolean, nullable=False, default=False),
    Column("cost_usd", Float, nullable=False, default=0.0),
    Column("status", Integer, nullable=False),
    Column("error_code", String(64), nullable=True),
    Column("latency_ms", Float, nullable=False),
    Column("ttft_ms", Float, nullable=True),
    Column("cache_hit", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=0),
    Index("ix_usage_ledger_created_at", "created_at"),
    Index("ix_usage_ledger_key_created", "key_id", "created_at"),
    Index("ix_usage_ledger_team_created", "team_id", "created_at"),
    Index("ix_usage_ledger_model_created", "model", "created_at"),
    Index("ix_usage_ledger_request_id", "request_id"),
)
