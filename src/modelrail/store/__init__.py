"""Durable storage: teams, API keys and the audit log (SQLAlchemy 2 async + Alembic migrations)."""
