"""Teams, API keys and their secrets, the audit log, the auth cache generation.

Revision ID: 0001_keys_teams
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelrail.store.models import BigId, UTCDateTime

revision = "0001_keys_teams"
down_revision = None
branch_labels = None
depends_on = None


def _limits() -> list[sa.Column[object]]:
    return [
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("tpm", sa.Integer(), nullable=True),
        sa.Column("max_concurrency", sa.Integer(), nullable=True),
        sa.Column("budget_usd", sa.Float(), nullable=True),
        sa.Column("budget_period", sa.String(8), nullable=False),
        sa.Column("budget_alerts", sa.JSON(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        *_limits(),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("team_id", sa.String(40), sa.ForeignKey("teams.id", ondelete="RESTRICT"), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("env", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("display", sa.String(16), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("endpoints", sa.JSON(), nullable=False),
        sa.Column("max_tokens", sa.Integer(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=True),
        *_limits(),
    )
    op.create_index("ix_api_keys_team_id", "api_keys", ["team_id"])
    op.create_table(
        "api_key_secrets",
        sa.Column("secret_hash", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(40), sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
        sa.Column("display", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("valid_until", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_api_key_secrets_key_id", "api_key_secrets", ["key_id"])
    op.create_index("ix_api_key_secrets_display", "api_key_secrets", ["display"])
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(40), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_target", "audit_log", ["target_type", "target_id"])
    op.create_table(
        "store_generation",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(
        sa.table("store_generation", sa.column("name", sa.String), sa.column("value", sa.BigInteger)),
        [{"name": "auth", "value": 0}],
    )


def downgrade() -> None:
    op.drop_table("store_generation")
    op.drop_table("audit_log")
    op.drop_table("api_key_secrets")
    op.drop_table("api_keys")
    op.drop_table("teams")
