"""Run the Alembic revisions shipped in ``modelrail/store/migrations`` programmatically.

Several workers (and replicas) may start at once: a lock serialises them so each revision runs
once (a file lock beside an SQLite database, an advisory lock on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from modelrail.private_files import private_file

MIGRATIONS = Path(__file__).parent / "migrations"
# An arbitrary constant naming modelrail's migration lock among PostgreSQL advisory locks.
_PG_LOCK_ID = 0x6D6F64656C7261


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _upgrade(conn: Connection, target: str) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, target)


def _lock_file(database: str) -> IO[str]:
    path = Path(database).expanduser()
    lock = path.with_name(path.name + ".migrate-lock")
    private_file(lock)
    return lock.open("a")


@contextlib.asynccontextmanager
async def _file_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    database = make_url(str(engine.url)).database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with _lock_file(database) as fh:
        # In a thread: the wait may be long, and the holder may be a task of this very event loop.
        await asyncio.to_thread(fcntl.flock, fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine, target: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to ``target``. Returns (revision before, revision after)."""
    async with _file_lock(engine), engine.begin() as conn:
        before = await conn.run_sync(_current)
        if target != "head" or before != head_revision():
            await conn.run_sync(_upgrade, target)
        after = await conn.run_sync(_current)
    return before, after
