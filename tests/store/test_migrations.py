"""The Alembic chain: linear, applies on SQLite and PostgreSQL, and yields exactly the models' schema."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from modelrail.store.db import Database
from modelrail.store.migrate import alembic_config, current_revision, head_revision, upgrade
from modelrail.store.schema import metadata


def test_the_revision_chain_is_linear() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1, "two heads: point your revision's down_revision at the current head"
    revisions = list(script.walk_revisions())
    assert revisions[-1].down_revision is None
    for rev in revisions:
        assert not isinstance(rev.down_revision, tuple | list), f"{rev.revision} merges branches"


async def test_upgrade_makes_the_models_schema_and_is_idempotent(db_url: str) -> None:
    db = Database(db_url, migrate=False)
    try:
        await upgrade(db.engine)
        assert await current_revision(db.engine) == head_revision()
        before, after = await upgrade(db.engine)
        assert before == after == head_revision()

        def diff(conn: Connection) -> list[object]:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(ctx, metadata))

        async with db.engine.connect() as conn:
            assert await conn.run_sync(diff) == []
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"teams", "api_keys", "api_key_secrets", "audit_log", "store_generation"} <= tables
    finally:
        await db.close()


async def test_workers_starting_together_migrate_once(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'race.db'}"
    dbs = [Database(url) for _ in range(4)]
    try:
        await asyncio.gather(*(db.ready() for db in dbs))
        assert await current_revision(dbs[0].engine) == head_revision()
    finally:
        for db in dbs:
            await db.close()


def test_migrate_command(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from modelrail.cli import app

    monkeypatch.setenv("MODELRAIL_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    first = runner.invoke(app, ["migrate"])
    assert first.exit_code == 0, first.output
    assert "migrated" in first.output
    again = runner.invoke(app, ["migrate"])
    assert again.exit_code == 0 and "up to date" in again.output
    assert (tmp_path / "modelrail.db").exists()
