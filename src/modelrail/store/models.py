"""The tables. One schema for SQLite and PostgreSQL; Alembic revisions in ``migrations/`` create it.

Changing a table here means adding a revision (see ``migrations/README``); a test compares the
migrated schema with these models.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Index, Integer, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from modelrail.limits.schema import LIMITS

# Autoincrement needs INTEGER on SQLite and BIGINT suits PostgreSQL.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite keeps no zone, so naive values read back as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class LimitsColumns:
    """Limits and a budget, shared by teams and keys.

    One nullable integer column per limit of the schema (``modelrail.limits.schema``), named as the
    limit and added just below; ``None`` means no limit.
    """

    budget_usd: Mapped[float | None] = mapped_column(Float)
    budget_period: Mapped[str] = mapped_column(String(8), default="month")
    budget_alerts: Mapped[list[float]] = mapped_column(JSON, default=lambda: [0.5, 0.8, 1.0])


# Declarative copies a mixin's columns into each table that inherits it, so they are set before
# Team and ApiKey are declared.
for _spec in LIMITS:
    setattr(LimitsColumns, _spec.name, mapped_column(Integer, nullable=True))


class Team(LimitsColumns, Base):
    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(LimitsColumns, Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Admin keys may have no team; regular keys always have one.
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="regular")  # regular | admin
    env: Mapped[str] = mapped_column(String(16), default="dev")  # dev | staging | prod
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | revoked
    # The display prefix of the newest secret, e.g. "mr-a1b2c3d4": names the key in listings and logs.
    display: Mapped[str] = mapped_column(String(16))
    models: Mapped[list[str]] = mapped_column(JSON, default=list)
    endpoints: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_tokens: Mapped[int | None] = mapped_column(Integer)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(64))


class KeySecret(Base):
    """One secret of a key, stored only as its keyed hash. Rotation adds a row and gives the old
    one an end of grace, so a key keeps its id (and limits, budget, ledger) across rotations."""

    __tablename__ = "api_key_secrets"

    secret_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    display: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when the secret is rotated out: it works until then.
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))  # a key id, "master", or "cli"
    action: Mapped[str] = mapped_column(String(32))  # team.create, key.revoke, ...
    target_type: Mapped[str] = mapped_column(String(16))  # team | key
    target_id: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StoreGeneration(Base):
    """A counter bumped by every change to keys or teams, in the same transaction.

    Each worker polls this one row to drop its auth cache, so a revocation reaches every worker and
    every replica sharing the database within one poll interval, without a query per request.
    """

    __tablename__ = "store_generation"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
