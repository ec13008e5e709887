"""The usage ledger: one row per request.

Revision ID: 0002_usage_ledger
Revises: 0001_keys_teams
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_usage_ledger"
down_revision = "0001_keys_teams"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # The ledger creates its table itself where it runs without migrations (its own database, or
    # migrate_on_start off); such a table has this same definition, so it is kept.
    if sa.inspect(op.get_bind()).has_table("usage_ledger"):
        return
    op.create_table(
        "usage_ledger",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.String(32), nullable=False, unique=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("key_display", sa.String(64), nullable=False),
        sa.Column("team_id", sa.String(64), nullable=True),
        sa.Column("endpoint", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("deployment", sa.String(200), nullable=True),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cached_tokens", sa.Integer(), nullable=False),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column("cache_hit", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )
    op.create_index("ix_usage_ledger_created_at", "usage_ledger", ["created_at"])
    op.create_index("ix_usage_ledger_key_created", "usage_ledger", ["key_id", "created_at"])
    op.create_index("ix_usage_ledger_team_created", "usage_ledger", ["team_id", "created_at"])
    op.create_index("ix_usage_ledger_model_created", "usage_ledger", ["model", "created_at"])
    op.create_index("ix_usage_ledger_request_id", "usage_ledger", ["request_id"])


def downgrade() -> None:
    op.drop_table("usage_ledger")
