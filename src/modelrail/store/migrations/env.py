"""Alembic's environment for modelrail.

modelrail runs revisions programmatically (``modelrail migrate``, or at start-up) and passes an open
connection in ``config.attributes["connection"]``. Run from the ``alembic`` command instead (to write
a revision with ``--autogenerate``), it connects to ``sqlalchemy.url`` itself.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from modelrail.store.schema import metadata

target_metadata = metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url (e.g. alembic -x or alembic.ini) or run 'modelrail migrate'")
    asyncio.run(_run_with_own_engine(url))
