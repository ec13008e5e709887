"""The ledger on PostgreSQL: batched inserts, and replay with ON CONFLICT DO NOTHING."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from modelrail.settings import settings_from_dict
from modelrail.stages_build import build_stages
from modelrail.usage.ledger_table import usage_ledger
from tests.metering_support import settings_dict

pytestmark = pytest.mark.postgres
PG = "postgres@127.0.0.1:5432"


def _require_postgres() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1.0):
            return
    except OSError:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is required in CI (CI=true) but 127.0.0.1:5432 does not answer")
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"postgresql://{PG}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def test_ledger_on_postgres(tmp_path):
    _require_postgres()
    name = f"modelrail_test_ledger_{secrets.token_hex(4)}"
    await _admin(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://{PG}/{name}"
    try:
        data = settings_dict(tmp_path, [])
        data["ledger"]["database_url"] = url
        settings = settings_from_dict(data, env={})
        journal = tmp_path / "journal"
        journal.mkdir()
        row = {
            "record_id": "r" * 32, "request_id": "req-1", "created_at": 1_790_000_000.0,
            "finished_at": 1_790_000_000.2, "key_id": "k", "team_id": "t", "endpoint": "chat", "model": "m",
            "deployment": "m#0", "stream": True, "prompt_tokens": 1, "completion_tokens": 2, "cached_tokens": 0,
            "estimated": True, "cost_usd": 0.5, "status": 499, "error_code": None, "latency_ms": 3.0,
            "ttft_ms": 1.0, "cache_hit": False, "attempts": 1,
        }  # fmt: skip
        line = orjson.dumps(row) + b"\n"
        (journal / "journal-9-1.jsonl").write_bytes(line + line)
        for _ in range(2):
            stages = build_stages(settings, {})
            await stages.start()
            await stages.close()
            (journal / "journal-9-2.jsonl").write_bytes(line)
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(sa.select(usage_ledger))).mappings().all()
                indexes = (
                    (await conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'usage_ledger'")))
                    .scalars()
                    .all()
                )
        finally:
            await engine.dispose()
        assert len(rows) == 1 and rows[0]["status"] == 499 and rows[0]["cost_usd"] == 0.5
        assert {"ix_usage_ledger_key_created", "ix_usage_ledger_team_created", "ix_usage_ledger_created_at"} <= set(
            indexes
        )
    finally:
        await asyncio.sleep(0)
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
