"""``modelrail migrate``: bring the database named by the config to the newest schema revision."""

from __future__ import annotations

import asyncio

from rich.console import Console

from modelrail.cli.config import ConfigOption, load


def migrate(config: ConfigOption = None) -> None:
    """Bring the database schema to the newest revision."""
    from modelrail.store.db import Database, redact_url
    from modelrail.store.factory import database_url
    from modelrail.store.migrate import upgrade

    url = database_url(load(config))

    async def go() -> tuple[str | None, str | None]:
        db = Database(url, migrate=False)
        try:
            return await upgrade(db.engine)
        finally:
            await db.close()

    before, after = asyncio.run(go())
    where = redact_url(url)
    if before == after:
        Console().print(f"{where}: up to date ({after})", highlight=False)
    else:
        Console().print(f"{where}: migrated {before or 'empty'} -> {after}", highlight=False)
