"""Per-hour and per-day request and token limits of teams and keys.

Revision ID: 0003_hour_day_limits
Revises: 0002_usage_ledger
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_hour_day_limits"
down_revision = "0002_usage_ledger"
branch_labels = None
depends_on = None

# Spelled out rather than read from the limits schema: a revision must stay what it was when
# later revisions add limits.
_COLUMNS = ("rph", "tph", "rpd", "tpd")
_TABLES = ("teams", "api_keys")


def upgrade() -> None:
    # Nullable (no limit) columns without a default: existing rows keep their limits and get none
    # of these. Adding such a column needs no table rebuild on SQLite.
    for table in _TABLES:
        for name in _COLUMNS:
            op.add_column(table, sa.Column(name, sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        # SQLite drops columns only by rebuilding the table, which batch mode does.
        with op.batch_alter_table(table) as batch:
            for name in _COLUMNS:
                batch.drop_column(name)
